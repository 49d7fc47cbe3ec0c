//! [`Store`] on PostgreSQL: the statements. Why rotation is correct under READ COMMITTED is
//! in the [module docs](super).

use async_trait::async_trait;
use sqlx::Row;
use tessera_tokens::{
    KeyRotation, Revocation, RevokeReason, RotateOutcome, Rotation, SessionRecord, Store,
    StoreError, StoredKey, TokenHash, UnixTime, UserRecord,
};

use super::{map_err, PostgresStore, KEY_ROTATION_LOCK};
use crate::rotation::{dead_outcome, within_grace};
use crate::rows;

// Column lists, in the order `crate::rows` reads them.
macro_rules! user_columns {
    () => {
        "id, username, username_key, password_hash, created_at"
    };
}
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_used_at, expires_at, idle_expires_at, revoked_at, \
         revoke_reason, generation, user_agent, ip"
    };
}
macro_rules! key_columns {
    () => {
        "kid, alg, public_jwk, private_sealed, created_at, activates_at, retired_at"
    };
}
/// A live session at `$1`: not revoked, before both expiries (which are exclusive).
macro_rules! live_at_1 {
    () => {
        "s.revoked_at IS NULL AND $1 < s.expires_at AND $1 < s.idle_expires_at"
    };
}

/// The whole rotation of a live token in one statement (STYLE.md practice 9): spend
/// (`$1` now, `$2` presented hash), slide the session (`$3` idle timeout), store the
/// successor (`$4`). A row back — the session as updated — means `Rotated`; no row means
/// the token was not live, or its session was not. See the module docs for the ordering.
const ROTATE: &str = concat!(
    "WITH spent AS (\
         UPDATE refresh_tokens t SET spent_at = $1 FROM sessions s \
         WHERE t.hash = $2 AND t.spent_at IS NULL AND s.id = t.session_id AND ",
    live_at_1!(),
    " RETURNING t.session_id\
     ), touched AS (\
         UPDATE sessions s SET last_used_at = $1, \
             idle_expires_at = LEAST(s.expires_at, $1 + $3), generation = s.generation + 1 \
         FROM spent WHERE s.id = spent.session_id AND ",
    live_at_1!(),
    " RETURNING s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, \
             s.idle_expires_at, s.revoked_at, s.revoke_reason, s.generation, s.user_agent, s.ip\
     ), successor AS (\
         INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at) \
         SELECT $4, id, $1, NULL FROM touched\
     ) SELECT ",
    session_columns!(),
    " FROM touched"
);

/// A token in any state and its session: `spent_at` at column 0, the session after it.
const TOKEN_AND_SESSION: &str =
    "SELECT t.spent_at, s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, \
     s.idle_expires_at, s.revoked_at, s.revoke_reason, s.generation, s.user_agent, s.ip \
     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = $1";

const REVOKE_SESSION: &str = "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
     WHERE id = $3 AND revoked_at IS NULL";

const SESSION_BY_ID: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE id = $1"
);

/// A session and its first token, all or nothing, in one statement.
const CREATE_SESSION: &str = concat!(
    "WITH s AS (INSERT INTO sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id) \
     INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at) \
     SELECT $12, id, $3, NULL FROM s"
);

const LIST_SESSIONS_OF_USER: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions s WHERE user_id = $2 AND ",
    live_at_1!(),
    " ORDER BY last_used_at DESC, id"
);

const LIST_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions s WHERE ",
    live_at_1!(),
    " ORDER BY last_used_at DESC, id"
);

const REVOCATIONS_SINCE: &str = "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 \
     ORDER BY revoked_at, id LIMIT $2";

/// One batch of `purge`; PostgreSQL combines the three indexes (BitmapOr).
const PURGE_BATCH_SQL: &str = "DELETE FROM sessions WHERE id IN (\
     SELECT id FROM sessions \
     WHERE expires_at < $1 OR idle_expires_at < $1 OR revoked_at < $1 LIMIT $2)";

