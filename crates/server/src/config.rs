//! Configuration (STYLE §11): a serde `RawConfig` that refuses unknown keys, layered
//! defaults < TOML file < `TESSERA_<SECTION>__<KEY>` environment variables, then validated
//! once into the typed [`Config`]. Every refusal names the key and where it came from.
//!
//! Each default is documented on its field of the raw section and in
//! `docs/configuration.md`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_jose::{Algorithm, SecretString};

mod raw;
mod sections;
mod values;

use raw::RawConfig;
pub use raw::{DefaultValue, Key, KEYS};
use values::{origin_of, parse_base_url, parse_origin};
pub use values::{parse_duration, parse_redis_url};

pub use sections::{
    CookieConfig, CorsConfig, DatabaseConfig, Delivery, KeysConfig, LogConfig, LogFormat,
    MetricsConfig, PasswordConfig, RateLimitConfig, RedisConfig, RevocationsConfig, SameSite,
    ServerConfig, SessionsConfig, SignupConfig, Synchronous, TokensConfig,
};

/// Why the configuration was refused. The message names the key (or variable) at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the key and the line).
        message: String,
    },
    /// A `TESSERA_<SECTION>__<KEY>` variable names no setting.
    #[error(
        "unknown environment variable {0}: no setting of that name (see docs/configuration.md)"
    )]
    UnknownVariable(String),
    /// A setting has an invalid value.
    #[error("invalid value for {key}{origin}: {message}")]
    Invalid {
        /// `section.key`.
        key: &'static str,
        /// Where the value came from (` (from TESSERA_…)`, or empty).
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[tokens]`.
    pub tokens: TokensConfig,
    /// `[cookie]`.
    pub cookie: CookieConfig,
    /// `[cors]`.
    pub cors: CorsConfig,
    /// `[signup]`.
    pub signup: SignupConfig,
    /// `[password]`.
    pub password: PasswordConfig,
    /// `[rate_limit]`.
    pub rate_limit: RateLimitConfig,
    /// `[redis]`.
    pub redis: RedisConfig,
    /// `[keys]`.
    pub keys: KeysConfig,
    /// `[sessions]`.
    pub sessions: SessionsConfig,
    /// `[revocations]`.
    pub revocations: RevocationsConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[log]`.
    pub log: LogConfig,
}

impl Config {
    /// The defaults alone (no file, no environment).
    pub fn defaults() -> Config {
        match Config::build(RawConfig::default(), &Origins::default()) {
            Ok(c) => c,
            // The defaults are constants checked by the tests; this arm is unreachable.
            Err(e) => unreachable!("default configuration is invalid: {e}"),
        }
    }

