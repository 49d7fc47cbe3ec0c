//! The test harness: one app per test, on 127.0.0.1:0, with a reqwest client. What the
//! suites share beyond this in-process app (the test password, a login's [`Tokens`], the
//! shape of an error answer and of a revoked session) comes from `tessera_testkit::api`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::header::{HeaderMap, CONTENT_TYPE, SET_COOKIE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tessera_jose::SecretString;
use tessera_server::rate_limit::RateLimiter;
use tessera_server::{app, AppState, Config};
use tessera_store::{SqliteOptions, SqliteStore};
use tessera_testkit::api::{self, Answer};
pub use tessera_testkit::api::{tokens, Tokens, PASSWORD};
use tessera_tokens::{ManualClock, MasterKey, PasswordParams};

/// The admin token of apps started with one.
pub const ADMIN: &str = "test-admin-token-7f3a9c1e5b-0123456789";
/// Start time of every manual clock.
pub const T0: i64 = 1_800_000_000;
/// `server.public_url` of test apps: the one browser origin allowed by default.
pub const PUBLIC_URL: &str = "http://tessera.test";
/// The refresh cookie's name with the default `cookie.secure = true`.
pub const COOKIE: &str = "__Host-tessera_refresh";

/// Everything every test app logs, at TRACE level: one global subscriber for the whole
/// binary, installed before the first app starts (a per-test `set_default` would race with
/// tracing's callsite-interest cache while other tests run in parallel).
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured logs so far.
pub fn captured_logs() -> String {
    let capture = LOGS.get().expect("an app was started");
    String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Capture> = OnceLock::new();

fn capture_logs() {
    LOGS.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        capture
    });
}

/// How a test app is set up.
pub struct Setup {
    pub env: Vec<(String, String)>,
    pub admin: Option<&'static str>,
    /// `server.public_url`; `None` leaves the default (`http://` + bind).
    pub public_url: Option<&'static str>,
    /// A Redis limiter at this URL under this key prefix, in place of the configured one.
    pub redis: Option<(String, String)>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            env: Vec::new(),
            admin: Some(ADMIN),
            public_url: Some(PUBLIC_URL),
            redis: None,
        }
    }
}

impl Setup {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn no_admin(mut self) -> Self {
        self.admin = None;
        self
    }

    /// Leaves `server.public_url` at its default, as `tessera serve` with no configuration.
    pub fn default_public_url(mut self) -> Self {
        self.public_url = None;
        self
    }

    /// Counts rate limits in Redis at `url`, keys under `prefix` (unique per test).
    pub fn redis(mut self, url: &str, prefix: &str) -> Self {
        self.redis = Some((url.to_owned(), prefix.to_owned()));
        self
    }

    pub async fn start(self) -> TestApp {
        TestApp::start_with(self).await
    }
}

