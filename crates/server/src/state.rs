//! The state every handler shares: the domain service, the configuration and what is
//! derived from it once at start (cookie, admin-token digest, precomputed answers).

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderValue;
use tessera_jose::primitives::{constant_time_eq, sha256};
use tessera_jose::SecretString;
use tessera_tokens::{Auth, Clock, MasterKey, PasswordParams, Settings, Store};

use crate::config::{Config, MIN_SECRET_CHARS};
use crate::cookie::RefreshCookie;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::startup::StartError;

/// Shared application state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    auth: Arc<Auth>,
    config: Config,
    limiter: RateLimiter,
    metrics: Arc<Metrics>,
    /// SHA-256 of the admin token; `None` disables the admin API.
    admin_digest: Option<[u8; 32]>,
    /// SHA-256 of `revocations.token`; the feed also takes the admin token.
    revocations_digest: Option<[u8; 32]>,
    /// SHA-256 of `metrics.token`; `None` leaves `/metrics` open.
    metrics_digest: Option<[u8; 32]>,
    cookie: RefreshCookie,
    jwks_cache_control: HeaderValue,
    metadata: Bytes,
}

impl AppState {
    /// Builds the state: loads (or creates, on first start) the signing key from `store`,
    /// sealed under `master`. Tests pass a `ManualClock` and
    /// `PasswordParams::INSECURE_FOR_TESTS`; `serve` passes the system clock and OWASP.
    pub async fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: MasterKey,
        password_params: PasswordParams,
        admin_token: Option<SecretString>,
    ) -> Result<AppState, StartError> {
        let settings = domain_settings(&config, password_params);
        let auth = Auth::new(store, Arc::clone(&clock), &master, settings)
            .await
            .map_err(StartError::Keys)?;
        let admin_token = admin_token.filter(|t| !t.expose_secret().is_empty());
        if admin_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().chars().count() < MIN_SECRET_CHARS)
        {
            return Err(StartError::AdminTokenTooShort);
        }
        let admin_digest = admin_token.map(|t| sha256(t.expose_secret().as_bytes()));
        let jwks_cache_control = HeaderValue::from_str(&format!(
            "public, max-age={}",
            config.keys.jwks_max_age.as_secs()
        ))
        .unwrap_or(HeaderValue::from_static("public, max-age=300"));
        let limiter = match &config.redis.url {
            Some(url) => {
                RateLimiter::with_redis(url, &config.redis.key_prefix, &config.rate_limit, clock)
                    .map_err(|e| StartError::Redis(e.0))?
            }
            None => RateLimiter::local(&config.rate_limit, clock),
        };
        Ok(AppState(Arc::new(Inner {
            auth: Arc::new(auth),
            limiter,
            metrics: Arc::new(Metrics::default()),
            admin_digest,
            metrics_digest: config
                .metrics
                .token
                .as_ref()
                .map(|t| sha256(t.expose_secret().as_bytes())),
            revocations_digest: config
                .revocations
                .token
                .as_ref()
                .map(|t| sha256(t.expose_secret().as_bytes())),
            cookie: RefreshCookie::new(&config.cookie),
            jwks_cache_control,
            metadata: Bytes::from(metadata_json(&config)),
            config,
        })))
    }

    /// The domain service.
    pub fn auth(&self) -> &Arc<Auth> {
        &self.0.auth
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.0.limiter
    }

    /// This state with another rate limiter (tests: a Redis limiter under their own key
    /// prefix, see [`RateLimiter::with_redis`]).
    pub fn with_limiter(self, limiter: RateLimiter) -> AppState {
        let mut inner = Arc::try_unwrap(self.0).unwrap_or_else(|shared| (*shared).clone());
        inner.limiter = limiter;
        AppState(Arc::new(inner))
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// The refresh cookie of this configuration.
    pub fn cookie(&self) -> &RefreshCookie {
        &self.0.cookie
    }

    /// Every allowed browser origin (CSRF and CORS).
    pub fn allowed_origins(&self) -> &[String] {
        &self.0.config.cors.allowed_origins
    }

    /// `Cache-Control` of the JWKS.
    pub fn jwks_cache_control(&self) -> &HeaderValue {
        &self.0.jwks_cache_control
    }

    /// The RFC 8414 metadata document.
    pub fn metadata(&self) -> Bytes {
        self.0.metadata.clone()
    }

    /// 403 `forbidden` when the server has no admin token (no admin route works).
    pub fn admin_enabled(&self) -> Result<(), ApiError> {
        match self.0.admin_digest {
            Some(_) => Ok(()),
            None => Err(ApiError::forbidden(
                "admin API disabled: TESSERA_ADMIN_TOKEN is not set",
            )),
        }
    }

    /// Checks a presented admin token in constant time (digests are compared, so neither
    /// the content nor the length of the configured token leaks through timing).
    pub fn check_admin(&self, presented: &str) -> Result<(), ApiError> {
        if matches_digest(presented, self.0.admin_digest.as_ref()) {
            Ok(())
        } else {
            Err(ApiError::invalid_token("invalid admin token"))
        }
    }

    /// 403 `forbidden` when neither `revocations.token` nor an admin token is configured.
    pub fn feed_enabled(&self) -> Result<(), ApiError> {
        if self.0.revocations_digest.is_some() || self.0.admin_digest.is_some() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "revocation feed disabled: set revocations.token (or TESSERA_ADMIN_TOKEN)",
            ))
        }
    }

    /// Checks a presented credential of the revocation feed: the revocations token or the
    /// admin token, each compared in constant time.
    pub fn check_feed_reader(&self, presented: &str) -> Result<(), ApiError> {
        let feed = matches_digest(presented, self.0.revocations_digest.as_ref());
        let admin = matches_digest(presented, self.0.admin_digest.as_ref());
        if feed | admin {
            Ok(())
        } else {
            Err(ApiError::invalid_token("invalid revocations token"))
        }
    }
}

