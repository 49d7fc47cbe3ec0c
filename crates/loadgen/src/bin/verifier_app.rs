//! `tessera-verifier-app`: a target of `tessera-loadgen --phases compare`, the axum service a
//! Rust team writes with `tessera-verifier` (the same two routes as `tessera-baseline`,
//! src/bin/baseline.rs, so the two are measured doing the same work):
//!
//! ```text
//! tessera-verifier-app --issuer http://127.0.0.1:8080              # keys by RFC 8414 discovery
//! tessera-verifier-app --issuer http://127.0.0.1:8080 --secret-file hs256.key [--secret-alg HS256]
//!     [--bind 127.0.0.1:8082] [--audience api] [--leeway 60]
//! ```
//!
//! - `GET /healthz` answers `{"status":"ok"}`.
//! - `GET /v1/me` sits behind the verifier's layer and answers the token's claims (typed,
//!   as the baseline does); the layer refuses everything else (401 with the RFC 6750
//!   challenge, 503 while no keys are known).
//!
//! Keys: the issuer's JWKS through its metadata, cached and refreshed by the verifier; or
//! one HMAC secret read from a file (raw bytes), since Tessera never publishes an HMAC key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde::{Deserialize, Serialize};
use tessera_jose::{Algorithm, Family, VerifyingKey};
use tessera_verifier::{Claims, Issuer, Verifier};

/// An axum service checking Tessera's access tokens with the `tessera-verifier` layer (a
/// target of the load benchmark's comparison).
#[derive(Debug, Parser)]
#[command(name = "tessera-verifier-app", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    bind: SocketAddr,
    /// The issuer: its metadata names the JWKS (unless --secret-file), and tokens must carry
    /// it as `iss`.
    #[arg(long)]
    issuer: String,
    /// Required `aud`.
    #[arg(long, default_value = "api")]
    audience: String,
    /// File holding the raw HMAC secret (instead of the issuer's JWKS).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Algorithm of the secret: HS256, HS384 or HS512.
    #[arg(long, default_value = "HS256")]
    secret_alg: String,
    /// Clock leeway for `exp` and `nbf`, seconds.
    #[arg(long, default_value_t = 60)]
    leeway: u64,
}

/// The claims Tessera's access tokens carry (RFC 9068), answered as they are: the same type
/// as the baseline's.
#[derive(Debug, Serialize, Deserialize)]
struct Me {
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

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn me(Claims(me): Claims<Me>) -> Response {
    // The answer carries the caller's identity: no cache may keep it.
    ([(CACHE_CONTROL, "no-store")], Json(me)).into_response()
}

fn issuer(args: &Args) -> Result<Issuer> {
    let Some(path) = &args.secret_file else {
        return Ok(Issuer::discover(&args.issuer));
    };
    let alg = Algorithm::from_str(&args.secret_alg)
        .map_err(|e| anyhow!("--secret-alg {}: {e}", args.secret_alg))?;
    if alg.family() != Family::Hmac {
        bail!("--secret-alg must be HS256, HS384 or HS512");
    }
    let secret = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let key = VerifyingKey::from_secret(alg, &secret).map_err(|e| anyhow!("the secret: {e}"))?;
    Ok(Issuer::static_keys(vec![key]).expect_issuer(&args.issuer))
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
    let verifier = Verifier::builder()
        .issuer(issuer(&args)?)
        .audience(&args.audience)
        .leeway(Duration::from_secs(args.leeway))
        .build()
        .map_err(|e| anyhow!("--issuer {}: {e}", args.issuer))?;
    if !verifier.wait_ready(Duration::from_secs(10)).await {
        bail!("no keys from {} within 10 s", args.issuer);
    }
    let app = Router::new()
        .route("/v1/me", get(me).layer(verifier.layer()))
        .route("/healthz", get(healthz));
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