/// A running app.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub state: AppState,
    pub store: Arc<SqliteStore>,
    /// The master key, base64url (a restarted app must open the stored signing keys).
    master: String,
    admin: Option<&'static str>,
    dir: Arc<TempDir>,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Setup::default().start().await
    }

    pub fn setup() -> Setup {
        Setup::default()
    }

    async fn start_with(setup: Setup) -> TestApp {
        capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = [
            ("TESSERA_SERVER__PUBLIC_URL", setup.public_url),
            ("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", Some("1000")),
            ("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", Some("100")),
        ]
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), (*v)?.to_string())))
        .collect();
        env.extend(setup.env); // later entries win over the harness defaults
        let env: std::collections::HashMap<String, String> = env.into_iter().collect();
        let config = Config::load(None, env).unwrap();
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let store = Arc::new(
            SqliteStore::connect(&url, SqliteOptions::default())
                .await
                .unwrap(),
        );
        let clock = ManualClock::new(T0);
        let master = MasterKey::generate().unwrap().to_base64url();
        let state = AppState::new(
            config,
            store.clone(),
            Arc::new(clock.clone()),
            MasterKey::from_base64url(&master).unwrap(),
            PasswordParams::INSECURE_FOR_TESTS,
            setup.admin.map(|a| SecretString::new(a.to_owned())),
        )
        .await
        .unwrap();
        let state = match &setup.redis {
            Some((url, prefix)) => {
                let limiter = RateLimiter::with_redis(
                    url,
                    prefix,
                    &state.config().rate_limit,
                    Arc::new(clock.clone()),
                )
                .unwrap();
                state.with_limiter(limiter)
            }
            None => state,
        };
        TestApp::serve(state, store, clock, master, setup.admin, Arc::new(dir)).await
    }

    async fn serve(
        state: AppState,
        store: Arc<SqliteStore>,
        clock: ManualClock,
        master: String,
        admin: Option<&'static str>,
        dir: Arc<TempDir>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            base: format!("http://{addr}"),
            http,
            clock,
            state,
            store,
            master,
            admin,
            dir,
        }
    }

    /// The same deployment started again (a restart, or a new replica): a new process state
    /// over the same database, configuration, master key and clock, empty caches, on a new
    /// port. Nothing of this app's memory carries over.
    pub async fn restarted(&self) -> TestApp {
        let url = format!("sqlite://{}", self.dir.path().join("tessera.db").display());
        let store = Arc::new(
            SqliteStore::connect(&url, SqliteOptions::default())
                .await
                .unwrap(),
        );
        let state = AppState::new(
            self.state.config().clone(),
            store.clone(),
            Arc::new(self.clock.clone()),
            MasterKey::from_base64url(&self.master).unwrap(),
            PasswordParams::INSECURE_FOR_TESTS,
            self.admin.map(|a| SecretString::new(a.to_owned())),
        )
        .await
        .unwrap();
        TestApp::serve(
            state,
            store,
            self.clock.clone(),
            self.master.clone(),
            self.admin,
            Arc::clone(&self.dir),
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path))
    }

    pub fn post_json(&self, path: &str, body: Value) -> RequestBuilder {
        self.http.post(self.url(path)).json(&body)
    }

    /// Creates a user with [`PASSWORD`]; returns its id.
    pub async fn signup(&self, username: &str) -> String {
        let res = self
            .post_json(
                "/v1/users",
                json!({"username": username, "password": PASSWORD}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Logs in with body delivery.
    pub async fn login(&self, username: &str) -> Tokens {
        let res = self.login_as(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
        tokens(&res.json().await.unwrap())
    }

    /// Logs in with cookie delivery; returns the access token and the cookie value.
    pub async fn login_cookie(&self, username: &str) -> (String, String) {
        let res = self
            .post_json(
                "/v1/login",
                json!({"username": username, "password": PASSWORD}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = refresh_cookie(res.headers()).expect("Set-Cookie");
        let body: Value = res.json().await.unwrap();
        (body["access_token"].as_str().unwrap().to_owned(), cookie)
    }

    /// Signs up and logs in (body delivery).
    pub async fn user(&self, username: &str) -> (String, Tokens) {
        let id = self.signup(username).await;
        (id, self.login(username).await)
    }

    /// `POST /v1/token/refresh` with a body token.
    pub async fn refresh_body(&self, refresh: &str) -> Response {
        self.post_json("/v1/token/refresh", json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap()
    }

    /// `POST path` carrying the refresh cookie and no body.
    pub fn with_cookie(&self, path: &str, cookie: &str) -> RequestBuilder {
        self.post(path)
            .header("cookie", format!("{COOKIE}={cookie}"))
    }

    pub async fn me(&self, access: &str) -> Response {
        self.get("/v1/me").bearer_auth(access).send().await.unwrap()
    }

    /// `POST /v1/login` as `username` with `password`, body delivery; the response as it is.
    pub async fn login_as(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/v1/login",
            json!({"username": username, "password": password, "delivery": "body"}),
        )
        .send()
        .await
        .unwrap()
    }

    /// Asserts that the session of `t` is revoked ([`api::assert_session_revoked`]): its
    /// refresh token and its access token refused, each answer well-formed over HTTP.
    pub async fn assert_session_revoked(&self, t: &Tokens) {
        let (_, refresh) = error_answer(self.refresh_body(&t.refresh).await).await;
        let (headers, access) = error_answer(self.me(&t.access).await).await;
        api::assert_session_revoked(Some(&refresh), Some(&access), &t.sid);
        assert_invalid_token_challenge(&headers);
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The value of our refresh cookie in the response's `Set-Cookie`, if set.
pub fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let rest = v.strip_prefix(COOKIE)?.strip_prefix('=')?;
        Some(rest.split(';').next().unwrap_or("").to_owned())
    })
}

/// The full `Set-Cookie` line of our cookie, if set.
pub fn set_cookie_line(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(COOKIE) || v.starts_with("tessera_refresh="))
}

/// Asserts an error answer: [`api::assert_refused`] (status, code, description,
/// `login_required`), a JSON content type, and a cleared cookie with `login_required`.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> (HeaderMap, Value) {
    let (headers, answer) = error_answer(res).await;
    api::assert_refused(&answer, status.as_u16(), code, "");
    (headers, answer.1)
}

/// Asserts a 401 of a Bearer route with its `WWW-Authenticate`.
pub async fn assert_bearer_error(res: Response, code: &str) -> Value {
    let (headers, answer) = error_answer(res).await;
    api::assert_refused(&answer, 401, code, "");
    assert_invalid_token_challenge(&headers);
    answer.1
}

/// Asserts the 401 of a Bearer route to a request that sent no credential at all: the body
/// says `invalid_token`, the challenge is a bare `Bearer` with no error (RFC 6750 §3.1).
pub async fn assert_no_token_error(res: Response) -> Value {
    let (headers, answer) = error_answer(res).await;
    api::assert_refused(&answer, 401, "invalid_token", "");
    assert_eq!(headers["www-authenticate"], "Bearer", "{headers:?}");
    answer.1
}

/// An error answer with what HTTP adds to its body checked: a JSON content type, and no
/// refresh cookie set (only cleared, with `login_required`).
async fn error_answer(res: Response) -> (HeaderMap, Answer) {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    assert!(
        headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{status}: {headers:?}"
    );
    let body: Value = res.json().await.unwrap();
    // An error never sets the refresh cookie; it may only clear it, on a `login_required`
    // answer to a request that carried it (tests of cookie requests assert that it did).
    if let Some(line) = set_cookie_line(&headers) {
        assert!(line.contains("Max-Age=0"), "{line}");
        assert_eq!(body.get("login_required"), Some(&json!(true)), "{line}");
    }
    (headers, (status, body))
}

/// The challenge of a Bearer route's 401 names `invalid_token` (RFC 6750).
fn assert_invalid_token_challenge(headers: &HeaderMap) {
    let www = headers["www-authenticate"].to_str().unwrap();
    assert!(
        www.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{www}"
    );
}
