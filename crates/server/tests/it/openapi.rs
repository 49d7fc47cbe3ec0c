//! `GET /openapi.json` and `docs/openapi.json`: the committed document is what every server
//! serves, it names every route with the error answers its handler can give, and the live
//! answers have the documented shapes and codes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera_server::BODY_LIMIT;

use crate::common::*;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

pub async fn fetch_document(app: &TestApp) -> (String, Value) {
    let res = app.get("/openapi.json").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let text = res.text().await.unwrap();
    let doc = serde_json::from_str(&text).unwrap();
    (text, doc)
}

#[tokio::test]
async fn the_committed_document_is_what_every_server_serves() {
    let (served, doc) = fetch_document(&TestApp::start().await).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(
        doc.get("servers").is_none(),
        "no configuration-dependent URL"
    );
    // Another configuration serves the same bytes.
    let other = TestApp::setup()
        .no_admin()
        .default_public_url()
        .env("TESSERA_SIGNUP__ENABLED", "false")
        .env("TESSERA_TOKENS__ACCESS_TTL", "2m")
        .start()
        .await;
    assert_eq!(fetch_document(&other).await.0, served);

    let path = committed_path();
    if std::env::var_os("TESSERA_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json differs from what the server serves; regenerate it with \
         `TESSERA_UPDATE_OPENAPI=1 cargo test -p tessera-server --test it openapi` and commit it"
    );
}

