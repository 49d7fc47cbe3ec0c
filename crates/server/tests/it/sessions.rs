//! The user's sessions: list, revoke one, logout everywhere.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_flagged() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let a = app.login("alice").await;
    app.clock.advance(60);
    let res = app
        .post_json(
            "/v1/login",
            serde_json::json!({"username": "alice", "password": PASSWORD, "delivery": "body"}),
        )
        .header("user-agent", "phone/1.0")
        .send()
        .await
        .unwrap();
    let b = tokens(&res.json().await.unwrap());
    let res = app
        .get("/v1/sessions")
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let list: Vec<Value> = res.json().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], b.sid, "most recently used first");
    assert_eq!(list[0]["current"], false);
    assert_eq!(list[0]["user_agent"], "phone/1.0");
    assert_eq!(list[0]["ip"], "127.0.0.1");
    assert_eq!(list[0]["created_at"], T0 + 60);
    assert_eq!(list[0]["last_used_at"], T0 + 60);
    assert_eq!(list[0]["expires_at"], T0 + 60 + 7 * 86_400);
    assert_eq!(list[1]["id"], a.sid);
    assert_eq!(list[1]["current"], true);
    let keys: Vec<&String> = list[1].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "current",
            "expires_at",
            "id",
            "ip",
            "last_used_at",
            "user_agent"
        ]
    );
}

#[tokio::test]
async fn deleting_a_session_revokes_its_refresh_and_access_tokens() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let a = app.login("alice").await;
    let b = app.login("alice").await;
    let res = app
        .http
        .delete(app.url(&format!("/v1/sessions/{}", b.sid)))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.assert_session_revoked(&b).await;
    assert_eq!(app.me(&a.access).await.status(), StatusCode::OK);
    let list: Vec<Value> = app
        .get("/v1/sessions")
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    // Already revoked, unknown, or someone else's: 404.
    let (_, mallory) = app.user("mallory").await;
    for sid in [b.sid.as_str(), "ses_unknown", a.sid.as_str()] {
        let res = app
            .http
            .delete(app.url(&format!("/v1/sessions/{sid}")))
            .bearer_auth(if sid == a.sid {
                &mallory.access
            } else {
                &a.access
            })
            .send()
            .await
            .unwrap();
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Without a token: 401 before anything else.
    let res = app
        .http
        .delete(app.url("/v1/sessions/x"))
        .send()
        .await
        .unwrap();
    assert_no_token_error(res).await;
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user() {
    let app = TestApp::start().await;
    app.signup("alice").await;
    let a = app.login("alice").await;
    let b = app.login("alice").await;
    let (_, bob) = app.user("bob").await;
    // From a browser, the request carries the cookie: its answer clears it.
    let res = app
        .post("/v1/logout/all")
        .bearer_auth(&a.access)
        .header("cookie", format!("{COOKIE}=anything"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie_line(res.headers())
        .unwrap()
        .contains("Max-Age=0"));
    for t in [&a, &b] {
        app.assert_session_revoked(t).await;
    }
    assert_eq!(
        app.me(&bob.access).await.status(),
        StatusCode::OK,
        "other users untouched"
    );
    let res = app.post("/v1/logout/all").send().await.unwrap();
    assert_no_token_error(res).await;
}
