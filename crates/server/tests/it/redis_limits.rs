//! Rate limits counted in Redis (`redis.url`): shared by replicas, and a local fallback
//! when Redis is unreachable. The shared tests need Redis at 127.0.0.1:6379: without it they
//! are skipped with a note, except under `CI`, where they fail
//! ([`tessera_testkit::services`]).

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_server::Config;
use tessera_testkit::services;

use crate::common::*;

/// A key prefix no other test or run shares (process id and a random number).
fn unique_prefix(test: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new().hash_one(test);
    format!("tessera-test:{test}:{}:{random:016x}", std::process::id())
}

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let res = app.get("/readyz").send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

/// Two replicas on one Redis (same key prefix).
async fn replicas(test: &str, login_per_minute: &str) -> Option<(TestApp, TestApp)> {
    let url = services::redis()?;
    let prefix = unique_prefix(test);
    let start = || {
        TestApp::setup()
            .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", login_per_minute)
            .redis(url, &prefix)
            .start()
    };
    let (a, b) = (start().await, start().await);
    a.signup("alice").await;
    b.signup("alice").await;
    Some((a, b))
}

#[tokio::test]
async fn failed_logins_on_one_replica_count_on_another() {
    let Some((a, b)) = replicas("shared_failures", "3").await else {
        return;
    };
    assert_eq!(readyz(&a).await.1["checks"]["rate_limit"], "redis");
    for app in [&a, &a, &b] {
        assert_eq!(
            app.login_as("alice", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for app in [&b, &a] {
        let (headers, _) = assert_error(
            app.login_as("ALICE", PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
        )
        .await;
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((55..=60).contains(&retry), "Retry-After {retry}");
    }
    // Another username is not limited (per-IP limit is 9, also shared).
    assert_eq!(
        b.login_as("bob", "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_successful_login_on_one_replica_clears_the_failures_on_all() {
    let Some((a, b)) = replicas("shared_reset", "2").await else {
        return;
    };
    a.login_as("alice", "wrong password").await;
    assert_eq!(b.login_as("alice", PASSWORD).await.status(), StatusCode::OK);
    a.login_as("alice", "wrong password").await;
    // Without the reset through Redis this would be the 2nd failure of the window: 429.
    assert_eq!(a.login_as("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_redis_unreachable_the_server_keeps_serving_with_local_limits() {
    // Port 1: nothing listens there (binding it needs root), so connecting fails at once.
    let app = TestApp::setup()
        .env("TESSERA_REDIS__URL", "redis://127.0.0.1:1")
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "2")
        .start()
        .await;
    app.signup("alice").await;
    assert_eq!(
        app.login_as("alice", PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..2 {
        assert_eq!(
            app.login_as("alice", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let (headers, _) = assert_error(
        app.login_as("alice", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(
        headers["retry-after"], "60",
        "the local window, on the app's clock"
    );
    app.clock.advance(60);
    assert_eq!(
        app.login_as("alice", PASSWORD).await.status(),
        StatusCode::OK
    );
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"status": "ready", "checks": {"database": "ok", "rate_limit": "local (redis unavailable)"}})
    );
    let logs = captured_logs();
    let warnings = logs
        .lines()
        .filter(|l| l.contains("Redis unavailable: rate limits fall back"))
        .count();
    assert_eq!(warnings, 1, "warned once, not per request:\n{logs}");
}

#[test]
fn a_redis_url_of_another_scheme_is_refused_naming_the_key() {
    for url in ["rediss://cache:6380", "http://cache:6379", "cache:6379"] {
        let env = HashMap::from([("TESSERA_REDIS__URL".to_owned(), url.to_owned())]);
        let e = Config::load(None, env).unwrap_err().to_string();
        assert!(e.contains("redis.url"), "{e}");
    }
}

/// In Redis too, a successful login takes its count back from the IP: replicas logging a
/// user in over and over never reach the address's limit, while failures still do.
#[tokio::test]
async fn successful_logins_are_refunded_in_redis() {
    let Some((a, b)) = replicas("refunds", "1").await else {
        return;
    };
    for i in 0..8 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            app.login_as("alice", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    // The IP limit is 3 failures, counted across both.
    for (i, app) in [&a, &b, &a].into_iter().enumerate() {
        let res = app.login_as(&format!("nobody{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        b.login_as("alice", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// `redis.key_prefix` separates deployments that share one Redis: the same prefix shares
/// counts, another prefix does not.
#[tokio::test]
async fn deployments_with_different_key_prefixes_do_not_share_counts() {
    let Some(url) = services::redis() else {
        return;
    };
    let (mine, theirs) = (unique_prefix("key_prefix_a"), unique_prefix("key_prefix_b"));
    let start = |prefix: String| async move {
        let app = TestApp::setup()
            .env("TESSERA_REDIS__URL", url)
            .env("TESSERA_REDIS__KEY_PREFIX", &prefix)
            .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "1")
            .start()
            .await;
        app.signup("alice").await;
        app
    };
    let a = start(mine.clone()).await;
    let same = start(mine).await;
    let other = start(theirs).await;
    assert_eq!(
        a.login_as("alice", "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        same.login_as("alice", "wrong password").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        other.login_as("alice", "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
