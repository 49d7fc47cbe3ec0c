//! The revocation feed `GET /v1/revocations`: who may read it, its cursor, `reset`,
//! `until`, the expiry of entries, and revocations that outlive the purge and a restart.

use axum::http::StatusCode;
use reqwest::Response;
use serde_json::Value;

use crate::common::*;

/// The feed credential of these tests (`revocations.token` must be 32+ characters).
const FEED: &str = "test-revocations-token-4b1d9e7c2a60f8";

async fn app() -> TestApp {
    TestApp::setup()
        .env("TESSERA_REVOCATIONS__TOKEN", FEED)
        .start()
        .await
}

async fn feed(app: &TestApp, since: Option<&str>) -> Response {
    let mut req = app.get("/v1/revocations").bearer_auth(FEED);
    if let Some(c) = since {
        req = req.query(&[("since", c)]);
    }
    req.send().await.unwrap()
}

/// The answer of the feed, checked to be a 200 that is never cached.
async fn read(app: &TestApp, since: Option<&str>) -> Value {
    let res = feed(app, since).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

/// The `(sid, until)` pairs of an answer, sorted.
fn entries(answer: &Value) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = answer["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["sid"].as_str().unwrap().to_owned(),
                e["until"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_feed_takes_its_token_or_the_admin_token_and_nothing_else() {
    let app = app().await;
    let (_, t) = app.user("alice").await;
    assert_eq!(read(&app, None).await["reset"], true);
    let admin = app
        .get("/v1/revocations")
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    // No credential: a bare challenge. A wrong one, or an access token: invalid_token.
    assert_no_token_error(app.get("/v1/revocations").send().await.unwrap()).await;
    for wrong in [&format!("{FEED}x")[..], "short", &t.access[..]] {
        let res = app
            .get("/v1/revocations")
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_bearer_error(res, "invalid_token").await;
    }
    // Neither token configured: the feed is off.
    let off = TestApp::setup().no_admin().start().await;
    let res = off
        .get("/v1/revocations")
        .bearer_auth(FEED)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_short_revocations_token_stops_start_up() {
    let env = [(
        "TESSERA_REVOCATIONS__TOKEN".to_owned(),
        "only-twenty-characters".to_owned(),
    )];
    let err = tessera_server::Config::load(None, env).unwrap_err();
    assert!(err.to_string().contains("revocations.token"), "{err}");
}

#[tokio::test]
async fn the_cursor_continues_and_every_way_of_revoking_is_listed() {
    let app = app().await;
    let (_, a) = app.user("alice").await;
    let (_, b) = app.user("bob").await;
    let (_, c) = app.user("carol").await;
    let (dave, d) = app.user("dave").await;
    let first = read(&app, None).await;
    assert_eq!(first["reset"], true, "no since: the whole list");
    assert!(entries(&first).is_empty());
    let cursor = first["cursor"].as_str().unwrap().to_owned();

    // Logout, deleting a session, logout everywhere, and the admin.
    app.post_json(
        "/v1/logout",
        serde_json::json!({"refresh_token": a.refresh}),
    )
    .send()
    .await
    .unwrap();
    let res = app
        .http
        .delete(app.url(&format!("/v1/sessions/{}", b.sid)))
        .bearer_auth(&b.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post("/v1/logout/all")
        .bearer_auth(&c.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post(&format!("/v1/admin/users/{}/revoke", dave))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let next = read(&app, Some(&cursor)).await;
    assert!(next.get("reset").is_none(), "a continued cursor: {next}");
    // `until`: the revocation time (T0) + access_ttl (15 min) + leeway (60 s).
    let until = T0 + 900 + 60;
    let mut want: Vec<(String, i64)> = [&a.sid, &b.sid, &c.sid, &d.sid]
        .into_iter()
        .map(|s| (s.clone(), until))
        .collect();
    want.sort();
    assert_eq!(entries(&next), want);
    // Continuing again, with nothing new: nothing (or repeats), never a reset.
    let again = read(&app, next["cursor"].as_str()).await;
    assert!(again.get("reset").is_none());
    assert!(entries(&again).iter().all(|e| want.contains(e)));
}

#[tokio::test]
async fn entries_leave_the_feed_after_until() {
    let app = app().await;
    let (_, a) = app.user("alice").await;
    app.post_json(
        "/v1/logout",
        serde_json::json!({"refresh_token": a.refresh}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(entries(&read(&app, None).await).len(), 1);
    app.clock.advance(900 + 60 - 1);
    assert_eq!(entries(&read(&app, None).await).len(), 1, "still alive");
    app.clock.advance(1);
    assert!(entries(&read(&app, None).await).is_empty(), "past until");
}

#[tokio::test]
async fn malformed_cursors_are_400_and_foreign_ones_reset() {
    let app = app().await;
    let (_, a) = app.user("alice").await;
    app.post_json(
        "/v1/logout",
        serde_json::json!({"refresh_token": a.refresh}),
    )
    .send()
    .await
    .unwrap();
    for bad in ["", "garbage!", "AAAA", &"x".repeat(300)] {
        let res = feed(&app, Some(bad)).await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let res = app
        .get("/v1/revocations?since=a&since=b")
        .bearer_auth(FEED)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // A well-formed cursor of another deployment's database: the whole list, reset.
    let other = self::app().await;
    let foreign = read(&other, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = read(&app, Some(&foreign)).await;
    assert_eq!(answer["reset"], true);
    assert_eq!(entries(&answer).len(), 1);
}

/// Issue 11's regression: with `access_ttl` above the purge's one-hour retention, a server
/// restarted two hours after a logout (the purge having run) must still refuse the logged-out
/// session's access token, which has an hour left.
#[tokio::test]
async fn a_revoked_session_stays_refused_across_the_purge_and_a_restart() {
    let app = TestApp::setup()
        .env("TESSERA_REVOCATIONS__TOKEN", FEED)
        .env("TESSERA_TOKENS__ACCESS_TTL", "3h")
        .start()
        .await;
    let (_, a) = app.user("alice").await;
    app.post_json(
        "/v1/logout",
        serde_json::json!({"refresh_token": a.refresh}),
    )
    .send()
    .await
    .unwrap();
    app.clock.advance(2 * 3600);
    // The hourly purge deletes sessions revoked over an hour ago.
    assert_eq!(app.state.auth().purge(3600).await, Ok(1));
    let restarted = app.restarted().await;
    restarted.state.auth().sync_revocations().await.unwrap();
    assert_bearer_error(restarted.me(&a.access).await, "invalid_token").await;
    // And the feed still names it, until exp + leeway.
    let answer = read(&restarted, None).await;
    assert_eq!(entries(&answer), [(a.sid.clone(), T0 + 3 * 3600 + 60)]);
}
