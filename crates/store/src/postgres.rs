//! The PostgreSQL backend: [`PostgresStore`], for any number of `tessera serve` replicas
//! sharing one database.
//!
//! # Connections and timeouts
//!
//! One pool per process ([`PostgresOptions`], all settable in the server's `[database]`
//! section):
//!
//! - **`max_connections`** (default 16) bounds what one replica asks of the server; the
//!   replicas together must stay under PostgreSQL's `max_connections` (100 by default).
//!   **`min_connections`** (default 0) are opened at start and kept.
//! - **`acquire_timeout`** (default 5 s) bounds how long an operation waits for a
//!   connection: for a free one in the pool, and for a new one to be opened (sqlx retries
//!   a refused connection with backoff until this deadline). It is how long an operation
//!   may wait on a *busy* pool; an unreachable server is found out much sooner (next
//!   section).
//! - **`statement_timeout`** (default 5 s) is PostgreSQL's own `statement_timeout`, sent as
//!   a startup parameter of every connection (no extra round trip): a statement that runs or
//!   waits for a lock longer than that is cancelled by the server (SQLSTATE 57014, mapped to
//!   `Unavailable`) and its transaction rolled back. `Duration::ZERO` turns it off.
//!   Migrations lift it for their own transaction: a schema change may take longer than a
//!   request, and replicas starting behind one wait for it.
//! - A connection that sat idle in the pool for [`PING_IF_IDLE_FOR`] (1 s) or longer is
//!   checked with a ping (one empty round trip) when it is taken, so the connections a
//!   restarted server closed while the replica was quiet are replaced instead of failing a
//!   request; a failed ping also reaches the outage latch (this is a `before_acquire` hook,
//!   not sqlx's `test_before_acquire`, which pings every time). Connections in steady use
//!   are not pinged: under load that ping was one of three round trips per refresh
//!   rotation (the statement, this ping, and the ping sqlx always sends when a connection
//!   goes back to the pool, off the request's path), and dropping it measurably raised
//!   rotations per second (`scripts/pg-load.sh`). The price: a connection killed less than
//!   a second after its last use fails the one operation that meets it (503, and the latch
//!   probes), and after any failure that suggested an outage every connection that was
//!   idle at that moment is pinged before use, so a restarted server costs no failed
//!   request once the latch has seen it go. Connections are recycled after sqlx's
//!   defaults: 10 min idle, 30 min old.
//!
//! Operations run on whatever pooled connection is free; nothing depends on session state.
//! Statements are prepared once per connection and cached (sqlx's statement cache).
//!
//! # Outages: fail fast, recover by itself
//!
//! Left to itself, the pool would make every operation wait out `acquire_timeout` while
//! the server is down (sqlx keeps retrying the refused connection), and a server under
//! load would queue requests for seconds only to answer 503. Instead every operation goes
//! through an outage latch (`outage.rs`):
//!
//! - **Tripping.** An operation that fails in a way that may mean the server is gone — an
//!   I/O or TLS error, a pool timeout, SQLSTATE class 08 or `57P01`–`57P03` — and a pooled
//!   connection whose ping fails, make the store *probe*: one connection attempt outside
//!   the pool, no retry, closed at once. If it cannot connect, the store is marked down.
//!   One killed connection, or a pool that is only busy, leaves it up: the probe connects.
//! - **While down**, operations fail at once with [`StoreError::Unavailable`] (the server
//!   answers 503 `unavailable` in about a millisecond), and operations already waiting for
//!   a connection, or inside sqlx's reconnect loop, give up at their next wake-up (within
//!   sqlx's backoff, tens of milliseconds). An operation that completed is never discarded.
//! - **Recovering.** While down, one operation at a time probes before failing: right away
//!   when the last probe was refused (that costs the server nothing: its kernel answers),
//!   250 ms after any other failure (a server starting up forks a process for each attempt
//!   only to refuse it, 57P03). The first probe that connects marks the store up, and its
//!   operation goes ahead on the pool: the first request after the server returns is
//!   served, with nothing to restart. There is no background task; with no requests, the
//!   store stays marked down until the next one.
//!
//! Cost on the happy path: one relaxed atomic load before an operation, and one each time
//! it waits (returns `Pending`). A probe opens one connection beyond `max_connections`.
//! A probe to a host that silently drops packets waits for the operating system's connect
//! timeout (the store has no timer of its own); meanwhile other operations fail fast, and
//! after `acquire_timeout` another probe may start.
//!
//! Nothing is half-written by an outage: every write is one statement (or, for signing-key
//! rotation, one transaction), which commits whole or not at all. A statement that
//! committed just before the connection broke is answered `Unavailable` all the same; for
//! a refresh, presenting the same token again within the grace window returns the
//! successor it committed ([`rotate_refresh`](tessera_tokens::Store::rotate_refresh)).
//!
//! # Migrations: one replica at a time
//!
//! [`PostgresStore::connect`] applies the missing migrations (the files
//! under `migrations/postgres/`) in one transaction that first takes the transaction-level
//! advisory lock [`MIGRATION_LOCK`] (`pg_advisory_xact_lock`). Replicas starting at the
//! same moment queue on that lock; each then reads `schema_migrations` under it, so the
//! first applies what is missing and the others find nothing left to do. PostgreSQL's DDL
//! is transactional: a failed migration leaves no half-applied schema, and the lock is
//! released by the commit or rollback, never left behind by a crashed process.
//!
//! # Isolation: READ COMMITTED, and why rotation is still exact
//!
//! Every statement runs at PostgreSQL's default isolation, READ COMMITTED: each statement
//! sees the rows committed before it started, and an `UPDATE` that meets a row another
//! transaction has changed waits for that transaction, then re-checks its `WHERE` against
//! the row's newest version (and skips the row if it no longer matches).
//!
//! [`rotate_refresh`](tessera_tokens::Store::rotate_refresh) on a live token is one
//! statement, so it needs no `BEGIN`/`COMMIT` to be atomic:
//!
//! 1. `UPDATE refresh_tokens SET spent_at = now WHERE hash = $1 AND spent_at IS NULL` (and
//!    its session is live) `RETURNING session_id` — the spend. Its row lock serializes
//!    concurrent spends of one token, on any replica: the first locks the row; the others
//!    wait, and once it commits they re-check `spent_at IS NULL`, which is now false, so
//!    they update nothing. A token is spent exactly once.
//! 2. `UPDATE sessions … WHERE id = <spent session> AND <still live> RETURNING …` — slides
//!    the session forward and counts the generation.
//! 3. `INSERT` of the successor hash, for the session the second step returned.
//!
//! (three data-modifying parts of one `WITH` statement: the second reads the first's
//! `RETURNING`, the third the second's, so they run in that order, and all commit or none.)
//!
//! When it returns no row, the token was unknown, spent, or its session not live, and a
//! **second, new statement** reads the token and its session. It must be a new statement:
//! the first one's snapshot predates the winner's commit when it had to wait for the row
//! lock, while the new statement sees everything committed before it — the spend, the
//! successor and the session as the winner left it. Its answer is decided by the rules the
//! SQLite backend uses (`crate::rotation`):
//!
//! - unknown → `Unknown`; session revoked or expired → `Revoked`/`Expired` (the spend in
//!   step 1 only happens for a live session, so such a token was not spent);
//! - spent inside the grace window → `Grace` with the session the winner returned: every
//!   concurrent request converges on the same successor;
//! - spent before the grace window → a third statement,
//!   `UPDATE sessions SET revoked_at … WHERE id = … AND revoked_at IS NULL`, revokes the
//!   family: `Reused` when it revoked the session, `Revoked` when something else revoked it
//!   first. `spent_at` never changes once set, so deciding on the second statement's read
//!   and revoking in the third is the same as doing both at the instant of the third.
//! - a live token of a live session (the spend did not see it because it was committed
//!   between the two statements) → the rotation starts over, a bounded number of times.
//!
//! One difference from SQLite is invisible to clients: a session revoked after step 1
//! started but before step 2 touched it keeps the token spent by step 1 (SQLite would roll
//! that spend back); the answer is `Revoked` either way, and a revoked session stays revoked.
//!
//! A rotation that succeeds is therefore one statement and one query round trip; `Grace`,
//! `Unknown`, `Expired` and `Revoked` cost two statements, `Reused` three. None uses
//! `BEGIN`/`COMMIT`. Other writes are single statements too (`create_session` inserts the session and
//! its first token in one `WITH` statement), except two transactions that must read before
//! they write: `rotate_signing_key` (under an advisory lock) and `create_capped_session`,
//! which locks the user's row (`SELECT … FOR UPDATE`) before counting the user's live
//! sessions, so concurrent logins of one user count one after another and never exceed the
//! cap.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor};
use tessera_tokens::StoreError;

