//! `tessera serve` run for real, on a loopback port, reached with the test kit's blocking
//! client ([`Api`]); and the verification of its tokens with `token verify --jwks URL`.

use std::fs::{self, File};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tessera_testkit::{free_port, Api};

use crate::{Dir, BIN};

/// Longest wait for a started server to answer `/healthz`.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// The admin token the server is started with (for `/oauth/introspect`).
pub const ADMIN_TOKEN: &str = "test-admin-token-not-a-secret-0123456789";

/// A running `tessera serve`, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    api: Api,
}

impl Server {
    /// Starts `tessera serve` in `dir` on a free loopback port.
    pub fn start(dir: &Dir) -> Server {
        Server::start_with_env(dir, &[])
    }

    /// Starts `tessera serve` in `dir` on a free loopback port as [`Server::start`] does,
    /// with the variables of `env` set as well (e.g. `TESSERA_DATABASE__URL`).
    pub fn start_with_env(dir: &Dir, env: &[(&str, &str)]) -> Server {
        // A port found free can be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            match Server::spawn(dir, free_port(), env) {
                Ok(server) => return server,
                Err(why) => last = why,
            }
        }
        panic!("tessera serve did not start: {last}");
    }

    /// Starts `tessera serve` in `dir` on `port` (the issuer names the port, so a restart
    /// must use the same one).
    pub fn start_on(dir: &Dir, port: u16) -> Result<Server, String> {
        Server::spawn(dir, port, &[])
    }

    /// [`Server::start_on`] with the variables of `env` set as well.
    pub fn start_on_with_env(dir: &Dir, port: u16, env: &[(&str, &str)]) -> Result<Server, String> {
        Server::spawn(dir, port, env)
    }

    fn spawn(dir: &Dir, port: u16, env: &[(&str, &str)]) -> Result<Server, String> {
        let log = dir.file(&format!("serve-{port}-{}.log", unique()));
        let out = File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env("TESSERA_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "1000000")
            .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "100000")
            .env("TESSERA_RATE_LIMIT__LOGIN_SUCCESS_PER_MINUTE", "100000")
            .env("TESSERA_SESSIONS__MAX_PER_USER", "100000")
            .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "100000")
            .env("TESSERA_LOG__LEVEL", "warn")
            .env("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let api = Api::new(&format!("http://127.0.0.1:{port}"));
        let mut server = Server {
            child,
            port,
            log,
            api,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Waits until `/healthz` answers 200, or the process exits, or the deadline passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", self.log_text()));
            }
            if let Ok((200, _)) = self.api.try_get("/healthz", None) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no /healthz within {START_DEADLINE:?}: {}",
                    self.log_text()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its HTTP API.
    pub fn api(&self) -> &Api {
        &self.api
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` — also the issuer of its tokens.
    pub fn base(&self) -> String {
        self.api.base().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        self.api.url(path)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the server wrote to stdout and stderr.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A number that differs between calls, for file names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A token from a real login verifies against the server's published JWKS, fetched by URL,
/// with the server's issuer and audience; and not with another audience.
#[test]
fn jwks_url_of_a_running_server_verifies_its_tokens() {
    let dir = Dir::new();
    let server = Server::start(&dir);
    let sub = server.api().signup("jwks-user");
    let login = server.api().login("jwks-user");
    let token = login.access.as_str();
    let jwks = server.url("/.well-known/jwks.json");
    let base = server.base();
    let claims = dir
        .verify(token, &["--jwks", &jwks, "--iss", &base, "--aud", "api"])
        .json();
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["sid"], login.sid.as_str());
    dir.verify(token, &["--jwks", &jwks, "--aud", "other"])
        .fails(1, "invalid_audience");
    // The path is wrong: a 404 is a fetch failure, not a verdict on the token.
    let run = dir.verify(token, &["--jwks", &server.url("/jwks.json")]);
    run.fails(2, "invalid_request");
    assert!(run.stderr.contains("HTTP 404"), "{run:#?}");
}
