//! [`Store`] on SQLite: the statements and the row decoding.

use async_trait::async_trait;
use sqlx::Row;
use tessera_tokens::{
    KeyRotation, Revocation, RevokeReason, RotateOutcome, Rotation, SessionRecord, Store,
    StoreError, StoredKey, TokenHash, UnixTime, UserRecord,
};

use super::{map_err, SqliteStore};
use crate::rotation::{dead_outcome, within_grace};
use crate::rows;

// Column lists, in the order the `*_from_row` functions read them.
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

/// One statement per condition: SQLite's OR optimisation skips the partial `revoked_at`
/// index, a UNION of three index searches does not.
const PURGE_BATCH_SQL: &str = "DELETE FROM sessions WHERE rowid IN (\
     SELECT rowid FROM sessions WHERE expires_at < ?1 \
     UNION SELECT rowid FROM sessions WHERE idle_expires_at < ?1 \
     UNION SELECT rowid FROM sessions WHERE revoked_at < ?1 \
     LIMIT ?2)";

/// Sessions deleted per statement by `purge`.
const PURGE_BATCH: i64 = 500;

/// The `INSERT` of a signing key, bound.
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
            ") VALUES (?1, ?2, ?3, ?4, ?5)"
        ))
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.username_key)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
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
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query(INSERT_TOKEN)
            .bind(&token[..])
            .bind(&session.id)
            .bind(session.created_at)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
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
        sqlx::query(REVOKE_SESSION)
            .bind(r.now)
            .bind(RevokeReason::Reuse.as_str())
            .bind(&session.id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
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
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(REVOKE_SESSION)
            .bind(now)
            .bind(reason.as_str())
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        now: UnixTime,
        reason: RevokeReason,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = ?1, revoke_reason = ?2 \
             WHERE user_id = ?3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user_id)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn revocations_since(
        &self,
        since: UnixTime,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError> {
        sqlx::query(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ?1 \
             ORDER BY revoked_at, id LIMIT ?2",
        )
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?
        .iter()
        .map(rows::revocation)
        .collect()
    }

    async fn purge(&self, before: UnixTime) -> Result<u64, StoreError> {
        // In batches, each its own statement, so a large purge never holds the writer (and
        // the rotations queued behind it) for long. Refresh tokens go with their session
        // (ON DELETE CASCADE).
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
        let feed = plan(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ?1 \
             ORDER BY revoked_at, id LIMIT ?2",
        )
        .await;
        assert!(
            feed.contains("USING COVERING INDEX sessions_revoked_at") && !feed.contains("TEMP"),
            "{feed}"
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
