//! The raw layer: the file as written (every key optional, unknown keys refused) and the
//! environment variables applied on top of it, both from one declaration of the keys.

use serde::Deserialize;

/// The file as written: every field optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub(super) server: RawServer,
    pub(super) database: RawDatabase,
    pub(super) tokens: RawTokens,
    pub(super) cookie: RawCookie,
    pub(super) cors: RawCors,
    pub(super) signup: RawSignup,
    pub(super) password: RawPassword,
    pub(super) rate_limit: RawRateLimit,
    pub(super) redis: RawRedis,
    pub(super) keys: RawKeys,
    pub(super) sessions: RawSessions,
    pub(super) revocations: RawRevocations,
    pub(super) metrics: RawMetrics,
    pub(super) log: RawLog,
}

/// A setting's default, as the documentation writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// A value, written as it would be in the file or the environment.
    Value(&'static str),
    /// Computed from other settings at load (the text says from what, in Markdown).
    Derived(&'static str),
    /// No value: the feature is off.
    Unset,
}

impl DefaultValue {
    /// The default as `docs/configuration.md` shows it: `` `15m` ``, `` `http://` + bind ``,
    /// `unset`.
    pub fn doc(&self) -> String {
        match self {
            DefaultValue::Value(v) => format!("`{v}`"),
            DefaultValue::Derived(d) => (*d).to_owned(),
            DefaultValue::Unset => "unset".to_owned(),
        }
    }
}

/// One setting: the one place its name, default and meaning are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// `section.key`; in the environment `TESSERA_<SECTION>__<KEY>`.
    pub name: &'static str,
    /// Its default.
    pub default: DefaultValue,
    /// What it does, in one line (`docs/configuration.md` says more).
    pub description: &'static str,
}

