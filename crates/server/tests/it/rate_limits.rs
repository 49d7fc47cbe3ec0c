//! Rate limits on login (per username and IP, per IP, per username from every IP, successful
//! logins), signup, refresh and wrong admin tokens, with `Retry-After`, IPv6 by network,
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

/// A login from a given client address (the server trusts `X-Forwarded-For` in these tests).
async fn login_from(app: &TestApp, ip: &str, username: &str, password: &str) -> StatusCode {
    app.post_json(
        "/v1/login",
        json!({"username": username, "password": password}),
    )
    .header("x-forwarded-for", ip)
    .send()
    .await
    .unwrap()
    .status()
}

/// A stranger guessing Alice's password from one address is stopped at the strict limit,
/// and however long they keep at it, Alice logs in from her own address.
#[tokio::test]
async fn a_strangers_failures_do_not_lock_the_owner_out_from_another_ip() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "3")
        .env("TESSERA_SERVER__TRUST_FORWARDED_FOR", "true")
        .start()
        .await;
    app.signup("alice").await;
    let mut statuses = Vec::new();
    for i in 0..40 {
        statuses.push(login_from(&app, "203.0.113.66", "alice", &format!("guess {i}")).await);
        if i % 10 == 9 {
            app.clock.advance(5);
        }
    }
    let guessed = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(guessed, 3, "{statuses:?}");
    assert_eq!(
        login_from(&app, "198.51.100.7", "alice", PASSWORD).await,
        StatusCode::OK,
        "the owner's right password from her own address"
    );
    // The stranger's address stays limited for that username, right password or not.
    assert_eq!(
        login_from(&app, "203.0.113.66", "alice", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Guessing one username from many addresses is bounded per username: 10× the limit a
/// minute, then 30× an hour, which holds until the hour's window ends.
#[tokio::test]
async fn guessing_from_many_addresses_is_bounded_per_username() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "1")
        .env("TESSERA_SERVER__TRUST_FORWARDED_FOR", "true")
        .start()
        .await;
    app.signup("carol").await;
    let mut ip = 0;
    let mut next_ip = || {
        ip += 1;
        format!("192.0.2.{ip}")
    };
    for _ in 0..10 {
        assert_eq!(
            login_from(&app, &next_ip(), "carol", "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "carol", "password": "wrong"}),
        )
        .header("x-forwarded-for", next_ip())
        .send()
        .await
        .unwrap();
    let (headers, _) = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(headers["retry-after"], "60");
    // Two more minutes of 10 failures each reach the hour's 30.
    for _ in 0..2 {
        app.clock.advance(60);
        for _ in 0..10 {
            assert_eq!(
                login_from(&app, &next_ip(), "carol", "wrong").await,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    app.clock.advance(60);
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "carol", "password": PASSWORD}),
        )
        .header("x-forwarded-for", next_ip())
        .send()
        .await
        .unwrap();
    let (headers, _) = assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(headers["retry-after"], (3600 - 180).to_string());
    // Other usernames are not affected.
    app.signup("dan").await;
    assert_eq!(
        login_from(&app, &next_ip(), "dan", PASSWORD).await,
        StatusCode::OK
    );
    app.clock.advance(3600);
    assert_eq!(
        login_from(&app, &next_ip(), "carol", PASSWORD).await,
        StatusCode::OK
    );
}

/// Successful logins are limited per user and per IP, so one client cannot open sessions
/// by the hundred.
#[tokio::test]
async fn successful_logins_are_limited_per_user_and_per_ip() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__LOGIN_SUCCESS_PER_MINUTE", "2")
        .start()
        .await;
    app.signup("erin").await;
    for _ in 0..2 {
        assert_eq!(
            app.login_as("erin", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    let (headers, _) = assert_error(
        app.login_as("erin", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(headers["retry-after"], "60");
    // The same address, other users: up to 3× the per-user limit in all.
    for name in ["f1", "f2"] {
        app.signup(name).await;
        for _ in 0..2 {
            assert_eq!(app.login_as(name, PASSWORD).await.status(), StatusCode::OK);
        }
    }
    app.signup("f3").await;
    assert_eq!(
        app.login_as("f3", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.clock.advance(60);
    assert_eq!(
        app.login_as("erin", PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// An IPv6 host owns its whole /64: rotating through its addresses gets it no fresh
/// budget. Another /64 has its own.
#[tokio::test]
async fn forty_refreshes_from_one_ipv6_64_are_limited() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "20")
        .env("TESSERA_SERVER__TRUST_FORWARDED_FOR", "true")
        .start()
        .await;
    let mut statuses = Vec::new();
    for i in 0..40 {
        let res = app
            .post_json("/v1/token/refresh", json!({"refresh_token": "rt_garbage"}))
            .header("x-forwarded-for", format!("2001:db8:7:7:{i:x}::{i:x}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
    }
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(limited, 20, "{statuses:?}");
    let other = app
        .post_json("/v1/token/refresh", json!({"refresh_token": "rt_garbage"}))
        .header("x-forwarded-for", "2001:db8:7:8::1")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED, "another /64");
}

/// Wrong admin tokens are limited per address: past the limit even the right token waits,
/// so the token cannot be guessed at request speed.
#[tokio::test]
async fn wrong_admin_tokens_are_limited_per_ip() {
    let app = TestApp::setup()
        .env("TESSERA_RATE_LIMIT__ADMIN_FAILURES_PER_MINUTE", "3")
        .start()
        .await;
    let (id, _) = app.user("alice").await;
    let path = format!("/v1/admin/users/{id}/revoke");
    let send = |token: &'static str| {
        let req = app.post(&path).bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    for _ in 0..3 {
        assert_eq!(send("wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    let (headers, _) = assert_error(
        send(ADMIN).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(headers["retry-after"], "60");
    // The metrics and revocation routes share the budget of wrong tokens.
    let res = app
        .get("/v1/revocations")
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(60);
    assert_eq!(send(ADMIN).await.status(), StatusCode::NO_CONTENT);
}
