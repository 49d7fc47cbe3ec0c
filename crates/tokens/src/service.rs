//! [`Auth`], the domain service: one function per operation (signup, login, refresh,
//! logout, sessions, revocation, access-token verification, introspection), each with its
//! own error type (`crate::error`). Everything the server and the CLI do goes through here.

use std::sync::Arc;

use tessera_jose::SecretString;

use crate::access::{AccessClaims, AccessError};
use crate::clock::{Clock, UnixTime};
use crate::error::{Failure, LoginError, RefreshError, SessionError, SignupError};
use crate::feed::{decode_cursor, encode_cursor, FeedAnswer, FeedError};
use crate::ids::{new_id, SessionId, UserId};
use crate::issued::{ClientInfo, Introspection, Issued};
use crate::keyring::{KeyRing, KeyRingError, Maintenance};
use crate::master::MasterKey;
use crate::password::PasswordHasher;
use crate::refresh::{RefreshToken, SuccessorKey};
use crate::revocation::RevocationCache;
use crate::settings::Settings;
use crate::store::{
    RevokeReason, RotateOutcome, Rotation, SessionCap, SessionRecord, Store, StoreError, UserRecord,
};
use crate::username::{Username, MAX_USERNAME_CHARS};
use crate::users::{create_user, MAX_PASSWORD_BYTES};

