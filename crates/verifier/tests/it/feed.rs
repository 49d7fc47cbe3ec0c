//! The revocation feed client against the test issuer's fake feed.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::sync::atomic::Ordering;
use tessera_verifier::{Issuer, Verifier};

use crate::support::{call, eventually, TestClock, TestIssuer, AUD, FEED_TOKEN, NOW};

fn app(v: &Verifier) -> Router {
    Router::new()
        .route("/me", get(|| async { "ok" }))
        .layer(v.layer())
}

async fn with_feed(
    issuer: &TestIssuer,
    clock: &TestClock,
    tune: impl FnOnce(tessera_verifier::VerifierBuilder) -> tessera_verifier::VerifierBuilder,
) -> Verifier {
    let v = tune(
        Verifier::builder()
            .issuer(Issuer::discover(&issuer.url).revocations_token(FEED_TOKEN.to_owned()))
            .audience(AUD)
            .clock(clock.as_clock())
            .feed_interval(Duration::from_millis(50)),
    )
    .build()
    .unwrap();
    assert!(
        v.wait_ready(Duration::from_secs(5)).await,
        "{:?}",
        v.health()
    );
    v
}

/// Waits until the feed has answered `n` more polls than it had.
async fn polls(issuer: &TestIssuer, n: usize) {
    let start = issuer.state.hits(&issuer.state.feed_hits);
    assert!(
        eventually(Duration::from_secs(3), || issuer
            .state
            .hits(&issuer.state.feed_hits)
            >= start + n)
        .await
    );
}

#[tokio::test]
async fn a_revoked_session_is_refused_after_the_next_poll() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = with_feed(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let alice = issuer.token("ses_alice", json!({}));
    let bob = issuer.token("ses_bob", json!({}));
    assert_eq!(call(&app, "/me", Some(&alice)).await.status, StatusCode::OK);
    issuer.state.revoke("ses_alice", NOW + 960);
    polls(&issuer, 2).await;
    let a = call(&app, "/me", Some(&alice)).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(
        a.body["error_description"],
        "the session of this access token was revoked"
    );
    assert_eq!(call(&app, "/me", Some(&bob)).await.status, StatusCode::OK);
    // Every poll after the first passed the last cursor received.
    let cursors = issuer.state.cursors();
    assert_eq!(cursors[0], None);
    assert!(
        cursors[1..]
            .iter()
            .all(|c| c.as_deref().is_some_and(|c| c.starts_with("g0:"))),
        "{cursors:?}"
    );
    assert!(cursors.contains(&Some("g0:1".to_owned())));
    let h = v.health();
    let feed = h.issuers[0].feed.as_ref().unwrap();
    assert_eq!(feed.revocations, 1);
    assert!(feed.fresh && feed.last_error.is_none());
    assert!(feed.last_success_age.unwrap() < Duration::from_secs(1));
    assert_eq!(v.metrics().revocations, 1);
}

