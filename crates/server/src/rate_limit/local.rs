//! The in-process limiter: fixed windows per key in memory, read from the domain [`Clock`]
//! so tests move time instead of sleeping.
//!
//! Memory is bounded without ever failing open: a bucket holds at most
//! [`MAX_KEYS`] keys. When it is full, expired windows go first; if that is not enough, the
//! least-counted keys are evicted (a sixteenth of the table at once, so the cost is spread
//! over many inserts), and every key inserted while those evictions are recent starts at
//! the highest count evicted (the *floor*). The busiest keys, the ones at or near their
//! limit, stay exact; a key that was evicted comes back no lower than it left; and a flood
//! of fresh keys (an attacker rotating addresses) can only make new keys stricter, never
//! let anyone through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tessera_tokens::{Clock, UnixTime};

use super::{Bucket, RetryAfter, BUCKETS};
use crate::config::RateLimitConfig;

/// Most keys tracked per bucket (a few MiB at most per bucket).
pub(super) const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: UnixTime,
    count: u32,
}

#[derive(Debug, Default)]
struct Table {
    windows: HashMap<String, Window>,
    last_prune: UnixTime,
    /// The highest count evicted recently, and when: new keys start there.
    floor: Option<Window>,
}

impl Table {
    fn prune(&mut self, now: UnixTime, window: i64) {
        self.windows.retain(|_, w| now - w.start < window);
        self.last_prune = now;
    }

    /// The count a new key starts from: the floor while it is live.
    fn start_count(&self, now: UnixTime, window: i64) -> u32 {
        self.floor
            .filter(|f| now - f.start < window)
            .map_or(0, |f| f.count)
    }

    /// Evicts the least-counted sixteenth of the keys (at least one) and raises the floor
    /// to the highest count evicted.
    fn evict(&mut self, now: UnixTime, window: i64) {
        let n = (self.windows.len() / 16).max(1);
        let mut counts: Vec<u32> = self.windows.values().map(|w| w.count).collect();
        let (_, nth, _) = counts.select_nth_unstable(n - 1);
        let threshold = *nth;
        let mut evicted = 0;
        let mut highest = 0;
        self.windows.retain(|_, w| {
            if evicted < n && w.count <= threshold {
                evicted += 1;
                highest = highest.max(w.count);
                false
            } else {
                true
            }
        });
        let floor = self.start_count(now, window).max(highest);
        self.floor = Some(Window {
            start: now,
            count: floor,
        });
    }
}

