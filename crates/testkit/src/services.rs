//! The external services some tests need, PostgreSQL and Redis, and what happens when one
//! is missing.
//!
//! The rule: a test that needs a service that does not answer is skipped: it returns
//! without running, after one line on stderr naming the test and the service. When the
//! `CI` environment variable is set it fails instead, since CI starts both services
//! (`.ci/run`) and a skipped test there would hide a broken setup.
//!
//! Whether a service answers is decided once per test binary, by the first test that asks:
//! a missing service costs one connection attempt, not one per test. PostgreSQL's check
//! also clears what killed runs left behind ([`pg`](crate::pg)).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

/// Where Redis listens.
pub const REDIS_ADDR: &str = "127.0.0.1:6379";

/// [`REDIS_ADDR`] as a `redis.url`.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A service a test may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The server at [`maintenance_url`](crate::pg::maintenance_url).
    Postgres,
    /// The server at [`REDIS_ADDR`].
    Redis,
}

impl Service {
    /// `Ok` when the service answers; otherwise why not. Decided once per process.
    fn reachable(self) -> &'static Result<(), String> {
        static POSTGRES: OnceLock<Result<(), String>> = OnceLock::new();
        static REDIS: OnceLock<Result<(), String>> = OnceLock::new();
        match self {
            Service::Postgres => POSTGRES.get_or_init(crate::pg::check_server),
            Service::Redis => REDIS.get_or_init(redis_ping),
        }
    }

    /// The service and where it was looked for (never a URL that may hold a password).
    fn describe(self) -> String {
        match self {
            Service::Postgres => format!("PostgreSQL at {}", crate::pg::where_from()),
            Service::Redis => format!("Redis at {REDIS_ADDR}"),
        }
    }
}

/// Whether every service in `needs` answers. When one does not: a panic if `CI` is set;
/// otherwise one note on stderr naming the running test and the service, and `false`, on
/// which the test returns without running.
#[track_caller]
pub fn available(needs: &[Service]) -> bool {
    let Some((service, why)) = needs
        .iter()
        .find_map(|s| s.reachable().as_ref().err().map(|why| (s, why)))
    else {
        return true;
    };
    let test = crate::current_test();
    let service = service.describe();
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {service} is not reachable ({why}); CI needs it (.ci/run starts it)");
    }
    // Straight to stderr: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "note: {test} skipped: {service} is not reachable ({why}) (with CI set it fails \
         instead)"
    );
    false
}

/// [`REDIS_URL`] when Redis answers; otherwise as [`available`] says.
#[track_caller]
pub fn redis() -> Option<&'static str> {
    available(&[Service::Redis]).then_some(REDIS_URL)
}

/// `PING` answered by `+PONG` within a second.
fn redis_ping() -> Result<(), String> {
    let addr: SocketAddr = REDIS_ADDR.parse().map_err(|e| format!("{e}"))?;
    let timeout = Duration::from_secs(1);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).map_err(|e| e.to_string())?;
    match &reply {
        b"+PONG\r\n" => Ok(()),
        other => Err(format!(
            "PING answered {:?}",
            String::from_utf8_lossy(other)
        )),
    }
}
