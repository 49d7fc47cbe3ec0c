//! The cache's timing rules under tokio's paused clock, with an in-memory client that
//! logs when it is called: max-age and its clamp, the retry bound, the unknown-kid
//! cooldown.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use tessera_jose::{Algorithm, JwkSet, SigningKey};
use tessera_verifier::{
    Fetch, FetchError, FetchFuture, FetchRequest, FetchResponse, RejectionKind, Verifier,
    VerifierBuilder,
};
use tokio::time::{sleep, Instant};

use crate::support::{sign, TestClock, AUD};

const ISS: &str = "https://issuer.test";

/// Answers every GET with the JWKS (or fails while down), logging the time of each call.
#[derive(Debug)]
struct Memory {
    jwks: Mutex<JwkSet>,
    cache_control: Option<&'static str>,
    up: AtomicBool,
    /// Makes the client panic (a bug in a caller's `Fetch`).
    panics: AtomicBool,
    calls: Mutex<Vec<Instant>>,
    /// How long each answer takes, and how many are under way at most.
    delay: Mutex<Duration>,
    inflight: AtomicUsize,
    max_inflight: AtomicUsize,
}

#[derive(Debug, Clone)]
struct MemoryFetch(Arc<Memory>);

impl Fetch for MemoryFetch {
    fn get(&self, _request: FetchRequest) -> FetchFuture<'_> {
        let m = self.0.clone();
        Box::pin(async move {
            m.calls.lock().unwrap().push(Instant::now());
            let now = m.inflight.fetch_add(1, Ordering::SeqCst) + 1;
            m.max_inflight.fetch_max(now, Ordering::SeqCst);
            let delay = *m.delay.lock().unwrap();
            sleep(delay).await;
            m.inflight.fetch_sub(1, Ordering::SeqCst);
            if !m.up.load(Ordering::SeqCst) {
                return Err(FetchError::new("connection refused"));
            }
            assert!(!m.panics.load(Ordering::SeqCst), "a buggy client");
            let mut headers = HeaderMap::new();
            if let Some(cc) = m.cache_control {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static(cc));
            }
            let body = Bytes::from(m.jwks.lock().unwrap().to_json());
            Ok(FetchResponse {
                status: StatusCode::OK,
                headers,
                body,
            })
        })
    }
}