use crate::migrations;
use outage::Outage;

mod outage;
mod store;

/// The key of the advisory lock that serializes migrations across replicas ("tessera" in
/// ASCII, then 1): fixed forever, so every version of Tessera takes the same lock.
pub const MIGRATION_LOCK: i64 = 0x7465_7373_6572_6101;

/// A pooled connection idle at least this long is pinged before use (see the
/// [module docs](self)).
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The key of the advisory lock that serializes signing-key rotations across replicas
/// ("tessera" in ASCII, then 2).
pub const KEY_ROTATION_LOCK: i64 = 0x7465_7373_6572_6102;

/// Settings of a [`PostgresStore`]'s connection pool (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most connections open at once; default 16, at least 1.
    pub max_connections: u32,
    /// Connections opened at start and kept open; default 0, at most `max_connections`.
    pub min_connections: u32,
    /// How long an operation waits for a connection (a free one, or a new one while the
    /// server does not answer) before failing with [`StoreError::Unavailable`]; default
    /// 5 s, more than zero.
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection: a statement running (or
    /// waiting for a lock) longer is cancelled, and the operation fails with
    /// [`StoreError::Unavailable`]; default 5 s; `Duration::ZERO` means no limit.
    pub statement_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// [`Store`](tessera_tokens::Store) on PostgreSQL (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Shared with the pool's `before_acquire` hook.
    outage: Arc<Outage>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname`, or
    /// `postgresql://…`, with libpq's query parameters such as `sslmode`) and applies the
    /// missing migrations under the advisory lock, then gives accounts from before the RFC
    /// 8265 username rules their new key ([`tessera_tokens::normalize_usernames`]).
    ///
    /// Refuses an unparsable URL and invalid options ([`StoreError::Other`], never echoing
    /// the URL, which may hold a password), and a database migrated by a newer Tessera. A
    /// server that cannot be reached within `acquire_timeout` is
    /// [`StoreError::Unavailable`].
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        if options.max_connections == 0 {
            return Err(StoreError::Other(
                "postgres: max_connections must be at least 1".into(),
            ));
        }
        if options.min_connections > options.max_connections {
            return Err(StoreError::Other(
                "postgres: min_connections must not exceed max_connections".into(),
            ));
        }
        if options.acquire_timeout.is_zero() {
            return Err(StoreError::Other(
                "postgres: acquire_timeout must be more than zero".into(),
            ));
        }
        let mut connect = PgConnectOptions::from_str(url).map_err(|_| {
            StoreError::Other(
                "database url: not a valid postgres://user@host:port/dbname URL".into(),
            )
        })?;
        // A startup parameter: set by the server as the connection opens, no round trip.
        connect = connect.options([("statement_timeout", options.statement_timeout.as_millis())]);
        if connect.get_application_name().is_none() {
            connect = connect.application_name("tessera");
        }

        let outage = Arc::new(Outage::new(connect.clone(), options.acquire_timeout));
        let hook = Arc::clone(&outage);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            // Like sqlx's `test_before_acquire`, but only for connections idle a while, and
            // telling the latch: a dead idle connection is often the first sign that the
            // server went away.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                let outage = Arc::clone(&hook);
                Box::pin(async move {
                    if meta.idle_for < PING_IF_IDLE_FOR && !outage.suspect_idle_for(meta.idle_for) {
                        return Ok(true);
                    }
                    if let Err(e) = conn.ping().await {
                        if suggests_outage(&e) {
                            outage.confirm().await;
                        }
                        return Err(e);
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        migrate(&pool).await?;
        tracing::debug!(?options, "postgres store open");
        let store = PostgresStore { pool, outage };
        // The part of migration 3 that SQL cannot do.
        tessera_tokens::normalize_usernames(&store).await?;
        Ok(store)
    }

    /// Runs one operation on the pool (`op` gets the pool as its executor: one statement,
    /// or a transaction it begins) through the outage latch ([module docs](self)): refused
    /// at once while the server is marked unreachable, abandoned while waiting once it is,
    /// and a failure that may mean the server is gone gets it probed.
    async fn run<'s, T, F>(&'s self, op: impl FnOnce(&'s PgPool) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        self.outage.admit().await?;
        match self.outage.watch(op(&self.pool)).await {
            Some(Ok(done)) => Ok(done),
            Some(Err(e)) => {
                if suggests_outage(&e) {
                    self.outage.confirm().await;
                }
                Err(map_err(e))
            }
            None => Err(self.outage.unavailable()),
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Applies the missing [`migrations::POSTGRES`] in one transaction, under
/// [`MIGRATION_LOCK`], each recorded in `schema_migrations`.
async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    // Replicas queue here; a migration may outlast a request's statement_timeout.
    (&mut *tx)
        .execute("SET LOCAL statement_timeout = 0")
        .await
        .map_err(map_err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    (&mut *tx)
        .execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
                version BIGINT NOT NULL PRIMARY KEY, \
                applied_at BIGINT NOT NULL\
            )",
        )
        .await
        .map_err(map_err)?;
    let newest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let known = migrations::POSTGRES.last().map_or(0, |m| m.version);
    if newest > known {
        return Err(StoreError::Other(format!(
            "postgres: the database schema is at version {newest}, newer than this build of \
             Tessera knows ({known}); upgrade Tessera"
        )));
    }
    // A plain loop: a `filter` closure held across the await would make the future !Send.
    for m in migrations::POSTGRES {
        if m.version <= newest {
            continue;
        }
        (&mut *tx)
            .execute(sqlx::raw_sql(m.sql))
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at) \
             VALUES ($1, EXTRACT(EPOCH FROM now())::BIGINT)",
        )
        .bind(m.version)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applying postgres migration"
        );
    }
    tx.commit().await.map_err(map_err)
}

