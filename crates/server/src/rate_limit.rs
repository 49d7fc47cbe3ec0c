//! Rate limits on login, signup and refresh (per IP, and failed logins per username).
//!
//! Checked before any password hashing, so a flood of requests cannot burn CPU on Argon2.
//! Windows are fixed, one minute long, anchored at a key's first event, and read the
//! domain [`Clock`] so tests move time instead of sleeping. [`RateLimiter`] is an enum so
//! that a Redis-backed limiter (SPEC §6, shared across replicas) can be added as another
//! variant without touching the handlers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tessera_tokens::{Clock, UnixTime};

use crate::config::RateLimitConfig;

/// Length of every window, seconds.
const WINDOW: i64 = 60;
/// Most keys tracked per bucket; past it, expired windows are pruned, and if none are,
/// new keys go untracked (fail open) rather than grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Failed logins per username (`rate_limit.login_per_minute`).
    LoginUser,
    /// Failed logins per IP (3 × `rate_limit.login_per_minute`).
    LoginIp,
    /// Signups per IP (`rate_limit.signup_per_minute`).
    Signup,
    /// Refreshes per IP (`rate_limit.refresh_per_minute`).
    Refresh,
}

const BUCKETS: usize = 4;

impl Bucket {
    fn index(self) -> usize {
        self as usize
    }
}

/// Refused: retry after this many seconds (≥ 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

/// The rate limiter of the process.
#[derive(Debug, Clone)]
pub enum RateLimiter {
    /// Counters in this process's memory (per replica).
    Local(Arc<LocalLimiter>),
}

impl RateLimiter {
    /// An in-process limiter with the configured limits.
    pub fn local(config: &RateLimitConfig, clock: Arc<dyn Clock>) -> RateLimiter {
        RateLimiter::Local(Arc::new(LocalLimiter::new(config, clock)))
    }

    /// Refuses when `key` is at its limit, without counting.
    pub async fn check(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
        match self {
            RateLimiter::Local(l) => l.check(bucket, key),
        }
    }

    /// Counts one event for `key`.
    pub async fn hit(&self, bucket: Bucket, key: &str) {
        match self {
            RateLimiter::Local(l) => l.hit(bucket, key),
        }
    }

    /// Refuses when `key` is at its limit; otherwise counts one event.
    pub async fn acquire(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
        match self {
            RateLimiter::Local(l) => l.acquire(bucket, key),
        }
    }

    /// Forgets `key` (a successful login clears the username's failures).
    pub async fn reset(&self, bucket: Bucket, key: &str) {
        match self {
            RateLimiter::Local(l) => l.reset(bucket, key),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: UnixTime,
    count: u32,
}

#[derive(Debug, Default)]
struct Table {
    windows: HashMap<String, Window>,
    last_prune: UnixTime,
}

impl Table {
    fn prune(&mut self, now: UnixTime) {
        self.windows.retain(|_, w| now - w.start < WINDOW);
        self.last_prune = now;
    }
}

/// Fixed one-minute windows per key in memory, one table (and lock) per bucket.
pub struct LocalLimiter {
    limits: [u32; BUCKETS],
    tables: [Mutex<Table>; BUCKETS],
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl LocalLimiter {
    /// Limits from the configuration; `0` turns a bucket off.
    pub fn new(config: &RateLimitConfig, clock: Arc<dyn Clock>) -> LocalLimiter {
        LocalLimiter {
            limits: [
                config.login_per_minute,
                config.login_per_minute.saturating_mul(3),
                config.signup_per_minute,
                config.refresh_per_minute,
            ],
            tables: Default::default(),
            clock,
        }
    }

    fn table(&self, bucket: Bucket) -> MutexGuard<'_, Table> {
        match self.tables[bucket.index()].lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn over(limit: u32, w: &Window, now: UnixTime) -> Option<RetryAfter> {
        let live = now - w.start < WINDOW;
        (live && w.count >= limit).then(|| RetryAfter((w.start + WINDOW - now).max(1) as u64))
    }

    fn check(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
        let limit = self.limits[bucket.index()];
        if limit == 0 {
            return Ok(());
        }
        let now = self.clock.now();
        match self
            .table(bucket)
            .windows
            .get(key)
            .and_then(|w| Self::over(limit, w, now))
        {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }

    fn hit(&self, bucket: Bucket, key: &str) {
        let _ = self.count(bucket, key, false);
    }

    fn acquire(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
        self.count(bucket, key, true)
    }

    fn count(&self, bucket: Bucket, key: &str, refuse_when_over: bool) -> Result<(), RetryAfter> {
        let limit = self.limits[bucket.index()];
        if limit == 0 {
            return Ok(());
        }
        let now = self.clock.now();
        let mut t = self.table(bucket);
        if now - t.last_prune >= WINDOW {
            t.prune(now);
        }
        if let Some(w) = t.windows.get_mut(key) {
            if now - w.start >= WINDOW {
                *w = Window {
                    start: now,
                    count: 0,
                };
            }
            if refuse_when_over {
                if let Some(r) = Self::over(limit, w, now) {
                    return Err(r);
                }
            }
            w.count = w.count.saturating_add(1);
            return Ok(());
        }
        if t.windows.len() >= MAX_KEYS {
            t.prune(now);
            if t.windows.len() >= MAX_KEYS {
                tracing::warn!(?bucket, "rate limiter is full; new keys are not tracked");
                return Ok(());
            }
        }
        t.windows.insert(
            key.to_owned(),
            Window {
                start: now,
                count: 1,
            },
        );
        Ok(())
    }

    fn reset(&self, bucket: Bucket, key: &str) {
        self.table(bucket).windows.remove(key);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tessera_tokens::ManualClock;

    fn limiter(clock: &ManualClock) -> LocalLimiter {
        LocalLimiter::new(
            &RateLimitConfig {
                login_per_minute: 2,
                signup_per_minute: 3,
                refresh_per_minute: 0,
            },
            Arc::new(clock.clone()),
        )
    }

    #[test]
    fn windows_fill_refuse_and_reset() {
        let clock = ManualClock::new(1_000);
        let l = limiter(&clock);
        for _ in 0..3 {
            assert_eq!(l.acquire(Bucket::Signup, "ip"), Ok(()));
        }
        clock.advance(10);
        assert_eq!(l.acquire(Bucket::Signup, "ip"), Err(RetryAfter(50)));
        assert_eq!(l.acquire(Bucket::Signup, "other"), Ok(()));
        clock.advance(50);
        assert_eq!(l.acquire(Bucket::Signup, "ip"), Ok(()));
    }

    #[test]
    fn failures_counted_separately_from_checks() {
        let clock = ManualClock::new(1_000);
        let l = limiter(&clock);
        assert_eq!(l.check(Bucket::LoginUser, "bob"), Ok(()));
        l.hit(Bucket::LoginUser, "bob");
        l.hit(Bucket::LoginUser, "bob");
        assert_eq!(l.check(Bucket::LoginUser, "bob"), Err(RetryAfter(60)));
        assert_eq!(
            l.check(Bucket::LoginIp, "bob"),
            Ok(()),
            "per-IP limit is 3x"
        );
        l.reset(Bucket::LoginUser, "bob");
        assert_eq!(l.check(Bucket::LoginUser, "bob"), Ok(()));
    }

    #[test]
    fn zero_turns_a_bucket_off() {
        let clock = ManualClock::new(1_000);
        let l = limiter(&clock);
        for _ in 0..10_000 {
            assert_eq!(l.acquire(Bucket::Refresh, "ip"), Ok(()));
        }
        assert!(l.table(Bucket::Refresh).windows.is_empty());
    }
}
