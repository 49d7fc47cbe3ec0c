//! Rate limits on login, signup, refresh and the token-guarded routes.
//!
//! Checked before any password hashing, so a flood of requests cannot burn CPU on Argon2.
//! Windows are fixed (one minute, one hour for [`Bucket::LoginUserHour`]), anchored at a
//! key's first event. IPs are keys as [`ip_key`] writes them: an IPv6 client counts for its
//! whole network (`rate_limit.ipv6_prefix`, /64 by default). Without
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

/// What is being limited.
///
/// Failed logins are counted three ways so that guessing stays bounded while a stranger
/// cannot lock the owner out: per (username, IP) with the strict limit (one address
/// guessing one account), per IP across usernames (3×), and per username across every IP
/// with a higher limit (10× a minute, then 30× an hour: the back-off against guessing
/// from many addresses). The owner logging in from their own address only meets the
/// per-username limits, which one stranger's address cannot reach alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Failed logins per (username, IP) (`rate_limit.login_per_minute`).
    LoginPair,
    /// Failed logins per IP (3 × `rate_limit.login_per_minute`).
    LoginIp,
    /// Failed logins per username from every IP (10 × `rate_limit.login_per_minute`).
    LoginUser,
    /// Failed logins per username from every IP, per hour (30 ×
    /// `rate_limit.login_per_minute`).
    LoginUserHour,
    /// Successful logins per user (`rate_limit.login_success_per_minute`).
    LoginSuccessUser,
    /// Successful logins per IP (3 × `rate_limit.login_success_per_minute`).
    LoginSuccessIp,
    /// Signups per IP (`rate_limit.signup_per_minute`).
    Signup,
    /// Refreshes per IP (`rate_limit.refresh_per_minute`).
    Refresh,
    /// Wrong admin, revocations or metrics tokens per IP
    /// (`rate_limit.admin_failures_per_minute`).
    AdminFailure,
}

const BUCKETS: usize = 9;

impl Bucket {
    const ALL: [Bucket; BUCKETS] = [
        Bucket::LoginPair,
        Bucket::LoginIp,
        Bucket::LoginUser,
        Bucket::LoginUserHour,
        Bucket::LoginSuccessUser,
        Bucket::LoginSuccessIp,
        Bucket::Signup,
        Bucket::Refresh,
        Bucket::AdminFailure,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The name of the bucket in Redis keys.
    fn name(self) -> &'static str {
        match self {
            Bucket::LoginPair => "login_pair",
            Bucket::LoginIp => "login_ip",
            Bucket::LoginUser => "login_user",
            Bucket::LoginUserHour => "login_user_hour",
            Bucket::LoginSuccessUser => "login_success_user",
            Bucket::LoginSuccessIp => "login_success_ip",
            Bucket::Signup => "signup",
            Bucket::Refresh => "refresh",
            Bucket::AdminFailure => "admin_failure",
        }
    }

    /// Length of the bucket's windows, seconds.
    fn window(self) -> i64 {
        match self {
            Bucket::LoginUserHour => 3600,
            _ => 60,
        }
    }

    /// The bucket's limit under `config` (`0`: off).
    fn limit(self, config: &RateLimitConfig) -> u32 {
        let login = config.login_per_minute;
        let success = config.login_success_per_minute;
        match self {
            Bucket::LoginPair => login,
            Bucket::LoginIp => login.saturating_mul(3),
            Bucket::LoginUser => login.saturating_mul(10),
            Bucket::LoginUserHour => login.saturating_mul(30),
            Bucket::LoginSuccessUser => success,
            Bucket::LoginSuccessIp => success.saturating_mul(3),
            Bucket::Signup => config.signup_per_minute,
            Bucket::Refresh => config.refresh_per_minute,
            Bucket::AdminFailure => config.admin_failures_per_minute,
        }
    }
}

/// The rate-limit key of a client address: the address itself for IPv4 (and IPv4-mapped
/// IPv6), the network `ADDR/LEN` of its first `ipv6_prefix` bits for IPv6.
pub fn ip_key(ip: std::net::IpAddr, ipv6_prefix: u8) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let len = u32::from(ipv6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
            format!("{net}/{len}")
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

    /// Acquires every `(bucket, key)` in order; at the first refusal, takes back the ones
    /// already counted and returns it. Nothing stays counted for a refused attempt.
    pub async fn acquire_all(&self, keys: &[(Bucket, &str)]) -> Result<(), RetryAfter> {
        for (i, (bucket, key)) in keys.iter().enumerate() {
            if let Err(r) = self.acquire(*bucket, key).await {
                for (b, k) in &keys[..i] {
                    self.refund(*b, k).await;
                }
                return Err(r);
            }
        }
        Ok(())
    }

    /// Refuses when any `(bucket, key)` is at its limit, without counting.
    pub async fn check_all(&self, keys: &[(Bucket, &str)]) -> Result<(), RetryAfter> {
        for (bucket, key) in keys {
            self.check(*bucket, key).await?;
        }
        Ok(())
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
