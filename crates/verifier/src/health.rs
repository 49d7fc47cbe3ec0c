//! What [`Verifier::health`](crate::Verifier::health) reports.

use std::time::Duration;

use serde::Serialize;

/// The verifier's state: per issuer, its keys and its revocation feed. Serializes to JSON
/// with durations in seconds (for a `/readyz` body).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// True when every issuer's keys are known and every feed is fresh (the verifier
    /// accepts tokens of every issuer with current revocations).
    pub ready: bool,
    /// One entry per configured issuer, in configuration order.
    pub issuers: Vec<IssuerHealth>,
}

/// One issuer's keys and feed.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IssuerHealth {
    /// The `iss` its tokens must carry (`None`: not checked, one issuer only).
    pub issuer: Option<String>,
    /// The JWKS URL in use (configured or discovered; `None` for static keys or before
    /// discovery succeeded).
    pub jwks_uri: Option<String>,
    /// True once keys are known.
    pub keys_known: bool,
    /// Usable keys in the current set.
    pub key_count: usize,
    /// Age of the current key set.
    #[serde(serialize_with = "secs")]
    pub keys_age: Option<Duration>,
    /// Max-age of the current key set (from `Cache-Control`, clamped).
    #[serde(serialize_with = "secs")]
    pub keys_max_age: Option<Duration>,
    /// Why the last fetch failed, if it did (cleared by the next success).
    pub last_fetch_error: Option<String>,
    /// The revocation feed, when configured.
    pub feed: Option<FeedHealth>,
}

/// One issuer's revocation feed.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FeedHealth {
    /// Time since the last successful poll (the lag of the revocation list), `None` if no
    /// poll has succeeded yet.
    #[serde(serialize_with = "secs")]
    pub last_success_age: Option<Duration>,
    /// True when the last success is within the staleness bound.
    pub fresh: bool,
    /// Why the last poll failed, if it did; the last list is kept meanwhile (or requests
    /// get 503 in fail-closed mode).
    pub last_error: Option<String>,
    /// Live revocations known.
    pub revocations: usize,
    /// True when requests are refused (503) while the feed is not fresh.
    pub fail_closed: bool,
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}