/// An operation's error answers: status → codes.
type Errors = Vec<(u16, Vec<&'static str>)>;

/// Every operation the server has (docs/http-api.md, the page, this document) and the error answers
/// its handler, extractors and `ApiError` can give.
fn expected_operations() -> BTreeMap<(&'static str, &'static str), Errors> {
    let bearer = || (401, vec!["invalid_token", "token_expired"]);
    let domain = || vec![(500, vec!["internal_error"]), (503, vec!["unavailable"])];
    let body = || {
        vec![
            (400, vec!["invalid_request"]),
            (413, vec!["invalid_request"]),
        ]
    };
    let with = |mut base: Errors, more: Errors| {
        base.extend(more);
        base
    };
    BTreeMap::from([
        (("get", "/"), vec![]),
        (("get", "/assets/app.js"), vec![]),
        (("get", "/assets/app.css"), vec![]),
        (
            ("post", "/v1/users"),
            with(
                with(body(), domain()),
                vec![
                    (403, vec!["forbidden"]),
                    (409, vec!["username_taken"]),
                    (422, vec!["weak_password"]),
                    (429, vec!["rate_limited"]),
                ],
            ),
        ),
        (
            ("post", "/v1/login"),
            with(
                with(body(), domain()),
                vec![
                    (401, vec!["invalid_credentials"]),
                    (429, vec!["rate_limited"]),
                ],
            ),
        ),
        (
            ("post", "/v1/token/refresh"),
            with(
                with(body(), domain()),
                vec![
                    (
                        401,
                        vec![
                            "invalid_refresh_token",
                            "refresh_token_expired",
                            "refresh_token_reused",
                            "refresh_token_revoked",
                        ],
                    ),
                    (403, vec!["csrf_failed"]),
                    (429, vec!["rate_limited"]),
                ],
            ),
        ),
        (
            ("post", "/v1/logout"),
            with(
                with(body(), domain()),
                vec![
                    (401, vec!["invalid_refresh_token"]),
                    (403, vec!["csrf_failed"]),
                ],
            ),
        ),
        (("post", "/v1/logout/all"), with(vec![bearer()], domain())),
        (
            ("get", "/v1/revocations"),
            with(
                vec![
                    (400, vec!["invalid_request"]),
                    (401, vec!["invalid_token"]),
                    (403, vec!["forbidden"]),
                ],
                domain(),
            ),
        ),
        (("get", "/v1/me"), vec![bearer()]),
        (("get", "/v1/sessions"), with(vec![bearer()], domain())),
        (
            ("delete", "/v1/sessions/{id}"),
            with(
                vec![
                    bearer(),
                    (400, vec!["invalid_request"]),
                    (404, vec!["not_found"]),
                ],
                domain(),
            ),
        ),
        (
            ("post", "/v1/admin/users/{id}/revoke"),
            with(
                vec![
                    (400, vec!["invalid_request"]),
                    (401, vec!["invalid_token"]),
                    (403, vec!["forbidden"]),
                    (404, vec!["not_found"]),
                ],
                domain(),
            ),
        ),
        (("get", "/.well-known/jwks.json"), vec![]),
        (("get", "/.well-known/oauth-authorization-server"), vec![]),
        (("post", "/oauth/revoke"), with(body(), domain())),
        (
            ("post", "/oauth/introspect"),
            with(
                with(body(), domain()),
                vec![(401, vec!["invalid_token"]), (403, vec!["forbidden"])],
            ),
        ),
        (("get", "/healthz"), vec![]),
        (("get", "/readyz"), vec![]),
        (("get", "/metrics"), vec![(401, vec!["invalid_token"])]),
        (("get", "/openapi.json"), vec![]),
    ])
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every (method, path) of the document.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.push((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// The codes of the documented answer `status` of an operation (the keys of its examples,
/// each checked to be an example of that code).
fn documented_codes(doc: &Value, method: &str, path: &str, status: u16) -> BTreeSet<String> {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    let Some(examples) = response["content"]["application/json"]["examples"].as_object() else {
        return BTreeSet::new();
    };
    examples
        .iter()
        .map(|(code, example)| {
            assert_eq!(
                example["value"]["error"],
                code.as_str(),
                "{method} {path} {status}"
            );
            code.clone()
        })
        .collect()
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect(r);
            let target = &doc["components"]["schemas"][name];
            assert!(!target.is_null(), "dangling {r}");
            resolve(doc, target)
        }
        None => schema,
    }
}

/// Checks `value` against `schema` for the subset of JSON Schema the document uses. Objects
/// are closed: a member the schema does not name is drift, and fails.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(one_of) = schema.get("oneOf").and_then(Value::as_array) {
        return one_of
            .iter()
            .any(|s| conforms(doc, s, value, at).is_ok())
            .then_some(())
            .ok_or_else(|| format!("{at}: {value} matches no oneOf branch"));
    }
    if let Some(all_of) = schema.get("allOf").and_then(Value::as_array) {
        for s in all_of {
            conforms(doc, s, value, at)?;
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad type {types}")),
        };
        let ok = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            return Err(format!("{at}: {value} not in {values:?}"));
        }
    }
    if let (Some(obj), Some(props)) = (
        value.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !obj.contains_key(name) {
                return Err(format!("{at}: missing required `{name}` in {value}"));
            }
        }
        for (k, v) in obj {
            let Some(s) = props.get(k) else {
                return Err(format!("{at}: `{k}` is not documented"));
            };
            conforms(doc, s, v, &format!("{at}.{k}"))?;
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            conforms(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_route_is_documented_with_the_errors_its_handler_gives() {
    let app = TestApp::start().await;
    let (_, doc) = fetch_document(&app).await;
    let expected = expected_operations();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().collect();
    let want: BTreeSet<(String, String)> = expected
        .keys()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, want, "the documented operations");

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(
        schemes["refresh_cookie"],
        json!({"type": "apiKey", "in": "cookie", "name": COOKIE,
               "description": schemes["refresh_cookie"]["description"]})
    );
    assert_eq!(schemes["access_token"]["scheme"], "bearer");
    assert_eq!(schemes["access_token"]["bearerFormat"], "JWT");
    assert_eq!(schemes["admin_token"]["scheme"], "bearer");

    for ((method, path), errors) in &expected {
        let op = &doc["paths"][path][method];
        let responses = op["responses"].as_object().unwrap();
        // Every security requirement names a declared scheme.
        for req in op["security"].as_array().into_iter().flatten() {
            for name in req.as_object().unwrap().keys() {
                assert!(schemes.contains_key(name), "{method} {path}: {name}");
            }
        }
        // Exactly the expected error answers, each with exactly its codes.
        let statuses: BTreeSet<u16> = responses
            .keys()
            .map(|s| s.parse::<u16>().unwrap())
            .filter(|s| *s >= 400 && !(*path == "/readyz" && *s == 503))
            .collect();
        let want: BTreeSet<u16> = errors.iter().map(|(s, _)| *s).collect();
        assert_eq!(statuses, want, "{method} {path}: error statuses");
        for (status, codes) in errors {
            let response = &responses[&status.to_string()];
            let media = &response["content"]["application/json"];
            assert_eq!(
                media["schema"],
                json!({"$ref": "#/components/schemas/Error"}),
                "{method} {path} {status}: the one error schema"
            );
            let want: BTreeSet<String> = codes.iter().map(|c| c.to_string()).collect();
            assert_eq!(
                documented_codes(&doc, method, path, *status),
                want,
                "{method} {path} {status}"
            );
            let headers = &response["headers"];
            assert!(headers.get("Cache-Control").is_some());
            assert_eq!(
                headers.get("Retry-After").is_some(),
                *status == 429,
                "{method} {path} {status}: Retry-After"
            );
            let bearer = codes.contains(&"invalid_token") || codes.contains(&"token_expired");
            assert_eq!(
                headers.get("WWW-Authenticate").is_some(),
                bearer,
                "{method} {path} {status}: WWW-Authenticate"
            );
            let login_required = codes.iter().any(|c| c.contains("refresh_token"));
            assert_eq!(
                headers.get("Set-Cookie").is_some(),
                login_required,
                "{method} {path} {status}: Set-Cookie"
            );
        }
        // Every example of an error answer is an `Error`.
        for (status, response) in responses {
            if let Some(examples) = response["content"]["application/json"]["examples"].as_object()
            {
                for example in examples.values() {
                    conforms(
                        &doc,
                        &json!({"$ref": "#/components/schemas/Error"}),
                        &example["value"],
                        status,
                    )
                    .unwrap();
                }
            }
        }
    }

    // The router serves every documented operation (neither the 404 of an unknown path
    // nor the 405 of an unknown method).
    for (method, path) in operations(&doc) {
        let url = app.url(&path.replace("{id}", "x"));
        let res = app
            .http
            .request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                url,
            )
            .send()
            .await
            .unwrap();
        assert_ne!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if res.status() == StatusCode::NOT_FOUND {
            let body: Value = res.json().await.unwrap();
            assert_ne!(
                body["error_description"], "no such route",
                "{method} {path}"
            );
        }
    }
}

