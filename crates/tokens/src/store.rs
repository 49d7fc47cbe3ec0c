//! The storage boundary: one trait, implemented per database in `tessera-store`, and the
//! records that cross it. Every implementation passes the same conformance suite.

use async_trait::async_trait;

use crate::clock::UnixTime;

/// SHA-256 of a refresh token: the only form in which refresh tokens are stored.
pub type TokenHash = [u8; 32];

/// Storage failures, the same kinds on every backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (e.g. the username is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// The database cannot be reached or timed out; nothing was written.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug, corrupt data).
    #[error("database error: {0}")]
    Other(String),
}

/// A user account.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Opaque id (`sub` of access tokens).
    pub id: String,
    /// The display name ([`crate::Username::as_str`]; for accounts created before the
    /// RFC 8265 rules, the name exactly as given at signup).
    pub username: String,
    /// The lookup key ([`crate::Username::key`]); unique. For an account whose name could
    /// not be given the RFC 8265 key (see [`crate::normalize_usernames`]), the old key: the
    /// name lowercased.
    pub username_key: String,
    /// The confusable skeleton of the key ([`crate::Username::skeleton`]); unique among
    /// the rows that have one. `None` marks an account created before the RFC 8265 rules
    /// that could not be given them (its name breaks them, or collides with another's).
    pub username_skeleton: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: UnixTime,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Why a session was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The user logged out of this session.
    Logout,
    /// The user logged out everywhere, or revoked the session from another one.
    User,
    /// An administrator revoked it.
    Admin,
    /// A spent refresh token was presented after the grace window (RFC 9700 §4.14.2).
    Reuse,
    /// A newer login of the user went over the cap on live sessions per user, and this was
    /// the least recently used one.
    Evicted,
}

impl RevokeReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::User => "user",
            RevokeReason::Admin => "admin",
            RevokeReason::Reuse => "reuse",
            RevokeReason::Evicted => "evicted",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "logout" => RevokeReason::Logout,
            "user" => RevokeReason::User,
            "admin" => RevokeReason::Admin,
            "reuse" => RevokeReason::Reuse,
            "evicted" => RevokeReason::Evicted,
            _ => return None,
        })
    }
}

/// A session: one login on one device, owning a family of refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Opaque id (`sid` of access tokens).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// Login time.
    pub created_at: UnixTime,
    /// Last login or refresh.
    pub last_used_at: UnixTime,
    /// Absolute expiry (login + refresh TTL); never extended.
    pub expires_at: UnixTime,
    /// Sliding idle expiry: `min(expires_at, last_used_at + idle_timeout)`.
    pub idle_expires_at: UnixTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixTime>,
    /// Why it was revoked.
    pub revoke_reason: Option<RevokeReason>,
    /// Number of rotations so far.
    pub generation: i64,
    /// The client's `User-Agent` at login (truncated).
    pub user_agent: Option<String>,
    /// The client's IP address at login.
    pub ip: Option<String>,
}

impl SessionRecord {
    /// True when neither revoked nor expired at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && now < self.idle_expires_at
    }
}

/// The cap a new session must respect (see [`Store::create_capped_session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCap {
    /// Live sessions the user may have, the new one included (at least 1).
    pub max_live: u32,
    /// The `until` of the revocation records of the sessions the new one evicts.
    pub until: UnixTime,
}

impl SessionCap {
    /// Of a user's live sessions, least recently used first, the ones a new session evicts:
    /// all but the last `max_live - 1`.
    pub fn to_evict<'a>(&self, live_lru_first: &'a [String]) -> &'a [String] {
        let keep = usize::try_from(self.max_live.saturating_sub(1)).unwrap_or(usize::MAX);
        &live_lru_first[..live_lru_first.len().saturating_sub(keep)]
    }
}

/// One refresh-token rotation, computed by the domain and carried out atomically by the
/// store.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Hash of the presented token.
    pub presented: TokenHash,
    /// Hash of its successor, derived deterministically from the presented token.
    pub successor: TokenHash,
    /// The time of the request.
    pub now: UnixTime,
    /// Idle timeout in seconds (new `idle_expires_at` = `min(expires_at, now + idle)`).
    pub idle_timeout: i64,
    /// Grace window in seconds (0 = off): a token spent less than this long ago
    /// (`now < spent_at + grace`) converges on its successor instead of counting as reuse.
    pub grace: i64,
    /// When a reuse revokes the session: the `until` of its revocation record.
    pub revoke_until: UnixTime,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was live: it is now spent and its successor is live. The
    /// session as updated.
    Rotated(SessionRecord),
    /// The presented token was spent within the grace window: nothing changed; the
    /// successor (already stored) is the answer again.
    Grace(SessionRecord),
    /// The session is past its absolute or idle expiry.
    Expired,
    /// The session was revoked or logged out.
    Revoked,
    /// The token was spent before the grace window: the store revoked the whole session
    /// (reason `Reuse`) in the same transaction.
    Reused,
    /// No such token.
    Unknown,
}

/// A revocation record: the session's access tokens must be refused until `until` (after
/// which none of them can verify anyway). Written in the same statement as the revocation,
/// kept until `until` whatever happens to the session's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The session id.
    pub session_id: String,
    /// When it was revoked.
    pub revoked_at: UnixTime,
    /// When the last access token of it stops verifying: its `exp` plus the leeway.
    pub until: UnixTime,
}

/// A place in a store's revocation feed. Positions are the backend's own (SQLite: the
/// record's sequence number; PostgreSQL: a transaction-id horizon) and mean nothing in
/// another database, hence the feed's identity alongside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    /// The identity of the database's feed (random, fixed when the database was created).
    pub feed: String,
    /// Where to continue.
    pub position: u64,
}

