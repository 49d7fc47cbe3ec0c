//! Logs never contain a token, a password or a key.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn logs_never_contain_tokens_or_passwords() {
    let app = TestApp::start().await;
    let id = app.signup("alice").await;
    let t0 = app.login("alice").await;
    let (access_c, cookie) = app.login_cookie("alice").await;
    let t1 = tokens(&app.refresh_body(&t0.refresh).await.json().await.unwrap());
    let res = app
        .with_cookie("/v1/token/refresh", &cookie)
        .send()
        .await
        .unwrap();
    let cookie2 = refresh_cookie(res.headers()).unwrap();
    app.me(&t1.access).await;
    app.clock.advance(11);
    app.refresh_body(&t0.refresh).await; // reuse: a warning is logged
    app.post_json(
        "/v1/login",
        json!({"username": "alice", "password": "wrong-password-42"}),
    )
    .send()
    .await
    .unwrap();
    let res = app
        .post("/oauth/introspect")
        .bearer_auth(ADMIN)
        .form(&[("token", &t1.access)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.with_cookie("/v1/logout", &cookie2)
        .send()
        .await
        .unwrap();

    let logs = captured_logs();
    assert!(
        logs.contains(&format!("user_id={id}")),
        "the capture works: {logs}"
    );
    assert!(
        logs.contains("route=\"/v1/token/refresh\""),
        "access lines are captured"
    );
    for secret in [
        PASSWORD,
        "wrong-password-42",
        ADMIN,
        &t0.access,
        &t0.refresh,
        &t1.access,
        &t1.refresh,
        &access_c,
        &cookie,
        &cookie2,
        // Not even the signature part of a JWT.
        t1.access.rsplit('.').next().unwrap(),
    ] {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs:\n{logs}"
        );
    }
}
