//! `tessera gate`: forward authentication for services in any language. A reverse proxy
//! (nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`, Envoy `ext_authz`)
//! asks `/auth` about each request before passing it on; the gate verifies its Bearer
//! token with `tessera-verifier` (the issuer's keys, cached; its revocation feed when
//! `TESSERA_REVOCATIONS__TOKEN` is set) and answers 200 with who it is, or the refusal.
//! docs/resource-servers.md has the proxy configurations.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use clap::Args;
use tessera_verifier::{AccessClaims, Issuer, Rejection, Verifier};

use crate::error::CliError;

/// The headers of a 200 answer (the proxy copies them to the upstream request) and of a
/// refusal (the proxy may use it to answer the client in JSON).
pub const SUB: HeaderName = HeaderName::from_static("x-tessera-sub");
/// The session id of the token.
pub const SID: HeaderName = HeaderName::from_static("x-tessera-sid");
/// The token's `scope`, when it has one.
pub const SCOPE: HeaderName = HeaderName::from_static("x-tessera-scope");
/// The `error` code of a refusal (`invalid_token`, `token_expired`, `unavailable`).
pub const ERROR: HeaderName = HeaderName::from_static("x-tessera-error");

/// `tessera gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The issuer's URL (`server.public_url` of Tessera): its RFC 8414 metadata names the
    /// JWKS and the revocation feed. https, unless the host is loopback.
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// The `aud` tokens must carry.
    #[arg(long, value_name = "AUD", default_value = "api")]
    audience: String,
    /// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    leeway: u64,
}

/// Runs the gate until SIGINT or SIGTERM.
pub fn run(args: GateArgs) -> Result<(), CliError> {
    tessera_server::init_logging(&tessera_server::Config::defaults());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::request(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(serve(args))
}

async fn serve(args: GateArgs) -> Result<(), CliError> {
    let mut issuer = Issuer::discover(&args.issuer);
    let feed = std::env::var("TESSERA_REVOCATIONS__TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let polls_feed = feed.is_some();
    if let Some(token) = feed {
        issuer = issuer.revocations_token(token);
    }
    let verifier = Verifier::builder()
        .issuer(issuer)
        .audience(&args.audience)
        .leeway(Duration::from_secs(args.leeway))
        .build()
        .map_err(|e| CliError::request(format!("--issuer {}: {e}", args.issuer)))?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::request(format!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::request(format!("cannot listen on {}: {e}", args.bind)))?;
    tracing::info!(
        issuer = %args.issuer,
        audience = %args.audience,
        revocation_feed = polls_feed,
        "gate listening on http://{addr}/auth"
    );
    axum::serve(listener, app(verifier))
        .with_graceful_shutdown(tessera_server::shutdown_signal())
        .await
        .map_err(|e| CliError::request(format!("gate: {e}")))
}

/// The gate's routes: `/auth` and anything under it (any method; Envoy's `ext_authz`
/// appends the original path to its `path_prefix`), `/healthz`, `/readyz`, `/metrics`.
pub fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/auth", any(auth))
        .route("/auth/{*path}", any(auth))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(verifier)
}

/// 200 with `X-Tessera-Sub`, `X-Tessera-Sid` (and `X-Tessera-Scope`) for a valid token; the
/// verifier's refusal otherwise (401 with the RFC 6750 challenge, 503 while no keys are
/// known), with its code in `X-Tessera-Error`.
///
/// The request is taken whole (its body is never read): the `HeaderMap` extractor would
/// copy every header of every request.
async fn auth(State(verifier): State<Verifier>, request: Request) -> Response {
    match verifier.verify_headers(request.headers()).await {
        Ok(claims) => {
            let mut answer = StatusCode::OK.into_response();
            match identity(&claims, answer.headers_mut()) {
                Some(()) => answer,
                None => refusal(Rejection::invalid_token(
                    "the token's sub or sid cannot be passed on as a header",
                )),
            }
        }
        Err(r) => refusal(r),
    }
}

/// Adds the identity headers of verified claims to `h`; `None` when `sub` or `sid` is
/// missing or not a valid header value (a trusted issuer's token without them identifies
/// no one).
fn identity(claims: &AccessClaims, h: &mut HeaderMap) -> Option<()> {
    let value = |v: &str| HeaderValue::from_str(v).ok().filter(|_| !v.is_empty());
    h.insert(SUB, value(claims.subject()?)?);
    h.insert(SID, value(claims.session_id()?)?);
    if let Some(scope) = claims.scope() {
        h.insert(SCOPE, value(scope)?);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(())
}

fn refusal(r: Rejection) -> Response {
    let code = HeaderValue::from_static(r.code());
    let mut res = r.into_response();
    res.headers_mut().insert(ERROR, code);
    res
}

/// 200 while the process serves.
async fn healthz() -> Response {
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

/// 200 when the issuer's keys are known and the revocation feed (if polled) is fresh; 503
/// otherwise. The body is the verifier's health either way.
async fn readyz(State(verifier): State<Verifier>) -> Response {
    let health = verifier.health();
    let status = if health.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(health),
    )
        .into_response()
}

/// The verifier's counters in Prometheus text format.
async fn metrics(State(verifier): State<Verifier>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        verifier.metrics().to_prometheus(),
    )
        .into_response()
}
