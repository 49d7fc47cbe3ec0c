//! PostgreSQL for the tests that run `tessera serve` on it (replicas, faults): the server at
//! `TESSERA_TEST_PG_URL` (default [`PG_DEFAULT_URL`], trust auth), reached with `psql`, and
//! a database of each test's own, dropped at the end.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The PostgreSQL server CI starts, through its maintenance database.
pub const PG_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The maintenance URL: `TESSERA_TEST_PG_URL`, or [`PG_DEFAULT_URL`].
pub fn maintenance_url() -> String {
    std::env::var("TESSERA_TEST_PG_URL").unwrap_or_else(|_| PG_DEFAULT_URL.to_owned())
}

/// `psql -c SQL` on `url`; its output, or why it failed (on one line).
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "3")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        // psql's message spans lines; one line reads better in a note or a panic.
        let message = String::from_utf8_lossy(&out.stderr);
        Err(message.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// The parts of a `postgres://[userinfo@]host[:port][/db][?query]` URL: everything up to
/// the host, the `host:port`, and the query (with its `?`, or empty).
pub fn split_url(url: &str) -> (&str, String, &str) {
    let (base, query) = url.find('?').map_or((url, ""), |i| url.split_at(i));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let end = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let host_at = base[authority..end]
        .rfind('@')
        .map_or(authority, |i| authority + i + 1);
    let host = &base[host_at..end];
    let host_port = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    (&base[..host_at], host_port, query)
}

/// A database of one test's own, `tessera_test_<label>_<pid>_<n>`, dropped on drop.
pub struct TestDb {
    maintenance: String,
    name: String,
}

impl TestDb {
    pub fn create(maintenance: &str, label: &str) -> TestDb {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("tessera_test_{label}_{}_{n}", std::process::id());
        // A killed run of an earlier process with this pid may have left it.
        psql(
            maintenance,
            &format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#),
        )
        .and_then(|_| psql(maintenance, &format!(r#"CREATE DATABASE "{name}""#)))
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        TestDb {
            maintenance: maintenance.to_owned(),
            name,
        }
    }

    /// Its URL on the server itself.
    pub fn url(&self) -> String {
        self.url_at(&split_url(&self.maintenance).1)
    }

    /// Its URL through another `host:port` (a relay in front of the server).
    pub fn url_at(&self, host_port: &str) -> String {
        let (front, _, query) = split_url(&self.maintenance);
        format!("{front}{host_port}/{}{query}", self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        if let Err(e) = psql(&self.maintenance, &drop) {
            let _ = writeln!(std::io::stderr(), "dropping {}: {e}", self.name);
        }
    }
}
