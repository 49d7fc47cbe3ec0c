//! The layer's overhead over a bare `tessera_jose` verify of the same token.
//!
//! For ES256 and HS256, one realistic Tessera access token is verified
//! * `jose/ignored`: `tessera_jose::Verifier::verify::<IgnoredAny>` (signature and claim
//!   rules only, no claims read);
//! * `jose/typed`: the same into a struct of the token's string claims (what a handler
//!   verifying by hand would do);
//! * `service/bare`: the same verify by hand inside a tower service (read the header, verify,
//!   answer, drop the request): the request plumbing any app pays, without the layer;
//! * `layer`: a request through `VerifierService` around an inner service that answers at
//!   once: header read, key snapshot, the same verify reading `sid`, `sid` looked up in a
//!   revocation set of 100,000 entries, claims into the request's extensions, the inner
//!   call, the drop of the request;
//! * `layer_two_issuers` (HS256): the same with a second issuer configured, so the `iss`
//!   is peeked to choose.
//!
//! `cargo bench -p tessera-verifier`; the layer's overhead is `layer` − `service/bare`
//! (and, all plumbing counted against it, `layer` − `jose/ignored`).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Empty;
use serde::Deserialize;
use tessera_jose::{Algorithm, Signer, SigningKey, Verifier as JoseVerifier};
use tessera_verifier::{
    Fetch, FetchError, FetchFuture, FetchRequest, FetchResponse, Issuer, Verifier,
};
use tower::{Layer, Service};

const ISS: &str = "https://auth.example.com";
const OTHER_ISS: &str = "https://other.example.com";
const AUD: &str = "api";
const NOW: u64 = 1_700_000_000;
const REVOKED: usize = 100_000;

#[allow(dead_code)]
#[derive(Deserialize)]
struct Typed {
    iss: String,
    sub: String,
    aud: String,
    jti: String,
    sid: String,
    scope: String,
}

/// Serves a feed page of `REVOKED` sessions (none of them the token's).
#[derive(Debug)]
struct Feed(Bytes);

impl Fetch for Feed {
    fn get(&self, _request: FetchRequest) -> FetchFuture<'_> {
        let body = self.0.clone();
        Box::pin(async move {
            Ok::<_, FetchError>(FetchResponse {
                status: StatusCode::OK,
                headers: Default::default(),
                body,
            })
        })
    }
}

fn feed_page() -> Bytes {
    let entries: Vec<String> = (0..REVOKED)
        .map(|i| format!(r#"{{"sid":"ses_{i:032x}","until":{}}}"#, NOW + 900))
        .collect();
    Bytes::from(format!(
        r#"{{"cursor":"c1","revocations":[{}],"reset":true}}"#,
        entries.join(",")
    ))
}

fn token(key: &SigningKey) -> String {
    let signer =
        Signer::new(SigningKey::from_jwk(&key.to_jwk(), None).expect("key")).with_typ("at+jwt");
    signer
        .sign(&serde_json::json!({
            "iss": ISS, "sub": "usr_01hzyq3k4m5n6p7q8r9s0t1v2w", "aud": AUD,
            "iat": NOW, "nbf": NOW, "exp": NOW + 900,
            "jti": "jti_01hzyq3k4m5n6p7q8r9s0t1v2w", "sid": "ses_01hzyq3k4m5n6p7q8r9s0t1v2w",
            "scope": "profile notes:read",
        }))
        .expect("sign")
}

fn verifier(rt: &tokio::runtime::Runtime, key: &SigningKey, two_issuers: bool) -> Verifier {
    let feed: Arc<dyn Fetch> = Arc::new(Feed(feed_page()));
    let mut b = Verifier::builder()
        .issuer(
            Issuer::static_keys(vec![key.verifying_key().expect("vk")])
                .expect_issuer(ISS)
                .revocation_feed("https://auth.example.com/v1/revocations", "t".to_owned()),
        )
        .audience(AUD)
        .clock(Arc::new(|| NOW))
        .fetcher(feed);
    if two_issuers {
        let other = SigningKey::generate(key.alg()).expect("key");
        b = b.issuer(
            Issuer::static_keys(vec![other.verifying_key().expect("vk")]).expect_issuer(OTHER_ISS),
        );
    }
    let _guard = rt.enter();
    let v = b.build().expect("verifier");
    assert!(
        rt.block_on(v.wait_ready(Duration::from_secs(10))),
        "{:?}",
        v.health()
    );
    assert_eq!(v.metrics().revocations, REVOKED as u64);
    v
}

/// Answers one request through `svc`, which must answer at once (no I/O on this path).
fn once<S>(svc: &mut S, req: Request<()>) -> StatusCode
where
    S: Service<Request<()>, Error = Infallible>,
    S::Response: StatusOf,
{
    let mut fut = std::pin::pin!(svc.call(req));
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(res)) => res.status_of(),
        _ => panic!("the service did not answer at once"),
    }
}

