//! Tessera's [`Store`] on a database: SQLite (one file in WAL mode, [`SqliteStore`]) for one
//! process, PostgreSQL ([`PostgresStore`]) for any number of replicas sharing a database.
//! Each backend lives in its own module with its own migrations
//! (`migrations/<backend>/NNNN_name.sql`, the same versions on both, applied on connect),
//! maps its errors to the same [`StoreError`] kinds, and passes the same conformance suite
//! (`tessera_store::conformance`, behind the `conformance` feature).
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_tokens::StoreError> {
//! use tessera_tokens::Store;
//!
//! // Creates and migrates ./tessera.db when missing.
//! let store = tessera_store::connect_any("sqlite://tessera.db").await?;
//! store.ping().await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use tessera_tokens::{Store, StoreError};

#[cfg(feature = "conformance")]
pub mod conformance;
mod feed;
mod migrations;
pub mod postgres;
mod rotation;
mod rows;
pub mod sqlite;

pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};

/// The database a URL names: the one place a `database.url` scheme is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH` (or `sqlite:PATH`).
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Backend {
    /// The backend of `url`, or an error naming the scheme (never the rest of the URL: it
    /// may hold a password).
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        match scheme(url) {
            Some("sqlite") => Ok(Backend::Sqlite),
            Some("postgres" | "postgresql") if url.contains("://") => Ok(Backend::Postgres),
            Some(other) => Err(StoreError::Other(format!(
                "database url: unknown scheme `{other}`; expected sqlite://PATH or postgres://…"
            ))),
            None => Err(StoreError::Other(
                "database url: expected sqlite://PATH or postgres://…".into(),
            )),
        }
    }
}

/// How to open either backend; only the one the URL names is used.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// SQLite options.
    pub sqlite: SqliteOptions,
    /// PostgreSQL pool options.
    pub postgres: PostgresOptions,
}

/// Opens the database named by `url` and migrates it: `sqlite://PATH` opens (creating it
/// if missing) the SQLite file at `PATH`; `postgres://…` and `postgresql://…` connect to
/// PostgreSQL. Any other scheme is refused (see [`Backend::of_url`]).
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match Backend::of_url(url)? {
        Backend::Sqlite => Arc::new(SqliteStore::connect(url, options.sqlite.clone()).await?),
        Backend::Postgres => Arc::new(PostgresStore::connect(url, options.postgres.clone()).await?),
    })
}

/// [`connect`] with default options.
pub async fn connect_any(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect(url, &ConnectOptions::default()).await
}

/// The file path of a `sqlite://PATH` URL: `sqlite://tessera.db` is `tessera.db` in the
/// working directory, `sqlite:///var/lib/tessera/db.sqlite` is absolute. `sqlite:PATH` is
/// accepted too.
///
/// Refuses an empty path, `:memory:` (each connection would get its own empty database), and
/// query parameters (`?mode=…`): the store sets the connection options itself.
pub fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Other("database url: expected sqlite://PATH".into()))?;
    if rest.is_empty() {
        return Err(StoreError::Other(
            "database url: sqlite://PATH needs a path".into(),
        ));
    }
    if rest == ":memory:" {
        return Err(StoreError::Other(
            "database url: in-memory SQLite is not supported; use a file path".into(),
        ));
    }
    if rest.contains('?') {
        return Err(StoreError::Other(
            "database url: query parameters are not supported in sqlite://PATH".into(),
        ));
    }
    Ok(PathBuf::from(rest))
}

/// The scheme of a URL, when it has one.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}
