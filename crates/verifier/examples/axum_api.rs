//! An API protected by Tessera access tokens.
//!
//! ```sh
//! cargo run --release -- serve                                     # Tessera on 127.0.0.1:8080
//! cargo run -p tessera-verifier --example axum_api -- http://127.0.0.1:8080
//! # log in (see README), then:
//! curl -s 127.0.0.1:3000/me -H "authorization: Bearer $AT"         # your claims
//! curl -s 127.0.0.1:3000/notes -H "authorization: Bearer $AT"      # 403 without notes:read
//! curl -s 127.0.0.1:3000/health                                    # keys and feed
//! ```
//!
//! The issuer URL comes from the first argument or `TESSERA_ISSUER` (default
//! `http://127.0.0.1:8080`), the audience from `TESSERA_AUDIENCE` (default `api`), the
//! listen address from `BIND` (default `127.0.0.1:3000`). With `TESSERA_REVOCATIONS__TOKEN`
//! set, revoked sessions are refused within about 5 s.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tessera_verifier::{AccessClaims, Claims, Issuer, OptionalClaims, Verifier};

/// The claims this API reads from a Tessera access token.
#[derive(Deserialize)]
struct User {
    sub: String,
    sid: String,
}

async fn me(Claims(user): Claims<User>) -> Json<serde_json::Value> {
    Json(json!({ "user": user.sub, "session": user.sid }))
}

async fn notes(claims: AccessClaims) -> Json<serde_json::Value> {
    Json(json!({ "owner": claims.subject(), "notes": ["buy milk"] }))
}

async fn hello(OptionalClaims(user): OptionalClaims<User>) -> String {
    match user {
        Some(u) => format!("hello {}\n", u.sub),
        None => "hello stranger\n".to_owned(),
    }
}

async fn health(State(v): State<Verifier>) -> Json<tessera_verifier::Health> {
    Json(v.health())
}

async fn metrics(State(v): State<Verifier>) -> String {
    v.metrics().to_prometheus()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let issuer_url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("TESSERA_ISSUER").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let audience = std::env::var("TESSERA_AUDIENCE").unwrap_or_else(|_| "api".to_owned());
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());

    let mut issuer = Issuer::discover(&issuer_url);
    if let Ok(token) = std::env::var("TESSERA_REVOCATIONS__TOKEN") {
        issuer = issuer.revocations_token(token);
    }
    let verifier = Verifier::builder()
        .issuer(issuer)
        .audience(audience)
        .realm("example")
        .build()?;
    if !verifier.wait_ready(Duration::from_secs(3)).await {
        // Not fatal: requests get 503 until the keys arrive.
        tracing::warn!(health = ?verifier.health(), "the issuer's keys are not known yet");
    }

    let app = Router::new()
        .route("/me", get(me))
        .route(
            "/notes",
            get(notes).route_layer(verifier.require_scope("notes:read")),
        )
        .layer(verifier.layer())
        .merge(
            Router::new()
                .route("/", get(hello))
                .layer(verifier.optional_layer()),
        )
        .merge(
            Router::new()
                .route("/health", get(health))
                .route("/metrics", get(metrics))
                .with_state(verifier.clone()),
        );
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    tracing::info!(%bind, issuer = %issuer_url, "listening");
    axum::serve(listener, app).await?;
    Ok(())
}