    /// Loads the configuration: defaults, then the TOML `file` if given, then the
    /// `TESSERA_<SECTION>__<KEY>` variables of `env` (pass `std::env::vars()`; tests pass
    /// their own). `TESSERA_ADMIN_TOKEN`, `TESSERA_MASTER_KEY` and other variables without
    /// a double underscore are not settings and are ignored here.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Config::from_parts(file, text.as_deref(), env)
    }

    /// [`load`](Self::load) with the file's text given (`path` only names it in errors).
    pub fn from_parts(
        path: Option<&Path>,
        text: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut raw = match text {
            Some(text) => toml::from_str::<RawConfig>(text).map_err(|e| ConfigError::File {
                path: path.map(Path::to_owned).unwrap_or_default(),
                message: e.to_string(),
            })?,
            None => RawConfig::default(),
        };
        let mut origins = Origins::default();
        let mut vars: Vec<(String, String)> = env.into_iter().collect();
        vars.sort(); // deterministic: the first unknown variable is always the same one
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix("TESSERA_") else {
                continue;
            };
            let Some((section, key)) = rest.split_once("__") else {
                continue; // TESSERA_ADMIN_TOKEN, TESSERA_MASTER_KEY, …: not settings
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            match raw.set_from_env(&section, &key, &value) {
                Ok(Some(k)) => {
                    origins.0.insert(k, name);
                }
                Ok(None) => return Err(ConfigError::UnknownVariable(name)),
                Err(message) => {
                    let key = KEYS
                        .iter()
                        .map(|k| k.name)
                        .find(|k| *k == format!("{section}.{key}"))
                        .unwrap_or("?");
                    return Err(ConfigError::Invalid {
                        key,
                        origin: format!(" (from {name})"),
                        message,
                    });
                }
            }
        }
        Config::build(raw, &origins)
    }

    fn build(mut raw: RawConfig, origins: &Origins) -> Result<Config, ConfigError> {
        let b = Builder { origins };
        // Every key left unset takes its default from the one table (`raw::KEYS`).
        raw.fill_defaults().map_err(|key| ConfigError::Invalid {
            key,
            origin: " (its default)".into(),
            message: "the built-in default does not parse".into(),
        })?;
        let bind: SocketAddr = b
            .take("server.bind", raw.server.bind)?
            .parse()
            .map_err(|_| b.invalid("server.bind", "expected an address such as 127.0.0.1:8080"))?;
        let public_url_given = raw.server.public_url.is_some();
        let public_url = match raw.server.public_url {
            Some(u) => parse_base_url(&u).map_err(|m| b.invalid("server.public_url", m))?,
            None => format!("http://{bind}"),
        };
        let issuer = raw.tokens.issuer.unwrap_or_else(|| public_url.clone());
        if issuer.is_empty() {
            return Err(b.invalid("tokens.issuer", "must not be empty"));
        }
        let algorithm: Algorithm = b
            .take("tokens.algorithm", raw.tokens.algorithm)?
            .parse()
            .map_err(|_| {
                b.invalid(
                    "tokens.algorithm",
                    "expected a JWS algorithm such as ES256, EdDSA, RS256",
                )
            })?;
        let audience = b.take("tokens.audience", raw.tokens.audience)?;
        if audience.is_empty() {
            return Err(b.invalid("tokens.audience", "must not be empty"));
        }
        let typ = b.take("tokens.typ", raw.tokens.typ)?;
        let mut allowed_origins = vec![origin_of(&public_url)];
        if !public_url_given && bind.ip().is_loopback() {
            // Zero-config: the default public URL names the loopback address, but a newcomer
            // types `localhost` in the browser, whose `Origin` CSRF would refuse. Only this
            // machine can reach a loopback listener, so its other name adds no attacker.
            allowed_origins.push(format!("http://localhost:{}", bind.port()));
        }
        for o in b.take("cors.allowed_origins", raw.cors.allowed_origins)? {
            let o = parse_origin(&o).map_err(|m| b.invalid("cors.allowed_origins", m))?;
            if !allowed_origins.contains(&o) {
                allowed_origins.push(o);
            }
        }
        let level = log_filter(&b.take("log.level", raw.log.level)?);
        env_filter(&level).map_err(|e| b.invalid("log.level", format!("not a log filter: {e}")))?;
        let master_key_file = b.take("keys.master_key_file", raw.keys.master_key_file)?;
        if master_key_file.is_empty() {
            return Err(b.invalid("keys.master_key_file", "must not be empty"));
        }
        let database_url = b.take("database.url", raw.database.url)?;
        tessera_store::Backend::of_url(&database_url)
            .map_err(|_| b.invalid("database.url", "expected sqlite://PATH or postgres://…"))?;
        let max_connections =
            match b.take("database.max_connections", raw.database.max_connections)? {
                0 => return Err(b.invalid("database.max_connections", "must be at least 1")),
                n => n,
            };
        let min_connections = b.take("database.min_connections", raw.database.min_connections)?;
        if min_connections > max_connections {
            return Err(b.invalid(
                "database.min_connections",
                format!("must not exceed database.max_connections ({max_connections})"),
            ));
        }
        let redis_url = match raw.redis.url {
            Some(url) => {
                parse_redis_url(&url).map_err(|m| b.invalid("redis.url", m))?;
                Some(url)
            }
            None => None,
        };
        // A guessable credential would open what it guards to anyone.
        let revocations_token = b.secret("revocations.token", raw.revocations.token)?;
        let metrics_token = b.secret("metrics.token", raw.metrics.token)?;
        let key_prefix = b.take("redis.key_prefix", raw.redis.key_prefix)?;
        if key_prefix.is_empty()
            || key_prefix.len() > 64
            || key_prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(b.invalid(
                "redis.key_prefix",
                "must be 1 to 64 characters without spaces or control characters",
            ));
        }
        Ok(Config {
            server: ServerConfig {
                bind,
                public_url,
                trust_forwarded_for: b
                    .take("server.trust_forwarded_for", raw.server.trust_forwarded_for)?,
                header_timeout: b.positive("server.header_timeout", raw.server.header_timeout)?,
                request_timeout: b
                    .positive("server.request_timeout", raw.server.request_timeout)?,
                idle_timeout: b.positive("server.idle_timeout", raw.server.idle_timeout)?,
                max_connections: match b
                    .take("server.max_connections", raw.server.max_connections)?
                {
                    0 => return Err(b.invalid("server.max_connections", "must be at least 1")),
                    n => n,
                },
                shutdown_timeout: b
                    .positive("server.shutdown_timeout", raw.server.shutdown_timeout)?,
            },
            database: DatabaseConfig {
                url: database_url,
                synchronous: b.choice("database.synchronous", raw.database.synchronous)?,
                max_connections,
                min_connections,
                acquire_timeout: b
                    .positive("database.acquire_timeout", raw.database.acquire_timeout)?,
                statement_timeout: b
                    .duration("database.statement_timeout", raw.database.statement_timeout)?,
            },
            tokens: TokensConfig {
                algorithm,
                issuer,
                audience,
                typ,
                access_ttl: b.positive("tokens.access_ttl", raw.tokens.access_ttl)?,
                refresh_ttl: b.positive("tokens.refresh_ttl", raw.tokens.refresh_ttl)?,
                idle_timeout: b.positive("tokens.idle_timeout", raw.tokens.idle_timeout)?,
                reuse_grace: b.duration("tokens.reuse_grace", raw.tokens.reuse_grace)?,
                leeway: b.duration("tokens.leeway", raw.tokens.leeway)?,
                delivery: b.choice("tokens.delivery", raw.tokens.delivery)?,
            },
            cookie: CookieConfig {
                same_site: b.choice("cookie.same_site", raw.cookie.same_site)?,
                secure: b.take("cookie.secure", raw.cookie.secure)?,
            },
            cors: CorsConfig { allowed_origins },
            signup: SignupConfig {
                enabled: b.take("signup.enabled", raw.signup.enabled)?,
            },
            password: PasswordConfig {
                min_length: match b.take("password.min_length", raw.password.min_length)? {
                    0 => return Err(b.invalid("password.min_length", "must be at least 1")),
                    n => n as usize,
                },
                hash_queue_wait: b
                    .positive("password.hash_queue_wait", raw.password.hash_queue_wait)?,
            },
            rate_limit: RateLimitConfig {
                login_per_minute: b.take(
                    "rate_limit.login_per_minute",
                    raw.rate_limit.login_per_minute,
                )?,
                signup_per_minute: b.take(
                    "rate_limit.signup_per_minute",
                    raw.rate_limit.signup_per_minute,
                )?,
                refresh_per_minute: b.take(
                    "rate_limit.refresh_per_minute",
                    raw.rate_limit.refresh_per_minute,
                )?,
                login_success_per_minute: b.take(
                    "rate_limit.login_success_per_minute",
                    raw.rate_limit.login_success_per_minute,
                )?,
                admin_failures_per_minute: b.take(
                    "rate_limit.admin_failures_per_minute",
                    raw.rate_limit.admin_failures_per_minute,
                )?,
                ipv6_prefix: match b.take("rate_limit.ipv6_prefix", raw.rate_limit.ipv6_prefix)? {
                    n @ 32..=128 => n as u8,
                    _ => {
                        return Err(b.invalid(
                            "rate_limit.ipv6_prefix",
                            "must be a prefix length from 32 to 128",
                        ))
                    }
                },
            },
            redis: RedisConfig {
                url: redis_url,
                key_prefix,
            },
            keys: KeysConfig {
                rotation_period: b.positive("keys.rotation_period", raw.keys.rotation_period)?,
                jwks_max_age: b.duration("keys.jwks_max_age", raw.keys.jwks_max_age)?,
                master_key_file: PathBuf::from(master_key_file),
                allow_readable_master_key_file: b.take(
                    "keys.allow_readable_master_key_file",
                    raw.keys.allow_readable_master_key_file,
                )?,
            },
            sessions: SessionsConfig {
                max_per_user: match b.take("sessions.max_per_user", raw.sessions.max_per_user)? {
                    0 => return Err(b.invalid("sessions.max_per_user", "must be at least 1")),
                    n => n,
                },
            },
            revocations: RevocationsConfig {
                token: revocations_token,
            },
            metrics: MetricsConfig {
                token: metrics_token,
            },
            log: LogConfig {
                format: b.choice("log.format", raw.log.format)?,
                level,
            },
        })
    }
}

