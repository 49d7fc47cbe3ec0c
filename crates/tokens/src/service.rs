//! The domain operations, one function each: signup, login, refresh, logout, sessions,
//! admin revocation, access-token verification and introspection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tessera_jose::{Algorithm, SecretString};

use crate::access::{AccessClaims, AccessError};
use crate::clock::{Clock, UnixTime};
use crate::ids::new_id;
use crate::keyring::{KeyRing, KeyRingConfig, KeyRingError, Maintenance};
use crate::master::MasterKey;
use crate::password::{PasswordError, PasswordHasher, PasswordParams};
use crate::refresh::{RefreshToken, SuccessorKey};
use crate::revocation::RevocationCache;
use crate::store::{
    RevokeReason, RotateOutcome, Rotation, SessionRecord, Store, StoreError, UserRecord,
};

/// Longest accepted username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest accepted password, in bytes (Argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest stored `User-Agent`, in bytes.
const MAX_USER_AGENT: usize = 256;

/// Settings of the domain (SPEC §4's `tokens.*`, `password.*`).
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
    /// Seconds a new signing key is published before it signs (see [`KeyRingConfig`]).
    pub key_prepublish: i64,
    /// Automatic signing-key rotation period, seconds; `None`: on demand only.
    pub key_rotation_period: Option<i64>,
}

impl Settings {
    /// SPEC §4 defaults for `issuer`.
    pub fn with_defaults(issuer: impl Into<String>) -> Settings {
        Settings {
            issuer: issuer.into(),
            audience: "api".into(),
            typ: "at+jwt".into(),
            algorithm: Algorithm::ES256,
            access_ttl: 15 * 60,
            refresh_ttl: 14 * 86_400,
            idle_timeout: 7 * 86_400,
            reuse_grace: 10,
            leeway: 60,
            min_password_len: 8,
            password_params: PasswordParams::OWASP,
            hash_concurrency: 1,
            key_prepublish: 5 * 60,
            key_rotation_period: Some(30 * 86_400),
        }
    }

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
            retain: self.access_ttl.saturating_add(self.leeway),
            rotation_period: self.key_rotation_period,
        }
    }
}

/// A failure that is not the caller's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The database is unreachable; nothing was written (`unavailable`, 503).
    #[error("the database is unavailable")]
    Unavailable,
    /// A bug or corrupt data (500); details are logged, not shown.
    #[error("internal error")]
    Internal,
}

/// Rate limit of the "database unavailable" warning.
static UNAVAILABLE_LOG: LogThrottle = LogThrottle::new(10);

/// Lets one log line through per `every` seconds of monotonic time, counting the others.
struct LogThrottle {
    every: u64,
    /// Seconds since `START` (plus one, so 0 means never) of the last line let through.
    last: AtomicU64,
    suppressed: AtomicU64,
}

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

