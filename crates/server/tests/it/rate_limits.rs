//! Rate limits on login (per username and per IP), signup and refresh, with `Retry-After`,
//! reset by moving the clock.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

/// Sends every `(username, password)` login at the same moment; the statuses.
async fn logins_at_once(
    app: &TestApp,
    attempts: impl Iterator<Item = (String, String)>,
) -> Vec<StatusCode> {
    let mut logins = tokio::task::JoinSet::new();
    for (username, password) in attempts {
        let (http, url) = (app.http.clone(), app.url("/v1/login"));
        logins.spawn(async move {
            let body = json!({"username": username, "password": password});
            http.post(url).json(&body).send().await.unwrap().status()
        });
    }
    logins.join_all().await
}

#[tokio::test]
async fn failed_logins_per_username_are_limited_until_the_window_passes() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "3")
        .start()
        .await;
    app.signup("alice").await;
    for _ in 0..3 {
        assert_eq!(
            app.login_as("alice", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    app.clock.advance(20);
    // Even the right password is refused now: the check comes before hashing.
    let (headers, _) = assert_error(
        app.login_as("ALICE", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(headers["retry-after"], "40");
    // Another username from the same IP is not limited yet (per-IP limit is 9).
    app.signup("bob").await;
    assert_eq!(app.login_as("bob", PASSWORD).await.status(), StatusCode::OK);
    app.clock.advance(40);
    assert_eq!(
        app.login_as("alice", PASSWORD).await.status(),
        StatusCode::OK
    );
    let m = app.metrics().await;
    assert!(
        m.contains("tessera_logins_total{result=\"rate_limited\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn a_successful_login_clears_the_username_failures() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "2")
        .start()
        .await;
    app.signup("alice").await;
    app.login_as("alice", "wrong password").await;
    assert_eq!(
        app.login_as("alice", PASSWORD).await.status(),
        StatusCode::OK
    );
    app.login_as("alice", "wrong password").await;
    assert_eq!(
        app.login_as("alice", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_logins_per_ip_are_limited_at_three_times_the_username_limit() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "2")
        .start()
        .await;
    app.signup("alice").await;
    for i in 0..6 {
        let res = app.login_as(&format!("nobody{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let (headers, _) = assert_error(
        app.login_as("alice", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(headers["retry-after"], "60");
    app.clock.advance(60);
    assert_eq!(
        app.login_as("alice", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn signups_per_ip_are_limited() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "2")
        .start()
        .await;
    app.signup("a1").await;
    app.signup("a2").await;
    let res = app
        .post_json("/v1/users", json!({"username": "a3", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let (headers, _) = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(headers["retry-after"], "60");
    app.clock.advance(60);
    app.signup("a3").await;
}

#[tokio::test]
async fn refreshes_per_ip_are_limited() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "2")
        .start()
        .await;
    let (_, t0) = app.user("alice").await;
    let t1 = tokens(&app.refresh_body(&t0.refresh).await.json().await.unwrap());
    let t2 = tokens(&app.refresh_body(&t1.refresh).await.json().await.unwrap());
    let (headers, _) = assert_error(
        app.refresh_body(&t2.refresh).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(headers["retry-after"], "60");
    app.clock.advance(60);
    assert_eq!(
        app.refresh_body(&t2.refresh).await.status(),
        StatusCode::OK,
        "t2 was not spent"
    );
}

#[tokio::test]
async fn forwarded_for_is_used_only_when_trusted() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "1")
        .env("TESSERA_SERVER__TRUST_FORWARDED_FOR", "true")
        .start()
        .await;
    for (i, ip) in ["203.0.113.1", "203.0.113.2"].iter().enumerate() {
        let res = app
            .post_json(
                "/v1/users",
                json!({"username": format!("u{i}"), "password": PASSWORD}),
            )
            .header("x-forwarded-for", format!("10.9.9.9, {ip}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "1")
        .start()
        .await;
    app.signup("u0").await;
    let res = app
        .post_json("/v1/users", json!({"username": "u1", "password": PASSWORD}))
        .header("x-forwarded-for", "203.0.113.2")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// Guesses fired at one username at the same moment are counted before any is hashed: no
/// more of them are checked than the limit allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_outrun_the_username_limit() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "3")
        .start()
        .await;
    app.signup("dave").await;
    let statuses = logins_at_once(
        &app,
        (0..12).map(|i| ("dave".to_owned(), format!("wrong password {i}"))),
    )
    .await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, limited), (3, 9), "{statuses:?}");
}

/// The same from one IP over many usernames: the IP's limit (3 × the username limit) holds
/// however many guesses arrive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_outrun_the_ip_limit() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "3")
        .start()
        .await;
    let statuses = logins_at_once(
        &app,
        (0..30).map(|i| (format!("nobody{i}"), "wrong password".to_owned())),
    )
    .await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 9, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
}

/// Successful logins are not failures: many from one address never reach its limit.
#[tokio::test]
async fn successful_logins_do_not_use_up_the_ip_limit() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "1")
        .start()
        .await;
    app.signup("erin").await;
    for _ in 0..10 {
        assert_eq!(
            app.login_as("erin", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    // Failures still count: the IP limit is 3.
    for i in 0..3 {
        let res = app.login_as(&format!("nobody{i}"), "wrong password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_error(
        app.login_as("erin", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}
