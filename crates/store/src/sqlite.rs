//! The SQLite backend: [`SqliteStore`].
//!
//! # Connections
//!
//! One database file in WAL mode, with foreign keys enforced, behind two pools:
//!
//! - **the writer**: exactly one connection. Every write and every transaction runs there, one
//!   after the other, so the writers of one process never contend for SQLite's single write
//!   lock and never see `database is locked`. Transactions start with `BEGIN IMMEDIATE`,
//!   which takes the write lock up front: a deferred transaction that reads first and writes
//!   later fails with `SQLITE_BUSY` (no waiting possible) when another process committed in
//!   between.
//! - **the readers**: up to [`SqliteOptions::max_readers`] connections, `PRAGMA query_only`,
//!   for lookups. WAL lets them read while the writer writes; each read sees the last
//!   committed transaction, including one this process committed a moment ago.
//!
//! Other processes (the `tessera users add` CLI while the server runs) write to the same
//! file. A write that finds the lock held by another process waits up to
//! [`SqliteOptions::busy_timeout`] (SQLite's busy handler) and then fails with
//! [`StoreError::Unavailable`]; the same timeout bounds the wait for the writer connection
//! inside this process.
//!
//! # Durability: `synchronous`
//!
//! The default is [`Synchronous::Normal`] (`PRAGMA synchronous = NORMAL`), the usual choice
//! in WAL mode: a commit appends to the WAL file without an fsync, and the WAL is synced at
//! checkpoints.
//!
//! - A killed or crashed *process* loses no committed transaction: the WAL is in the
//!   operating system's page cache, and the next open replays it.
//! - A *power loss or OS crash* may lose the transactions committed since the last WAL sync
//!   (checkpoint). They are rolled back, never half-applied: the database is not corrupted.
//!   For Tessera that means recent logins, rotations or revocations may be undone —
//!   including a revocation, which is why deployments that cannot accept that choose FULL.
//! - [`Synchronous::Full`] closes that window: every commit fsyncs the WAL before it
//!   returns, at the cost of one fsync per write transaction (rotation throughput then
//!   follows the disk's fsync rate).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Executor;
use tessera_tokens::StoreError;

use crate::migrations::{self, Migration};

mod store;

/// How hard SQLite works to make a commit survive a power loss (see the [module
/// docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `PRAGMA synchronous = NORMAL`: survives a killed process; a power loss may roll back
    /// the last transactions (never corrupts).
    #[default]
    Normal,
    /// `PRAGMA synchronous = FULL`: every commit is on disk before it returns; one fsync per
    /// commit.
    Full,
}

/// Settings of a [`SqliteStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Durability of commits; default [`Synchronous::Normal`].
    pub synchronous: Synchronous,
    /// Size of the reader pool; default 4, at least 1.
    pub max_readers: u32,
    /// How long an operation waits for its turn at the database — for the lock held by
    /// another process, and for this process's writer connection — before failing with
    /// [`StoreError::Unavailable`]; default 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            max_readers: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// [`Store`](tessera_tokens::Store) on one SQLite file (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it if missing) and migrates the database at `url` (`sqlite://PATH`,
    /// the path relative to the working directory or absolute), then gives accounts from
    /// before the RFC 8265 username rules their new key ([`tessera_tokens::normalize_usernames`]).
    ///
    /// Refuses `:memory:` and URLs with query parameters (see [`crate::sqlite_path`]), a
    /// `max_readers` of 0, and a database migrated by a newer Tessera. A file that cannot be
    /// opened (missing directory, no permission) is [`StoreError::Unavailable`].
    pub async fn connect(url: &str, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = crate::sqlite_path(url)?;
        if options.max_readers == 0 {
            return Err(StoreError::Other(
                "sqlite: max_readers must be at least 1".into(),
            ));
        }
        create_private(&path)?;
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout)
            .synchronous(match options.synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            });

        // Switching to WAL needs an exclusive lock that the busy handler cannot wait for, so
        // only the writer asks for it; it is a no-op (and persistent) once the file is in WAL.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(options.busy_timeout)
            // A local file has no network link to go stale: skip the ping per acquire.
            .test_before_acquire(false)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal),
            )
            .await
            .map_err(map_err)?;
        migrate(&writer).await?;

        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_readers)
            .acquire_timeout(options.busy_timeout)
            .test_before_acquire(false)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(map_err)?;

        tracing::debug!(path = %path.display(), ?options, "sqlite store open");
        let store = SqliteStore {
            writer,
            reader,
            path,
        };
        // The part of migration 3 that SQL cannot do.
        tessera_tokens::normalize_usernames(&store).await?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, waiting for connections in use to be returned; the last connection
    /// to close checkpoints the WAL into the main file.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Creates the database file, readable and writable by its owner only (mode 0600), when it
