//! PostgreSQL databases for tests: one per test, so that tests run in parallel on one
//! server without seeing each other's rows, and none is left behind.
//!
//! The server is `TESSERA_TEST_PG_URL` (default [`DEFAULT_URL`], the one CI starts, trust
//! auth), reached through its maintenance database. [`TestDb::create`] makes
//! `tessera_test_<label>_<pid>_<n>` there and its `Drop` drops it, `WITH (FORCE)`, panic or
//! not. When the server does not answer, `create` follows the rule of
//! [`services`](crate::services): `None` after a note, or a panic under `CI`. The first test
//! of a run that reaches the server also drops the `tessera_test_*` databases older than an
//! hour: those of runs that were killed before their `Drop` ran.
//!
//! All of it goes through sqlx on the kit's own runtime, so sync tests use it as they are
//! and async tests need not share their runtime; [`TestDb::connect`] is the exception, a
//! connection for the caller's own runtime.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::{Connection, Executor, PgConnection};

use crate::services::{self, Service};

/// The PostgreSQL server CI starts (see `.ci/run`), through its maintenance database.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The variable that names another server.
const URL_VAR: &str = "TESSERA_TEST_PG_URL";

/// The maintenance URL: `TESSERA_TEST_PG_URL`, or [`DEFAULT_URL`].
pub fn maintenance_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Where the server was looked for, for messages: the variable's name rather than its
/// value, which may hold a password.
pub(crate) fn where_from() -> &'static str {
    if std::env::var_os(URL_VAR).is_some() {
        URL_VAR
    } else {
        DEFAULT_URL
    }
}

/// Whether the server answers within 3 s; when it does, stale databases are dropped.
pub(crate) fn check_server() -> Result<(), String> {
    let url = maintenance_url();
    let deadline = Duration::from_secs(3);
    crate::run(async {
        let mut conn = match tokio::time::timeout(deadline, PgConnection::connect(&url)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("no answer within {deadline:?}")),
        };
        drop_stale_databases(&mut conn).await;
        let _ = conn.close().await;
        Ok(())
    })
    .and_then(|checked| checked)
}

/// Drops `tessera_test_*` databases created more than an hour ago (their `PG_VERSION` file
/// is as old as they are). Needs a superuser; quietly does nothing otherwise.
async fn drop_stale_databases(conn: &mut PgConnection) {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'tessera\\_test\\_%' \
         AND (pg_stat_file('base/' || oid || '/PG_VERSION', true)).modification \
             < now() - interval '1 hour'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in stale {
        let _ = conn.execute(drop_database(&name).as_str()).await;
    }
}

fn drop_database(name: &str) -> String {
    format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)
}

/// A database of one test's own: created empty, dropped on drop (also when the test
/// panics), whoever is still connected.
pub struct TestDb {
    name: String,
    url: String,
    maintenance: String,
}