impl LogThrottle {
    const fn new(every: u64) -> LogThrottle {
        LogThrottle {
            every,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines suppressed since the last one)` when this one may be logged.
    fn admit(&self) -> Option<u64> {
        let now = START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs()
            + 1;
        let last = self.last.load(Ordering::Relaxed);
        if (last == 0 || now >= last + self.every)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => {
                // During an outage every request fails this way: one warning per interval
                // (with how many were not logged), the rest at debug level.
                match UNAVAILABLE_LOG.admit() {
                    Some(suppressed) => tracing::warn!(
                        error = %msg,
                        suppressed,
                        "database unavailable (further failures within 10 s are logged at debug level)"
                    ),
                    None => tracing::debug!(error = %msg, "database unavailable"),
                }
                Failure::Unavailable
            }
            other => {
                tracing::error!(error = %other, "store error");
                Failure::Internal
            }
        }
    }
}

impl From<PasswordError> for Failure {
    fn from(e: PasswordError) -> Self {
        tracing::error!(error = %e, "password hashing failed");
        Failure::Internal
    }
}

impl From<tessera_jose::Error> for Failure {
    fn from(e: tessera_jose::Error) -> Self {
        tracing::error!(error = %e, "crypto error");
        Failure::Internal
    }
}

/// Why signup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignupError {
    /// Username empty, too long, with control characters or surrounding spaces.
    #[error("{0}")]
    InvalidUsername(&'static str),
    /// Password over [`MAX_PASSWORD_BYTES`].
    #[error("password is too long")]
    PasswordTooLong,
    /// Password shorter than the minimum.
    #[error("password must be at least {0} characters")]
    WeakPassword(usize),
    /// The username exists.
    #[error("username is taken")]
    UsernameTaken,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: the same answer and the same time for both.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why refresh failed. Every variant but `Failure` means: log in again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The session passed its absolute or idle expiry (`refresh_token_expired`).
    #[error("the refresh token has expired")]
    Expired,
    /// The session was revoked or logged out (`refresh_token_revoked`).
    #[error("the refresh token was revoked")]
    Revoked,
    /// A spent token came back after the grace window; the session is now revoked
    /// (`refresh_token_reused`).
    #[error("the refresh token was already used; the session is revoked")]
    Reused,
    /// Unknown or malformed (`invalid_refresh_token`).
    #[error("unknown refresh token")]
    Unknown,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why a session operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such live session (of this user).
    #[error("no such session")]
    NotFound,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Where a login or refresh comes from, kept on the session for the user's session list.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
}

/// A new access token and refresh token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The signed access token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The refresh token (deliver in a cookie or the body, never both).
    pub refresh_token: RefreshToken,
    /// Seconds until the refresh token expires (the session's absolute or idle expiry).
    pub refresh_expires_in: i64,
    /// The session id (`sid`).
    pub session_id: String,
    /// The user id (`sub`).
    pub user_id: String,
}

/// RFC 7662 introspection result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// Not a live token of ours.
    Inactive,
    /// A valid access token.
    Access(AccessClaims),
    /// A live refresh token of this session.
    Refresh(SessionRecord),
}

/// The domain service: everything the server and the CLI do goes through here.
pub struct Auth {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: KeyRing,
    passwords: PasswordHasher,
    successor_key: SuccessorKey,
    revoked: RevocationCache,
    settings: Settings,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("settings", &self.settings)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Checks a username: 1–64 characters, no control characters, no surrounding spaces.
pub fn check_username(username: &str) -> Result<(), SignupError> {
    let n = username.chars().count();
    if n == 0 {
        return Err(SignupError::InvalidUsername("username is empty"));
    }
    if n > MAX_USERNAME_CHARS {
        return Err(SignupError::InvalidUsername(
            "username is longer than 64 characters",
        ));
    }
    if username.chars().any(char::is_control) {
        return Err(SignupError::InvalidUsername(
            "username contains control characters",
        ));
    }
    if username.trim() != username {
        return Err(SignupError::InvalidUsername(
            "username starts or ends with spaces",
        ));
    }
    Ok(())
}

/// The lookup key of a username: case-insensitive.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

fn truncate(s: Option<String>, max: usize) -> Option<String> {
    s.map(|mut s| {
        if s.len() > max {
            let mut cut = max;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        s
    })
}

/// Creates a user without a running [`Auth`] (the `tessera users add` command uses it):
/// checks the username and password rules, hashes, stores. Returns the new id.
pub async fn create_user(
    store: &dyn Store,
    passwords: &PasswordHasher,
    min_password_len: usize,
    username: &str,
    password: SecretString,
    now: UnixTime,
) -> Result<String, SignupError> {
    check_username(username)?;
    let pw = password.expose_secret();
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(SignupError::PasswordTooLong);
    }
    if pw.chars().count() < min_password_len {
        return Err(SignupError::WeakPassword(min_password_len));
    }
    let password_hash = passwords.hash(password).await.map_err(Failure::from)?;
    let user = UserRecord {
        id: new_id("usr").map_err(Failure::from)?,
        username: username.to_owned(),
        username_key: username_key(username),
        password_hash,
        created_at: now,
    };
    match store.create_user(&user).await {
        Ok(()) => Ok(user.id),
        Err(StoreError::Conflict(_)) => Err(SignupError::UsernameTaken),
        Err(e) => Err(Failure::from(e).into()),
    }
}

impl Auth {
    /// Builds the service: loads (or creates) the signing keys.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: &MasterKey,
        settings: Settings,
    ) -> Result<Auth, KeyRingError> {
        let keys = KeyRing::load(
            store.as_ref(),
            master,
            settings.key_ring_config(),
            clock.now(),
        )
        .await?;
        Ok(Auth {
            passwords: PasswordHasher::new(settings.password_params, settings.hash_concurrency),
            successor_key: SuccessorKey(master.derive("tessera/refresh-successor/v1")),
            revoked: RevocationCache::default(),
            store,
            clock,
            keys,
            settings,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The key ring (JWKS, current key).
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current time.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Creates a user; returns its id.
    pub async fn signup(
        &self,
        username: &str,
        password: SecretString,
    ) -> Result<String, SignupError> {
        create_user(
            self.store.as_ref(),
            &self.passwords,
            self.settings.min_password_len,
            username,
            password,
            self.now(),
        )
        .await
    }

    /// Checks credentials and opens a session. Unknown users cost the same time as wrong
    /// passwords (a dummy hash is verified).
    pub async fn login(
        &self,
        username: &str,
        password: SecretString,
        client: ClientInfo,
    ) -> Result<Issued, LoginError> {
        let user = if password.expose_secret().len() > MAX_PASSWORD_BYTES {
            None
        } else {
            self.store
                .user_by_username(&username_key(username))
                .await
                .map_err(Failure::from)?
        };
        let ok = self
            .passwords
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await
            .map_err(Failure::from)?;
        let user = match (ok, user) {
            (true, Some(u)) => u,
            _ => return Err(LoginError::InvalidCredentials),
        };
        let now = self.now();
        let expires_at = now + self.settings.refresh_ttl;
        let session = SessionRecord {
            id: new_id("ses").map_err(Failure::from)?,
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            expires_at,
            idle_expires_at: expires_at.min(now + self.settings.idle_timeout),
            revoked_at: None,
            revoke_reason: None,
            generation: 0,
            user_agent: truncate(client.user_agent, MAX_USER_AGENT),
            ip: client.ip,
        };
        let token = RefreshToken::generate().map_err(Failure::from)?;
        self.store
            .create_session(&session, &token.hash())
            .await
            .map_err(Failure::from)?;
        self.issue(&session, token, now)
            .map_err(LoginError::Failure)
    }

    fn issue(
        &self,
        session: &SessionRecord,
        refresh: RefreshToken,
        now: UnixTime,
    ) -> Result<Issued, Failure> {
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: session.user_id.clone(),
            aud: self.settings.audience.clone(),
            exp: now + self.settings.access_ttl,
            iat: now,
            nbf: now,
            jti: new_id("at")?,
            sid: session.id.clone(),
            scope: None,
            client_id: None,
        };
        Ok(Issued {
            access_token: self.keys.sign(&claims)?,
            expires_in: self.settings.access_ttl,
            refresh_token: refresh,
            refresh_expires_in: (session.expires_at.min(session.idle_expires_at) - now).max(0),
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
        })
    }

    /// Rotates a refresh token: spends it and returns a new pair. A token spent less than
    /// the grace window ago gets the same successor again; one spent earlier revokes its
    /// session (RFC 9700 §4.14.2).
    pub async fn refresh(&self, presented: &str) -> Result<Issued, RefreshError> {
        let token = RefreshToken::parse(presented).ok_or(RefreshError::Unknown)?;
        let successor = token.successor(&self.successor_key);
        let now = self.now();
        let rotation = Rotation {
            presented: token.hash(),
            successor: successor.hash(),
            now,
            idle_timeout: self.settings.idle_timeout,
            grace: self.settings.reuse_grace,
        };
        match self
            .store
            .rotate_refresh(&rotation)
            .await
            .map_err(Failure::from)?
        {
            RotateOutcome::Rotated(s) | RotateOutcome::Grace(s) => {
                Ok(self.issue(&s, successor, now)?)
            }
            RotateOutcome::Expired => Err(RefreshError::Expired),
            RotateOutcome::Revoked => Err(RefreshError::Revoked),
            RotateOutcome::Unknown => Err(RefreshError::Unknown),
            RotateOutcome::Reused => {
                tracing::warn!("refresh token reuse detected; session revoked");
                if let Ok(Some(s)) = self.store.session_by_token(&token.hash()).await {
                    self.note_revoked(s.id, now);
                }
                Err(RefreshError::Reused)
            }
        }
    }

    fn note_revoked(&self, sid: String, now: UnixTime) {
        self.revoked
            .insert(sid, now + self.settings.access_ttl + self.settings.leeway);
    }

    /// Revokes the session of a refresh token. Unknown tokens are ignored (logging out
    /// twice is not an error).
    pub async fn logout(&self, presented: &str) -> Result<(), Failure> {
        let Some(token) = RefreshToken::parse(presented) else {
            return Ok(());
        };
        if let Some(s) = self.store.session_by_token(&token.hash()).await? {
            let now = self.now();
            self.store
                .revoke_session(&s.id, now, RevokeReason::Logout)
                .await?;
            self.note_revoked(s.id, now);
        }
        Ok(())
    }

    /// Revokes every session of a user (logout everywhere, or an admin's force-expiry).
    pub async fn revoke_user(&self, user_id: &str, reason: RevokeReason) -> Result<u64, Failure> {
        let now = self.now();
        let live = self.store.list_sessions(Some(user_id), now).await?;
        let n = self
            .store
            .revoke_user_sessions(user_id, now, reason)
            .await?;
        for s in live {
            self.note_revoked(s.id, now);
        }
        Ok(n)
    }

    /// Admin: force-expires all of a user's refresh tokens; `NotFound` for unknown users.
    pub async fn admin_revoke_user(&self, user_id: &str) -> Result<u64, SessionError> {
        if self
            .store
            .user_by_id(user_id)
            .await
            .map_err(Failure::from)?
            .is_none()
        {
            return Err(SessionError::NotFound);
        }
        Ok(self.revoke_user(user_id, RevokeReason::Admin).await?)
    }

    /// The user's live sessions, most recently used first.
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, Failure> {
        Ok(self.store.list_sessions(Some(user_id), self.now()).await?)
    }

    /// Revokes one of the user's own live sessions.
    pub async fn revoke_own_session(&self, user_id: &str, sid: &str) -> Result<(), SessionError> {
        let now = self.now();
        match self.store.session(sid).await.map_err(Failure::from)? {
            Some(s) if s.user_id == user_id && s.is_live(now) => {
                self.store
                    .revoke_session(sid, now, RevokeReason::User)
                    .await
                    .map_err(Failure::from)?;
                self.note_revoked(s.id, now);
                Ok(())
            }
            _ => Err(SessionError::NotFound),
        }
    }

    /// Verifies an access token without the database: signature, claims, and the
    /// revocation cache.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, AccessError> {
        let claims = self.keys.verify(token, self.now())?;
        if self.revoked.is_revoked(&claims.sid) {
            return Err(AccessError::Revoked);
        }
        Ok(claims)
    }

    /// Reads revocations made by other processes into the cache.
    pub async fn sync_revocations(&self) -> Result<usize, Failure> {
        let lifetime = self.settings.access_ttl + self.settings.leeway;
        Ok(self
            .revoked
            .sync(self.store.as_ref(), self.now(), lifetime)
            .await?)
    }

    /// Signing-key upkeep (see [`KeyRing::maintain`]): reload, rotate when due, delete
    /// expired keys.
    pub async fn maintain_keys(&self) -> Result<Maintenance, KeyRingError> {
        self.keys.maintain(self.store.as_ref(), self.now()).await
    }

    /// Deletes sessions expired or revoked more than `retention` seconds ago.
    pub async fn purge(&self, retention: i64) -> Result<u64, Failure> {
        Ok(self.store.purge(self.now() - retention).await?)
    }

    /// RFC 7662: what a token is, if it is live.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, Failure> {
        if let Some(rt) = RefreshToken::parse(token) {
            let now = self.now();
            // A spent token is not active even inside the grace window.
            return Ok(match self.store.session_by_token(&rt.hash()).await? {
                Some(s) if s.is_live(now) && self.is_current_token(&s, &rt).await? => {
                    Introspection::Refresh(s)
                }
                _ => Introspection::Inactive,
            });
        }
        Ok(match self.verify_access(token) {
            Ok(c) => Introspection::Access(c),
            Err(_) => Introspection::Inactive,
        })
    }

    async fn is_current_token(
        &self,
        s: &SessionRecord,
        rt: &RefreshToken,
    ) -> Result<bool, Failure> {
        // The live token of a session is the one whose successor is not stored yet.
        let successor = rt.successor(&self.successor_key);
        Ok(self
            .store
            .session_by_token(&successor.hash())
            .await?
            .is_none()
            && s.revoked_at.is_none())
    }

    /// RFC 7009: revokes the session of a refresh or access token; unknown tokens are
    /// ignored.
    pub async fn revoke_token(&self, token: &str) -> Result<(), Failure> {
        if RefreshToken::parse(token).is_some() {
            return self.logout(token).await;
        }
        if let Ok(c) = self.keys.verify(token, self.now()) {
            let now = self.now();
            self.store
                .revoke_session(&c.sid, now, RevokeReason::Logout)
                .await?;
            self.note_revoked(c.sid, now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LogThrottle;

    #[test]
    fn log_throttle_lets_one_line_through_per_interval_and_counts_the_rest() {
        let hourly = LogThrottle::new(3600);
        assert_eq!(hourly.admit(), Some(0));
        assert_eq!(hourly.admit(), None);
        assert_eq!(hourly.admit(), None);
        assert_eq!(
            hourly.suppressed.load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        // An interval of zero lets every line through, reporting what was held back before.
        let always = LogThrottle::new(0);
        assert_eq!(always.admit(), Some(0));
        assert_eq!(always.admit(), Some(0));
    }
}
