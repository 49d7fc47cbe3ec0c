//! `POST /v1/admin/users/{id}/revoke` and the admin token.

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn admin_revoke_force_expires_every_session_of_the_user() {
    let app = TestApp::start().await;
    let (id, a) = app.user("alice").await;
    let b = app.login("alice").await;
    let res = app
        .post(&format!("/v1/admin/users/{id}/revoke"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for t in [&a, &b] {
        app.assert_session_revoked(t).await;
    }
}

#[tokio::test]
async fn admin_revoke_of_an_unknown_user_is_not_found() {
    let app = TestApp::start().await;
    let res = app
        .post("/v1/admin/users/usr_nobody/revoke")
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn wrong_or_missing_admin_token_is_invalid_token() {
    let app = TestApp::start().await;
    let (id, t) = app.user("alice").await;
    let path = format!("/v1/admin/users/{id}/revoke");
    let wrong_length = format!("{ADMIN}x");
    for token in [
        Some("wrong"),
        Some(&wrong_length[..]),
        Some(&t.access[..]),
        None,
    ] {
        let mut req = app.post(&path);
        match token {
            Some(tok) => {
                req = req.bearer_auth(tok);
                assert_bearer_error(req.send().await.unwrap(), "invalid_token").await;
            }
            None => {
                assert_no_token_error(req.send().await.unwrap()).await;
            }
        }
    }
    assert_eq!(
        app.refresh_body(&t.refresh).await.status(),
        StatusCode::OK,
        "nothing revoked"
    );
}

#[tokio::test]
async fn without_a_configured_admin_token_the_admin_api_is_forbidden() {
    let app = TestApp::setup().no_admin().start().await;
    let (id, _) = app.user("alice").await;
    for token in ["", ADMIN] {
        let res = app
            .post(&format!("/v1/admin/users/{id}/revoke"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app
        .post("/oauth/introspect")
        .bearer_auth(ADMIN)
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}
