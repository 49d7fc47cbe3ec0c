//! `tessera-baseline`: the yardstick of `tessera-loadgen --phases compare`, the service a
//! Rust team would write by hand to check access tokens — axum, tokio, `jsonwebtoken` on
//! aws-lc-rs, serde — and nothing else: no middleware, no logging, no key cache beyond the
//! keys read at start.
//!
//! ```text
//! tessera-baseline --issuer http://127.0.0.1:8080 --jwks-url http://127.0.0.1:8080/.well-known/jwks.json
//! tessera-baseline --issuer http://127.0.0.1:8080 --secret-file hs256.key [--secret-alg HS256]
//!     [--bind 127.0.0.1:8081] [--audience api] [--leeway 60]
//! ```
//!
//! - `GET /healthz` answers `{"status":"ok"}`.
//! - `GET /v1/me` verifies `Authorization: Bearer TOKEN` (the key's algorithm only, `iss`,
//!   `aud`, `exp` and `nbf` with the leeway; `exp`, `iss`, `aud` and `sub` required) and
//!   answers its claims; otherwise 401 `{"error":"invalid_token"|"token_expired",
//!   "error_description":…}` with an RFC 6750 challenge.
//!
//! Keys: the JWKS is fetched once at start, each key bound to its JWK's `alg`, and found by
//! the token's `kid` (`jsonwebtoken::decode_header`, as its JWKS example does); or one
//! HMAC secret read from a file (raw bytes), used for every token.
//!
//! It is meant to be fair: the idiomatic code, no deliberately slow choice and no trick.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// A minimal axum + jsonwebtoken service checking access tokens (the load benchmark's
/// baseline).
#[derive(Debug, Parser)]
#[command(name = "tessera-baseline", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    bind: SocketAddr,
    /// Required `iss`.
    #[arg(long)]
    issuer: String,
    /// Required `aud`.
    #[arg(long, default_value = "api")]
    audience: String,
    /// JWKS to fetch once at start (e.g. the issuer's `/.well-known/jwks.json`).
    #[arg(
        long,
        required_unless_present = "secret_file",
        conflicts_with = "secret_file"
    )]
    jwks_url: Option<String>,
    /// File holding the raw HMAC secret.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Algorithm of the secret: HS256, HS384 or HS512.
    #[arg(long, default_value = "HS256")]
    secret_alg: Algorithm,
    /// Clock leeway for `exp` and `nbf`, seconds.
    #[arg(long, default_value_t = 60)]
    leeway: u64,
}

/// The claims Tessera's access tokens carry (RFC 9068), answered as they are.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
}

/// The verification keys, each with the validation of its algorithm.
#[allow(clippy::large_enum_variant)] // one value per process, behind an Arc
enum Keys {
    /// One shared secret for every token.
    Secret(DecodingKey, Validation),
    /// A JWKS, by `kid`.
    Set(HashMap<String, (DecodingKey, Validation)>),
}

impl Keys {
    fn for_token(&self, token: &str) -> Result<(&DecodingKey, &Validation), ApiError> {
        match self {
            Keys::Secret(key, validation) => Ok((key, validation)),
            Keys::Set(by_kid) => {
                let header = decode_header(token).map_err(ApiError::from)?;
                let found = match header.kid {
                    Some(kid) => by_kid.get(&kid),
                    // RFC 7517: without a kid, a one-key set still names its key.
                    None if by_kid.len() == 1 => by_kid.values().next(),
                    None => None,
                };
                let (key, validation) =
                    found.ok_or_else(|| ApiError::invalid_token("no key for this token"))?;
                Ok((key, validation))
            }
        }
    }
}

fn validation(alg: Algorithm, args: &Args) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[&args.issuer]);
    v.set_audience(&[&args.audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = args.leeway;
    v
}

async fn load_keys(args: &Args) -> Result<Keys> {
    if let Some(path) = &args.secret_file {
        if !matches!(
            args.secret_alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            bail!("--secret-alg must be HS256, HS384 or HS512");
        }
        let secret = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Keys::Secret(
            DecodingKey::from_secret(&secret),
            validation(args.secret_alg, args),
        ));
    }
    let url = args
        .jwks_url
        .as_deref()
        .context("--jwks-url or --secret-file")?;
    let set: JwkSet = reqwest::get(url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("fetching {url}"))?
        .json()
        .await
        .with_context(|| format!("the JWKS at {url}"))?;
    let mut by_kid = HashMap::new();
    for jwk in &set.keys {
        // The key chooses the algorithm: a JWK without `alg` or `kid` is not used.
        let (Some(kid), Some(alg)) = (&jwk.common.key_id, jwk.common.key_algorithm) else {
            continue;
        };
        let Ok(alg) = Algorithm::try_from(alg) else {
            continue;
        };
        let key = DecodingKey::from_jwk(jwk).with_context(|| format!("JWK {kid}"))?;
        by_kid.insert(kid.clone(), (key, validation(alg, args)));
    }
    if by_kid.is_empty() {
        bail!("no usable key (with kid and alg) in the JWKS at {url}");
    }
    Ok(Keys::Set(by_kid))
}

/// A 401 answer: `{"error","error_description"}` and the RFC 6750 challenge.
#[derive(Debug)]
struct ApiError {
    code: &'static str,
    description: String,
}

impl ApiError {
    fn invalid_token(description: impl Into<String>) -> ApiError {
        ApiError {
            code: "invalid_token",
            description: description.into(),
        }
    }
}

impl From<jsonwebtoken::errors::Error> for ApiError {
    fn from(e: jsonwebtoken::errors::Error) -> ApiError {
        match e.kind() {
            ErrorKind::ExpiredSignature => ApiError {
                code: "token_expired",
                description: "the access token has expired".to_owned(),
            },
            _ => ApiError::invalid_token(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            self.description.replace(['"', '\\'], "'")
        );
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, challenge)],
            Json(serde_json::json!({
                "error": self.code,
                "error_description": self.description,
            })),
        )
            .into_response()
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn me(State(keys): State<Arc<Keys>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::invalid_token("missing access token"))?;
    let (key, validation) = keys.for_token(token)?;
    let data = decode::<Claims>(token, key, validation)?;
    // The answer carries the caller's identity: no cache may keep it (as Tessera's).
    Ok(([(CACHE_CONTROL, "no-store")], Json(data.claims)).into_response())
}

fn app(keys: Keys) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/me", get(me))
        .with_state(Arc::new(keys))
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let keys = load_keys(&args).await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    axum::serve(listener, app(keys))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