/// does not exist: it holds password hashes and session data. SQLite gives the `-wal` and
/// `-shm` files it creates next to it the database file's mode.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "sqlite: cannot create {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Applies the missing [`migrations::SQLITE`], each in its own `BEGIN IMMEDIATE`
/// transaction together with its `schema_migrations` row. Safe against another process
/// migrating at the same time: the version is checked again under the write lock.
async fn migrate(writer: &SqlitePool) -> Result<(), StoreError> {
    // `Executor::execute(…, raw_sql(…))` rather than `raw_sql(…).execute(…)`: the latter
    // makes the future !Send (sqlx's higher-ranked `Executor` bound).
    writer
        .execute(sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
                version INTEGER NOT NULL PRIMARY KEY, \
                applied_at INTEGER NOT NULL\
            ) STRICT",
        ))
        .await
        .map_err(map_err)?;

    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(writer)
        .await
        .map_err(map_err)?;
    let known = migrations::SQLITE.last().map_or(0, |m| m.version);
    let newest = newest.unwrap_or(0);
    if newest > known {
        return Err(StoreError::Other(format!(
            "sqlite: the database schema is at version {newest}, newer than this build of \
             Tessera knows ({known}); upgrade Tessera"
        )));
    }

    // A plain loop: a `filter` closure held across the await would make the future !Send.
    for m in migrations::SQLITE {
        if m.version > newest {
            apply(writer, m).await?;
        }
    }
    Ok(())
}

async fn apply(writer: &SqlitePool, m: &Migration) -> Result<(), StoreError> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(map_err)?;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
    if applied.is_some() {
        return tx.rollback().await.map_err(map_err); // another process got there first
    }
    (&mut *tx)
        .execute(sqlx::raw_sql(m.sql))
        .await
        .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO schema_migrations (version, applied_at) \
         VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
    )
    .bind(m.version)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    tracing::info!(
        version = m.version,
        name = m.name,
        "applied sqlite migration"
    );
    Ok(())
}

// SQLite primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;

/// The one place SQLite errors become [`StoreError`]s. Messages come from SQLite and sqlx
/// (constraint and column names, result codes), never from bound values.
fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) => {
            let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            match code & 0xff {
                SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN => {
                    StoreError::Unavailable(err.to_string())
                }
                _ => StoreError::Other(err.to_string()),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        _ => StoreError::Other(err.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sqlx::Row;

    use super::*;

    async fn open(dir: &tempfile::TempDir, options: SqliteOptions) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        SqliteStore::connect(&url, options).await.unwrap()
    }

    async fn pragma(pool: &SqlitePool, name: &str) -> String {
        let row = sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .unwrap();
        // journal_mode answers text, the others integers.
        row.try_get::<String, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|v| v.to_string()))
            .unwrap()
    }

    /// The server spawns start-up work; `connect` must be usable there.
    #[test]
    fn connect_future_is_send() {
        fn send<T: Send>(_: &T) {}
        send(&SqliteStore::connect(
            "sqlite://unused.db",
            SqliteOptions::default(),
        ));
    }

    #[tokio::test]
    async fn connections_get_wal_foreign_keys_and_synchronous() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, SqliteOptions::default()).await;
        for pool in [&store.writer, &store.reader] {
            assert_eq!(pragma(pool, "journal_mode").await, "wal");
            assert_eq!(pragma(pool, "foreign_keys").await, "1");
            assert_eq!(pragma(pool, "synchronous").await, "1"); // NORMAL
            assert_eq!(pragma(pool, "busy_timeout").await, "5000");
        }
        assert_eq!(pragma(&store.reader, "query_only").await, "1");
        assert_eq!(pragma(&store.writer, "query_only").await, "0");
        store.close().await;

        let full = SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_millis(250),
            ..SqliteOptions::default()
        };
        let store = open(&dir, full).await;
        assert_eq!(pragma(&store.writer, "synchronous").await, "2"); // FULL
        assert_eq!(pragma(&store.writer, "busy_timeout").await, "250");
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, SqliteOptions::default()).await;
        let err = sqlx::query("DELETE FROM users")
            .execute(&store.reader)
            .await
            .unwrap_err();
        assert!(matches!(map_err(err), StoreError::Other(_)));
    }
}