#[tokio::test]
async fn a_reset_replaces_the_list_and_entries_past_until_are_dropped() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    issuer.state.revoke("ses_a", NOW + 960);
    issuer.state.revoke("ses_b", NOW + 30);
    let v = with_feed(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let a = issuer.token("ses_a", json!({}));
    let c = issuer.token("ses_c", json!({}));
    assert_eq!(
        call(&app, "/me", Some(&a)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(v.health().issuers[0].feed.as_ref().unwrap().revocations, 2);
    // ses_b's until passes: dropped at the next poll.
    clock.set(NOW + 31);
    polls(&issuer, 2).await;
    assert_eq!(v.health().issuers[0].feed.as_ref().unwrap().revocations, 1);
    // The server replaces its list (cursor too old): the client replaces its set.
    issuer.state.reset_feed(&[("ses_c", NOW + 960)]);
    polls(&issuer, 2).await;
    assert_eq!(call(&app, "/me", Some(&a)).await.status, StatusCode::OK);
    assert_eq!(
        call(&app, "/me", Some(&c)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(v.health().issuers[0].feed.as_ref().unwrap().revocations, 1);
}

#[tokio::test]
async fn an_unreachable_feed_keeps_the_last_list_and_health_says_so() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    issuer.state.revoke("ses_gone", NOW + 960);
    let v = with_feed(&issuer, &clock, |b| {
        b.feed_max_staleness(Duration::from_millis(300))
    })
    .await;
    let app = app(&v);
    issuer.state.feed_status.store(503, Ordering::SeqCst);
    assert!(
        eventually(Duration::from_secs(3), || {
            let h = v.health();
            let f = h.issuers[0].feed.as_ref().unwrap();
            !f.fresh && f.last_error.is_some()
        })
        .await
    );
    let h = v.health();
    let f = h.issuers[0].feed.as_ref().unwrap();
    assert!(f.last_error.as_deref().unwrap().contains("503"), "{f:?}");
    assert_eq!(f.revocations, 1);
    assert!(f.last_success_age.unwrap() > Duration::from_millis(300));
    assert!(!h.ready);
    assert!(v.metrics().feed_failures >= 1);
    // Fail-open (the default): the last list still refuses, others pass.
    let gone = issuer.token("ses_gone", json!({}));
    let fine = issuer.token("ses_fine", json!({}));
    assert_eq!(
        call(&app, "/me", Some(&gone)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(call(&app, "/me", Some(&fine)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn fail_closed_answers_503_until_the_list_is_fresh() {
    let issuer = TestIssuer::start().await;
    issuer.state.feed_status.store(503, Ordering::SeqCst);
    let clock = TestClock::new();
    let v = Verifier::builder()
        .issuer(Issuer::discover(&issuer.url).revocations_token(FEED_TOKEN.to_owned()))
        .audience(AUD)
        .clock(clock.as_clock())
        .feed_interval(Duration::from_millis(50))
        .feed_max_staleness(Duration::from_millis(400))
        .fail_closed(true)
        .build()
        .unwrap();
    let app = app(&v);
    let token = issuer.token("ses_1", json!({}));
    // Keys arrive, the feed never answered: 503.
    assert!(eventually(Duration::from_secs(3), || v.health().issuers[0].keys_known).await);
    let a = call(&app, "/me", Some(&token)).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    assert!(v.health().issuers[0].feed.as_ref().unwrap().fail_closed);
    // The feed answers: 200.
    issuer.state.feed_status.store(200, Ordering::SeqCst);
    assert!(v.wait_ready(Duration::from_secs(3)).await);
    assert_eq!(call(&app, "/me", Some(&token)).await.status, StatusCode::OK);
    // It goes away again: 503 once the list is older than the bound.
    issuer.state.feed_status.store(503, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        call(&app, "/me", Some(&token)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(v.metrics().refused_unavailable >= 2);
}

#[tokio::test]
async fn a_wrong_revocations_token_is_reported() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = Verifier::builder()
        .issuer(Issuer::discover(&issuer.url).revocations_token("wrong".to_owned()))
        .audience(AUD)
        .clock(clock.as_clock())
        .feed_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(3), || v.health().issuers[0]
            .feed
            .as_ref()
            .is_some_and(|f| f.last_error.is_some()))
        .await
    );
    let h = v.health();
    let e = h.issuers[0]
        .feed
        .as_ref()
        .unwrap()
        .last_error
        .clone()
        .unwrap();
    assert!(e.contains("refused the revocations token (401)"), "{e}");
    // The token itself never appears in health or Debug output.
    assert!(!format!("{h:?}{v:?}").contains("wrong"));
}

#[tokio::test]
async fn the_feed_can_be_named_explicitly() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    issuer.state.revoke("ses_x", NOW + 960);
    let v = Verifier::builder()
        .issuer(
            Issuer::jwks_url(format!("{}/.well-known/jwks.json", issuer.url))
                .expect_issuer(&issuer.url)
                .revocation_feed(
                    format!("{}/v1/revocations", issuer.url),
                    FEED_TOKEN.to_owned(),
                ),
        )
        .audience(AUD)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    assert!(
        v.wait_ready(Duration::from_secs(5)).await,
        "{:?}",
        v.health()
    );
    let a = call(&app(&v), "/me", Some(&issuer.token("ses_x", json!({})))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sids_are_matched_after_unescaping_and_must_be_strings() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    issuer.state.revoke("ses_alice", NOW + 960);
    let v = with_feed(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let raw = |payload: String| {
        let header = tessera_jose::Header {
            typ: Some("at+jwt".into()),
            kid: Some("k1".into()),
            ..Default::default()
        };
        tessera_jose::sign_jws(&issuer.key, &header, payload.as_bytes()).unwrap()
    };
    let claims = |sid: &str| {
        format!(
            r#"{{"iss":"{}","aud":"{AUD}","exp":{},"sid":{sid}}}"#,
            issuer.url,
            NOW + 900
        )
    };
    // The same session, written with an escape.
    let escaped = raw(claims(r#""ses_\u0061lice""#));
    let a = call(&app, "/me", Some(&escaped)).await;
    assert_eq!(
        a.body["error_description"],
        "the session of this access token was revoked"
    );
    // A sid that is not a string cannot be checked: refused.
    let a = call(&app, "/me", Some(&raw(claims("42")))).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(a.body["error_description"], "sid must be a string");
    // No sid at all: nothing to revoke.
    let none = raw(format!(
        r#"{{"iss":"{}","aud":"{AUD}","exp":{}}}"#,
        issuer.url,
        NOW + 900
    ));
    assert_eq!(call(&app, "/me", Some(&none)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_full_list_of_100_000_revocations_loads_over_http() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    for i in 0..100_000 {
        issuer.state.revoke(&format!("ses_{i:026}"), NOW + 960);
    }
    let v = with_feed(&issuer, &clock, |b| b).await;
    assert_eq!(
        v.health().issuers[0].feed.as_ref().unwrap().revocations,
        100_000
    );
    let app = app(&v);
    let revoked = issuer.token(&format!("ses_{:026}", 99_999), json!({}));
    assert_eq!(
        call(&app, "/me", Some(&revoked)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let fine = issuer.token(&format!("ses_{:026}", 100_000), json!({}));
    assert_eq!(call(&app, "/me", Some(&fine)).await.status, StatusCode::OK);
}
