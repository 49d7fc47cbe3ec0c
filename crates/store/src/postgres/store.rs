//! [`Store`] on PostgreSQL: the statements. Why rotation is correct under READ COMMITTED is
//! in the [module docs](super).

use async_trait::async_trait;
use sqlx::Row;
use tessera_tokens::{
    FeedPosition, KeyRotation, Revocation, RevocationPage, RevokeReason, RotateOutcome, Rotation,
    SessionCap, SessionRecord, Store, StoreError, StoredKey, TokenHash, UnixTime, UserRecord,
};

use super::{map_err, PostgresStore, KEY_ROTATION_LOCK};
use crate::rotation::{dead_outcome, within_grace};
use crate::rows;

// Column lists, in the order `crate::rows` reads them.
macro_rules! user_columns {
    () => {
        "id, username, username_key, password_hash, created_at, username_skeleton"
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

/// Revokes session `$3` (at `$1`, reason `$2`) and writes its revocation record (`until`
/// `$4`) in one statement; one row affected when it was not revoked before.
const REVOKE_SESSION: &str = "WITH revoked AS (\
         UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL RETURNING id\
     ) INSERT INTO revocations (session_id, revoked_at, until) SELECT id, $1, $4 FROM revoked";

/// Every unrevoked session of user `$3`, each with its record, in one statement.
const REVOKE_USER_SESSIONS: &str = "WITH revoked AS (\
         UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
         WHERE user_id = $3 AND revoked_at IS NULL RETURNING id\
     ) INSERT INTO revocations (session_id, revoked_at, until) \
     SELECT id, $1, $4 FROM revoked ORDER BY id";

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

/// The live sessions at `$1` of user `$2`, least recently used first.
const LIVE_SESSIONS_LRU: &str = concat!(
    "SELECT id FROM sessions s WHERE user_id = $2 AND ",
    live_at_1!(),
    " ORDER BY last_used_at, created_at, id"
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

/// The feed from position `$1` (a transaction id, as text): the records written by that
/// transaction or later ones and live at `$2`, with the next position — the oldest
/// transaction still running now — and the feed's identity, in one statement (one snapshot).
/// A record not visible to this snapshot was written by a transaction at or after its
/// `xmin`, so reading from `next` finds it once it commits.
const FEED: &str = "SELECT p.next::text, p.feed, r.session_id, r.revoked_at, r.until \
     FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS next, \
                  (SELECT id FROM feed_identity) AS feed) p \
     LEFT JOIN revocations r ON r.txid >= $1::xid8 AND r.until > $2";

/// One batch of expired revocation records for `purge`.
const PURGE_REVOCATIONS_SQL: &str = "DELETE FROM revocations WHERE seq IN (\
     SELECT seq FROM revocations WHERE until < $1 LIMIT $2)";

/// One batch of `purge`; PostgreSQL combines the three indexes (BitmapOr).
const PURGE_BATCH_SQL: &str = "DELETE FROM sessions WHERE id IN (\
     SELECT id FROM sessions \
     WHERE expires_at < $1 OR idle_expires_at < $1 OR revoked_at < $1 LIMIT $2)";

/// Sessions deleted per statement by `purge`.
const PURGE_BATCH: i64 = 500;

/// How often `rotate_refresh` tries again when its two statements disagree (see there).
const ROTATE_ATTEMPTS: usize = 3;

/// The rows of [`FEED`]: the next position (with the feed's identity) and the records.
fn feed_page(
    rows: &[sqlx::postgres::PgRow],
) -> Result<(FeedPosition, Vec<Revocation>), StoreError> {
    let first = rows
        .first()
        .ok_or_else(|| StoreError::Other("revocation feed: no position row".into()))?;
    let next: String = first.try_get(0).map_err(map_err)?;
    let feed: String = first.try_get(1).map_err(map_err)?;
    let position = next
        .parse()
        .map_err(|_| StoreError::Other(format!("revocation feed: bad position {next:?}")))?;
    let revocations = rows
        .iter()
        .filter_map(|row| rows::revocation(row, 2).transpose())
        .collect::<Result<_, _>>()?;
    Ok((FeedPosition { feed, position }, revocations))
}

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

/// The [`CREATE_SESSION`] statement, bound.
fn insert_session<'q>(
    session: &'q SessionRecord,
    token: &'q TokenHash,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
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
                ") VALUES ($1, $2, $3, $4, $5, $6)"
            ))
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.username_key)
            .bind(&user.password_hash)
            .bind(user.created_at)
            .bind(&user.username_skeleton)
            .execute(db)
        })
        .await?;
        Ok(())
    }

    async fn users_without_skeleton(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.run(|db| {
            sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE username_skeleton IS NULL ORDER BY created_at, seq"
            ))
            .fetch_all(db)
        })
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn set_username_key(
        &self,
        id: &str,
        key: &str,
        skeleton: &str,
    ) -> Result<bool, StoreError> {
        let done = self
            .run(|db| {
                sqlx::query(
                    "UPDATE users SET username_key = $2, username_skeleton = $3 \
                     WHERE id = $1 AND username_skeleton IS NULL",
                )
                .bind(id)
                .bind(key)
                .bind(skeleton)
                .execute(db)
            })
            .await?;
        Ok(done.rows_affected() == 1)
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
        self.run(|db| insert_session(session, token).execute(db))
            .await?;
        Ok(())
    }

    async fn create_capped_session(
        &self,
        session: &SessionRecord,
        token: &TokenHash,
        cap: &SessionCap,
    ) -> Result<Vec<String>, StoreError> {
        // The user's row, locked first, queues concurrent logins of the user: each counts
        // the live sessions (a statement after the lock sees every session committed
        // before it, READ COMMITTED) only after the one before it committed.
        self.run(|db| async move {
            let now = session.created_at;
            let mut tx = db.begin().await?;
            sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind(&session.user_id)
                .execute(&mut *tx)
                .await?;
            let live: Vec<String> = sqlx::query_scalar(LIVE_SESSIONS_LRU)
                .bind(now)
                .bind(&session.user_id)
                .fetch_all(&mut *tx)
                .await?;
            let evicted = cap.to_evict(&live).to_vec();
            for id in &evicted {
                sqlx::query(REVOKE_SESSION)
                    .bind(now)
                    .bind(RevokeReason::Evicted.as_str())
                    .bind(id)
                    .bind(cap.until)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_session(session, token).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(evicted)
        })
        .await
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
                        .bind(r.revoke_until)
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
        until: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = self
            .run(|db| {
                sqlx::query(REVOKE_SESSION)
                    .bind(now)
                    .bind(reason.as_str())
                    .bind(id)
                    .bind(until)
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
        until: UnixTime,
    ) -> Result<u64, StoreError> {
        let done = self
            .run(|db| {
                sqlx::query(REVOKE_USER_SESSIONS)
                    .bind(now)
                    .bind(reason.as_str())
                    .bind(user_id)
                    .bind(until)
                    .execute(db)
            })
            .await?;
        Ok(done.rows_affected())
    }

    async fn revocation_feed(
        &self,
        since: Option<&FeedPosition>,
        now: UnixTime,
    ) -> Result<RevocationPage, StoreError> {
        let read = |from: u64| async move {
            let rows = self
                .run(|db| {
                    sqlx::query(FEED)
                        .bind(from.to_string())
                        .bind(now)
                        .fetch_all(db)
                })
                .await?;
            feed_page(&rows)
        };
        crate::feed::page(since, read).await
    }

    async fn purge(&self, before: UnixTime) -> Result<u64, StoreError> {
        // In batches, each its own statement, so a large purge never holds many row locks
        // (and the rotations of those sessions) for long. Refresh tokens go with their
        // session (ON DELETE CASCADE).
        loop {
            let done = self
                .run(|db| {
                    sqlx::query(PURGE_REVOCATIONS_SQL)
                        .bind(before)
                        .bind(PURGE_BATCH)
                        .execute(db)
                })
                .await?;
            if done.rows_affected() < PURGE_BATCH as u64 {
                break;
            }
        }
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
