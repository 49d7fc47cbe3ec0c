//! The domain's settings: what the server's `tokens.*`, `password.*`, `keys.*` and
//! `sessions.*`
//! configuration means to the domain, in seconds and counts.

use tessera_jose::Algorithm;

use crate::keyring::KeyRingConfig;
use crate::password::PasswordParams;

/// Settings of the domain. The server builds them from its configuration
/// (`tessera_server::domain_settings`), where every default is defined.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Header `typ` of access tokens.
    pub typ: String,
    /// Signing algorithm of new keys.
    pub algorithm: Algorithm,
    /// Access-token lifetime, seconds.
    pub access_ttl: i64,
    /// Session absolute lifetime, seconds.
    pub refresh_ttl: i64,
    /// Session idle timeout, seconds.
    pub idle_timeout: i64,
    /// Live sessions per user (at least 1): a login beyond it revokes the user's least
    /// recently used sessions.
    pub max_sessions_per_user: u32,
    /// Reuse grace window, seconds (0 = off).
    pub reuse_grace: i64,
    /// Clock leeway when verifying access tokens, seconds.
    pub leeway: i64,
    /// Minimum password length, characters.
    pub min_password_len: usize,
    /// Argon2id cost.
    pub password_params: PasswordParams,
    /// Password hashes running at once.
    pub hash_concurrency: usize,
    /// Longest wait for a free hashing slot before a login or signup is refused as
    /// overloaded ([`crate::Failure::Overloaded`]).
    pub hash_queue_wait: std::time::Duration,
    /// Seconds a new signing key is published before it signs (see [`KeyRingConfig`]).
    pub key_prepublish: i64,
    /// Automatic signing-key rotation period, seconds; `None`: on demand only.
    pub key_rotation_period: Option<i64>,
}

impl Settings {
    /// How the key ring signs, verifies and rotates under these settings: retired keys
    /// stay published for the access-token lifetime plus leeway.
    pub fn key_ring_config(&self) -> KeyRingConfig {
        KeyRingConfig {
            algorithm: self.algorithm,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            typ: self.typ.clone(),
            leeway: u64::try_from(self.leeway).unwrap_or(0),
            prepublish: self.key_prepublish,
            retain: self.revocation_lifetime(),
            rotation_period: self.key_rotation_period,
        }
    }

    /// How long after a session's revocation one of its access tokens can still verify:
    /// the access-token lifetime plus the leeway.
    pub fn revocation_lifetime(&self) -> i64 {
        self.access_ttl.saturating_add(self.leeway)
    }
}
