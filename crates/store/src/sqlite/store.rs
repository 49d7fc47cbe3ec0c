//! [`Store`] on SQLite: the statements and the row decoding.

use async_trait::async_trait;
use sqlx::Row;
use tessera_tokens::{
    FeedPosition, KeyRotation, Revocation, RevocationPage, RevokeReason, RotateOutcome, Rotation,
    SessionCap, SessionRecord, Store, StoreError, StoredKey, TokenHash, UnixTime, UserRecord,
};

use super::{map_err, SqliteStore};
use crate::rotation::{dead_outcome, within_grace};
use crate::rows;

// Column lists, in the order the `*_from_row` functions read them.
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

/// The atomic spend (STYLE.md practice 9): of concurrent callers, one gets the row back.
const SPEND_TOKEN: &str = "UPDATE refresh_tokens SET spent_at = ?1 \
     WHERE hash = ?2 AND spent_at IS NULL RETURNING session_id";

/// Slides a live session forward; no row when it is revoked or expired at `?1`.
const TOUCH_SESSION: &str = concat!(
    "UPDATE sessions SET last_used_at = ?1, idle_expires_at = MIN(expires_at, ?1 + ?2), \
     generation = generation + 1 \
     WHERE id = ?3 AND revoked_at IS NULL AND ?1 < expires_at AND ?1 < idle_expires_at \
     RETURNING ",
    session_columns!()
);

const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens (hash, session_id, created_at, spent_at) \
     VALUES (?1, ?2, ?3, NULL)";

const SESSION_BY_ID: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE id = ?1"
);

/// A token in any state and its session: `spent_at` at column 0, the session after it.
const TOKEN_AND_SESSION: &str =
    "SELECT t.spent_at, s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, \
     s.idle_expires_at, s.revoked_at, s.revoke_reason, s.generation, s.user_agent, s.ip \
     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?1";

const REVOKE_SESSION: &str = "UPDATE sessions SET revoked_at = ?1, revoke_reason = ?2 \
     WHERE id = ?3 AND revoked_at IS NULL";

/// The live sessions at `?1` of user `?2`, least recently used first.
const LIVE_SESSIONS_LRU: &str = "SELECT id FROM sessions \
     WHERE user_id = ?2 AND revoked_at IS NULL AND ?1 < expires_at AND ?1 < idle_expires_at \
     ORDER BY last_used_at, created_at, id";

/// The revocation record of a session revoked by the statement before it, in the same
/// transaction.
const INSERT_REVOCATION: &str =
    "INSERT INTO revocations (session_id, revoked_at, until) VALUES (?1, ?2, ?3)";

/// The feed after `?1` (a `seq`): the records written since, live at `?2`, with the position
/// to continue from and the feed's identity, in one statement (one snapshot). The
/// `sqlite_sequence` row is the last `seq` handed out, purged records included.
const FEED: &str = "SELECT p.next, p.feed, r.session_id, r.revoked_at, r.until \
     FROM (SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0) \
                  AS next, (SELECT id FROM feed_identity) AS feed) p \
     LEFT JOIN revocations r ON r.seq > ?1 AND r.until > ?2";

/// One batch of expired revocation records for `purge`.
const PURGE_REVOCATIONS_SQL: &str = "DELETE FROM revocations WHERE seq IN (\
     SELECT seq FROM revocations WHERE until < ?1 LIMIT ?2)";

/// One statement per condition: SQLite's OR optimisation skips the partial `revoked_at`
/// index, a UNION of three index searches does not.
const PURGE_BATCH_SQL: &str = "DELETE FROM sessions WHERE rowid IN (\
     SELECT rowid FROM sessions WHERE expires_at < ?1 \
     UNION SELECT rowid FROM sessions WHERE idle_expires_at < ?1 \
     UNION SELECT rowid FROM sessions WHERE revoked_at < ?1 \
     LIMIT ?2)";

/// Sessions deleted per statement by `purge`.
const PURGE_BATCH: i64 = 500;

/// Inserts a session and its first refresh token inside the caller's write transaction.
async fn insert_session_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    session: &SessionRecord,
    token: &TokenHash,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO sessions (",
        session_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))
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
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    sqlx::query(INSERT_TOKEN)
        .bind(&token[..])
        .bind(&session.id)
        .bind(session.created_at)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Revokes a session and writes its revocation record, inside the caller's write
/// transaction; true when it was not revoked before.
async fn revoke_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &str,
    now: UnixTime,
    reason: RevokeReason,
    until: UnixTime,
) -> Result<bool, StoreError> {
    let done = sqlx::query(REVOKE_SESSION)
        .bind(now)
        .bind(reason.as_str())
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(INSERT_REVOCATION)
        .bind(id)
        .bind(now)
        .bind(until)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    Ok(true)
}