/// The shortest Bearer credential accepted in the configuration (and for
/// `TESSERA_ADMIN_TOKEN`): 32 characters, so none is guessable.
pub const MIN_SECRET_CHARS: usize = 32;

/// Which environment variable set which key, for error messages.
#[derive(Debug, Default)]
struct Origins(HashMap<&'static str, String>);

struct Builder<'a> {
    origins: &'a Origins,
}

impl Builder<'_> {
    fn invalid(&self, key: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key,
            origin: self
                .origins
                .0
                .get(key)
                .map(|v| format!(" (from {v})"))
                .unwrap_or_default(),
            message: message.into(),
        }
    }

    /// The value of a key that has a default (filled in by `fill_defaults`).
    fn take<T>(&self, key: &'static str, v: Option<T>) -> Result<T, ConfigError> {
        v.ok_or_else(|| self.invalid(key, "no value and no default"))
    }

    fn duration(&self, key: &'static str, v: Option<String>) -> Result<Duration, ConfigError> {
        parse_duration(&self.take(key, v)?).map_err(|m| self.invalid(key, m))
    }

    fn positive(&self, key: &'static str, v: Option<String>) -> Result<Duration, ConfigError> {
        let d = self.duration(key, v)?;
        if d.is_zero() {
            return Err(self.invalid(key, "must be longer than 0s"));
        }
        Ok(d)
    }

    /// An optional Bearer credential: at least [`MIN_SECRET_CHARS`] characters.
    fn secret(
        &self,
        key: &'static str,
        v: Option<String>,
    ) -> Result<Option<SecretString>, ConfigError> {
        match v {
            Some(t) if t.chars().count() < MIN_SECRET_CHARS => Err(self.invalid(
                key,
                format!("must be at least {MIN_SECRET_CHARS} characters"),
            )),
            t => Ok(t.map(SecretString::new)),
        }
    }

    fn choice<T: Choice>(&self, key: &'static str, v: Option<String>) -> Result<T, ConfigError> {
        let text = self.take(key, v)?;
        T::parse(text.trim()).ok_or_else(|| self.invalid(key, format!("expected {}", T::EXPECTED)))
    }
}