impl AppState {
    /// True when `/metrics` requires a token (`metrics.token`).
    pub fn metrics_protected(&self) -> bool {
        self.0.metrics_digest.is_some()
    }

    /// Checks a presented metrics token in constant time.
    pub fn check_metrics_reader(&self, presented: &str) -> Result<(), ApiError> {
        if matches_digest(presented, self.0.metrics_digest.as_ref()) {
            Ok(())
        } else {
            Err(ApiError::invalid_token("invalid metrics token"))
        }
    }
}

/// True when `presented` hashes to `expected` (constant-time on the digests).
fn matches_digest(presented: &str, expected: Option<&[u8; 32]>) -> bool {
    expected.is_some_and(|e| constant_time_eq(&sha256(presented.as_bytes()), e))
}

/// RFC 8414 authorization server metadata.
fn metadata_json(config: &Config) -> String {
    let base = &config.server.public_url;
    serde_json::json!({
        "issuer": config.tokens.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint": format!("{base}/oauth/introspect"),
        // The admin token as a Bearer token (not a registered client authentication method;
        // client credentials come with registered clients, not built yet).
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        // Resource servers poll it for revoked sessions (docs/resource-servers.md).
        "revocation_feed_endpoint": format!("{base}/v1/revocations"),
        // No authorization endpoint and no OAuth token endpoint yet: tokens come from
        // /v1/login and /v1/token/refresh.
        "response_types_supported": [],
        "grant_types_supported": [],
    })
    .to_string()
}

/// The domain settings `config` asks for (also used by the CLI's admin commands).
pub fn domain_settings(config: &Config, password_params: PasswordParams) -> Settings {
    let t = &config.tokens;
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    Settings {
        issuer: t.issuer.clone(),
        audience: t.audience.clone(),
        typ: t.typ.clone(),
        algorithm: t.algorithm,
        access_ttl: secs(t.access_ttl),
        refresh_ttl: secs(t.refresh_ttl),
        idle_timeout: secs(t.idle_timeout),
        max_sessions_per_user: config.sessions.max_per_user,
        reuse_grace: secs(t.reuse_grace),
        leeway: secs(t.leeway),
        min_password_len: config.password.min_length,
        password_params,
        // One Argon2 hash per core at most: logins queue instead of starving the runtime
        // or multiplying memory (19 MiB each with OWASP parameters).
        // One core stays free for request handling while logins hash (so Argon2id cannot
        // delay token verification); at least one hash runs.
        hash_concurrency: std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1).max(1)),
        hash_queue_wait: config.password.hash_queue_wait,
        // A new key is published for a JWKS max-age before it signs (clients' caches
        // know it), and for at least two maintenance periods (every replica knows it).
        key_prepublish: secs(config.keys.jwks_max_age)
            .max(2 * secs(crate::background::KEY_MAINTENANCE)),
        key_rotation_period: Some(secs(config.keys.rotation_period)),
    }
}
