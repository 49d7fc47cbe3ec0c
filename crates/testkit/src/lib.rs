//! Test support for Tessera's test suites, written once: the store's tests
//! (`crates/store/tests`), the server's (`crates/server/tests`) and the process-level tests
//! of the `tessera` binary (`crates/cli/tests`) all take it as a dev-dependency.
//!
//! - [`services`]: whether PostgreSQL and Redis answer, and the rule for a test that needs
//!   one that does not: skipped with a note, or failed when `CI` is set.
//! - [`pg`]: a PostgreSQL database of one test's own ([`TestDb`]), created on demand and
//!   dropped on drop, reachable directly or through a relay.
//! - [`relay`]: a TCP relay ([`Relay`]) that a test cuts and restores, so that a database
//!   "goes away" and "comes back" without touching the server other tests share.
//! - [`api`]: a running server's HTTP API through a blocking client ([`Api`]): sign-up,
//!   login, refresh, `/v1/me`; the answers the tests expect of it (docs/http-api.md "Error codes"), such as
//!   [`api::assert_session_revoked`].
//!
//! Everything here is blocking and usable from any test, sync or `#[tokio::test]`: the
//! PostgreSQL work runs on a runtime of the kit's own, on a thread of its own.
//!
//! ```no_run
//! use tessera_testkit::{Relay, TestDb};
//!
//! // `None` (after a note on stderr) when PostgreSQL is unreachable; a panic under `CI`.
//! let Some(db) = TestDb::create("example") else {
//!     return;
//! };
//! let mut relay = Relay::start(&db.server_addr());
//! let url = db.url_via(&relay.addr()); // what the code under test connects to
//! relay.cut(); // the database goes away: port closed, every connection shut
//! relay.restore(); // and comes back on the same port
//! # drop(url);
//! ```
#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

pub mod api;
pub mod pg;
pub mod relay;
pub mod services;

use std::future::Future;
use std::net::TcpListener;

pub use api::{Answer, Api, Tokens, PASSWORD};
pub use pg::TestDb;
pub use relay::Relay;

/// A loopback port that was free a moment ago (someone else may take it before the
/// caller binds it: callers that start a server on it retry).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running test's name: libtest runs each test on a thread named after it.
fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "a test".to_owned(),
    }
}

/// Runs `work` on a runtime of its own, on a thread of its own, and waits for it: callable
/// from a sync test, from inside another runtime (a `#[tokio::test]`, where a nested
/// `block_on` would panic) and from `Drop`. `Err` only when the runtime cannot be built or
/// `work` panics.
fn run<F>(work: F) -> Result<F::Output, String>
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("building the test kit's runtime: {e}"))?;
                Ok(runtime.block_on(work))
            })
            .join()
            .unwrap_or_else(|_| Err("the test kit's runtime thread panicked".to_owned()))
    })
}