impl Memory {
    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// Gaps between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        let c = self.calls.lock().unwrap();
        c.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

fn setup(
    cache_control: Option<&'static str>,
    up: bool,
    tune: impl FnOnce(VerifierBuilder) -> VerifierBuilder,
) -> (Verifier, Arc<Memory>, SigningKey) {
    let key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("k1");
    let memory = Arc::new(Memory {
        jwks: Mutex::new(JwkSet {
            keys: vec![key.public_jwk().unwrap()],
        }),
        cache_control,
        up: AtomicBool::new(up),
        panics: AtomicBool::new(false),
        calls: Mutex::new(Vec::new()),
        delay: Mutex::new(Duration::ZERO),
        inflight: AtomicUsize::new(0),
        max_inflight: AtomicUsize::new(0),
    });
    let v = tune(
        Verifier::builder()
            .jwks_url(format!("{ISS}/jwks.json"))
            .audience(AUD)
            .clock(TestClock::new().as_clock())
            .fetcher(Arc::new(MemoryFetch(memory.clone()))),
    )
    .build()
    .unwrap();
    (v, memory, key)
}

/// Sleeps until `at` after `start` (the paused clock jumps there).
async fn at(start: Instant, secs: f64) {
    tokio::time::sleep_until(start + Duration::from_secs_f64(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn keys_are_refetched_ahead_of_their_max_age() {
    let start = Instant::now();
    let (v, m, _) = setup(Some("public, max-age=100"), true, |b| b);
    at(start, 0.01).await;
    assert_eq!(m.calls(), 1);
    assert!(v.is_ready());
    at(start, 85.0).await;
    assert_eq!(m.calls(), 1);
    at(start, 95.0).await;
    assert_eq!(m.calls(), 2);
    at(start, 185.0).await;
    assert_eq!(m.calls(), 3);
    assert!(
        m.gaps()
            .iter()
            .all(|g| (89.9..=90.1).contains(&g.as_secs_f64())),
        "{:?}",
        m.gaps()
    );
    assert_eq!(
        v.health().issuers[0].keys_max_age,
        Some(Duration::from_secs(100))
    );
}

#[tokio::test(start_paused = true)]
async fn max_age_is_clamped_to_one_second_and_one_hour() {
    let start = Instant::now();
    let (low, m, _) = setup(Some("max-age=0"), true, |b| b);
    at(start, 10.0).await;
    // Every 0.9 s: at 0, 0.9, …, 9.9.
    assert_eq!(m.calls(), 12, "{:?}", m.gaps());
    assert_eq!(
        low.health().issuers[0].keys_max_age,
        Some(Duration::from_secs(1))
    );
    drop(low);

    let start = Instant::now();
    let (high, m, _) = setup(Some("max-age=864000"), true, |b| b);
    at(start, 3000.0).await;
    assert_eq!(m.calls(), 1);
    at(start, 3300.0).await;
    assert_eq!(m.calls(), 2);
    assert_eq!(
        high.health().issuers[0].keys_max_age,
        Some(Duration::from_secs(3600))
    );
}

#[tokio::test(start_paused = true)]
async fn the_clamp_bounds_and_the_default_are_configurable() {
    let start = Instant::now();
    let (v, m, _) = setup(Some("max-age=5"), true, |b| {
        b.jwks_max_age_bounds(Duration::from_secs(10), Duration::from_secs(60))
    });
    at(start, 20.0).await;
    assert_eq!(m.calls(), 3); // 0, 9, 18
    assert_eq!(
        v.health().issuers[0].keys_max_age,
        Some(Duration::from_secs(10))
    );
    drop(v);

    let (v, _, _) = setup(None, true, |b| {
        b.jwks_default_max_age(Duration::from_secs(42))
    });
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        v.health().issuers[0].keys_max_age,
        Some(Duration::from_secs(42))
    );
}

#[tokio::test(start_paused = true)]
async fn while_no_keys_are_known_fetches_are_retried_at_least_every_5_s() {
    let start = Instant::now();
    let (v, m, key) = setup(Some("max-age=300"), false, |b| b);
    let token = sign(&key, ISS, "s", json!({}), Some("at+jwt"));
    at(start, 60.0).await;
    let err = v.verify(&token).await.unwrap_err();
    assert_eq!(err.kind(), RejectionKind::Unavailable);
    let gaps: Vec<f64> = m.gaps().iter().map(Duration::as_secs_f64).collect();
    // Backoff 0.25, 0.5, 1, 2, 4, then 5 s at most.
    assert_eq!(&gaps[..5], &[0.25, 0.5, 1.0, 2.0, 4.0], "{gaps:?}");
    assert!(gaps[5..].iter().all(|g| *g == 5.0), "{gaps:?}");
    assert!(m.calls() >= 15);
    m.up.store(true, Ordering::SeqCst);
    at(start, 65.0).await;
    assert!(v.is_ready());
    assert!(v.verify(&token).await.is_ok());
    let failures = v.metrics().jwks_fetch_failures;
    // Back to the max-age schedule: no more retries.
    at(start, 200.0).await;
    assert_eq!(v.metrics().jwks_fetch_failures, failures);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kid_refetches_at_most_once_per_cooldown() {
    let start = Instant::now();
    let (v, m, _) = setup(Some("max-age=3600"), true, |b| b);
    at(start, 1.0).await;
    assert_eq!(m.calls(), 1);
    let stranger = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("nope");
    let token = sign(&stranger, ISS, "s", json!({}), Some("at+jwt"));
    for _ in 0..50 {
        assert_eq!(
            v.verify(&token).await.unwrap_err().kind(),
            RejectionKind::InvalidToken
        );
    }
    assert_eq!(m.calls(), 2);
    at(start, 30.5).await;
    for _ in 0..50 {
        assert!(v.verify(&token).await.is_err());
    }
    assert_eq!(
        m.calls(),
        2,
        "still within 30 s of the first unknown-kid fetch"
    );
    at(start, 31.5).await;
    assert!(v.verify(&token).await.is_err());
    assert_eq!(m.calls(), 3);
    assert_eq!(v.metrics().unknown_kid_refetches, 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_verifier_stops_its_background_work() {
    let start = Instant::now();
    let (v, m, _) = setup(Some("max-age=1"), true, |b| b);
    at(start, 5.0).await;
    let before = m.calls();
    assert!(before >= 5);
    drop(v);
    at(start, 60.0).await;
    assert_eq!(m.calls(), before);
}

#[tokio::test(start_paused = true)]
async fn one_fetch_is_in_flight_at_a_time() {
    let start = Instant::now();
    // Keys refreshed every 0.9 s, each fetch taking 0.5 s, no cooldown: unknown kids
    // arriving during a fetch join it instead of starting another.
    let (v, m, _) = setup(Some("max-age=1"), true, |b| {
        b.unknown_kid_cooldown(Duration::ZERO)
    });
    *m.delay.lock().unwrap() = Duration::from_millis(500);
    let stranger = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("nope");
    let token = sign(&stranger, ISS, "s", json!({}), Some("at+jwt"));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let v = v.clone();
        let token = token.clone();
        tasks.spawn(async move {
            sleep(Duration::from_millis(125 * i)).await;
            let asked = Instant::now();
            let r = v.verify(&token).await;
            (r.is_err(), Instant::now() - asked)
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (refused, waited) = r.unwrap();
        assert!(refused);
        // Nobody waits longer than one fetch.
        assert!(waited <= Duration::from_millis(500), "{waited:?}");
    }
    assert_eq!(m.max_inflight.load(Ordering::SeqCst), 1);
    assert!(Instant::now() - start >= Duration::from_millis(4875));
    assert!(m.calls() >= 5, "the background refresh ran meanwhile");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_client_backs_off_like_a_failing_one() {
    let start = Instant::now();
    let (v, m, _) = setup(Some("max-age=1"), true, |b| b);
    m.panics.store(true, Ordering::SeqCst);
    at(start, 10.0).await;
    // 0, then 0.25, 0.75, 1.75, 3.75, 7.75 s: the backoff, not a spin.
    assert_eq!(m.calls(), 6, "{:?}", m.gaps());
    let h = v.health();
    assert_eq!(
        h.issuers[0].last_fetch_error.as_deref(),
        Some("the key fetch was interrupted")
    );
    assert!(!h.ready);
}
