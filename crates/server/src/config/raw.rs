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
    pub(super) log: RawLog,
}

/// Declares the raw sections and the table of known keys in one place, so a key cannot be
/// accepted in the file but not in the environment (or the reverse).
macro_rules! sections {
    ($( $section:ident : $raw:ident { $( $(#[$doc:meta])* $key:ident : $ty:ty ),* $(,)? } )*) => {
        $(
            #[derive(Debug, Default, Deserialize)]
            #[serde(deny_unknown_fields, default)]
            pub(super) struct $raw { $( $(#[$doc])* pub(super) $key: Option<$ty>, )* }
        )*

        /// Every `section.key` the configuration knows.
        pub const KEYS: &[&str] = &[ $( $( concat!(stringify!($section), ".", stringify!($key)), )* )* ];

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
        }
    };
}

sections! {
    server: RawServer {
        /// `127.0.0.1:8080`.
        bind: String,
        /// `http://` + bind.
        public_url: String,
        /// `false`: the client IP is the peer address; `true`: the last `X-Forwarded-For` hop.
        trust_forwarded_for: bool,
    }
    database: RawDatabase {
        /// `sqlite://tessera.db`.
        url: String,
        /// `normal` (or `full`): SQLite's `synchronous` pragma.
        synchronous: String,
        /// `16`: PostgreSQL pool size per process (at least 1).
        max_connections: u32,
        /// `0`: PostgreSQL connections opened at start and kept (at most `max_connections`).
        min_connections: u32,
        /// `5s`: how long an operation waits for a PostgreSQL connection before `unavailable`.
        acquire_timeout: String,
        /// `5s`: PostgreSQL `statement_timeout` of every connection; `0s` turns it off.
        statement_timeout: String,
    }
    tokens: RawTokens {
        /// `ES256`.
        algorithm: String,
        /// `server.public_url`.
        issuer: String,
        /// `api`.
        audience: String,
        /// `at+jwt` (RFC 9068).
        typ: String,
        /// `15m`.
        access_ttl: String,
        /// `14d`.
        refresh_ttl: String,
        /// `7d`.
        idle_timeout: String,
        /// `10s`.
        reuse_grace: String,
        /// `60s`.
        leeway: String,
        /// `cookie` (or `body`).
        delivery: String,
    }
    cookie: RawCookie {
        /// `strict` (or `lax`).
        same_site: String,
        /// `true`.
        secure: bool,
    }
    cors: RawCors {
        /// `[]`.
        allowed_origins: Vec<String>,
    }
    signup: RawSignup {
        /// `true`.
        enabled: bool,
    }
    password: RawPassword {
        /// `8`.
        min_length: u32,
    }
    rate_limit: RawRateLimit {
        /// `10` failed logins per username per minute (3× per IP); `0` turns it off.
        login_per_minute: u32,
        /// `10` signups per IP per minute; `0` turns it off.
        signup_per_minute: u32,
        /// `600` refreshes per IP per minute; `0` turns it off.
        refresh_per_minute: u32,
    }
    redis: RawRedis {
        /// Unset.
        url: String,
        /// `tessera:rl`.
        key_prefix: String,
    }
    keys: RawKeys {
        /// `30d`.
        rotation_period: String,
        /// `5m`.
        jwks_max_age: String,
        /// `tessera.master.key`.
        master_key_file: String,
    }
    log: RawLog {
        /// `text` (or `json`).
        format: String,
        /// `info` (an `EnvFilter` directive).
        level: String,
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
