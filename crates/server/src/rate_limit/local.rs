//! The in-process limiter: fixed one-minute windows per key in memory, read from the
//! domain [`Clock`] so tests move time instead of sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tessera_tokens::{Clock, UnixTime};

use super::{Bucket, RetryAfter, BUCKETS, WINDOW};
use crate::config::RateLimitConfig;

/// Most keys tracked per bucket; past it, expired windows are pruned, and if none are,
/// new keys go untracked (fail open) rather than grow memory without bound.
const MAX_KEYS: usize = 100_000;

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

    /// The limit of `bucket` (`0`: off).
    pub(super) fn limit(&self, bucket: Bucket) -> u32 {
        self.limits[bucket.index()]
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

    pub(super) fn check(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
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

    pub(super) fn hit(&self, bucket: Bucket, key: &str) {
        let _ = self.count(bucket, key, false);
    }

    pub(super) fn acquire(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
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

    /// Takes back one count of `key`'s live window (never below zero).
    pub(super) fn refund(&self, bucket: Bucket, key: &str) {
        let now = self.clock.now();
        if let Some(w) = self.table(bucket).windows.get_mut(key) {
            if now - w.start < WINDOW {
                w.count = w.count.saturating_sub(1);
            }
        }
    }

    pub(super) fn reset(&self, bucket: Bucket, key: &str) {
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
    fn refund_takes_back_one_count_never_below_zero() {
        let clock = ManualClock::new(1_000);
        let l = limiter(&clock);
        l.refund(Bucket::Signup, "ip"); // nothing counted: nothing to take back
        for _ in 0..3 {
            assert_eq!(l.acquire(Bucket::Signup, "ip"), Ok(()));
        }
        assert!(l.check(Bucket::Signup, "ip").is_err());
        l.refund(Bucket::Signup, "ip");
        assert_eq!(l.check(Bucket::Signup, "ip"), Ok(()));
        assert_eq!(l.acquire(Bucket::Signup, "ip"), Ok(()));
        assert!(l.acquire(Bucket::Signup, "ip").is_err());
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
