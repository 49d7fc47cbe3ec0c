//! Cookie attributes per configuration, CSRF refusals (docs/http-api.md) and CORS.

use reqwest::header::{ORIGIN, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn same_site_lax_and_development_cookies() {
    let app = TestApp::setup()
        .env("TESSERA_COOKIE__SAME_SITE", "lax")
        .start()
        .await;
    app.signup("alice").await;
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    let line = set_cookie_line(res.headers()).unwrap();
    assert!(line.starts_with("__Host-tessera_refresh="), "{line}");
    assert!(
        line.ends_with("; Path=/; Max-Age=604800; HttpOnly; Secure; SameSite=Lax"),
        "{line}"
    );

    let app = TestApp::setup()
        .env("TESSERA_COOKIE__SECURE", "false")
        .start()
        .await;
    app.signup("alice").await;
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    let line = set_cookie_line(res.headers()).unwrap();
    assert!(
        line.starts_with("tessera_refresh="),
        "no __Host- prefix without Secure: {line}"
    );
    assert!(
        line.ends_with("; Path=/; Max-Age=604800; HttpOnly; SameSite=Strict"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "{line}");
    // …and that cookie is the one refresh reads.
    let token = line.split(';').next().unwrap().to_owned();
    let res = app
        .post("/v1/token/refresh")
        .header("cookie", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(set_cookie_line(res.headers())
        .unwrap()
        .starts_with("tessera_refresh="));
}

async fn cookie_app() -> (TestApp, String) {
    let app = TestApp::setup()
        .env(
            "TESSERA_CORS__ALLOWED_ORIGINS",
            "https://app.example, http://localhost:3000",
        )
        .start()
        .await;
    app.signup("alice").await;
    let (_, cookie) = app.login_cookie("alice").await;
    (app, cookie)
}

#[tokio::test]
async fn cookie_refresh_from_a_foreign_origin_is_csrf_failed() {
    let (app, cookie) = cookie_app().await;
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "https://app.example.evil.example"),
        ("origin", "http://app.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        for path in ["/v1/token/refresh", "/v1/logout"] {
            let res = app
                .with_cookie(path, &cookie)
                .header(header, value)
                .send()
                .await
                .unwrap();
            let (headers, _) = assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
            assert!(
                headers.get(SET_COOKIE).is_none(),
                "a forged request must not log the user out"
            );
        }
    }
    // Nothing was spent: the cookie still refreshes from the right origin.
    let res = app
        .with_cookie("/v1/token/refresh", &cookie)
        .header(ORIGIN, PUBLIC_URL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn cookie_refresh_from_allowed_origins_passes() {
    let (app, mut cookie) = cookie_app().await;
    for (header, value) in [
        ("origin", PUBLIC_URL),
        ("origin", "https://app.example"),
        ("origin", "http://localhost:3000"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-site", "same-site"),
        ("sec-fetch-site", "none"),
    ] {
        let res = app
            .with_cookie("/v1/token/refresh", &cookie)
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{header}: {value}");
        cookie = refresh_cookie(res.headers()).unwrap();
    }
}

#[tokio::test]
async fn body_token_requests_are_not_subject_to_csrf() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    let res = app
        .post_json("/v1/token/refresh", json!({"refresh_token": t.refresh}))
        .header(ORIGIN, "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn cors_preflight_from_an_allowed_origin() {
    let (app, _) = cookie_app().await;
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/token/refresh"))
        .header(ORIGIN, "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));

    // A foreign origin gets no CORS grant.
    let res = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/token/refresh"))
        .header(ORIGIN, "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // Actual requests from an allowed origin carry the grant too.
    let res = app
        .get("/healthz")
        .header(ORIGIN, "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
}

/// Zero-config: `tessera serve` listens on 127.0.0.1:8080 with that as its public URL, and a
/// newcomer opens http://localhost:8080/. Both names of the loopback listener are allowed;
/// other ports and names are not.
#[tokio::test]
async fn default_loopback_public_url_also_allows_localhost() {
    let app = TestApp::setup().default_public_url().start().await;
    app.signup("alice").await;
    let (_, mut cookie) = app.login_cookie("alice").await;
    for origin in ["http://localhost:8080", "http://127.0.0.1:8080"] {
        let res = app
            .with_cookie("/v1/token/refresh", &cookie)
            .header(ORIGIN, origin)
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{origin}");
        cookie = refresh_cookie(res.headers()).unwrap();
    }
    for origin in [
        "http://localhost:8081",
        "https://localhost:8080",
        "http://[::1]:8080",
        "http://localhost.evil.example:8080",
    ] {
        let res = app
            .with_cookie("/v1/token/refresh", &cookie)
            .header(ORIGIN, origin)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
}

/// The localhost alias is only for the zero-config case: an explicit public URL, or a
/// listener reachable from other hosts, means the operator names the origins.
#[tokio::test]
async fn localhost_alias_needs_a_default_public_url_and_a_loopback_bind() {
    for setup in [
        TestApp::setup(),
        TestApp::setup()
            .default_public_url()
            .env("TESSERA_SERVER__BIND", "0.0.0.0:8080"),
    ] {
        let app = setup.start().await;
        app.signup("alice").await;
        let (_, cookie) = app.login_cookie("alice").await;
        let res = app
            .with_cookie("/v1/token/refresh", &cookie)
            .header(ORIGIN, "http://localhost:8080")
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
}
