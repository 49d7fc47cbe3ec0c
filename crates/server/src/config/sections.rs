//! The typed, validated sections of [`Config`](super::Config).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tessera_jose::{Algorithm, SecretString};
pub use tessera_store::Synchronous;

use super::Choice;

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address (`127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// Base URL clients use, without a trailing slash (`http://` + bind): the default
    /// issuer and the one browser origin allowed by default.
    pub public_url: String,
    /// Take the client IP from the last `X-Forwarded-For` hop (`false`). Turn on only
    /// behind a proxy that sets it.
    pub trust_forwarded_for: bool,
    /// A connection that has not sent a complete request head this long after it opened,
    /// or after the first byte of its next request, is closed (`10s`).
    pub header_timeout: Duration,
    /// A request whose body has not fully arrived this long after its head is answered 408
    /// and the connection closed (`30s`).
    pub request_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed (`60s`).
    pub idle_timeout: Duration,
    /// Most connections open at once; further ones wait in the kernel's accept queue
    /// (`10000`).
    pub max_connections: u32,
    /// On SIGTERM or SIGINT, how long in-flight requests may finish before every
    /// connection is closed (`10s`).
    pub shutdown_timeout: Duration,
}

/// `[database]`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…` (`sqlite://tessera.db`).
    pub url: String,
    /// SQLite `synchronous` pragma (`normal`).
    pub synchronous: Synchronous,
    /// PostgreSQL: most pooled connections per process (`16`).
    pub max_connections: u32,
    /// PostgreSQL: connections opened at start and kept (`0`).
    pub min_connections: u32,
    /// PostgreSQL: how long an operation waits for a connection before failing as
    /// unavailable (`5s`).
    pub acquire_timeout: Duration,
    /// PostgreSQL: `statement_timeout` of every connection (`5s`; zero = none).
    pub statement_timeout: Duration,
}

impl Choice for Synchronous {
    const EXPECTED: &'static str = "`normal` or `full`";
    fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Synchronous::Normal),
            "full" => Some(Synchronous::Full),
            _ => None,
        }
    }
}

/// `[tokens]`.
#[derive(Debug, Clone)]
pub struct TokensConfig {
    /// Signing algorithm of new keys (`ES256`).
    pub algorithm: Algorithm,
    /// `iss` (`server.public_url`).
    pub issuer: String,
    /// `aud` of access tokens (`api`).
    pub audience: String,
    /// Header `typ` of access tokens (`at+jwt`).
    pub typ: String,
    /// Access-token lifetime (`15m`).
    pub access_ttl: Duration,
    /// Session absolute lifetime (`14d`).
    pub refresh_ttl: Duration,
    /// Session idle timeout (`7d`).
    pub idle_timeout: Duration,
    /// Reuse grace window (`10s`; `0s` = off).
    pub reuse_grace: Duration,
    /// Leeway when verifying access tokens (`60s`).
    pub leeway: Duration,
    /// Refresh-token delivery of a login that does not say (`cookie`).
    pub delivery: Delivery,
}

/// Where a refresh token travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Only in the `HttpOnly` cookie (browsers).
    Cookie,
    /// Only in the JSON body (native clients).
    Body,
}

impl Choice for Delivery {
    const EXPECTED: &'static str = "`cookie` or `body`";
    fn parse(s: &str) -> Option<Self> {
        match s {
            "cookie" => Some(Delivery::Cookie),
            "body" => Some(Delivery::Body),
            _ => None,
        }
    }
}

/// `[cookie]`.
#[derive(Debug, Clone)]
pub struct CookieConfig {
    /// `SameSite` attribute (`strict`).
    pub same_site: SameSite,
    /// `Secure` attribute and `__Host-` prefix (`true`). `false` is for plain-http
    /// development hosts only.
    pub secure: bool,
}

/// The refresh cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`.
    Lax,
}

impl Choice for SameSite {
    const EXPECTED: &'static str = "`strict` or `lax`";
    fn parse(s: &str) -> Option<Self> {
        match s {
            "strict" => Some(SameSite::Strict),
            "lax" => Some(SameSite::Lax),
            _ => None,
        }
    }
}

/// `[cors]`.
#[derive(Debug, Clone)]
pub struct CorsConfig {
    /// Every browser origin allowed to call with credentials: the origin of
    /// `server.public_url` first (and `http://localhost:PORT` when `public_url` is the
    /// default and `bind` a loopback address), then `cors.allowed_origins` (canonical form).
    pub allowed_origins: Vec<String>,
}

/// `[signup]`.
#[derive(Debug, Clone)]
pub struct SignupConfig {
    /// Open signup (`true`).
    pub enabled: bool,
}

/// `[password]`.
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    /// Minimum length in characters (`8`).
    pub min_length: usize,
    /// Longest wait for a password-hashing slot (`2s`).
    pub hash_queue_wait: std::time::Duration,
}

/// `[rate_limit]`. `0` turns a limit off.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Failed logins per username per minute (`10`); per IP it is 3× this.
    pub login_per_minute: u32,
    /// Signups per IP per minute (`10`).
    pub signup_per_minute: u32,
    /// Refreshes per IP per minute (`600`).
    pub refresh_per_minute: u32,
    /// Successful logins per user per minute (`30`); per IP it is 3× this.
    pub login_success_per_minute: u32,
    /// Requests with a wrong admin, revocations or metrics token, per IP per minute (`10`).
    pub admin_failures_per_minute: u32,
    /// IPv6 clients are limited per network of this prefix length (`64`): one host owns a
    /// whole /64 and could otherwise take a fresh budget per address.
    pub ipv6_prefix: u8,
}

/// `[redis]`.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Rate limits counted in Redis, shared across replicas (unset: per process). Checked
    /// at load (`redis://`, `redis+unix://` or `unix://`); connected lazily.
    pub url: Option<String>,
    /// Prefix of the limiter's keys in Redis: deployments sharing one Redis need
    /// different prefixes (replicas of one deployment, the same).
    pub key_prefix: String,
}

/// `[keys]`.
#[derive(Debug, Clone)]
pub struct KeysConfig {
    /// Automatic signing-key rotation (`30d`). Accepted now, used by a later release.
    pub rotation_period: Duration,
    /// `Cache-Control: max-age` of the JWKS (`5m`).
    pub jwks_max_age: Duration,
    /// The master key file used when `TESSERA_MASTER_KEY` is unset (`tessera.master.key`,
    /// relative to the working directory).
    pub master_key_file: PathBuf,
    /// Start even when group or others may read the master key file (`false`: such a file
    /// stops start-up).
    pub allow_readable_master_key_file: bool,
}

/// `[sessions]`.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    /// Live sessions per user (at least 1): a login beyond it revokes the user's least
    /// recently used sessions.
    pub max_per_user: u32,
}

/// `[revocations]`.
#[derive(Debug, Clone)]
pub struct RevocationsConfig {
    /// The Bearer credential resource servers present to `GET /v1/revocations` (unset: only
    /// the admin token reads the feed). At least 32 characters.
    pub token: Option<SecretString>,
}

/// `[metrics]`.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// When set, `GET /metrics` answers only `Authorization: Bearer` this (unset: open).
    pub token: Option<SecretString>,
}

/// `[log]`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `text` or `json` (`text`).
    pub format: LogFormat,
    /// An `EnvFilter` directive (`info`).
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Choice for LogFormat {
    const EXPECTED: &'static str = "`text` or `json`";
    fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}
