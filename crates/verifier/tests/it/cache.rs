//! The JWKS cache against a real issuer on loopback: fetch counts, rotation, outages,
//! bounds.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use tessera_jose::{Algorithm, SigningKey};
use tessera_verifier::{Claims, Issuer, Verifier};
use tokio::net::TcpListener;

use crate::layer::ready_verifier;
use crate::support::{call, eventually, sign, TestClock, TestIssuer, AUD};

fn app(v: &Verifier) -> Router {
    Router::new()
        .route(
            "/me",
            get(|Claims(c): Claims<serde_json::Value>| async move { axum::Json(c) }),
        )
        .layer(v.layer())
}

#[tokio::test]
async fn a_flood_of_random_kids_costs_at_most_one_fetch_per_cooldown() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let random_kid_token = |i: usize| {
        let mut r = [0u8; 8];
        tessera_jose::random_bytes(&mut r).unwrap();
        let kid = format!("random-{i}-{}", tessera_jose::base64url::encode(&r));
        let key = SigningKey::generate(Algorithm::HS256)
            .unwrap()
            .with_kid(kid);
        sign(&key, &issuer.url, "s", json!({}), Some("at+jwt"))
    };
    let started = tokio::time::Instant::now();
    // 150 at once (they share the one fetch in flight)…
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..150 {
        let token = random_kid_token(i);
        let app = app.clone();
        tasks.spawn(async move { call(&app, "/me", Some(&token)).await });
    }
    while let Some(a) = tasks.join_next().await {
        let a = a.unwrap();
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
    }
    // …then 150 one after the other (within the cooldown: refused at once).
    for i in 150..300 {
        let a = call(&app, "/me", Some(&random_kid_token(i))).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The first fetch at start, and one refetch for the whole flood.
    let fetches = issuer.state.hits(&issuer.state.jwks_hits);
    assert!(fetches <= 2, "{fetches} JWKS fetches");
    assert_eq!(v.metrics().unknown_kid_refetches, 1);
    // The valid token is still accepted, without waiting.
    let a = call(&app, "/me", Some(&issuer.token("s", json!({})))).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_at_once_after_one_refetch() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let next = issuer.add_key("k2");
    let token = sign(&next, &issuer.url, "s", json!({}), Some("at+jwt"));
    let a = call(&app, "/me", Some(&token)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(issuer.state.hits(&issuer.state.jwks_hits), 2);
    assert_eq!(v.metrics().unknown_kid_refetches, 1);
    assert_eq!(v.health().issuers[0].key_count, 2);
    // A third key within the cooldown is refused at once, without a fetch…
    let third = issuer.add_key("k3");
    let token3 = sign(&third, &issuer.url, "s", json!({}), Some("at+jwt"));
    assert_eq!(
        call(&app, "/me", Some(&token3)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(issuer.state.hits(&issuer.state.jwks_hits), 2);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_again_once_the_cooldown_has_passed() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| {
        b.unknown_kid_cooldown(Duration::from_millis(300))
    })
    .await;
    let app = app(&v);
    let k2 = issuer.add_key("k2");
    let t2 = sign(&k2, &issuer.url, "s", json!({}), Some("at+jwt"));
    assert_eq!(call(&app, "/me", Some(&t2)).await.status, StatusCode::OK);
    let k3 = issuer.add_key("k3");
    let t3 = sign(&k3, &issuer.url, "s", json!({}), Some("at+jwt"));
    assert_eq!(
        call(&app, "/me", Some(&t3)).await.status,
        StatusCode::UNAUTHORIZED
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(call(&app, "/me", Some(&t3)).await.status, StatusCode::OK);
    assert_eq!(v.metrics().unknown_kid_refetches, 2);
}

#[tokio::test]
async fn an_issuer_down_at_start_gets_503_then_200_once_it_is_up() {
    let mut issuer = TestIssuer::down().await;
    let clock = TestClock::new();
    let v = Verifier::builder()
        .issuer_url(&issuer.url)
        .audience(AUD)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    let app = app(&v);
    let token = issuer.token("s", json!({}));
    let a = call(&app, "/me", Some(&token)).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    assert_eq!(a.headers["retry-after"], "5");
    assert!(!v.health().ready);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let h = v.health();
    assert!(
        h.issuers[0]
            .last_fetch_error
            .as_deref()
            .unwrap()
            .contains("cannot connect"),
        "{h:?}"
    );
    assert!(v.metrics().jwks_fetch_failures >= 2);
    issuer.come_up().await;
    let up = tokio::time::Instant::now();
    assert!(
        v.wait_ready(Duration::from_secs(6)).await,
        "{:?}",
        v.health()
    );
    // Retries come at least every 5 s.
    assert!(
        up.elapsed() <= Duration::from_millis(5500),
        "{:?}",
        up.elapsed()
    );
    assert_eq!(call(&app, "/me", Some(&token)).await.status, StatusCode::OK);
    assert_eq!(v.health().issuers[0].last_fetch_error, None);
}

#[tokio::test]
async fn stale_keys_keep_serving_while_the_issuer_is_down() {
    let mut issuer = TestIssuer::start().await;
    *issuer.state.cache_control.lock().unwrap() = "max-age=1".to_owned();
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let token = issuer.token("s", json!({}));
    issuer.stop();
    // The refresh at 0.9 s fails; the keys stay.
    assert!(
        eventually(Duration::from_secs(4), || v.health().issuers[0]
            .last_fetch_error
            .is_some())
        .await
    );
    let a = call(&app, "/me", Some(&token)).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let h = v.health();
    assert!(h.ready && h.issuers[0].keys_known);
    assert!(h.issuers[0].keys_age.unwrap() >= Duration::from_millis(900));
}

#[tokio::test]
async fn redirects_are_followed_but_never_to_a_plain_http_host() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = Verifier::builder()
        .jwks_url(format!("{}/old/jwks.json", issuer.url))
        .audience(AUD)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    assert!(
        v.wait_ready(Duration::from_secs(5)).await,
        "{:?}",
        v.health()
    );
    let bad = Verifier::builder()
        .jwks_url(format!("{}/moved/jwks.json", issuer.url))
        .audience(AUD)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || bad.health().issuers[0]
            .last_fetch_error
            .is_some())
        .await
    );
    let e = bad.health().issuers[0].last_fetch_error.clone().unwrap();
    assert!(e.contains("plain http"), "{e}");
    assert!(!bad.health().ready);
}

