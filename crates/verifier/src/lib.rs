//! # tessera-verifier
//!
//! Verifies Tessera's access tokens where they are used, without a call to the auth server
//! per request (docs/resource-servers.md): a tower layer, axum extractors, a JWKS cache that keeps keys
//! fresh in the background, and a client of Tessera's revocation feed.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use serde::Deserialize;
//! use tessera_verifier::{Claims, Verifier};
//!
//! #[derive(Deserialize)]
//! struct User { sub: String }
//!
//! async fn me(Claims(user): Claims<User>) -> String {
//!     format!("hello {}", user.sub)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder()
//!     .issuer_url("https://auth.example.com") // RFC 8414 discovery → jwks_uri
//!     .audience("api")
//!     .build()?;
//! let app = Router::new().route("/me", get(me)).layer(verifier.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! ## What a request meets
//!
//! The layer reads `Authorization: Bearer` and answers as Tessera's own API does (docs/http-api.md): `{"error",
//! "error_description"}` bodies, 401 `invalid_token` with `WWW-Authenticate: Bearer
//! error="invalid_token", error_description="…"` (malformed, bad signature, wrong
//! `alg`/`iss`/`aud`/`typ`, unknown key, revoked session), 401 `token_expired` (so the
//! client refreshes), a bare `Bearer` challenge (with `realm` when configured) when no
//! token was sent, 503 `unavailable` while the issuer's keys have never been obtained.
//! Valid requests reach the service with [`AccessClaims`] in their extensions, read by the
//! extractors [`Claims<T>`], [`OptionalClaims<T>`] and [`AccessClaims`] itself.
//! [`Verifier::require_scope`] (a layer) and [`AccessClaims::require_scope`] answer 403
//! `insufficient_scope` (RFC 6750 §3.1).
//!
//! Token rules are `tessera_jose`'s (the key chooses the algorithm, `none` never works,
//! strict parsing) plus: `typ` `at+jwt` required by default (RFC 9068), an audience
//! required (RFC 9068 §4), `iss` checked against the trusted issuer, leeway 60 s.
//!
//! ## Keys
//!
//! From an issuer URL (RFC 8414 metadata's `jwks_uri`; the metadata's `issuer` must equal
//! the configured one), a JWKS URL, or static keys; several issuers at once, chosen by the
//! token's `iss`. The cache:
//!
//! * one fetch in flight, never under a lock; requests read an atomically swapped snapshot;
//! * refreshed in the background at 90 % of the JWKS answer's `max-age`, clamped to
//!   [1 s, 1 h] (configurable), so requests never wait when keys are known;
//! * a token naming an unknown `kid` triggers at most one refetch per cooldown (30 s) and
//!   waits for it; otherwise it is refused at once (random kids cannot become a flood of
//!   fetches);
//! * the last good keys keep serving while the issuer is down; while no keys are known,
//!   fetches are retried with a backoff of 250 ms doubling up to 5 s;
//! * fetches are bounded: 10 s, 1 MiB (16 MiB for a feed page), https unless the host is
//!   loopback or allowed with
//!   [`VerifierBuilder::allow_http_host`], at most 3 redirects and never from https to
//!   http. The HTTP client is a [`Fetch`] you may replace (custom CA, proxy).
//!
//! ## Revocations
//!
//! Given the revocations token ([`Issuer::revocations_token`]), the verifier polls the
//! issuer's `revocation_feed_endpoint` every 5 s, always passing the last cursor, and
//! refuses tokens whose `sid` is revoked (`invalid_token`) with one lock-free hash lookup.
//! 100,000 live revocations take about 2.2 MiB. If the feed is unreachable the last list
//! is kept and [`Verifier::health`] says so, or, with [`VerifierBuilder::fail_closed`],
//! requests get 503 until it is fresh again.
//!
//! ## Observing it
//!
//! [`Verifier::health`] (keys age and count, last fetch error, feed lag and errors,
//! revocation count, readiness) and [`Verifier::metrics`] (fetches, failures,
//! unknown-`kid` refetches, refusals by code; [`Metrics::to_prometheus`]).
//!
//! ## Features
//!
//! * `axum` (default): the extractors and `IntoResponse` for [`Rejection`].
//! * `http-client` (default): [`HttpFetch`], the default client (hyper-util, rustls on
//!   aws-lc-rs, system roots).
//!
//! Without them the crate is a tower layer over `http` types, with your own [`Fetch`].

mod claims;
mod clock;
mod config;
mod discovery;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod fetch;
mod future;
mod health;
#[cfg(feature = "http-client")]
mod http_client;
mod issuer;
mod jwks;
mod layer;
mod metrics;
mod revocation;
mod scope;
mod service;
mod verifier;

pub use claims::AccessClaims;
pub use clock::{Clock, SystemClock};
pub use config::{Issuer, VerifierBuilder};
pub use error::{ConfigError, Rejection, RejectionKind};
#[cfg(feature = "axum")]
pub use extract::{Claims, OptionalClaims};
pub use fetch::{Fetch, FetchError, FetchFuture, FetchRequest, FetchResponse};
pub use future::{ResponseBody, ResponseFuture};
pub use health::{FeedHealth, Health, IssuerHealth};
#[cfg(feature = "http-client")]
pub use http_client::HttpFetch;
pub use layer::VerifierLayer;
pub use metrics::Metrics;
pub use scope::{RequireScopeLayer, RequireScopeService};
pub use service::VerifierService;
pub use verifier::Verifier;