/// The rows of [`FEED`]: the next position (with the feed's identity) and the records.
fn feed_page(
    rows: &[sqlx::sqlite::SqliteRow],
) -> Result<(FeedPosition, Vec<Revocation>), StoreError> {
    let first = rows
        .first()
        .ok_or_else(|| StoreError::Other("revocation feed: no position row".into()))?;
    let next: i64 = first.try_get(0).map_err(map_err)?;
    let feed: String = first.try_get(1).map_err(map_err)?;
    let revocations = rows
        .iter()
        .filter_map(|row| rows::revocation(row, 2).transpose())
        .collect::<Result<_, _>>()?;
    Ok((
        FeedPosition {
            feed,
            position: u64::try_from(next).unwrap_or(0),
        },
        revocations,
    ))
}

fn insert_key(
    key: &StoredKey,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
    sqlx::query(concat!(
        "INSERT INTO signing_keys (",
        key_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
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
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        for pool in [&self.reader, &self.writer] {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.username_key)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .bind(&user.username_skeleton)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn users_without_skeleton(&self) -> Result<Vec<UserRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_skeleton IS NULL ORDER BY created_at, rowid"
        ))
        .fetch_all(&self.writer)
        .await
        .map_err(map_err)?
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
        let done = sqlx::query(
            "UPDATE users SET username_key = ?2, username_skeleton = ?3 \
             WHERE id = ?1 AND username_skeleton IS NULL",
        )
        .bind(id)
        .bind(key)
        .bind(skeleton)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn user_by_username(&self, username_key: &str) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key = ?1"
        ))
        .bind(username_key)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY created_at, rowid"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &TokenHash,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        insert_session_in(&mut tx, session, token).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn create_capped_session(
        &self,
        session: &SessionRecord,
        token: &TokenHash,
        cap: &SessionCap,
    ) -> Result<Vec<String>, StoreError> {
        // Under the write lock: no other login of the user can count the same sessions.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let now = session.created_at;
        let live: Vec<String> = sqlx::query_scalar(LIVE_SESSIONS_LRU)
            .bind(now)
            .bind(&session.user_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let evicted = cap.to_evict(&live).to_vec();
        for id in &evicted {
            revoke_in(&mut tx, id, now, RevokeReason::Evicted, cap.until).await?;
        }
        insert_session_in(&mut tx, session, token).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(evicted)
    }

    async fn rotate_refresh(&self, r: &Rotation) -> Result<RotateOutcome, StoreError> {
        // One write transaction. On the way to `Rotated`: BEGIN, spend, touch, insert,
        // COMMIT — nothing else.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;

        let spent: Option<String> = sqlx::query_scalar(SPEND_TOKEN)
            .bind(r.now)
            .bind(&r.presented[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;

        if let Some(session_id) = spent {
            // The token was live. Checking the session and sliding it forward is one
            // statement: no row back means revoked or expired, and rolling back undoes the
            // spend, so an expired session's token stays unspent.
            let touched = sqlx::query(TOUCH_SESSION)
                .bind(r.now)
                .bind(r.idle_timeout)
                .bind(&session_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            let Some(row) = touched else {
                let row = sqlx::query(SESSION_BY_ID)
                    .bind(&session_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                let outcome = dead_outcome(&rows::session(&row, 0)?);
                tx.rollback().await.map_err(map_err)?;
                return Ok(outcome);
            };
            let session = rows::session(&row, 0)?;
            sqlx::query(INSERT_TOKEN)
                .bind(&r.successor[..])
                .bind(&session_id)
                .bind(r.now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            return Ok(RotateOutcome::Rotated(session));
        }

        // Unknown, or already spent.
        let Some(row) = sqlx::query(TOKEN_AND_SESSION)
            .bind(&r.presented[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
        else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(RotateOutcome::Unknown);
        };
        let spent_at: Option<UnixTime> = row.try_get(0).map_err(map_err)?;
        let session = rows::session(&row, 1)?;
        if !session.is_live(r.now) {
            tx.rollback().await.map_err(map_err)?;
            return Ok(dead_outcome(&session));
        }
        // Under the write lock a live token would have been spent above, so `spent_at` is
        // set; `now` is the harmless fallback.
        let spent_at = spent_at.unwrap_or(r.now);
        if within_grace(spent_at, r) {
            tx.rollback().await.map_err(map_err)?;
            return Ok(RotateOutcome::Grace(session));
        }
        // A spent token after the grace window: revoke the whole family (RFC 9700 §4.14.2).
        revoke_in(
            &mut tx,
            &session.id,
            r.now,
            RevokeReason::Reuse,
            r.revoke_until,
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(RotateOutcome::Reused)
    }

    async fn session_by_token(
        &self,
        token: &TokenHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query(TOKEN_AND_SESSION)
            .bind(&token[..])
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .map(|row| rows::session(&row, 1))
            .transpose()
    }

    async fn session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query(SESSION_BY_ID)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?
            .map(|row| rows::session(&row, 0))
            .transpose()
    }

    async fn list_sessions(
        &self,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        // Two statements rather than `(?2 IS NULL OR user_id = ?2)`, which would keep the
        // per-user listing off the user_id index.
        let query = match user_id {
            Some(user_id) => sqlx::query(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE user_id = ?2 AND revoked_at IS NULL \
                 AND ?1 < expires_at AND ?1 < idle_expires_at \
                 ORDER BY last_used_at DESC, id"
            ))
            .bind(now)
            .bind(user_id),
            None => sqlx::query(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE revoked_at IS NULL \
                 AND ?1 < expires_at AND ?1 < idle_expires_at \
                 ORDER BY last_used_at DESC, id"
            ))
            .bind(now),
        };
        query
            .fetch_all(&self.reader)
            .await
            .map_err(map_err)?
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
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let revoked = revoke_in(&mut tx, id, now, reason, until).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(revoked)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        now: UnixTime,
        reason: RevokeReason,
        until: UnixTime,
    ) -> Result<u64, StoreError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        // The records first, while `revoked_at IS NULL` still picks exactly the sessions
        // the update below revokes (nothing else writes under the write lock).
        sqlx::query(
            "INSERT INTO revocations (session_id, revoked_at, until) \
             SELECT id, ?1, ?2 FROM sessions WHERE user_id = ?3 AND revoked_at IS NULL \
             ORDER BY id",
        )
        .bind(now)
        .bind(until)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = ?1, revoke_reason = ?2 \
             WHERE user_id = ?3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn revocation_feed(
        &self,
        since: Option<&FeedPosition>,
        now: UnixTime,
    ) -> Result<RevocationPage, StoreError> {
        let read = |after: u64| async move {
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let rows = sqlx::query(FEED)
                .bind(after)
                .bind(now)
                .fetch_all(&self.reader)
                .await
                .map_err(map_err)?;
            feed_page(&rows)
        };
        crate::feed::page(since, read).await
    }

    async fn purge(&self, before: UnixTime) -> Result<u64, StoreError> {
        // In batches, each its own statement, so a large purge never holds the writer (and
        // the rotations queued behind it) for long. Refresh tokens go with their session
        // (ON DELETE CASCADE).
        loop {
            let done = sqlx::query(PURGE_REVOCATIONS_SQL)
                .bind(before)
                .bind(PURGE_BATCH)
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
            if done.rows_affected() < PURGE_BATCH as u64 {
                break;
            }
        }
        let mut total = 0;
        loop {
            let done = sqlx::query(PURGE_BATCH_SQL)
                .bind(before)
                .bind(PURGE_BATCH)
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
            total += done.rows_affected();
            if done.rows_affected() < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        insert_key(key)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM signing_keys ORDER BY created_at, rowid"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::key)
        .collect()
    }

    async fn rotate_signing_key(&self, rotation: &KeyRotation) -> Result<bool, StoreError> {
        // The one writer connection and BEGIN IMMEDIATE serialize rotations: the check and
        // the writes see no other writer in between.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let newest: Option<String> = sqlx::query_scalar(
            "SELECT kid FROM signing_keys ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        if newest != rotation.expected_newest {
            return Ok(false); // dropping `tx` rolls back
        }
        let key = &rotation.key;
        sqlx::query("UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL")
            .bind(key.activates_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_key(key).execute(&mut *tx).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn delete_retired_keys(&self, before: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE retired_at < ?1")
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::SqliteOptions;

    /// The hot and the indexed statements use their index, not a table scan.
    #[tokio::test]
    async fn query_plans_use_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&url, SqliteOptions::default())
            .await
            .unwrap();
        let plan = |sql: &'static str| {
            let pool = store.writer.clone();
            async move {
                // Positional parameters stay unbound (NULL): the plan is the same.
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| r.try_get::<String, _>(3).unwrap())
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };

        let spend = plan(SPEND_TOKEN).await;
        assert!(spend.contains("USING PRIMARY KEY"), "{spend}");
        let touch = plan(TOUCH_SESSION).await;
        assert!(
            touch.contains("USING INDEX sqlite_autoindex_sessions_1"),
            "{touch}"
        );
        let lookup = plan(TOKEN_AND_SESSION).await;
        assert!(!lookup.contains("SCAN"), "{lookup}");
        // The feed reads records after a position by their primary key, in its order.
        let feed = plan(FEED).await;
        assert!(
            feed.contains("USING INTEGER PRIMARY KEY") && !feed.contains("TEMP B-TREE"),
            "{feed}"
        );
        let purge_records = plan(PURGE_REVOCATIONS_SQL).await;
        assert!(
            purge_records.contains("USING COVERING INDEX revocations_until"),
            "{purge_records}"
        );
        let by_user = plan(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = ?2 AND revoked_at IS NULL"
        ))
        .await;
        assert!(by_user.contains("INDEX sessions_user_id"), "{by_user}");
        let purge = plan(PURGE_BATCH_SQL).await;
        assert!(!purge.contains("SCAN"), "{purge}");
    }
}
