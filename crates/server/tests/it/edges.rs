//! Malformed input never answers 500: body limit, content types, bad JSON, unknown routes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn a_body_over_64_kib_is_413_invalid_request() {
    let app = TestApp::start().await;
    let big = json!({"username": "alice", "password": "x".repeat(70 * 1024)});
    for path in ["/v1/users", "/v1/login", "/v1/token/refresh"] {
        let res = app.post_json(path, big.clone()).send().await.unwrap();
        assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request").await;
    }
    // Just under the limit is read (and then refused for what it says).
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": "x".repeat(60 * 1024)}),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_is_400_not_415() {
    let app = TestApp::start().await;
    let body = r#"{"username":"alice","password":"correct horse battery staple"}"#;
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        None,
    ] {
        for path in ["/v1/users", "/v1/login"] {
            let mut req = app.post(path).body(body);
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            assert_error(
                req.send().await.unwrap(),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            )
            .await;
        }
    }
    let res = app
        .post("/v1/token/refresh")
        .header("content-type", "text/plain")
        .body(r#"{"refresh_token":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Parameters are fine.
    let res = app
        .post("/v1/users")
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_json_missing_fields_and_wrong_types_are_invalid_request() {
    let app = TestApp::start().await;
    let cases = [
        ("/v1/login", "{"),
        ("/v1/login", "not json"),
        ("/v1/login", "[]"),
        ("/v1/login", "null"),
        ("/v1/login", r#"{"username":"alice"}"#),
        ("/v1/login", r#"{"password":"secret-value-123"}"#),
        ("/v1/login", r#"{"username":"alice","password":123456789}"#),
        (
            "/v1/login",
            "{\"username\":\"alice\",\"password\":\"\u{0}\"\u{0}}",
        ),
        (
            "/v1/users",
            r#"{"username":["alice"],"password":"secret-value-123"}"#,
        ),
        ("/v1/token/refresh", r#"{"refresh_token":42}"#),
        ("/v1/token/refresh", "{"),
        ("/v1/logout", "{"),
    ];
    for (path, body) in cases {
        let res = app
            .post(path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (_, err) = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        let text = err.to_string();
        assert!(
            !text.contains("123456789") && !text.contains("secret-value"),
            "echoes input: {text}"
        );
    }
    let res = app
        .post("/v1/login")
        .header("content-type", "application/json")
        .body(r#"{"username":"alice"}"#)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error_description"], "missing field `password`");
}

#[tokio::test]
async fn unknown_routes_are_json_404_and_wrong_methods_json_405() {
    let app = TestApp::start().await;
    for path in [
        "/index.html",
        "/v1",
        "/v1/nope",
        "/v1/me/",
        "/.well-known/openid-configuration",
    ] {
        let res = app.get(path).send().await.unwrap();
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app.get("/v1/login").send().await.unwrap();
    let (headers, _) =
        assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    assert!(
        headers
            .get("allow")
            .is_some_and(|a| a.to_str().unwrap().contains("POST")),
        "{headers:?}"
    );
    let res = app.http.put(app.url("/v1/me")).send().await.unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn malformed_path_parameters_are_invalid_request() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    let res = app
        .http
        .delete(app.url("/v1/sessions/%FF%FE"))
        .bearer_auth(&t.access)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn huge_headers_and_odd_bearer_values_never_500() {
    let app = TestApp::start().await;
    for value in ["Bearer", "Bearer ", "bearer x y", "Bearer \u{7f}"] {
        let res = app
            .get("/v1/me")
            .header("authorization", value.as_bytes())
            .send()
            .await;
        if let Ok(res) = res {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{value:?}");
        }
    }
    let res = app
        .post("/v1/token/refresh")
        .header(
            "cookie",
            format!("{COOKIE}=\"{}\"; {COOKIE}=", "x".repeat(4000)),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

/// A body that is present but is not valid JSON, or not UTF-8, is 400 `invalid_request` on
/// every JSON route — refresh and logout included, whose token may also come from the
/// cookie (a broken body is a broken client, not a missing token).
#[tokio::test]
async fn a_malformed_or_non_utf8_json_body_is_400_on_every_json_route() {
    let app = TestApp::start().await;
    let bodies: [&[u8]; 4] = [
        b"{",
        b"{\"refresh_token\": \"\xff\xfe\"}",
        b"\xff\xfe\xfd",
        b"[1, 2",
    ];
    for path in ["/v1/users", "/v1/login", "/v1/token/refresh", "/v1/logout"] {
        for body in bodies {
            let res = app
                .post(path)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
    }
    // With the refresh cookie too: the body is still read, and refused when broken —
    // before anything is spent or revoked.
    app.signup("alice").await;
    let (_, cookie) = app.login_cookie("alice").await;
    for path in ["/v1/token/refresh", "/v1/logout"] {
        let res = app
            .with_cookie(path, &cookie)
            .header("content-type", "application/json")
            .body(&b"{\"refresh_token\": \"\xff\"}"[..])
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let res = app
        .with_cookie("/v1/token/refresh", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the cookie's session is untouched"
    );
}
