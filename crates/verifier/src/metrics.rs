//! Counters, readable as a struct and as Prometheus text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Rejection, RejectionKind};

/// What a refusal or a claim read needs besides the token: the realm of the challenge and
/// the counters.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub realm: Option<Arc<str>>,
    pub metrics: Counters,
}

/// The live counters (relaxed atomics: they are statistics, not synchronisation).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub jwks_fetches: AtomicU64,
    pub jwks_fetch_failures: AtomicU64,
    pub unknown_kid_refetches: AtomicU64,
    pub feed_polls: AtomicU64,
    pub feed_failures: AtomicU64,
    pub accepted: AtomicU64,
    refused: [AtomicU64; REFUSAL_CODES.len()],
}

/// The refusal codes counted, in output order.
const REFUSAL_CODES: [&str; 5] = [
    "invalid_token",
    "token_expired",
    "insufficient_scope",
    "unavailable",
    "internal_error",
];

impl Counters {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self, r: &Rejection) {
        let i = match r.kind() {
            RejectionKind::MissingToken | RejectionKind::InvalidToken => 0,
            RejectionKind::TokenExpired => 1,
            RejectionKind::InsufficientScope => 2,
            RejectionKind::Unavailable => 3,
            _ => 4,
        };
        Counters::inc(&self.refused[i]);
    }

    pub fn snapshot(&self) -> Metrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            jwks_fetches: get(&self.jwks_fetches),
            jwks_fetch_failures: get(&self.jwks_fetch_failures),
            unknown_kid_refetches: get(&self.unknown_kid_refetches),
            feed_polls: get(&self.feed_polls),
            feed_failures: get(&self.feed_failures),
            accepted: get(&self.accepted),
            refused_invalid_token: get(&self.refused[0]),
            refused_token_expired: get(&self.refused[1]),
            refused_insufficient_scope: get(&self.refused[2]),
            refused_unavailable: get(&self.refused[3]),
            refused_internal_error: get(&self.refused[4]),
            keys: 0,
            revocations: 0,
        }
    }
}

/// A snapshot of the verifier's counters (since it was built) and gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Metrics {
    /// JWKS fetch attempts (background, unknown-`kid` and first fetches alike).
    pub jwks_fetches: u64,
    /// JWKS fetch attempts that failed (discovery, network, status, size, parse).
    pub jwks_fetch_failures: u64,
    /// Fetches started because a token named an unknown `kid` (at most one per cooldown).
    pub unknown_kid_refetches: u64,
    /// Revocation feed polls.
    pub feed_polls: u64,
    /// Revocation feed polls that failed.
    pub feed_failures: u64,
    /// Tokens the layer accepted.
    pub accepted: u64,
    /// Refusals with `invalid_token` (missing tokens included).
    pub refused_invalid_token: u64,
    /// Refusals with `token_expired`.
    pub refused_token_expired: u64,
    /// Refusals with `insufficient_scope`.
    pub refused_insufficient_scope: u64,
    /// Refusals with `unavailable`.
    pub refused_unavailable: u64,
    /// Refusals with `internal_error` (claims read on a route without the layer).
    pub refused_internal_error: u64,
    /// Gauge: verification keys known now, over all issuers.
    pub keys: u64,
    /// Gauge: live revocations known now, over all issuers.
    pub revocations: u64,
}

impl Metrics {
    /// The Prometheus text exposition of this snapshot (metric names prefixed
    /// `tessera_verifier_`).
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(1536);
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP tessera_verifier_{name} {help}\n# TYPE tessera_verifier_{name} counter\ntessera_verifier_{name} {v}"
            );
        };
        counter(
            "jwks_fetches_total",
            "JWKS fetch attempts.",
            self.jwks_fetches,
        );
        counter(
            "jwks_fetch_failures_total",
            "JWKS fetch attempts that failed.",
            self.jwks_fetch_failures,
        );
        counter(
            "unknown_kid_refetches_total",
            "JWKS fetches started by a token with an unknown kid.",
            self.unknown_kid_refetches,
        );
        counter(
            "feed_polls_total",
            "Revocation feed polls.",
            self.feed_polls,
        );
        counter(
            "feed_failures_total",
            "Revocation feed polls that failed.",
            self.feed_failures,
        );
        counter("accepted_total", "Access tokens accepted.", self.accepted);
        out.push_str(
            "# HELP tessera_verifier_refusals_total Requests refused, by error code.\n# TYPE tessera_verifier_refusals_total counter\n",
        );
        let refused = [
            self.refused_invalid_token,
            self.refused_token_expired,
            self.refused_insufficient_scope,
            self.refused_unavailable,
            self.refused_internal_error,
        ];
        for (code, v) in REFUSAL_CODES.iter().zip(refused) {
            let _ = writeln!(
                out,
                "tessera_verifier_refusals_total{{code=\"{code}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_verifier_keys Verification keys known.\n# TYPE tessera_verifier_keys gauge\ntessera_verifier_keys {}",
            self.keys
        );
        let _ = writeln!(
            out,
            "# HELP tessera_verifier_revocations Live revoked sessions known.\n# TYPE tessera_verifier_revocations gauge\ntessera_verifier_revocations {}",
            self.revocations
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_counts_refusals_by_code() {
        let c = Counters::default();
        c.refused(&Rejection::missing());
        c.refused(&Rejection::invalid("x"));
        c.refused(&Rejection::unavailable("x"));
        Counters::inc(&c.jwks_fetches);
        let text = c.snapshot().to_prometheus();
        assert!(text.contains("tessera_verifier_refusals_total{code=\"invalid_token\"} 2\n"));
        assert!(text.contains("tessera_verifier_refusals_total{code=\"unavailable\"} 1\n"));
        assert!(text.contains("tessera_verifier_refusals_total{code=\"token_expired\"} 0\n"));
        assert!(text.contains("\ntessera_verifier_jwks_fetches_total 1\n"));
        assert!(text.contains("# TYPE tessera_verifier_keys gauge\n"));
    }
}
