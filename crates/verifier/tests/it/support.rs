//! A tiny issuer on 127.0.0.1 (RFC 8414 metadata, a JWKS of keys made with tessera-jose, a
//! fake revocation feed), counting what it is asked, and helpers to call a protected app.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use tessera_jose::{Algorithm, JwkSet, Signer, SigningKey};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// The wall-clock time of every test (a fixed clock handed to the verifier).
pub const NOW: u64 = 1_700_000_000;
pub const AUD: &str = "api";
pub const FEED_TOKEN: &str = "feed-secret-token";

/// A movable wall clock for the verifier.
#[derive(Debug, Clone)]
pub struct TestClock(pub Arc<AtomicU64>);

impl TestClock {
    pub fn new() -> Self {
        TestClock(Arc::new(AtomicU64::new(NOW)))
    }

    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn as_clock(&self) -> Arc<dyn tessera_verifier::Clock> {
        let t = self.0.clone();
        Arc::new(move || t.load(Ordering::SeqCst))
    }
}

/// The fake feed: an append-only log of revocations in generations. A cursor is
/// `g{generation}:{entries seen}`; no cursor or one of an older generation gets the whole
/// live list with `reset: true` (docs/http-api.md).
#[derive(Debug, Default)]
pub struct FakeFeed {
    generation: u64,
    log: Vec<(String, u64)>,
    /// The `since` of every request, in order.
    pub cursors: Vec<Option<String>>,
}

/// What the issuer knows and counts.
#[derive(Debug)]
pub struct IssuerState {
    pub name: String,
    pub jwks: Mutex<JwkSet>,
    pub cache_control: Mutex<String>,
    pub metadata_hits: AtomicUsize,
    pub jwks_hits: AtomicUsize,
    pub feed_hits: AtomicUsize,
    /// Status the feed answers with (200: normal).
    pub feed_status: AtomicU16,
    /// Status the JWKS answers with (200: normal).
    pub jwks_status: AtomicU16,
    pub feed: Mutex<FakeFeed>,
    /// Padding added to the JWKS (to exceed size limits).
    pub jwks_padding: AtomicUsize,
}

/// A running test issuer.
pub struct TestIssuer {
    pub url: String,
    pub addr: SocketAddr,
    pub state: Arc<IssuerState>,
    pub key: SigningKey,
    server: Option<tokio::task::JoinHandle<()>>,
}

async fn metadata(State(s): State<Arc<IssuerState>>) -> Response {
    s.metadata_hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "issuer": s.name,
        "jwks_uri": format!("{}/.well-known/jwks.json", s.name),
        "revocation_feed_endpoint": format!("{}/v1/revocations", s.name),
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<IssuerState>>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(s.jwks_status.load(Ordering::SeqCst)).unwrap();
    let mut body = s.jwks.lock().unwrap().to_json();
    let pad = s.jwks_padding.load(Ordering::SeqCst);
    if pad > 0 {
        body.insert_str(1, &format!("\"padding\":\"{}\",", "x".repeat(pad)));
    }
    let cc = s.cache_control.lock().unwrap().clone();
    (
        status,
        [
            (CONTENT_TYPE, "application/json".to_owned()),
            (CACHE_CONTROL, cc),
        ],
        body,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct Since {
    since: Option<String>,
}

async fn feed(
    State(s): State<Arc<IssuerState>>,
    Query(q): Query<Since>,
    headers: HeaderMap,
) -> Response {
    s.feed_hits.fetch_add(1, Ordering::SeqCst);
    let status = s.feed_status.load(Ordering::SeqCst);
    if status != 200 {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {FEED_TOKEN}")) {
        return (StatusCode::UNAUTHORIZED, "{\"error\":\"invalid_token\"}").into_response();
    }
    let mut f = s.feed.lock().unwrap();
    f.cursors.push(q.since.clone());
    let from = q.since.as_deref().and_then(|c| {
        let (g, n) = c.strip_prefix('g')?.split_once(':')?;
        (g.parse::<u64>().ok()? == f.generation).then(|| n.parse::<usize>().ok())?
    });
    let (entries, reset) = match from {
        Some(n) if n <= f.log.len() => (&f.log[n..], false),
        _ => (&f.log[..], true),
    };
    let revocations: Vec<Value> = entries
        .iter()
        .map(|(sid, until)| json!({"sid": sid, "until": until}))
        .collect();
    let mut page = json!({
        "cursor": format!("g{}:{}", f.generation, f.log.len()),
        "revocations": revocations,
    });
    if reset {
        page["reset"] = json!(true);
    }
    axum::Json(page).into_response()
}

impl IssuerState {
    /// Publishes a revocation.
    pub fn revoke(&self, sid: &str, until: u64) {
        self.feed.lock().unwrap().log.push((sid.to_owned(), until));
    }

    /// Replaces the live list (a new generation: clients get `reset: true`).
    pub fn reset_feed(&self, live: &[(&str, u64)]) {
        let mut f = self.feed.lock().unwrap();
        f.generation += 1;
        f.log = live.iter().map(|(s, u)| ((*s).to_owned(), *u)).collect();
    }

    pub fn cursors(&self) -> Vec<Option<String>> {
        self.feed.lock().unwrap().cursors.clone()
    }

    pub fn hits(&self, counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

fn router(state: Arc<IssuerState>) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/old/jwks.json",
            get(|| async { (StatusCode::FOUND, [(LOCATION, "/.well-known/jwks.json")]) }),
        )
        .route(
            "/moved/jwks.json",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(LOCATION, "http://example.com/jwks.json")],
                )
            }),
        )
        .route("/v1/revocations", get(feed))
        .with_state(state)
}

