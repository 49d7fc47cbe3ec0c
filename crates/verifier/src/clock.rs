//! Wall-clock time for claim checks and revocation lifetimes. The one place that reads the
//! system clock; tests and embedders hand in their own [`Clock`].

use std::time::{SystemTime, UNIX_EPOCH};

/// The time in Unix seconds, used for `exp`/`nbf`/`iat` and for a revocation's `until`.
///
/// Intervals (key age, polling, cooldowns) use tokio's monotonic clock instead, so they
/// follow `tokio::time::pause` in tests.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that any `Fn() -> u64` can be (handy in tests: `Arc::new(move || now)`).
impl<F: Fn() -> u64 + Send + Sync + 'static> Clock for F {
    fn now(&self) -> u64 {
        self()
    }
}