trait StatusOf {
    fn status_of(&self) -> StatusCode;
}

impl<B> StatusOf for Response<B> {
    fn status_of(&self) -> StatusCode {
        self.status()
    }
}

/// One request, answered (the three contenders share this signature).
type Run<'a> = Box<dyn FnMut(Request<()>) -> StatusCode + 'a>;

/// The verify by hand inside a service: read the header, verify, answer, drop the request.
fn bare(jose: &JoseVerifier) -> Run<'_> {
    let mut svc = tower::service_fn(move |req: Request<()>| {
        let ok = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| jose.verify::<serde::de::IgnoredAny>(t, NOW).is_ok());
        drop(req);
        let mut res = Response::new(Empty::<Bytes>::new());
        if !ok {
            *res.status_mut() = StatusCode::UNAUTHORIZED;
        }
        std::future::ready(Ok::<_, Infallible>(res))
    });
    Box::new(move |req| once(&mut svc, req))
}

/// The layer around a service that answers at once.
fn layered(v: &Verifier) -> Run<'static> {
    let inner = tower::service_fn(|req: Request<()>| {
        drop(req);
        std::future::ready(Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new())))
    });
    let mut svc = v.layer().layer(inner);
    Box::new(move |req| once(&mut svc, req))
}

/// Rounds of the interleaved overhead measurement.
const ROUNDS: usize = 41;

/// The layer's overhead over the bare service, measured in alternating rounds of about
/// 20 ms each so that load from elsewhere on the machine hits both sides alike: the median
/// and quartiles of the per-round differences, in ns per request.
fn overhead(req: &dyn Fn() -> Request<()>, bare: &mut Run<'_>, layer: &mut Run<'_>) -> [f64; 3] {
    let time = |run: &mut Run<'_>, n: u32| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            black_box(run(req()));
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let per_round = (20e6 / time(layer, 200)).clamp(100.0, 50_000.0) as u32;
    let mut diffs: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let b = time(bare, per_round);
            let l = time(layer, per_round);
            l - b
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    [diffs[ROUNDS / 4], diffs[ROUNDS / 2], diffs[ROUNDS * 3 / 4]]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut report = Vec::new();
    for alg in [Algorithm::ES256, Algorithm::HS256] {
        let key = SigningKey::generate(alg).expect("key").with_kid("k1");
        let token = token(&key);
        let jose = JoseVerifier::new(key.verifying_key().expect("vk"))
            .with_issuer(ISS)
            .with_audience(AUD)
            .with_typ("at+jwt");
        jose.verify::<Typed>(&token, NOW).expect("valid token");
        let header = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
        let req = || {
            let mut r = Request::new(());
            r.headers_mut().insert(AUTHORIZATION, header.clone());
            r
        };

        let mut group = c.benchmark_group(alg.as_str());
        group.bench_function("jose/ignored", |b| {
            b.iter(|| {
                jose.verify::<serde::de::IgnoredAny>(black_box(&token), NOW)
                    .expect("valid")
            })
        });
        group.bench_function("jose/typed", |b| {
            b.iter(|| jose.verify::<Typed>(black_box(&token), NOW).expect("valid"))
        });
        let mut bare = bare(&jose);
        assert_eq!(bare(req()), StatusCode::OK);
        group.bench_function("service/bare", |b| {
            b.iter_batched(req, &mut bare, BatchSize::SmallInput)
        });
        let mut variants = vec![("layer", false)];
        if alg == Algorithm::HS256 {
            variants.push(("layer_two_issuers", true));
        }
        for (name, two) in variants {
            let v = verifier(&rt, &key, two);
            let mut layer = layered(&v);
            assert_eq!(layer(req()), StatusCode::OK);
            group.bench_function(name, |b| {
                b.iter_batched(req, &mut layer, BatchSize::SmallInput)
            });
            // Only under `cargo bench` (not when `cargo test` runs the bench once).
            if std::env::args().any(|a| a == "--bench") {
                let [q1, median, q3] = overhead(&req, &mut bare, &mut layer);
                report.push(format!(
                    "{}/{name}: overhead over service/bare {median:.0} ns per request (quartiles {q1:.0} to {q3:.0} ns, {ROUNDS} interleaved rounds)",
                    alg.as_str()
                ));
            }
            assert_eq!(v.metrics().refused_invalid_token, 0);
        }
        group.finish();
    }
    for line in report {
        println!("{line}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