/// Serves `router` on `listener` until the task is aborted; aborting it also closes every
/// open connection (so a stopped issuer is really gone, pooled connections included).
fn serve(listener: TcpListener, router: Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let svc = TowerToHyperService::new(router.clone());
            conns.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

impl TestIssuer {
    /// An issuer with one ES256 key (`kid` "k1") on a fresh port.
    pub async fn start() -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener)
    }

    /// An issuer whose port is known but which does not answer yet (see
    /// [`TestIssuer::come_up`]).
    pub async fn down() -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut i = Self::start_on(listener);
        i.stop();
        i
    }

    fn start_on(listener: TcpListener) -> TestIssuer {
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("k1");
        let state = Arc::new(IssuerState {
            name: url.clone(),
            jwks: Mutex::new(JwkSet {
                keys: vec![key.public_jwk().unwrap()],
            }),
            cache_control: Mutex::new("public, max-age=300".to_owned()),
            metadata_hits: AtomicUsize::new(0),
            jwks_hits: AtomicUsize::new(0),
            feed_hits: AtomicUsize::new(0),
            feed_status: AtomicU16::new(200),
            jwks_status: AtomicU16::new(200),
            feed: Mutex::new(FakeFeed::default()),
            jwks_padding: AtomicUsize::new(0),
        });
        let server = Some(serve(listener, router(state.clone())));
        TestIssuer {
            url,
            addr,
            state,
            key,
            server,
        }
    }

    /// Stops answering: the listener and every connection close.
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }

    /// Starts answering on the same port (retrying while the old listener closes).
    pub async fn come_up(&mut self) {
        self.stop();
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.server = Some(serve(listener, router(self.state.clone())));
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("port {} did not come free", self.addr);
    }

    /// Publishes another key (rotation) and returns it.
    pub fn add_key(&self, kid: &str) -> SigningKey {
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid(kid);
        self.state
            .jwks
            .lock()
            .unwrap()
            .keys
            .push(key.public_jwk().unwrap());
        key
    }

    /// An access token of this issuer as Tessera makes them, with `extra` claims merged in.
    pub fn token(&self, sid: &str, extra: Value) -> String {
        sign(&self.key, &self.url, sid, extra, Some("at+jwt"))
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Signs Tessera-shaped access-token claims (`iss`, `sub`, `aud`, `iat`, `nbf`, `exp` =
/// NOW + 15 min, `jti`, `sid`) plus `extra`, with header `typ`.
pub fn sign(key: &SigningKey, iss: &str, sid: &str, extra: Value, typ: Option<&str>) -> String {
    let mut claims = json!({
        "iss": iss, "sub": "usr_1", "aud": AUD, "iat": NOW, "nbf": NOW, "exp": NOW + 900,
        "jti": format!("jti_{sid}"), "sid": sid,
    });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let key = SigningKey::from_jwk(&key.to_jwk(), None).unwrap();
    let signer = Signer::new(key);
    let signer = match typ {
        Some(t) => signer.with_typ(t),
        None => signer,
    };
    signer.sign(&claims).unwrap()
}

/// The answer of an app to `GET path` with an optional Bearer token.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    pub fn challenge(&self) -> Option<&str> {
        self.headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
    }
}

pub async fn call(app: &Router, path: &str, token: Option<&str>) -> Answer {
    let mut req = Request::get(path);
    if let Some(t) = token {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status,
        headers,
        body,
    }
}

/// Polls `cond` every 20 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}