/// One read of the revocation feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationPage {
    /// Live records (`until` after `now`) that may have committed since the position read
    /// from; every live record when reading from nothing or when `reset`. A record may
    /// appear in two consecutive pages.
    pub revocations: Vec<Revocation>,
    /// Where to read from next time.
    pub next: FeedPosition,
    /// The position read from could not be continued (another database's, or ahead of this
    /// one): the page holds every live record, and the reader must replace its set.
    pub reset: bool,
}

/// A signing key as stored: the private JWK sealed (AES-256-GCM) under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm name.
    pub alg: String,
    /// The public JWK JSON (empty for HMAC keys, which are never published).
    pub public_jwk: String,
    /// The sealed private JWK.
    pub private_sealed: Vec<u8>,
    /// Creation time.
    pub created_at: UnixTime,
    /// When it starts signing.
    pub activates_at: UnixTime,
    /// When it stopped signing, if it has.
    pub retired_at: Option<UnixTime>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A signing-key rotation (see [`Store::rotate_signing_key`]).
#[derive(Debug, Clone)]
pub struct KeyRotation {
    /// The new key; it starts signing at its `activates_at`.
    pub key: StoredKey,
    /// The kid of the newest key the caller saw, `None` when it saw none.
    pub expected_newest: Option<String>,
}

/// Persistence for users, sessions, refresh tokens and signing keys.
///
/// Implementations must make [`rotate_refresh`](Store::rotate_refresh) atomic: two
/// concurrent calls with the same presented token never both see it live.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a user; `Conflict` when `username_key` or `username_skeleton` exists.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// The users without a `username_skeleton`, oldest first.
    async fn users_without_skeleton(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Gives user `id`, if it still has no skeleton, the lookup key `key` and the skeleton
    /// `skeleton`: `Ok(true)` when it did, `Ok(false)` when the user is gone or already has
    /// one, `Conflict` when another user has that key or skeleton.
    async fn set_username_key(
        &self,
        id: &str,
        key: &str,
        skeleton: &str,
    ) -> Result<bool, StoreError>;
    /// Finds a user by lookup key.
    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Finds a user by id.
    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// All users, oldest first.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Creates a session and its first refresh token, atomically.
    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &TokenHash,
    ) -> Result<(), StoreError>;
    /// Creates a session and its first refresh token like
    /// [`create_session`](Store::create_session) and, in the same transaction, revokes
    /// (reason [`RevokeReason::Evicted`], each with its revocation record) the user's least
    /// recently used live sessions (live at the new session's `created_at`; oldest
    /// `last_used_at` first, then oldest `created_at`) so that at most `cap.max_live` stay
    /// live, the new one included. Concurrent calls for one user never leave more than
    /// `cap.max_live` live. Returns the ids of the sessions revoked.
    async fn create_capped_session(
        &self,
        session: &SessionRecord,
        token: &TokenHash,
        cap: &SessionCap,
    ) -> Result<Vec<String>, StoreError>;
    /// Spends a refresh token and stores its successor, atomically (see [`RotateOutcome`]).
    async fn rotate_refresh(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError>;
    /// The session owning a refresh token (live or spent), if any.
    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// A session by id.
    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Live sessions (not revoked, not expired at `now`) of one user or of everyone,
    /// most recently used first.
    async fn list_sessions(
        &self,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Revokes one session and writes its revocation record (refuse its access tokens until
    /// `until`), atomically; true when it was not revoked before (nothing is written then).
    async fn revoke_session(
        &self,
        id: &str,
        now: UnixTime,
        reason: RevokeReason,
        until: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Revokes every unrevoked session of a user, each with its revocation record, atomically;
    /// returns how many.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        now: UnixTime,
        reason: RevokeReason,
        until: UnixTime,
    ) -> Result<u64, StoreError>;
    /// Reads the revocation feed from `since` (every live record when `None`). A reader that
    /// always passes the last [`RevocationPage::next`] it got never misses a record, in
    /// whatever order concurrent revocations commit (see each backend).
    async fn revocation_feed(
        &self,
        since: Option<&FeedPosition>,
        now: UnixTime,
    ) -> Result<RevocationPage, StoreError>;
    /// Deletes sessions (and their refresh tokens) whose absolute or idle expiry is before
    /// `before`, revoked sessions revoked before `before`, and revocation records whose
    /// `until` is before `before`. Returns sessions deleted.
    async fn purge(&self, before: UnixTime) -> Result<u64, StoreError>;

    /// Stores a new signing key.
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// All stored signing keys, oldest first.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// A key rotation, atomically and only once across replicas: when the newest stored key
    /// (latest `created_at`, then latest inserted) is still `rotation.expected_newest`
    /// (`None`: no key is stored), stores `rotation.key` and sets `retired_at` to
    /// `rotation.key.activates_at` on every key not retired yet; returns false, changing
    /// nothing, when another rotation came first.
    async fn rotate_signing_key(&self, rotation: &KeyRotation) -> Result<bool, StoreError>;
    /// Deletes the keys retired before `before`; returns how many.
    async fn delete_retired_keys(&self, before: UnixTime) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::SessionCap;

    #[test]
    fn a_new_session_evicts_all_but_the_most_recent_max_minus_one() {
        let live: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let evict = |max_live| SessionCap { max_live, until: 0 }.to_evict(&live).to_vec();
        assert_eq!(evict(1), ["a", "b", "c", "d"]);
        assert_eq!(evict(3), ["a", "b"]);
        assert!(evict(5).is_empty());
        assert!(evict(100).is_empty());
        // 0 is refused by the configuration; here it means 1, never a panic.
        assert_eq!(evict(0), ["a", "b", "c", "d"]);
    }
}
