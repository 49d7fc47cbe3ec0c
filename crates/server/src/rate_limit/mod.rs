//! Rate limits on login, signup and refresh (per IP, and failed logins per username).
//!
//! Checked before any password hashing, so a flood of requests cannot burn CPU on Argon2.
//! Windows are fixed, one minute long, anchored at a key's first event. Without
//! `redis.url` the counters live in this process ([`LocalLimiter`], read from the domain
//! [`Clock`] so tests move time instead of sleeping); with it they live in Redis and are
//! shared by every replica ([`RedisLimiter`], see `redis.url` in docs/configuration.md), falling back to the local counters
//! for any request Redis does not answer in time.

mod local;
mod redis;

use std::sync::Arc;

use tessera_tokens::Clock;

use crate::config::RateLimitConfig;

pub use self::local::LocalLimiter;
pub use self::redis::{RedisLimiter, RedisUrlError};

/// Length of every window, seconds.
const WINDOW: i64 = 60;

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

    /// The name of the bucket in Redis keys.
    fn name(self) -> &'static str {
        match self {
            Bucket::LoginUser => "login_user",
            Bucket::LoginIp => "login_ip",
            Bucket::Signup => "signup",
            Bucket::Refresh => "refresh",
        }
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
    /// Counters in Redis (shared by replicas), with a local fallback.
    Redis(Arc<RedisLimiter>),
}

impl RateLimiter {
    /// An in-process limiter with the configured limits.
    pub fn local(config: &RateLimitConfig, clock: Arc<dyn Clock>) -> RateLimiter {
        RateLimiter::Local(Arc::new(LocalLimiter::new(config, clock)))
    }

    /// A Redis-backed limiter at `url` whose keys start with `prefix` (`tessera:rl` in
    /// production; tests pass a unique one). Connects in the background: never blocks.
    /// Must be called inside a Tokio runtime.
    pub fn with_redis(
        url: &str,
        prefix: &str,
        config: &RateLimitConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<RateLimiter, RedisUrlError> {
        let limiter = Arc::new(RedisLimiter::new(
            url,
            prefix,
            LocalLimiter::new(config, clock),
        )?);
        let first = Arc::clone(&limiter);
        tokio::spawn(async move { first.first_ping().await });
        Ok(RateLimiter::Redis(limiter))
    }

    /// Refuses when `key` is at its limit, without counting.
    pub async fn check(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
        match self {
            RateLimiter::Local(l) => l.check(bucket, key),
            RateLimiter::Redis(r) => r.check(bucket, key).await,
        }
    }

    /// Counts one event for `key`.
    pub async fn hit(&self, bucket: Bucket, key: &str) {
        match self {
            RateLimiter::Local(l) => l.hit(bucket, key),
            RateLimiter::Redis(r) => r.hit(bucket, key).await,
        }
    }

    /// Refuses when `key` is at its limit; otherwise counts one event.
    pub async fn acquire(&self, bucket: Bucket, key: &str) -> Result<(), RetryAfter> {
        match self {
            RateLimiter::Local(l) => l.acquire(bucket, key),
            RateLimiter::Redis(r) => r.acquire(bucket, key).await,
        }
    }

    /// Takes back one event counted by [`acquire`](Self::acquire) (an attempt that turned
    /// out not to be a failure).
    pub async fn refund(&self, bucket: Bucket, key: &str) {
        match self {
            RateLimiter::Local(l) => l.refund(bucket, key),
            RateLimiter::Redis(r) => r.refund(bucket, key).await,
        }
    }

    /// Forgets `key` (a successful login clears the username's failures).
    pub async fn reset(&self, bucket: Bucket, key: &str) {
        match self {
            RateLimiter::Local(l) => l.reset(bucket, key),
            RateLimiter::Redis(r) => r.reset(bucket, key).await,
        }
    }

    /// Where the counters are, for `/readyz`: `local` (no Redis configured), `redis`, or
    /// `local (redis unavailable)`. With Redis, pings it (bounded by the command timeout).
    pub async fn status(&self) -> &'static str {
        match self {
            RateLimiter::Local(_) => "local",
            RateLimiter::Redis(r) => {
                if r.ping().await {
                    "redis"
                } else {
                    "local (redis unavailable)"
                }
            }
        }
    }
}
