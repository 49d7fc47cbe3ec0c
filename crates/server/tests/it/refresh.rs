//! Refresh rotation, the grace window, reuse detection, expiry, logout (docs/http-api.md).

use reqwest::header::SET_COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn refresh_by_body_rotates_and_answers_in_the_body() {
    let app = TestApp::start().await;
    let (id, t0) = app.user("alice").await;
    app.clock.advance(100);
    let res = app.refresh_body(&t0.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().get(SET_COOKIE).is_none());
    let t1 = tokens(&res.json().await.unwrap());
    assert_ne!(t1.refresh, t0.refresh);
    assert_ne!(t1.access, t0.access);
    assert_eq!(t1.sid, t0.sid, "same session");
    let me: Value = app.me(&t1.access).await.json().await.unwrap();
    assert_eq!(me["sub"], id);
    assert_eq!(me["iat"], T0 + 100);
    // The new refresh token works in turn.
    app.clock.advance(100);
    assert_eq!(app.refresh_body(&t1.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_by_cookie_answers_with_a_cookie_and_no_body_token() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let (_, c0) = app.login_cookie("alice").await;
    let res = app
        .with_cookie("/v1/token/refresh", &c0)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let c1 = refresh_cookie(res.headers()).expect("rotated cookie");
    assert_ne!(c1, c0);
    let line = set_cookie_line(res.headers()).unwrap();
    assert!(
        line.ends_with("; Path=/; Max-Age=604800; HttpOnly; Secure; SameSite=Strict"),
        "{line}"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["access_token"].as_str().is_some());
}

#[tokio::test]
async fn a_spent_token_within_the_grace_window_gets_the_same_successor() {
    let app = TestApp::start().await;
    let (_, t0) = app.user("alice").await;
    let t1 = tokens(&app.refresh_body(&t0.refresh).await.json().await.unwrap());
    app.clock.advance(9);
    let again = tokens(&app.refresh_body(&t0.refresh).await.json().await.unwrap());
    assert_eq!(
        again.refresh, t1.refresh,
        "idempotent within the grace window"
    );
    assert_eq!(again.sid, t1.sid);
    // The successor still rotates normally.
    let t2 = tokens(&app.refresh_body(&t1.refresh).await.json().await.unwrap());
    assert_ne!(t2.refresh, t1.refresh);
}

#[tokio::test]
async fn a_spent_token_after_the_grace_window_revokes_the_session() {
    let app = TestApp::start().await;
    let (_, t0) = app.user("alice").await;
    let t1 = tokens(&app.refresh_body(&t0.refresh).await.json().await.unwrap());
    app.clock.advance(11);
    let res = app.refresh_body(&t0.refresh).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    // The whole family is revoked: the successor too, and the session's access tokens.
    app.assert_session_revoked(&t1).await;
    let m = app.metrics().await;
    assert!(m.contains("tessera_refresh_reuse_detected_total 1"), "{m}");
    assert!(
        m.contains("tessera_refresh_total{outcome=\"reused\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("tessera_refresh_total{outcome=\"revoked\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn grace_zero_means_immediate_reuse_detection() {
    let app = TestApp::setup()
        .env("TESSERA_TOKENS__REUSE_GRACE", "0s")
        .start()
        .await;
    let (_, t0) = app.user("alice").await;
    let t1 = tokens(&app.refresh_body(&t0.refresh).await.json().await.unwrap());
    assert_error(
        app.refresh_body(&t0.refresh).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    assert_error(
        app.refresh_body(&t1.refresh).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_revoked",
    )
    .await;
}

#[tokio::test]
async fn an_idle_session_expires_and_clears_the_cookie() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let (_, cookie) = app.login_cookie("alice").await;
    app.clock.advance(7 * 86_400);
    let res = app
        .with_cookie("/v1/token/refresh", &cookie)
        .send()
        .await
        .unwrap();
    let (headers, _) = assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_expired").await;
    assert_eq!(
        set_cookie_line(&headers).unwrap(),
        "__Host-tessera_refresh=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    );
}

#[tokio::test]
async fn use_slides_the_idle_expiry_but_never_the_absolute_one() {
    let app = TestApp::setup()
        .env("TESSERA_TOKENS__REFRESH_TTL", "1h")
        .env("TESSERA_TOKENS__IDLE_TIMEOUT", "30m")
        .start()
        .await;
    let (_, mut t) = app.user("alice").await;
    for step in 1..=2 {
        app.clock.advance(25 * 60);
        let res = app.refresh_body(&t.refresh).await;
        assert_eq!(res.status(), StatusCode::OK, "step {step}");
        let body: Value = res.json().await.unwrap();
        let left = 3600 - step * 25 * 60;
        assert_eq!(body["refresh_expires_in"], left.min(30 * 60), "step {step}");
        t = tokens(&body);
    }
    app.clock.advance(25 * 60); // 75 min after login: idle ok (25 < 30) but past the absolute hour
    assert_error(
        app.refresh_body(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_expired",
    )
    .await;
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_invalid_refresh_token() {
    let app = TestApp::start().await;
    for token in [
        "A".repeat(43),
        "short".into(),
        "x".repeat(5000),
        String::new(),
    ] {
        let res = app.refresh_body(&token).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
    let res = app
        .with_cookie("/v1/token/refresh", &"B".repeat(43))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn no_cookie_and_no_body_is_invalid_refresh_token() {
    let app = TestApp::start().await;
    for path in ["/v1/token/refresh", "/v1/logout"] {
        let res = app.post(path).send().await.unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        let res = app.post_json(path, json!({})).send().await.unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        let res = app
            .post(path)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    }
}

#[tokio::test]
async fn logout_by_cookie_revokes_the_session_and_clears_the_cookie() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let (access, cookie) = app.login_cookie("alice").await;
    let res = app.with_cookie("/v1/logout", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        set_cookie_line(res.headers()).unwrap(),
        "__Host-tessera_refresh=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    );
    let res = app
        .with_cookie("/v1/token/refresh", &cookie)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "refresh_token_revoked").await;
    assert_bearer_error(app.me(&access).await, "invalid_token").await;
    // Logging out twice, or with an unknown token, is not an error.
    let res = app.with_cookie("/v1/logout", &cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_json("/v1/logout", json!({"refresh_token": "nonsense"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // That request carried no cookie: its answer leaves the cookie alone.
    assert_eq!(set_cookie_line(res.headers()), None);
}

/// A page on another site can make a browser POST to refresh or logout, but (with
/// `SameSite=Strict`) without the cookie: the answers must not clear the cookie, or any
/// page could log its visitors out of Tessera. Body-token requests never touch it either.
#[tokio::test]
async fn answers_to_requests_without_the_cookie_never_clear_it() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    for path in ["/v1/token/refresh", "/v1/logout"] {
        let res = app
            .post(path)
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        let (headers, _) =
            assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
        assert_eq!(set_cookie_line(&headers), None, "{path}");
    }
    let res = app.refresh_body("x".repeat(43).as_str()).await;
    let (headers, _) = assert_error(res, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
    assert_eq!(set_cookie_line(&headers), None);
    let res = app
        .post_json("/v1/logout", json!({"refresh_token": t.refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(set_cookie_line(res.headers()), None);
}

#[tokio::test]
async fn logout_by_body_revokes_that_session_only() {
    let app = TestApp::start().await;
    let (_, a) = app.user("alice").await;
    let b = app.login("alice").await;
    let res = app
        .post_json("/v1/logout", json!({"refresh_token": a.refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh_body(&a.refresh).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_revoked",
    )
    .await;
    assert_eq!(app.refresh_body(&b.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_outcomes_are_counted() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    app.refresh_body(&t.refresh).await;
    app.refresh_body(&"A".repeat(43)).await;
    let m = app.metrics().await;
    assert!(
        m.contains("tessera_refresh_total{outcome=\"rotated\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("tessera_refresh_total{outcome=\"unknown\"} 1"),
        "{m}"
    );
}
