//! The access log, written by the app's edge (`crate::edge`) once per answer, under the
//! route's path template (`/v1/sessions/{id}`, never the raw path). Query strings, headers
//! and bodies are never logged: they carry tokens and passwords.
//!
//! This is also where failures are logged: a 5xx answer carries its cause
//! ([`FailureCause`]) in a response extension, and the access log writes it. A 500 is
//! logged every time; 503s (the database is down, and every request says so) at most once
//! per [`OUTAGE_LOG_EVERY`] seconds with the number held back, the rest at debug level.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use axum::http::{Method, StatusCode};

use crate::error::FailureCause;

/// Seconds between two logged 503 answers.
pub const OUTAGE_LOG_EVERY: u64 = 10;

/// The throttle of 503 lines (one per process).
static OUTAGE_LOG: LogThrottle = LogThrottle::new(OUTAGE_LOG_EVERY);

/// Writes the access-log line of one answer.
pub(crate) fn log(
    route: &'static str,
    method: &Method,
    status: StatusCode,
    micros: u64,
    cause: Option<&FailureCause>,
) {
    let cause = cause.map_or("", |c| &c.0);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        match OUTAGE_LOG.admit() {
            Some(suppressed) => tracing::warn!(
                target: "tessera::access", %method, route, status = 503, micros, cause, suppressed,
                "request refused: unavailable (further 503s within 10 s are logged at debug level)"
            ),
            None => tracing::debug!(
                target: "tessera::access", %method, route, status = 503, micros, cause,
                "request refused: unavailable"
            ),
        }
    } else if status.is_server_error() {
        let status = status.as_u16();
        tracing::error!(target: "tessera::access", %method, route, status, micros, cause, "request failed");
    } else {
        let status = status.as_u16();
        tracing::debug!(target: "tessera::access", %method, route, status, micros, "request");
    }
}

/// Lets one log line through per `every` seconds of monotonic time, counting the others.
struct LogThrottle {
    every: u64,
    /// Seconds since the first use (plus one, so 0 means never) of the last line let
    /// through.
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    const fn new(every: u64) -> LogThrottle {
        LogThrottle {
            every,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` when this one may be logged.
    fn admit(&self) -> Option<u64> {
        static START: OnceLock<Instant> = OnceLock::new();
        let now = START.get_or_init(Instant::now).elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if (last == 0 || now >= last + self.every)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::LogThrottle;

    #[test]
    fn log_throttle_lets_one_line_through_per_interval_and_counts_the_rest() {
        let hourly = LogThrottle::new(3600);
        assert_eq!(hourly.admit(), Some(0));
        assert_eq!(hourly.admit(), None);
        assert_eq!(hourly.admit(), None);
        assert_eq!(
            hourly.suppressed.load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        // An interval of zero lets every line through, reporting what was held back before.
        let always = LogThrottle::new(0);
        assert_eq!(always.admit(), Some(0));
        assert_eq!(always.admit(), Some(0));
    }
}