/// Asserts that `res` is an error the document lists for `method path` and returns it.
async fn documented_error(
    doc: &Value,
    method: &str,
    path: &str,
    res: reqwest::Response,
    status: StatusCode,
    code: &str,
) {
    let (_, body) = assert_error(res, status, code).await;
    conforms(
        doc,
        &json!({"$ref": "#/components/schemas/Error"}),
        &body,
        path,
    )
    .unwrap();
    assert!(
        documented_codes(doc, method, path, status.as_u16()).contains(code),
        "{method} {path} answered {status} {code}, which the document does not list"
    );
}

/// Asserts that the JSON body of `res` has the documented shape of its success answer.
async fn documented_success(
    doc: &Value,
    method: &str,
    path: &str,
    res: reqwest::Response,
) -> Value {
    let status = res.status();
    assert!(status.is_success(), "{method} {path}: {status}");
    let body: Value = res.json().await.unwrap();
    let schema = &doc["paths"][path][method]["responses"][status.as_str()]["content"]
        ["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status}: no documented schema"
    );
    conforms(doc, schema, &body, &format!("{method} {path}")).unwrap();
    body
}

#[tokio::test]
async fn live_answers_have_the_documented_shapes_and_codes() {
    let app = TestApp::start().await;
    let (_, doc) = fetch_document(&app).await;
    let doc = &doc;

    // Successes.
    let res = app
        .post_json(
            "/v1/users",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    let alice = documented_success(doc, "post", "/v1/users", res).await;
    let alice = alice["id"].as_str().unwrap().to_owned();
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    let cookie = refresh_cookie(res.headers()).unwrap();
    let by_cookie = documented_success(doc, "post", "/v1/login", res).await;
    assert!(by_cookie.get("refresh_token").is_none());
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD, "delivery": "body"}),
        )
        .send()
        .await
        .unwrap();
    let t = tokens(&documented_success(doc, "post", "/v1/login", res).await);
    let res = app.refresh_body(&t.refresh).await;
    let t = tokens(&documented_success(doc, "post", "/v1/token/refresh", res).await);
    let res = app
        .with_cookie("/v1/token/refresh", &cookie)
        .send()
        .await
        .unwrap();
    documented_success(doc, "post", "/v1/token/refresh", res).await;
    documented_success(doc, "get", "/v1/me", app.me(&t.access).await).await;
    let res = app
        .get("/v1/sessions")
        .bearer_auth(&t.access)
        .send()
        .await
        .unwrap();
    let sessions = documented_success(doc, "get", "/v1/sessions", res).await;
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/healthz",
        "/readyz",
    ] {
        documented_success(doc, "get", path, app.get(path).send().await.unwrap()).await;
    }
    for token in [t.access.as_str(), t.refresh.as_str(), "nonsense"] {
        let res = app
            .post("/oauth/introspect")
            .bearer_auth(ADMIN)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        documented_success(doc, "post", "/oauth/introspect", res).await;
    }

    // Errors.
    let res = app
        .post("/v1/users")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/users",
        res,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let res = app
        .post_json(
            "/v1/users",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/users",
        res,
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
    let res = app
        .post_json("/v1/users", json!({"username": "bob", "password": "short"}))
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/users",
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    )
    .await;
    let res = app
        .post("/v1/users")
        .header("content-type", "application/json")
        .body(vec![b' '; BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/users",
        res,
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
    )
    .await;
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": "wrong password"}),
        )
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/login",
        res,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    for path in ["/v1/token/refresh", "/v1/logout"] {
        let res = app.post(path).send().await.unwrap();
        documented_error(
            doc,
            "post",
            path,
            res,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
        let res = app
            .with_cookie(path, &cookie)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        documented_error(doc, "post", path, res, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
    // A refresh token spent, then presented again after the grace window.
    assert_eq!(app.refresh_body(&t.refresh).await.status(), StatusCode::OK);
    app.clock.advance(60);
    let res = app.refresh_body(&t.refresh).await;
    documented_error(
        doc,
        "post",
        "/v1/token/refresh",
        res,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    for (method, path) in [
        ("get", "/v1/me"),
        ("get", "/v1/sessions"),
        ("post", "/v1/logout/all"),
        ("delete", "/v1/sessions/{id}"),
    ] {
        let url = app.url(&path.replace("{id}", "x"));
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app
            .http
            .request(m, url)
            .bearer_auth("not.a.token")
            .send()
            .await
            .unwrap();
        documented_error(
            doc,
            method,
            path,
            res,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
    }
    let (_, fresh) = app.user("carol").await;
    let res = app
        .http
        .delete(app.url("/v1/sessions/ses_unknown"))
        .bearer_auth(&fresh.access)
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "delete",
        "/v1/sessions/{id}",
        res,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.clock.advance(3600);
    documented_error(
        doc,
        "get",
        "/v1/me",
        app.me(&fresh.access).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    let res = app
        .post(&format!("/v1/admin/users/{alice}/revoke"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/admin/users/{id}/revoke",
        res,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let res = app
        .post("/v1/admin/users/usr_unknown/revoke")
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/admin/users/{id}/revoke",
        res,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app.post("/oauth/revoke").send().await.unwrap();
    documented_error(
        doc,
        "post",
        "/oauth/revoke",
        res,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let res = app
        .post("/oauth/introspect")
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/oauth/introspect",
        res,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;

    let closed = TestApp::setup()
        .no_admin()
        .env("TESSERA_SIGNUP__ENABLED", "false")
        .start()
        .await;
    let res = closed
        .post_json(
            "/v1/users",
            json!({"username": "dave", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    documented_error(
        doc,
        "post",
        "/v1/users",
        res,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    for path in ["/v1/admin/users/x/revoke", "/oauth/introspect"] {
        let res = closed.post(path).bearer_auth(ADMIN).send().await.unwrap();
        let template = if path.starts_with("/v1") {
            "/v1/admin/users/{id}/revoke"
        } else {
            path
        };
        documented_error(
            doc,
            "post",
            template,
            res,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
}
