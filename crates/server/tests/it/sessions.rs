//! The user's sessions: list, revoke one, logout everywhere.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_tokens::Store;
use tokio::sync::Barrier;

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

/// The sessions `GET /v1/sessions` lists for `access`, by id.
async fn live_session_ids(app: &TestApp, access: &str) -> Vec<String> {
    let res = app
        .get("/v1/sessions")
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let list: Vec<Value> = res.json().await.unwrap();
    list.iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn logins_over_the_cap_revoke_the_least_recently_used_sessions() {
    let app = TestApp::setup()
        .env("TESSERA_SESSIONS__MAX_PER_USER", "3")
        .start()
        .await;
    let alice = app.signup("alice").await;
    // Five logins a second apart: the first two go.
    let mut logins = vec![];
    for _ in 0..5 {
        app.clock.advance(1);
        logins.push(app.login("alice").await);
    }
    let mut live = live_session_ids(&app, &logins[4].access).await;
    live.sort();
    let mut kept: Vec<String> = logins[2..].iter().map(|t| t.sid.clone()).collect();
    kept.sort();
    assert_eq!(live, kept);
    for evicted in &logins[..2] {
        // 401 refresh_token_revoked with login_required; the access token refused at once.
        app.assert_session_revoked(evicted).await;
    }
    for t in &logins[2..] {
        assert_eq!(app.me(&t.access).await.status(), StatusCode::OK);
        let res = app.refresh_body(&t.refresh).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", t.sid);
    }

    // Both are in the revocation feed; the log names the user and the evicted session,
    // never a token.
    let feed: Value = app
        .get("/v1/revocations")
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for evicted in &logins[..2] {
        assert!(
            feed.to_string().contains(&evicted.sid),
            "{} missing from the feed: {feed}",
            evicted.sid
        );
    }
    let logs = captured_logs();
    for (evicted, by) in logins[..2].iter().zip(&logins[3..]) {
        let line = logs
            .lines()
            .find(|l| l.contains("session cap") && l.contains(&evicted.sid))
            .unwrap_or_else(|| panic!("no eviction log line for {}:\n{logs}", evicted.sid));
        assert!(line.contains(&alice), "{line}");
        for secret in [&evicted.access, &evicted.refresh, &by.access, &by.refresh] {
            assert!(!line.contains(secret.as_str()), "{line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_never_leave_more_than_the_cap() {
    const LOGINS: usize = 10;
    let app = TestApp::setup()
        .env("TESSERA_SESSIONS__MAX_PER_USER", "3")
        .start()
        .await;
    let alice = app.signup("alice").await;
    let barrier = Arc::new(Barrier::new(LOGINS));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..LOGINS {
        let (http, url, barrier) = (app.http.clone(), app.url("/v1/login"), Arc::clone(&barrier));
        set.spawn(async move {
            barrier.wait().await;
            let res = http
                .post(url)
                .json(&json!({"username": "alice", "password": PASSWORD, "delivery": "body"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            tokens(&res.json().await.unwrap())
        });
    }
    let logins = set.join_all().await;
    let live = app.store.list_sessions(Some(&alice), T0 + 1).await.unwrap();
    assert_eq!(live.len(), 3, "{live:?}");
    let mut refused = 0;
    for t in &logins {
        match app.me(&t.access).await.status() {
            StatusCode::OK => assert!(live.iter().any(|s| s.id == t.sid), "{}", t.sid),
            StatusCode::UNAUTHORIZED => refused += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!(refused, LOGINS - 3);
}
