//! The shared limiter: the same fixed windows, counted in Redis by one atomic Lua script
//! per decision, so every replica pointing at the same Redis sees the same counts.
//!
//! Keys are `<prefix>:<bucket>:<sha256 hex of the identity>`: usernames and IPs never reach
//! Redis in clear. Windows use Redis's own clock (the key's TTL). Every command is bounded
//! by [`COMMAND_TIMEOUT`]; on any error or timeout the request is decided by the local
//! limiter instead, Redis is left alone for [`RETRY_EVERY`], and a warning is logged at
//! most once per [`WARN_EVERY`]. The connection is made lazily and re-made by
//! [`ConnectionManager`] after I/O errors.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::Script;
use tessera_jose::primitives::sha256;

use super::{Bucket, LocalLimiter, RetryAfter};

/// Longest wait for one Redis command before the local limiter decides instead.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(100);
/// After a failure, requests go straight to the local limiter for this long.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// At most one "Redis unavailable" warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// Longest wait for the first connection at start (in the background).
const FIRST_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// One decision, atomically. `KEYS[1]` is the counter; `ARGV` = mode (`check`, `hit`,
/// `acquire` or `refund`), the limit, the window in milliseconds. `check` only reads; `hit`
/// always counts; `acquire` counts only when under the limit; `refund` takes one count back
/// (never below zero, never creating the key). The first count of a window sets
/// its expiry (PEXPIRE), so the window is anchored at the key's first event. Returns
/// `{allowed (1|0, before counting), count, remaining TTL in ms}`.
const SCRIPT: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] == 'refund' then
  if count > 0 then count = redis.call('DECR', KEYS[1]) end
  return {1, count, redis.call('PTTL', KEYS[1])}
end
local allowed = 0
if count < tonumber(ARGV[2]) then allowed = 1 end
if ARGV[1] == 'hit' or (ARGV[1] == 'acquire' and allowed == 1) then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  ttl = tonumber(ARGV[3])
end
return {allowed, count, ttl}
";

/// `redis.url` was refused.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RedisUrlError(pub String);

#[derive(Debug, Default)]
struct Health {
    /// The last command failed.
    down: bool,
    /// Skip Redis until then.
    retry_at: Option<Instant>,
    last_warn: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Check,
    Hit,
    Acquire,
    Refund,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Check => "check",
            Mode::Hit => "hit",
            Mode::Acquire => "acquire",
            Mode::Refund => "refund",
        }
    }
}

/// Counters in Redis, with the local limiter as fallback.
pub struct RedisLimiter {
    conn: ConnectionManager,
    prefix: String,
    script: Script,
    local: LocalLimiter,
    health: Mutex<Health>,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// A limiter on `url` (not connected yet: the first command connects) with keys under
    /// `prefix`, falling back to `local`. Must be called inside a Tokio runtime.
    pub fn new(
        url: &str,
        prefix: &str,
        local: LocalLimiter,
    ) -> Result<RedisLimiter, RedisUrlError> {
        crate::config::parse_redis_url(url).map_err(RedisUrlError)?;
        let client = ::redis::Client::open(url)
            .map_err(|e| RedisUrlError(format!("invalid Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RedisUrlError(format!("cannot use Redis: {e}")))?;
        Ok(RedisLimiter {
            conn,
            prefix: prefix.to_owned(),
            script: Script::new(SCRIPT),
            local,
            health: Mutex::new(Health::default()),
        })
    }

    /// Connects and logs the outcome; called once in the background at start.
    pub(super) async fn first_ping(&self) {
        if self
            .query::<String>(::redis::cmd("PING"), FIRST_PING_TIMEOUT)
            .await
            .is_some()
        {
            tracing::info!("rate limits are counted in Redis, shared across replicas");
        }
    }

    /// Runs one command within `limit`, recording the outcome; `None` on any failure.
    async fn query<T: ::redis::FromRedisValue>(
        &self,
        cmd: ::redis::Cmd,
        limit: Duration,
    ) -> Option<T> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(limit, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("command timed out");
                None
            }
        }
    }

    fn key(&self, bucket: Bucket, identity: &str) -> String {
        format!(
            "{}:{}:{}",
            self.prefix,
            bucket.name(),
            hex(&sha256(identity.as_bytes()))
        )
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        match self.health.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether to ask Redis now (not within [`RETRY_EVERY`] of a failure).
    fn should_try(&self) -> bool {
        self.health().retry_at.is_none_or(|t| Instant::now() >= t)
    }

    fn succeeded(&self) {
        let mut h = self.health();
        if h.down {
            h.down = false;
            h.retry_at = None;
            tracing::info!("Redis is reachable again: rate limits are shared across replicas");
        }
    }

    fn failed(&self, error: &str) {
        let now = Instant::now();
        let mut h = self.health();
        h.down = true;
        h.retry_at = Some(now + RETRY_EVERY);
        if h.last_warn
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            h.last_warn = Some(now);
            tracing::warn!(
                error,
                "Redis unavailable: rate limits fall back to this process's counters"
            );
        }
    }

    async fn run(&self, mode: Mode, bucket: Bucket, identity: &str) -> Result<(), RetryAfter> {
        let limit = self.local.limit(bucket);
        if limit == 0 {
            return Ok(());
        }
        if self.should_try() {
            let mut conn = self.conn.clone();
            let mut invocation = self.script.key(self.key(bucket, identity));
            invocation
                .arg(mode.as_str())
                .arg(limit)
                .arg(bucket.window() * 1000);
            let call = invocation.invoke_async::<(i64, i64, i64)>(&mut conn);
            match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
                Ok(Ok((allowed, _count, ttl_ms))) => {
                    self.succeeded();
                    return match (mode, allowed) {
                        (Mode::Hit | Mode::Refund, _) | (_, 1) => Ok(()),
                        _ => Err(RetryAfter(retry_after(ttl_ms))),
                    };
                }
                Ok(Err(e)) => self.failed(&e.to_string()),
                Err(_) => self.failed("command timed out"),
            }
        }
        match mode {
            Mode::Check => self.local.check(bucket, identity),
            Mode::Hit => {
                self.local.hit(bucket, identity);
                Ok(())
            }
            Mode::Acquire => self.local.acquire(bucket, identity),
            Mode::Refund => {
                self.local.refund(bucket, identity);
                Ok(())
            }
        }
    }