/// Declares the raw sections and the table of known keys in one place, so a key cannot be
/// accepted in the file but not in the environment (or the reverse), and its default is
/// written once.
macro_rules! sections {
    ($( $section:ident : $raw:ident {
        $( $key:ident : $ty:ty [ $default:expr ] $desc:literal ),* $(,)?
    } )*) => {
        $(
            #[derive(Debug, Default, Deserialize)]
            #[serde(deny_unknown_fields, default)]
            pub(super) struct $raw { $( #[doc = $desc] pub(super) $key: Option<$ty>, )* }
        )*

        /// Every setting, in the order of `docs/configuration.md`.
        pub const KEYS: &[Key] = &[ $( $( Key {
            name: concat!(stringify!($section), ".", stringify!($key)),
            default: $default,
            description: $desc,
        }, )* )* ];

        impl RawConfig {
            /// Sets `section.key` from an environment value; `Ok(None)` for an unknown key.
            pub(super) fn set_from_env(&mut self, section: &str, key: &str, value: &str)
                -> Result<Option<&'static str>, String>
            {
                match (section, key) {
                    $( $(
                        (stringify!($section), stringify!($key)) => {
                            self.$section.$key = Some(<$ty as FromEnv>::from_env(value)?);
                            Ok(Some(concat!(stringify!($section), ".", stringify!($key))))
                        }
                    )* )*
                    _ => Ok(None),
                }
            }

            /// Fills every setting that was given no value with its [`DefaultValue::Value`], parsed
            /// like an environment value; the error names the key whose default does not parse.
            pub(super) fn fill_defaults(&mut self) -> Result<(), &'static str> {
                $( $(
                    if self.$section.$key.is_none() {
                        if let DefaultValue::Value(text) = $default {
                            self.$section.$key = Some(<$ty as FromEnv>::from_env(text)
                                .map_err(|_| concat!(stringify!($section), ".", stringify!($key)))?);
                        }
                    }
                )* )*
                Ok(())
            }
        }
    };
}

use DefaultValue::{Derived, Unset, Value};

sections! {
    server: RawServer {
        bind: String [Value("127.0.0.1:8080")] "listen address (IP:PORT)",
        public_url: String [Derived("`http://` + bind")]
            "base URL clients use: the default issuer and the browser origin allowed by default",
        trust_forwarded_for: bool [Value("false")]
            "take the client IP from the last X-Forwarded-For hop (only behind a proxy that appends it)",
        header_timeout: String [Value("10s")]
            "a connection that has not sent a complete request head in this time is closed",
        request_timeout: String [Value("30s")]
            "a request whose body has not arrived in this time is answered 408 and closed",
        idle_timeout: String [Value("60s")] "an idle keep-alive connection is closed",
        max_connections: u32 [Value("10000")]
            "open connections beyond this wait in the accept queue",
        shutdown_timeout: String [Value("10s")]
            "on SIGTERM or SIGINT, how long in-flight requests may finish before every connection is closed",
    }
    database: RawDatabase {
        url: String [Value("sqlite://tessera.db")] "sqlite://PATH or postgres://USER@HOST/DB",
        synchronous: String [Value("normal")] "SQLite durability: normal or full",
        max_connections: u32 [Value("16")] "PostgreSQL: most pooled connections per process",
        min_connections: u32 [Value("0")] "PostgreSQL: connections opened at start and kept",
        acquire_timeout: String [Value("5s")]
            "PostgreSQL: how long an operation waits for a connection before 503",
        statement_timeout: String [Value("5s")]
            "PostgreSQL: statement_timeout of every connection; 0s turns it off",
    }
    tokens: RawTokens {
        algorithm: String [Value("ES256")] "signing algorithm of new keys",
        issuer: String [Derived("`server.public_url`")] "`iss` of access tokens",
        audience: String [Value("api")] "`aud` of access tokens",
        typ: String [Value("at+jwt")] "header `typ` of access tokens (RFC 9068)",
        access_ttl: String [Value("15m")] "access-token lifetime",
        refresh_ttl: String [Value("14d")] "a session's absolute lifetime from login",
        idle_timeout: String [Value("7d")] "a session unused this long expires (sliding)",
        reuse_grace: String [Value("10s")]
            "a spent refresh token presented again this soon gets the same successor; 0s: off",
        leeway: String [Value("60s")] "clock leeway when the server verifies access tokens",
        delivery: String [Value("cookie")]
            "refresh-token delivery of a login that does not ask: cookie or body",
    }
    cookie: RawCookie {
        same_site: String [Value("strict")] "SameSite of the refresh cookie: strict or lax",
        secure: bool [Value("true")]
            "false only for plain-http development hosts (drops Secure and the __Host- prefix)",
    }
    cors: RawCors {
        allowed_origins: Vec<String> [Value("[]")]
            "extra browser origins allowed to call with credentials",
    }
    signup: RawSignup {
        enabled: bool [Value("true")] "open signup; false answers POST /v1/users with 403",
    }
    password: RawPassword {
        min_length: u32 [Value("8")] "minimum password length in characters",
        hash_queue_wait: String [Value("2s")]
            "longest wait for a password-hashing slot; past it login and signup answer 503 with Retry-After",
    }
    rate_limit: RawRateLimit {
        login_per_minute: u32 [Value("10")]
            "failed logins per username from one IP per minute; 3x that per IP, 10x per username from all IPs (and 30x per hour); 0 turns them off",
        login_success_per_minute: u32 [Value("30")]
            "successful logins per user per minute, 3x that per IP; 0 turns it off",
        admin_failures_per_minute: u32 [Value("10")]
            "requests with a wrong admin, revocations or metrics token per IP per minute; 0 turns it off",
        ipv6_prefix: u32 [Value("64")]
            "IPv6 clients share their limits per prefix of this length (32 to 128)",
        signup_per_minute: u32 [Value("10")] "signups per IP per minute; 0 turns it off",
        refresh_per_minute: u32 [Value("600")] "refreshes per IP per minute; 0 turns it off",
    }
    redis: RawRedis {
        url: String [Unset] "Redis shared by every replica for the rate limits",
        key_prefix: String [Value("tessera:rl")] "prefix of the rate limiter's keys in Redis",
    }
    keys: RawKeys {
        rotation_period: String [Value("30d")] "automatic signing-key rotation",
        jwks_max_age: String [Value("5m")]
            "Cache-Control max-age of the JWKS, and how long a new key is published before it signs",
        master_key_file: String [Value("tessera.master.key")]
            "master key file used when TESSERA_MASTER_KEY is unset",
        allow_readable_master_key_file: bool [Value("false")]
            "start even when group or others may read the master key file",
    }
    sessions: RawSessions {
        max_per_user: u32 [Value("100")]
            "live sessions per user (at least 1); a login beyond it revokes that user's least recently used session",
    }
    revocations: RawRevocations {
        token: String [Unset]
            "Bearer credential of resource servers for GET /v1/revocations (at least 32 characters)",
    }
    metrics: RawMetrics {
        token: String [Unset]
            "Bearer credential GET /metrics requires (unset: open; at least 32 characters)",
    }
    log: RawLog {
        format: String [Value("text")] "text or json, on stderr",
        level: String [Value("info")] "a tracing filter, e.g. info,tessera::access=debug",
    }
}

/// Parses one environment value as the type of its setting.
trait FromEnv: Sized {
    fn from_env(value: &str) -> Result<Self, String>;
}

impl FromEnv for String {
    fn from_env(value: &str) -> Result<Self, String> {
        Ok(value.to_owned())
    }
}

impl FromEnv for bool {
    fn from_env(value: &str) -> Result<Self, String> {
        match value.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected `true` or `false`".into()),
        }
    }
}

impl FromEnv for u32 {
    fn from_env(value: &str) -> Result<Self, String> {
        value
            .trim()
            .parse()
            .map_err(|_| "expected a non-negative integer".into())
    }
}

impl FromEnv for Vec<String> {
    /// A TOML array (`["https://a", "https://b"]`) or a comma-separated list.
    fn from_env(value: &str) -> Result<Self, String> {
        let v = value.trim();
        if v.starts_with('[') {
            #[derive(Deserialize)]
            struct W {
                v: Vec<String>,
            }
            return toml::from_str::<W>(&format!("v = {v}"))
                .map(|w| w.v)
                .map_err(|_| "expected a TOML array of strings or a comma-separated list".into());
        }
        Ok(v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }
}