/// A setting with a fixed set of values.
pub(crate) trait Choice: Sized {
    const EXPECTED: &'static str;
    fn parse(s: &str) -> Option<Self>;
}

/// `log.level` with each comma-separated directive trimmed and the empty ones dropped
/// (`"info, sqlx=warn"` → `"info,sqlx=warn"`). tracing-subscriber 0.3 reads a directive's
/// trimmed text but slices the untrimmed one with those positions, so white space before a
/// directive shifts every slice: the filter means something else, and a multi-byte
/// character after it panics (found by the `config` fuzz target). Trimmed, a directive
/// means what the operator wrote.
fn log_filter(level: &str) -> String {
    level
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// The `tracing` filter of a (trimmed) `log.level`. Field values in it (`span{field=value}`)
/// match as literal text: tracing-subscriber would otherwise compile each as a regular
/// expression into a full DFA, whose construction is exponential in the pattern (a
/// 600-byte filter took 80 s of CPU at start, found by the `config` fuzz target).
pub(crate) fn env_filter(
    level: &str,
) -> Result<tracing_subscriber::EnvFilter, tracing_subscriber::filter::ParseError> {
    tracing_subscriber::EnvFilter::builder()
        .with_regex(false)
        .parse(level)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::defaults();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.tokens.issuer, "http://127.0.0.1:8080");
        assert_eq!(
            c.cors.allowed_origins,
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(c.database.url, "sqlite://tessera.db");
        assert_eq!(
            (c.database.max_connections, c.database.min_connections),
            (16, 0)
        );
        assert_eq!(c.database.acquire_timeout, Duration::from_secs(5));
        assert_eq!(c.database.statement_timeout, Duration::from_secs(5));
        assert_eq!(c.password.hash_queue_wait, Duration::from_secs(2));
        assert_eq!(c.rate_limit.login_success_per_minute, 30);
        assert_eq!(c.rate_limit.admin_failures_per_minute, 10);
        assert_eq!(c.rate_limit.ipv6_prefix, 64);
        assert_eq!(c.sessions.max_per_user, 100);
        assert_eq!(KEYS.len(), 47);
        // Every `Value` default parses (fill_defaults would refuse to start otherwise).
        let mut raw = RawConfig::default();
        assert_eq!(raw.fill_defaults(), Ok(()));
    }

    #[test]
    fn slow_client_settings_are_checked() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let c = Config::defaults();
        assert_eq!(c.server.header_timeout, Duration::from_secs(10));
        assert_eq!(c.server.request_timeout, Duration::from_secs(30));
        assert_eq!(c.server.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.server.max_connections, 10_000);
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(10));
        let c = Config::load(
            None,
            env(&[
                ("TESSERA_SERVER__HEADER_TIMEOUT", "1s"),
                ("TESSERA_SERVER__REQUEST_TIMEOUT", "2s"),
                ("TESSERA_SERVER__IDLE_TIMEOUT", "3s"),
                ("TESSERA_SERVER__MAX_CONNECTIONS", "4"),
                ("TESSERA_SERVER__SHUTDOWN_TIMEOUT", "5s"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (
                c.server.header_timeout,
                c.server.request_timeout,
                c.server.idle_timeout,
                c.server.max_connections,
                c.server.shutdown_timeout,
            ),
            (
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3),
                4,
                Duration::from_secs(5),
            )
        );
        for (var, value, key) in [
            (
                "TESSERA_SERVER__HEADER_TIMEOUT",
                "0s",
                "server.header_timeout",
            ),
            (
                "TESSERA_SERVER__REQUEST_TIMEOUT",
                "0s",
                "server.request_timeout",
            ),
            ("TESSERA_SERVER__IDLE_TIMEOUT", "0s", "server.idle_timeout"),
            (
                "TESSERA_PASSWORD__HASH_QUEUE_WAIT",
                "0s",
                "password.hash_queue_wait",
            ),
            (
                "TESSERA_RATE_LIMIT__IPV6_PREFIX",
                "31",
                "rate_limit.ipv6_prefix",
            ),
            (
                "TESSERA_RATE_LIMIT__IPV6_PREFIX",
                "129",
                "rate_limit.ipv6_prefix",
            ),
            (
                "TESSERA_SERVER__SHUTDOWN_TIMEOUT",
                "0s",
                "server.shutdown_timeout",
            ),
            (
                "TESSERA_SERVER__HEADER_TIMEOUT",
                "soon",
                "server.header_timeout",
            ),
            (
                "TESSERA_SERVER__MAX_CONNECTIONS",
                "0",
                "server.max_connections",
            ),
            (
                "TESSERA_SERVER__MAX_CONNECTIONS",
                "-1",
                "server.max_connections",
            ),
        ] {
            let err = Config::load(None, env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{var}={value}: {err}");
        }
    }

    #[test]
    fn postgres_pool_settings_are_checked() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let c = Config::load(
            None,
            env(&[
                ("TESSERA_DATABASE__URL", "postgres://db/tessera"),
                ("TESSERA_DATABASE__MAX_CONNECTIONS", "4"),
                ("TESSERA_DATABASE__MIN_CONNECTIONS", "4"),
                ("TESSERA_DATABASE__ACQUIRE_TIMEOUT", "2s"),
                ("TESSERA_DATABASE__STATEMENT_TIMEOUT", "0s"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.database.max_connections, c.database.min_connections),
            (4, 4)
        );
        assert_eq!(c.database.acquire_timeout, Duration::from_secs(2));
        assert_eq!(c.database.statement_timeout, Duration::ZERO);

        for (pairs, key) in [
            (
                &[("TESSERA_DATABASE__MAX_CONNECTIONS", "0")][..],
                "database.max_connections",
            ),
            (
                &[("TESSERA_DATABASE__MIN_CONNECTIONS", "17")][..],
                "database.min_connections",
            ),
            (
                &[("TESSERA_DATABASE__ACQUIRE_TIMEOUT", "0s")][..],
                "database.acquire_timeout",
            ),
            (
                &[("TESSERA_DATABASE__STATEMENT_TIMEOUT", "soon")][..],
                "database.statement_timeout",
            ),
        ] {
            let err = Config::load(None, env(pairs)).unwrap_err().to_string();
            assert!(err.contains(key), "{pairs:?}: {err}");
        }
    }
}