#[tokio::test]
async fn a_jwks_over_one_mebibyte_is_refused() {
    let issuer = TestIssuer::start().await;
    issuer
        .state
        .jwks_padding
        .store(1024 * 1024 + 1, std::sync::atomic::Ordering::SeqCst);
    let clock = TestClock::new();
    let v = Verifier::builder()
        .issuer_url(&issuer.url)
        .audience(AUD)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || v.health().issuers[0]
            .last_fetch_error
            .is_some())
        .await
    );
    let e = v.health().issuers[0].last_fetch_error.clone().unwrap();
    assert!(e.contains("larger than 1048576 bytes"), "{e}");
    assert!(!v.is_ready());
}

#[tokio::test]
async fn a_silent_issuer_times_out() {
    // Accepts connections, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let v = Verifier::builder()
        .issuer(Issuer::discover(&url))
        .audience(AUD)
        .fetch_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || v.health().issuers[0]
            .last_fetch_error
            .is_some())
        .await
    );
    let e = v.health().issuers[0].last_fetch_error.clone().unwrap();
    assert!(e.contains("no complete answer within 0.2 s"), "{e}");
    hold.abort();
}

#[tokio::test]
async fn metadata_naming_another_issuer_is_refused() {
    let issuer = TestIssuer::start().await;
    // Same server, but configured under another name: its metadata names its own.
    let alias = issuer.url.replace("127.0.0.1", "localhost");
    let v = Verifier::builder()
        .issuer_url(&alias)
        .audience(AUD)
        .build()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || v.health().issuers[0]
            .last_fetch_error
            .is_some())
        .await
    );
    let e = v.health().issuers[0].last_fetch_error.clone().unwrap();
    assert!(e.contains("names another issuer"), "{e}");
    assert_eq!(issuer.state.hits(&issuer.state.jwks_hits), 0);
}