/// Fixed windows per key in memory, one table (and lock) per bucket.
pub struct LocalLimiter {
    limits: [u32; BUCKETS],
    tables: [Mutex<Table>; BUCKETS],
    max_keys: usize,
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
        LocalLimiter::with_capacity(config, clock, MAX_KEYS)
    }

    /// With at most `max_keys` keys per bucket (tests use a small table).
    pub(super) fn with_capacity(
        config: &RateLimitConfig,
        clock: Arc<dyn Clock>,
        max_keys: usize,
    ) -> LocalLimiter {
        LocalLimiter {
            limits: Bucket::ALL.map(|b| b.limit(config)),
            tables: Default::default(),
            max_keys: max_keys.max(1),
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

    fn over(limit: u32, w: &Window, now: UnixTime, window: i64) -> Option<RetryAfter> {
        let live = now - w.start < window;
        (live && w.count >= limit).then(|| RetryAfter((w.start + window - now).max(1) as u64))
    }

    pub(super) fn check(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
        let limit = self.limit(bucket);
        if limit == 0 {
            return Ok(());
        }
        let now = self.clock.now();
        let window = bucket.window();
        let t = self.table(bucket);
        let w = match t.windows.get(key) {
            Some(w) => *w,
            // An untracked key starts at the floor (evicted keys come back no lower).
            None => Window {
                start: now,
                count: t.start_count(now, window),
            },
        };
        match Self::over(limit, &w, now, window) {
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
        let limit = self.limit(bucket);
        if limit == 0 {
            return Ok(());
        }
        let now = self.clock.now();
        let window = bucket.window();
        let mut t = self.table(bucket);
        if now - t.last_prune >= window {
            t.prune(now, window);
        }
        if !t.windows.contains_key(key) && t.windows.len() >= self.max_keys {
            t.prune(now, window);
            if t.windows.len() >= self.max_keys {
                t.evict(now, window);
            }
        }
        let start = t.start_count(now, window);
        let w = t.windows.entry(key.to_owned()).or_insert(Window {
            start: now,
            count: start,
        });
        if now - w.start >= window {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        if refuse_when_over {
            if let Some(r) = Self::over(limit, w, now, window) {
                return Err(r);
            }
        }
        w.count = w.count.saturating_add(1);
        Ok(())
    }

    /// Takes back one count of `key`'s live window (never below zero).
    pub(super) fn refund(&self, bucket: Bucket, key: &str) {
        let now = self.clock.now();
        let window = bucket.window();
        if let Some(w) = self.table(bucket).windows.get_mut(key) {
            if now - w.start < window {
                w.count = w.count.saturating_sub(1);
            }
        }
    }

    pub(super) fn reset(&self, bucket: Bucket, key: &str) {
        self.table(bucket).windows.remove(key);
    }

    /// Keys tracked in `bucket` (tests).
    #[cfg(test)]
    fn len(&self, bucket: Bucket) -> usize {
        self.table(bucket).windows.len()
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
                login_success_per_minute: 5,
                admin_failures_per_minute: 4,
                ipv6_prefix: 64,
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
        l.hit(Bucket::LoginPair, "bob");
        l.hit(Bucket::LoginPair, "bob");
        assert_eq!(l.check(Bucket::LoginPair, "bob"), Err(RetryAfter(60)));
        assert_eq!(
            l.check(Bucket::LoginIp, "bob"),
            Ok(()),
            "per-IP limit is 3x"
        );
        l.reset(Bucket::LoginPair, "bob");
        assert_eq!(l.check(Bucket::LoginPair, "bob"), Ok(()));
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

    /// The per-username limits: 10x a minute, and 30x an hour, whose refusal lasts until
    /// the hour's window ends (the back-off against guessing from many addresses).
    #[test]
    fn failures_per_username_back_off_to_an_hour() {
        let clock = ManualClock::new(1_000);
        let l = limiter(&clock);
        for _ in 0..20 {
            assert_eq!(l.acquire(Bucket::LoginUser, "bob"), Ok(()));
        }
        assert_eq!(l.acquire(Bucket::LoginUser, "bob"), Err(RetryAfter(60)));
        for _ in 0..60 {
            assert_eq!(l.acquire(Bucket::LoginUserHour, "bob"), Ok(()));
            clock.advance(20);
        }
        // 60 failures over 20 minutes: refused for the rest of the hour.
        assert_eq!(
            l.acquire(Bucket::LoginUserHour, "bob"),
            Err(RetryAfter(3600 - 1200))
        );
        clock.advance(2400);
        assert_eq!(l.acquire(Bucket::LoginUserHour, "bob"), Ok(()));
    }

    /// A full table evicts its least-counted keys, never its busiest, and never lets a key
    /// through beyond its limit: memory stays bounded and nothing fails open.
    #[test]
    fn a_full_table_evicts_the_quiet_keys_and_never_fails_open() {
        let clock = ManualClock::new(1_000);
        let config = RateLimitConfig {
            login_per_minute: 2,
            signup_per_minute: 3,
            refresh_per_minute: 0,
            login_success_per_minute: 5,
            admin_failures_per_minute: 4,
            ipv6_prefix: 64,
        };
        let l = LocalLimiter::with_capacity(&config, Arc::new(clock.clone()), 64);
        // The attacker's own key, at its limit.
        for _ in 0..3 {
            assert_eq!(l.acquire(Bucket::Signup, "hot"), Ok(()));
        }
        assert!(l.acquire(Bucket::Signup, "hot").is_err());
        // A flood of fresh keys, one event each: three times what the table holds.
        let mut admitted = 0;
        for i in 0..192 {
            admitted += usize::from(l.acquire(Bucket::Signup, &format!("k{i}")).is_ok());
            assert!(l.len(Bucket::Signup) <= 64);
        }
        assert!(admitted >= 64, "fresh keys are not all refused: {admitted}");
        assert!(
            l.acquire(Bucket::Signup, "hot").is_err(),
            "the busiest key stays exact"
        );
        // Whatever was evicted, no key gets more than its limit within a window.
        for key in ["k0", "k100", "k191", "new"] {
            let ok = (0..10)
                .filter(|_| l.acquire(Bucket::Signup, key).is_ok())
                .count();
            assert!(ok <= 3, "{key}: {ok} admitted");
        }
        // A table full of keys at their limit: the floor is the limit, so a new key is
        // refused rather than let through untracked.
        let l = LocalLimiter::with_capacity(&config, Arc::new(clock.clone()), 16);
        for i in 0..16 {
            for _ in 0..3 {
                let _ = l.acquire(Bucket::Signup, &format!("busy{i}"));
            }
        }
        assert!(l.acquire(Bucket::Signup, "newcomer").is_err());
        assert!(l.check(Bucket::Signup, "another").is_err());
        // The floor lasts one window.
        clock.advance(60);
        assert_eq!(l.acquire(Bucket::Signup, "later"), Ok(()));
    }

    #[test]
    fn ipv6_clients_share_a_key_per_network() {
        use super::super::ip_key;
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let c: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a, 64), "2001:db8:1:2::/64");
        assert_eq!(ip_key(a, 64), ip_key(b, 64));
        assert_ne!(ip_key(a, 64), ip_key(c, 64));
        assert_eq!(ip_key(c, 48), ip_key(a, 48));
        assert_eq!(ip_key(a, 128), "2001:db8:1:2:aaaa::1/128");
        let v4: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ip_key(v4, 64), "192.0.2.7");
        let mapped: std::net::IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_key(mapped, 64), "192.0.2.7");
    }
}
