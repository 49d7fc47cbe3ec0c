//! `tessera serve` run for real, on a loopback port, with a small blocking HTTP client; and
//! the verification of its tokens with `token verify --jwks URL`.

use std::fs::{self, File};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{Dir, BIN};

/// Longest wait for a started server to answer `/healthz`.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// The admin token the server is started with (for `/oauth/introspect`).
pub const ADMIN_TOKEN: &str = "test-admin-token-not-a-secret-0123456789";

/// A password the server accepts.
pub const PASSWORD: &str = "correct horse battery";

/// A running `tessera serve`, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Server {
    /// Starts `tessera serve` in `dir` on a free loopback port.
    pub fn start(dir: &Dir) -> Server {
        // A port found free can be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            match Server::start_on(dir, free_port()) {
                Ok(server) => return server,
                Err(why) => last = why,
            }
        }
        panic!("tessera serve did not start: {last}");
    }

    /// Starts `tessera serve` in `dir` on `port` (the issuer names the port, so a restart
    /// must use the same one).
    pub fn start_on(dir: &Dir, port: u16) -> Result<Server, String> {
        let log = dir.file(&format!("serve-{port}-{}.log", unique()));
        let out = File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env("TESSERA_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "1000000")
            .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "100000")
            .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "100000")
            .env("TESSERA_LOG__LEVEL", "warn")
            .env("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut server = Server { child, port, log };
        server.wait_ready()?;
        Ok(server)
    }

    /// Waits until `/healthz` answers 200, or the process exits, or the deadline passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let agent = agent();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", self.log_text()));
            }
            if let Ok(r) = agent.get(self.url("/healthz")).call() {
                if r.status() == 200 {
                    return Ok(());
                }
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

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` — also the issuer of its tokens.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
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

    /// Signs up `username` and returns its id.
    pub fn signup(&self, username: &str) -> String {
        let (status, body) = post_json(
            &agent(),
            &self.url("/v1/users"),
            &json!({"username": username, "password": PASSWORD}),
        );
        assert_eq!(status, 201, "signup: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Logs in with the refresh token in the body; the TokenResponse.
    pub fn login(&self, username: &str) -> Value {
        let (status, body) = post_json(
            &agent(),
            &self.url("/v1/login"),
            &json!({"username": username, "password": PASSWORD, "delivery": "body"}),
        );
        assert_eq!(status, 200, "login: {body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A number that differs between calls, for file names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A blocking client for loopback tests: every status is an answer, not an error; bounded
/// in time; never through a proxy.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .proxy(None)
        .build()
        .new_agent()
}

/// POSTs `body` as JSON; the status and the JSON answer (`null` when there is none).
pub fn post_json(agent: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    let response = agent
        .post(url)
        .content_type("application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    answer(response)
}

/// GETs `url` with a Bearer token; the status and the JSON answer.
pub fn get_bearer(agent: &ureq::Agent, url: &str, token: &str) -> (u16, Value) {
    let response = agent
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    answer(response)
}

/// The status and JSON body (`null` when not JSON) of a response.
pub fn answer(mut response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A token from a real login verifies against the server's published JWKS, fetched by URL,
/// with the server's issuer and audience; and not with another audience.
#[test]
fn jwks_url_of_a_running_server_verifies_its_tokens() {
    let dir = Dir::new();
    let server = Server::start(&dir);
    let sub = server.signup("jwks-user");
    let login = server.login("jwks-user");
    let token = login["access_token"].as_str().unwrap();
    let jwks = server.url("/.well-known/jwks.json");
    let base = server.base();
    let claims = dir
        .verify(token, &["--jwks", &jwks, "--iss", &base, "--aud", "api"])
        .json();
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["sid"], login["session_id"]);
    dir.verify(token, &["--jwks", &jwks, "--aud", "other"])
        .fails(1, "invalid_audience");
    // The path is wrong: a 404 is a fetch failure, not a verdict on the token.
    let run = dir.verify(token, &["--jwks", &server.url("/jwks.json")]);
    run.fails(2, "invalid_request");
    assert!(run.stderr.contains("HTTP 404"), "{run:#?}");
}

impl Server {
    /// Starts `tessera serve` in `dir` on a free loopback port as [`Server::start`] does,
    /// with the variables of `env` set as well (e.g. `TESSERA_DATABASE__URL`).
    pub fn start_with_env(dir: &Dir, env: &[(&str, &str)]) -> Server {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = dir.file(&format!("serve-{port}-{}.log", unique()));
            let out = File::create(&log).unwrap();
            let child = Command::new(BIN)
                .arg("serve")
                .current_dir(dir.path())
                .env("TESSERA_SERVER__BIND", format!("127.0.0.1:{port}"))
                .env("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "1000000")
                .env("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "100000")
                .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "100000")
                .env("TESSERA_LOG__LEVEL", "warn")
                .env("TESSERA_ADMIN_TOKEN", ADMIN_TOKEN)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap();
            let mut server = Server { child, port, log };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(why) => last = why,
            }
        }
        panic!("tessera serve did not start: {last}");
    }
}