impl TestDb {
    /// Creates `tessera_test_<label>_<pid>_<n>`; `None` when the server is unreachable and
    /// the test may be skipped (see [`services`]). `label` says which suite made it, in
    /// lower case, digits and `_`.
    #[track_caller]
    pub fn create(label: &str) -> Option<TestDb> {
        assert!(
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "a database label is [a-z0-9_]+: {label:?}"
        );
        if !services::available(&[Service::Postgres]) {
            return None;
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("tessera_test_{label}_{}_{n}", std::process::id());
        let maintenance = maintenance_url();
        crate::run(async {
            let mut conn = PgConnection::connect(&maintenance).await?;
            // A killed run of an earlier process with this pid may have left it.
            conn.execute(drop_database(&name).as_str()).await?;
            conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                .await?;
            conn.close().await
        })
        .and_then(|created| created.map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let server = Url::parse(&maintenance);
        let url = server.with(&server.host_port, &name);
        Some(TestDb {
            name,
            url,
            maintenance,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its URL on the server itself.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's `host:port`: where a [`Relay`](crate::Relay) in front of it forwards.
    pub fn server_addr(&self) -> String {
        Url::parse(&self.url).host_port
    }

    /// Its URL through another `host:port` (a relay in front of the server); everything
    /// else (user, query parameters) as in [`url`](TestDb::url).
    pub fn url_via(&self, host_port: &str) -> String {
        let server = Url::parse(&self.url);
        assert_ne!(
            host_port, server.host_port,
            "a relayed URL must not be the server's own"
        );
        server.with(host_port, &self.name)
    }

    /// A connection of its own to the database, on the caller's runtime.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.name))
    }

    /// Every row of `sql`, each as `R` (a tuple of the columns' Rust types), on a
    /// connection of its own. Blocking: for sync tests.
    pub fn query<R>(&self, sql: &str) -> Vec<R>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        crate::run(async {
            let mut conn = PgConnection::connect(&self.url).await?;
            let rows = sqlx::query_as::<_, R>(sql).fetch_all(&mut conn).await?;
            conn.close().await?;
            Ok::<_, sqlx::Error>(rows)
        })
        .and_then(|rows| rows.map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{sql} on {}: {e}", self.name))
    }
}

/// The name only: the URLs may hold a password.
impl fmt::Debug for TestDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDb")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let dropped = crate::run(async {
            let mut conn = PgConnection::connect(&self.maintenance).await?;
            conn.execute(drop_database(&self.name).as_str()).await?;
            conn.close().await
        })
        .and_then(|dropped| dropped.map_err(|e| e.to_string()));
        if let Err(e) = dropped {
            // No panic: this may run while the test unwinds. The next run's clean-up
            // drops it within the hour.
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop test database {}: {e}",
                self.name
            );
        }
    }
}

/// A `postgres://[userinfo@]host[:port][/database][?query]` URL, in the parts the kit
/// rewrites.
#[derive(Debug, PartialEq, Eq)]
struct Url<'a> {
    /// The scheme and the user info, up to the host.
    front: &'a str,
    /// `host:port`; the port is PostgreSQL's 5432 when the URL names none.
    host_port: String,
    /// The query with its `?`, or empty.
    query: &'a str,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Url<'a> {
        let (base, query) = url.find('?').map_or((url, ""), |i| url.split_at(i));
        let authority = base.find("://").map_or(0, |i| i + 3);
        let end = base[authority..]
            .find('/')
            .map_or(base.len(), |i| authority + i);
        let host_at = base[authority..end]
            .rfind('@')
            .map_or(authority, |i| authority + i + 1);
        let host = &base[host_at..end];
        // An IPv6 host is bracketed; a port, if any, follows the bracket.
        let after_host = host.rfind(']').map_or(host, |i| &host[i..]);
        let host_port = if after_host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        Url {
            front: &base[..host_at],
            host_port,
            query,
        }
    }

    fn with(&self, host_port: &str, database: &str) -> String {
        format!("{}{host_port}/{database}{}", self.front, self.query)
    }
}

#[cfg(test)]
mod tests {
    use super::Url;

    #[test]
    fn urls_are_rewritten_keeping_user_and_query() {
        let url = Url::parse("postgres://tessera:pw@db.internal:6543/postgres?sslmode=disable");
        assert_eq!(url.host_port, "db.internal:6543");
        assert_eq!(
            url.with("127.0.0.1:40000", "tessera_test_x_1_0"),
            "postgres://tessera:pw@127.0.0.1:40000/tessera_test_x_1_0?sslmode=disable"
        );
    }

    #[test]
    fn the_port_defaults_to_5432() {
        for (url, host_port) in [
            ("postgres://postgres@127.0.0.1/postgres", "127.0.0.1:5432"),
            ("postgresql://localhost", "localhost:5432"),
            ("postgres://u@[::1]/postgres", "[::1]:5432"),
            ("postgres://u@[::1]:5433/postgres", "[::1]:5433"),
        ] {
            assert_eq!(Url::parse(url).host_port, host_port, "{url}");
        }
        assert_eq!(
            Url::parse(super::DEFAULT_URL).with("127.0.0.1:5432", "d"),
            "postgres://postgres@127.0.0.1:5432/d"
        );
    }
}
