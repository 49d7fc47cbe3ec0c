//! Signup and login (docs/http-api.md), and the cookie delivery of login.

use reqwest::header::{CACHE_CONTROL, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn signup_returns_an_opaque_id_that_becomes_sub() {
    let app = TestApp::start().await;
    let id = app.signup("alice").await;
    assert!(id.starts_with("usr_"), "{id}");
    let t = app.login("alice").await;
    let me: Value = app.me(&t.access).await.json().await.unwrap();
    assert_eq!(me["sub"], id);
    assert_eq!(me["sid"], t.sid);
    assert!(
        me.get("username").is_none(),
        "no personal data in the token: {me}"
    );
}

#[tokio::test]
async fn signup_refuses_taken_usernames_case_insensitively() {
    let app = TestApp::start().await;
    app.signup("Alice").await;
    for name in ["Alice", "alice", "ALICE"] {
        let res = app
            .post_json("/v1/users", json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::CONFLICT, "username_taken").await;
    }
}

#[tokio::test]
async fn signup_refuses_weak_passwords_per_configured_minimum() {
    let app = TestApp::start().await;
    let res = app
        .post_json(
            "/v1/users",
            json!({"username": "bob", "password": "1234567"}),
        )
        .send()
        .await
        .unwrap();
    let (_, body) = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert!(body["error_description"].as_str().unwrap().contains('8'));

    let app = TestApp::setup()
        .env("TESSERA_PASSWORD__MIN_LENGTH", "12")
        .start()
        .await;
    let res = app
        .post_json(
            "/v1/users",
            json!({"username": "bob", "password": "12345678901"}),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
}

#[tokio::test]
async fn signup_refuses_invalid_usernames_with_invalid_request() {
    let app = TestApp::start().await;
    for name in ["", " bob", "bob ", "a\u{7}b", &"x".repeat(65)] {
        let res = app
            .post_json("/v1/users", json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let res = app
        .post_json(
            "/v1/users",
            json!({"username": "bob", "password": "x".repeat(1025)}),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn signup_can_be_turned_off() {
    let app = TestApp::setup()
        .env("TESSERA_SIGNUP__ENABLED", "false")
        .start()
        .await;
    let res = app
        .post_json(
            "/v1/users",
            json!({"username": "bob", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn login_delivers_the_refresh_token_only_in_a_host_cookie_by_default() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    let cookies: Vec<_> = res.headers().get_all(SET_COOKIE).iter().collect();
    assert_eq!(cookies.len(), 1);
    let line = cookies[0].to_str().unwrap();
    let token = refresh_cookie(res.headers()).unwrap();
    assert_eq!(token.len(), 43, "256 bits, base64url");
    assert_eq!(
        line,
        // Max-Age is the refresh token's remaining life: the idle expiry (7d) comes first.
        format!("__Host-tessera_refresh={token}; Path=/; Max-Age=604800; HttpOnly; Secure; SameSite=Strict")
    );
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(
        body["refresh_expires_in"],
        7 * 86_400,
        "the idle expiry comes first"
    );
    assert!(body["session_id"].as_str().unwrap().starts_with("ses_"));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_expires_in",
            "session_id",
            "token_type"
        ]
    );
}

#[tokio::test]
async fn body_delivery_puts_the_refresh_token_in_the_body_and_sets_no_cookie() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD, "delivery": "body"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(SET_COOKIE).is_none());
    let t = tokens(&res.json().await.unwrap());
    assert_eq!(t.refresh.len(), 43);
    assert_eq!(t.access.split('.').count(), 3);

    // The configured default delivery applies when the request does not say.
    let app = TestApp::setup()
        .env("TESSERA_TOKENS__DELIVERY", "body")
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
    assert!(res.headers().get(SET_COOKIE).is_none());
    tokens(&res.json().await.unwrap());
}

#[tokio::test]
async fn login_refuses_an_unknown_delivery() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD, "delivery": "both"}),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let mut answers = Vec::new();
    for (user, pw) in [
        ("alice", "wrong password!"),
        ("nobody", PASSWORD),
        ("ALICE", "wrong password!"),
    ] {
        let res = app
            .post_json("/v1/login", json!({"username": user, "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get(SET_COOKIE).is_none());
        assert!(
            res.headers().get("www-authenticate").is_none(),
            "not a Bearer route"
        );
        answers.push(res.text().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
    let body: Value = serde_json::from_str(&answers[0]).unwrap();
    assert_eq!(body["error"], "invalid_credentials");
    assert!(body.get("login_required").is_none());
}

#[tokio::test]
async fn usernames_log_in_case_insensitively() {
    let app = TestApp::start().await;
    let id = app.signup("Alice").await;
    let t = app.login("aLiCe").await;
    let me: Value = app.me(&t.access).await.json().await.unwrap();
    assert_eq!(me["sub"], id);
}