/// SQLSTATEs that mean "the database cannot serve this now; nothing was written":
/// connection exceptions (class 08), insufficient resources (class 53: too many
/// connections, disk full, out of memory), operator intervention (`57014` query_canceled —
/// the statement timeout —, `57P01` admin_shutdown, `57P02` crash_shutdown, `57P03`
/// cannot_connect_now, `57P04` database_dropped), and the transaction rollbacks a retry
/// resolves (`40001` serialization_failure, `40P01` deadlock_detected).
fn is_unavailable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || matches!(code, "40001" | "40P01")
}

/// Errors that may mean the server is unreachable, so that the outage latch should look:
/// a broken or refused connection, no connection within `acquire_timeout` (or a busy
/// pool: the probe tells them apart), and the server closing connections as it shuts down
/// or refusing them as it starts (class 08, `57P01`–`57P03`). Not a statement timeout, a
/// conflict or a full server: those come from a server that answers.
fn suggests_outage(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// The one place PostgreSQL and pool errors become [`StoreError`]s.
///
/// Messages carry the SQLSTATE and PostgreSQL's primary message (which names constraints
/// and types), never the `DETAIL` line that quotes key values, and only the SQLSTATE for
/// data exceptions (class 22), whose messages quote the offending input.
fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            let text = if code.starts_with("22") {
                format!("postgres error {code}")
            } else {
                format!("postgres error {code}: {}", db.message())
            };
            if code == "23505" {
                StoreError::Conflict(text)
            } else if is_unavailable(&code) {
                StoreError::Unavailable(text)
            } else {
                StoreError::Other(text)
            }
        }
        // Refused, reset or broken connections; no connection within acquire_timeout.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("postgres: {err}")),
        _ => StoreError::Other(format!("postgres: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server spawns start-up work; `connect` must be usable there.
    #[test]
    fn connect_future_is_send() {
        fn send<T: Send>(_: &T) {}
        send(&PostgresStore::connect(
            "postgres://localhost/unused",
            PostgresOptions::default(),
        ));
    }

    #[test]
    fn unavailable_codes() {
        for code in [
            "08000", "08001", "08006", "08P01", "53300", "53100", "57014", "57P01", "57P03",
            "40001", "40P01",
        ] {
            assert!(is_unavailable(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", "22P02", "XX000", ""] {
            assert!(!is_unavailable(code), "{code}");
        }
    }

    #[test]
    fn pool_and_io_errors_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for err in [
            sqlx::Error::Io(refused),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
        ] {
            assert!(matches!(map_err(err), StoreError::Unavailable(_)));
        }
        assert!(matches!(
            map_err(sqlx::Error::RowNotFound),
            StoreError::NotFound
        ));
        assert!(matches!(
            map_err(sqlx::Error::Protocol("x".into())),
            StoreError::Other(_)
        ));
    }

    #[test]
    fn broken_connections_and_pool_timeouts_suggest_an_outage() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        for err in [
            sqlx::Error::Io(refused),
            sqlx::Error::Io(eof),
            sqlx::Error::PoolTimedOut,
        ] {
            assert!(suggests_outage(&err), "{err}");
        }
        // A store closed on purpose, a missing row, a decoding bug: no.
        for err in [
            sqlx::Error::PoolClosed,
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("x".into()),
        ] {
            assert!(!suggests_outage(&err), "{err}");
        }
    }
}