/// Sessions deleted per statement by `purge`.
const PURGE_BATCH: i64 = 500;

/// How often `rotate_refresh` tries again when its two statements disagree (see there).
const ROTATE_ATTEMPTS: usize = 3;

/// The `INSERT` of a signing key, bound.
fn insert_key(
    key: &StoredKey,
) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(concat!(
        "INSERT INTO signing_keys (",
        key_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.public_jwk)
    .bind(&key.private_sealed)
    .bind(key.created_at)
    .bind(key.activates_at)
    .bind(key.retired_at)
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|db| sqlx::query("SELECT 1").execute(db)).await?;
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.run(|db| {
            sqlx::query(concat!(
                "INSERT INTO users (",
                user_columns!(),
                ") VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.username_key)
            .bind(&user.password_hash)
            .bind(user.created_at)
            .execute(db)
        })
        .await?;
        Ok(())
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        self.run(|db| {
            sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username_key = $1"
            ))
            .bind(username_key)
            .fetch_optional(db)
        })
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.run(|db| {
            sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(db)
        })
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.run(|db| {
            sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users ORDER BY created_at, seq"
            ))
            .fetch_all(db)
        })
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        self.run(|db| {
            sqlx::query(CREATE_SESSION)
                .bind(&session.id)
                .bind(&session.user_id)
                .bind(session.created_at)
                .bind(session.last_used_at)
                .bind(session.expires_at)
                .bind(session.idle_expires_at)
                .bind(session.revoked_at)
                .bind(session.revoke_reason.map(RevokeReason::as_str))
                .bind(session.generation)
                .bind(&session.user_agent)
                .bind(&session.ip)
                .bind(&token[..])
                .execute(db)
        })
        .await?;
        Ok(())
    }

    async fn rotate_refresh(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        for _ in 0..ROTATE_ATTEMPTS {
            // The live token: one statement, Rotated or nothing written.
            let rotated = self
                .run(|db| {
                    sqlx::query(ROTATE)
                        .bind(r.now)
                        .bind(&r.presented[..])
                        .bind(r.idle_timeout)
                        .bind(&r.successor[..])
                        .fetch_optional(db)
                })
                .await?;
            if let Some(row) = rotated {
                return Ok(RotateOutcome::Rotated(rows::session(&row, 0)?));
            }

            // A new statement, so a new snapshot: it sees a concurrent winner's spend,
            // successor and session, which committed before the spend above gave up.
            let Some(row) = self
                .run(|db| {
                    sqlx::query(TOKEN_AND_SESSION)
                        .bind(&r.presented[..])
                        .fetch_optional(db)
                })
                .await?
            else {
                return Ok(RotateOutcome::Unknown);
            };
            let spent_at: Option<UnixTime> = row.try_get(0).map_err(map_err)?;
            let session = rows::session(&row, 1)?;
            if !session.is_live(r.now) {
                return Ok(dead_outcome(&session));
            }
            let Some(spent_at) = spent_at else {
                // Live token, live session, yet the spend found neither: the token (or its
                // session) was committed between the two statements. Spend it now.
                continue;
            };
            if within_grace(spent_at, r) {
                return Ok(RotateOutcome::Grace(session));
            }
            // A spent token after the grace window: revoke the whole family (RFC 9700
            // §4.14.2). `spent_at` never changes once set, so the verdict still holds; the
            // `revoked_at IS NULL` guard tells us whether we or someone else revoked it.
            let done = self
                .run(|db| {
                    sqlx::query(REVOKE_SESSION)
                        .bind(r.now)
                        .bind(RevokeReason::Reuse.as_str())
                        .bind(&session.id)
                        .execute(db)
                })
                .await?;
            return Ok(if done.rows_affected() == 1 {
                RotateOutcome::Reused
            } else {
                RotateOutcome::Revoked
            });
        }
        Err(StoreError::Unavailable(
            "postgres: the refresh token changed state during every rotation attempt".into(),
        ))
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.run(|db| {
            sqlx::query(TOKEN_AND_SESSION)
                .bind(&token[..])
                .fetch_optional(db)
        })
        .await?
        .map(|row| rows::session(&row, 1))
        .transpose()
    }

    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.run(|db| sqlx::query(SESSION_BY_ID).bind(id).fetch_optional(db))
            .await?
            .map(|row| rows::session(&row, 0))
            .transpose()
    }

    async fn list_sessions(
        &self,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let query = match user_id {
            Some(user_id) => sqlx::query(LIST_SESSIONS_OF_USER).bind(now).bind(user_id),
            None => sqlx::query(LIST_SESSIONS).bind(now),
        };
        self.run(|db| query.fetch_all(db))
            .await?
            .iter()
            .map(|row| rows::session(row, 0))
            .collect()
    }

    async fn revoke_session(
        &self,
        id: &str,
        now: UnixTime,
        reason: RevokeReason,
    ) -> Result<bool, StoreError> {
        let done = self
            .run(|db| {
                sqlx::query(REVOKE_SESSION)
                    .bind(now)
                    .bind(reason.as_str())
                    .bind(id)
                    .execute(db)
            })
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        now: UnixTime,
        reason: RevokeReason,
    ) -> Result<u64, StoreError> {
        let done = self
            .run(|db| {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
                     WHERE user_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(reason.as_str())
                .bind(user_id)
                .execute(db)
            })
            .await?;
        Ok(done.rows_affected())
    }

    async fn revocations_since(
        &self,
        since: UnixTime,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.run(|db| {
            sqlx::query(REVOCATIONS_SINCE)
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(db)
        })
        .await?
        .iter()
        .map(rows::revocation)
        .collect()
    }

    async fn purge(&self, before: UnixTime) -> Result<u64, StoreError> {
        // In batches, each its own statement, so a large purge never holds many row locks
        // (and the rotations of those sessions) for long. Refresh tokens go with their
        // session (ON DELETE CASCADE).
        let mut total = 0;
        loop {
            let done = self
                .run(|db| {
                    sqlx::query(PURGE_BATCH_SQL)
                        .bind(before)
                        .bind(PURGE_BATCH)
                        .execute(db)
                })
                .await?;
            total += done.rows_affected();
            if done.rows_affected() < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.run(|db| insert_key(key).execute(db)).await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.run(|db| {
            sqlx::query(concat!(
                "SELECT ",
                key_columns!(),
                " FROM signing_keys ORDER BY created_at, seq"
            ))
            .fetch_all(db)
        })
        .await?
        .iter()
        .map(rows::key)
        .collect()
    }

    async fn rotate_signing_key(&self, rotation: &KeyRotation) -> Result<bool, StoreError> {
        // Replicas rotating at the same moment queue on a transaction-level advisory lock,
        // so each reads the newest key only after the one before it committed: one wins,
        // the others find their expectation stale and change nothing.
        self.run(|db| async move {
            let mut tx = db.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(KEY_ROTATION_LOCK)
                .execute(&mut *tx)
                .await?;
            let newest: Option<String> = sqlx::query_scalar(
                "SELECT kid FROM signing_keys ORDER BY created_at DESC, seq DESC LIMIT 1",
            )
            .fetch_optional(&mut *tx)
            .await?;
            if newest != rotation.expected_newest {
                return Ok(false); // dropping `tx` rolls back
            }
            let key = &rotation.key;
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
                .bind(key.activates_at)
                .execute(&mut *tx)
                .await?;
            insert_key(key).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn delete_retired_keys(&self, before: UnixTime) -> Result<u64, StoreError> {
        let done = self
            .run(|db| {
                sqlx::query("DELETE FROM signing_keys WHERE retired_at < $1")
                    .bind(before)
                    .execute(db)
            })
            .await?;
        Ok(done.rows_affected())
    }
}