    pub(super) async fn check(&self, bucket: Bucket, identity: &str) -> Result<(), RetryAfter> {
        self.run(Mode::Check, bucket, identity).await
    }

    pub(super) async fn hit(&self, bucket: Bucket, identity: &str) {
        let _ = self.run(Mode::Hit, bucket, identity).await;
    }

    pub(super) async fn acquire(&self, bucket: Bucket, identity: &str) -> Result<(), RetryAfter> {
        self.run(Mode::Acquire, bucket, identity).await
    }

    pub(super) async fn refund(&self, bucket: Bucket, identity: &str) {
        let _ = self.run(Mode::Refund, bucket, identity).await;
    }

    /// Forgets `identity` in Redis and in the fallback counters.
    pub(super) async fn reset(&self, bucket: Bucket, identity: &str) {
        self.local.reset(bucket, identity);
        if self.local.limit(bucket) == 0 || !self.should_try() {
            return;
        }
        let mut del = ::redis::cmd("DEL");
        del.arg(self.key(bucket, identity));
        let _ = self.query::<i64>(del, COMMAND_TIMEOUT).await;
    }

    /// Whether Redis answers a PING now (without asking within [`RETRY_EVERY`] of a
    /// failure).
    pub(super) async fn ping(&self) -> bool {
        if !self.should_try() {
            return false;
        }
        self.query::<String>(::redis::cmd("PING"), COMMAND_TIMEOUT)
            .await
            .is_some()
    }
}

/// Whole seconds left, rounded up, at least 1.
fn retry_after(ttl_ms: i64) -> u64 {
    u64::try_from((ttl_ms + 999) / 1000).unwrap_or(1).max(1)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(retry_after(60_000), 60);
        assert_eq!(retry_after(59_001), 60);
        assert_eq!(retry_after(1), 1);
        assert_eq!(retry_after(0), 1);
        assert_eq!(retry_after(-2), 1);
    }

    #[tokio::test]
    async fn keys_are_namespaced_and_never_hold_the_identity_in_clear() {
        let local = LocalLimiter::new(
            &crate::config::RateLimitConfig {
                login_per_minute: 1,
                signup_per_minute: 1,
                refresh_per_minute: 1,
                login_success_per_minute: 1,
                admin_failures_per_minute: 1,
                ipv6_prefix: 64,
            },
            std::sync::Arc::new(tessera_tokens::ManualClock::new(0)),
        );
        let l = RedisLimiter::new("redis://127.0.0.1:1", "tessera:rl", local).unwrap();
        let key = l.key(Bucket::LoginUser, "alice");
        assert_eq!(
            key,
            format!("tessera:rl:login_user:{}", hex(&sha256(b"alice")))
        );
        assert_eq!(key.len(), "tessera:rl:login_user:".len() + 64);
        assert!(!l.key(Bucket::LoginIp, "192.0.2.1").contains("192.0.2.1"));
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0, 0x0f, 0xab]), "000fab");
    }
}