/// Longest stored `User-Agent`, in bytes.
const MAX_USER_AGENT: usize = 256;

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
            passwords: PasswordHasher::new(settings.password_params, settings.hash_concurrency)
                .with_queue_wait(settings.hash_queue_wait),
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
        username: &Username,
        password: SecretString,
    ) -> Result<UserId, SignupError> {
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

    /// The account `typed` names: by its RFC 8265 key, so `ALICE` and full-width `ａｌｉｃｅ`
    /// find `alice`. Accounts that kept their old key (see [`crate::normalize_usernames`])
    /// are found by it first, as before the rules: only they can answer to it, and a name
    /// that breaks the new rules finds nothing else.
    async fn find_user(&self, typed: &str) -> Result<Option<UserRecord>, StoreError> {
        let name = Username::parse(typed).ok();
        let legacy = Username::legacy_key(typed);
        let plausible = (1..=MAX_USERNAME_CHARS).contains(&typed.chars().count());
        if plausible && name.as_ref().is_none_or(|n| n.key() != legacy) {
            if let Some(user) = self.store.user_by_username(&legacy).await? {
                if user.username_skeleton.is_none() {
                    return Ok(Some(user));
                }
            }
        }
        match name {
            Some(name) => self.store.user_by_username(name.key()).await,
            None => Ok(None),
        }
    }

    /// Checks credentials and opens a session. Unknown users cost the same time as wrong
    /// passwords (a dummy hash is verified).
    pub async fn login(
        &self,
        username: &str,
        password: SecretString,
        client: ClientInfo,
    ) -> Result<Issued, LoginError> {
        // An over-long password cannot match any account; it still pays for one hash
        // below, like every other failure.
        let user = if password.expose_secret().len() <= MAX_PASSWORD_BYTES {
            self.find_user(username).await.map_err(Failure::from)?
        } else {
            None
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
            id: SessionId::generate().map_err(Failure::from)?.into_string(),
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
        let until = self.revocation_until(now);
        let cap = SessionCap {
            max_live: self.settings.max_sessions_per_user,
            until,
        };
        let evicted = self
            .store
            .create_capped_session(&session, &token.hash(), &cap)
            .await
            .map_err(Failure::from)?;
        if !evicted.is_empty() {
            tracing::info!(
                user_id = %session.user_id,
                evicted = ?evicted,
                max_per_user = cap.max_live,
                "login over the session cap: least recently used sessions revoked"
            );
            for id in evicted {
                self.revoked.insert(id, until);
            }
        }
        self.issue(&session, token, now)
            .map_err(LoginError::Failure)
    }

    fn issue(
        &self,
        session: &SessionRecord,
        refresh: RefreshToken,
        now: UnixTime,
    ) -> Result<Issued, Failure> {
        // Never past the session's absolute expiry: a token outliving its session would
        // keep working after the session could no longer be refreshed.
        let exp = now
            .saturating_add(self.settings.access_ttl)
            .min(session.expires_at);
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: session.user_id.clone(),
            aud: self.settings.audience.clone(),
            exp,
            iat: now,
            nbf: now,
            jti: new_id("at")?,
            sid: session.id.clone(),
            scope: None,
            client_id: None,
        };
        Ok(Issued {
            access_token: self.keys.sign(&claims)?,
            expires_in: exp - now,
            refresh_token: refresh,
            refresh_expires_in: (session.expires_at.min(session.idle_expires_at) - now).max(0),
            session_id: SessionId::new(session.id.as_str()),
            user_id: UserId::new(session.user_id.as_str()),
        })
    }

    /// Rotates a refresh token: spends it and returns a new pair. A token spent less than
    /// the grace window ago gets the same successor again; one spent earlier revokes its
    /// session (RFC 9700 §4.14.2).
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<Issued, RefreshError> {
        let token = RefreshToken::parse(presented).ok_or(RefreshError::Unknown)?;
        let successor = token.successor(&self.successor_key);
        let now = self.now();
        let rotation = Rotation {
            presented: token.hash(),
            successor: successor.hash(),
            now,
            idle_timeout: self.settings.idle_timeout,
            grace: self.settings.reuse_grace,
            revoke_until: self.revocation_until(now),
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
                // A security event, whoever presented the token: the thief or the owner.
                match self.store.session_by_token(&token.hash()).await {
                    Ok(Some(s)) => {
                        tracing::warn!(
                            user_id = %s.user_id,
                            session_id = %s.id,
                            ip = client.ip.as_deref().unwrap_or("unknown"),
                            "refresh token reuse detected; session revoked"
                        );
                        self.note_revoked(SessionId::new(s.id), now);
                    }
                    _ => tracing::warn!(
                        ip = client.ip.as_deref().unwrap_or("unknown"),
                        "refresh token reuse detected; session revoked"
                    ),
                }
                Err(RefreshError::Reused)
            }
        }
    }

    /// Refuses the session's access tokens in this process at once (other processes learn
    /// of it from the store, see [`Auth::sync_revocations`]).
    fn note_revoked(&self, sid: SessionId, now: UnixTime) {
        self.revoked
            .insert(sid.into_string(), self.revocation_until(now));
    }

    /// The `until` of a revocation at `now`: the last access token issued before it expires
    /// by then (leeway included).
    fn revocation_until(&self, now: UnixTime) -> UnixTime {
        now.saturating_add(self.settings.revocation_lifetime())
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
                .revoke_session(&s.id, now, RevokeReason::Logout, self.revocation_until(now))
                .await?;
            self.note_revoked(SessionId::new(s.id), now);
        }
        Ok(())
    }

    /// Revokes every session of a user (logout everywhere, or an admin's force-expiry).
    pub async fn revoke_user(
        &self,
        user_id: &UserId,
        reason: RevokeReason,
    ) -> Result<u64, Failure> {
        let now = self.now();
        let live = self
            .store
            .list_sessions(Some(user_id.as_str()), now)
            .await?;
        let n = self
            .store
            .revoke_user_sessions(user_id.as_str(), now, reason, self.revocation_until(now))
            .await?;
        for s in live {
            self.note_revoked(SessionId::new(s.id), now);
        }
        Ok(n)
    }

    /// Admin: force-expires all of a user's refresh tokens; `NotFound` for unknown users.
    pub async fn admin_revoke_user(&self, user_id: &UserId) -> Result<u64, SessionError> {
        if self
            .store
            .user_by_id(user_id.as_str())
            .await
            .map_err(Failure::from)?
            .is_none()
        {
            return Err(SessionError::NotFound);
        }
        Ok(self.revoke_user(user_id, RevokeReason::Admin).await?)
    }

    /// The user's live sessions, most recently used first.
    pub async fn sessions(&self, user_id: &UserId) -> Result<Vec<SessionRecord>, Failure> {
        Ok(self
            .store
            .list_sessions(Some(user_id.as_str()), self.now())
            .await?)
    }

    /// Revokes one of the user's own live sessions.
    pub async fn revoke_own_session(
        &self,
        user_id: &UserId,
        sid: &SessionId,
    ) -> Result<(), SessionError> {
        let now = self.now();
        match self
            .store
            .session(sid.as_str())
            .await
            .map_err(Failure::from)?
        {
            Some(s) if s.user_id == user_id.as_str() && s.is_live(now) => {
                self.store
                    .revoke_session(
                        sid.as_str(),
                        now,
                        RevokeReason::User,
                        self.revocation_until(now),
                    )
                    .await
                    .map_err(Failure::from)?;
                self.note_revoked(sid.clone(), now);
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

    /// Reads revocations made by other processes (replicas, the CLI) into the cache.
    pub async fn sync_revocations(&self) -> Result<usize, Failure> {
        Ok(self.revoked.sync(self.store.as_ref(), self.now()).await?)
    }

    /// The revocation feed for resource servers, from `since` (a cursor of an earlier
    /// answer, made by any replica); everything live, with `reset`, without one.
    pub async fn revocation_feed(&self, since: Option<&str>) -> Result<FeedAnswer, FeedError> {
        let position = since.map(decode_cursor).transpose()?;
        let page = self
            .store
            .revocation_feed(position.as_ref(), self.now())
            .await
            .map_err(Failure::from)?;
        Ok(FeedAnswer {
            cursor: encode_cursor(&page.next),
            revocations: page
                .revocations
                .into_iter()
                .map(|r| (SessionId::new(r.session_id), r.until))
                .collect(),
            reset: position.is_none() || page.reset,
        })
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
                .revoke_session(
                    &c.sid,
                    now,
                    RevokeReason::Logout,
                    self.revocation_until(now),
                )
                .await?;
            self.note_revoked(c.session_id(), now);
        }
        Ok(())
    }
}
