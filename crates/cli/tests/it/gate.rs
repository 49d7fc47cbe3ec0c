//! Resource servers against real `tessera serve` processes: `tessera gate` (a process, as a
//! proxy would run it) and an axum API behind the `tessera-verifier` layer (in this test
//! process). Valid, garbage, expired, foreign-issuer and wrong-audience tokens; a logout
//! seen through the revocation feed; an issuer that is down at start or goes down later;
//! a flood of unknown `kid`s; a key rotation.

use std::fs::{self, File};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_jose::{Algorithm, Signer, SigningKey};
use tessera_testkit::{free_port, Answer, Api};

use crate::serve::Server;
use crate::{Dir, BIN};

/// The revocation feed's credential of these tests.
const FEED: &str = "gate-test-revocations-token-0123456789";

/// How soon a logout must reach the gate: it polls the feed every 5 s.
const FEED_BOUND: Duration = Duration::from_secs(8);

/// A running `tessera gate`, killed when dropped.
struct Gate {
    child: Child,
    log: std::path::PathBuf,
    api: Api,
}

impl Gate {
    /// `tessera gate --issuer ISSUER --bind 127.0.0.1:PORT EXTRA...`, with the feed's token
    /// when `feed` is set; waits for `/healthz`.
    fn start(dir: &Dir, issuer: &str, extra: &[&str], feed: bool) -> Gate {
        let port = free_port();
        let log = dir.file(&format!("gate-{port}.log"));
        let out = File::create(&log).unwrap();
        let mut command = Command::new(BIN);
        command
            .args([
                "gate",
                "--issuer",
                issuer,
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .args(extra)
            .env_remove("TESSERA_REVOCATIONS__TOKEN")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        if feed {
            command.env("TESSERA_REVOCATIONS__TOKEN", FEED);
        }
        let mut gate = Gate {
            child: command.spawn().unwrap(),
            log,
            api: Api::new(&format!("http://127.0.0.1:{port}")),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(gate.api.try_get("/healthz", None), Ok((200, _))) {
            if let Some(status) = gate.child.try_wait().unwrap() {
                panic!("tessera gate exited with {status}: {}", gate.log_text());
            }
            assert!(Instant::now() < deadline, "gate: {}", gate.log_text());
            thread::sleep(Duration::from_millis(20));
        }
        gate
    }

    /// `/auth` with `token` as the Bearer token (none when `None`): the status, the
    /// identity headers and the body.
    fn auth(&self, token: Option<&str>) -> (u16, Option<String>, Option<String>, Value) {
        let mut req = self.api.agent().get(self.api.url("/auth"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = req.call().unwrap();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (sub, sid) = (header("x-tessera-sub"), header("x-tessera-sid"));
        let www = header("www-authenticate");
        let (status, body) = tessera_testkit::api::answer(res);
        if status == 401 {
            // RFC 6750: every 401 carries a challenge; bare when no token was sent.
            let www = www.expect("a 401 without WWW-Authenticate");
            assert_eq!(token.is_none(), www == "Bearer", "{www}");
        }
        (status, sub, sid, body)
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An axum API behind the `tessera-verifier` layer, in this process: `GET /me` answers the
/// token's `sub` and `sid`.
struct LayerApi {
    api: Api,
    _runtime: tokio::runtime::Runtime,
}

impl LayerApi {
    fn start(issuer: &str, audience: &str, leeway: u64, feed: bool) -> LayerApi {
        use axum::routing::get;
        use tessera_verifier::{Claims, Issuer, Verifier};

        #[derive(serde::Deserialize)]
        struct Who {
            sub: String,
            sid: String,
        }
        async fn me(Claims(who): Claims<Who>) -> axum::Json<Value> {
            axum::Json(json!({ "sub": who.sub, "sid": who.sid }))
        }

        let runtime = tokio::runtime::Runtime::new().unwrap();
        let port = free_port();
        let mut issuer = Issuer::discover(issuer);
        if feed {
            issuer = issuer.revocations_token(tessera_jose::SecretString::new(FEED.to_owned()));
        }
        runtime.block_on(async {
            let verifier = Verifier::builder()
                .issuer(issuer)
                .audience(audience)
                .leeway(Duration::from_secs(leeway))
                .build()
                .unwrap();
            let app = axum::Router::new()
                .route("/me", get(me))
                .layer(verifier.layer());
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            assert!(verifier.wait_ready(Duration::from_secs(10)).await, "keys");
        });
        LayerApi {
            api: Api::new(&format!("http://127.0.0.1:{port}")),
            _runtime: runtime,
        }
    }

    fn me(&self, token: &str) -> Answer {
        self.api.get("/me", Some(token))
    }
}

/// A server whose tokens live 3 s, so that an expired one is quick to get (and a valid one
/// still valid through the first checks on a loaded machine: each verifier fetches the JWKS
/// on its first token).
fn short_lived(dir: &Dir) -> Server {
    Server::start_with_env(
        dir,
        &[
            ("TESSERA_TOKENS__ACCESS_TTL", "3s"),
            ("TESSERA_REVOCATIONS__TOKEN", FEED),
        ],
    )
}

/// Signs up `name` on `server` and logs in; the access and refresh tokens.
fn user(server: &Server, name: &str) -> tessera_testkit::Tokens {
    server.api().signup(name);
    server.api().login(name)
}

fn code(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("")
}

#[test]
fn gate_and_layer_accept_good_tokens_and_refuse_the_rest() {
    let dir = Dir::new();
    let server = short_lived(&dir);
    let other_dir = Dir::new();
    let other = Server::start(&other_dir);
    let issuer = server.base();
    let gate = Gate::start(&dir, &issuer, &["--leeway", "0"], false);
    let picky = Gate::start(&dir, &issuer, &["--audience", "billing"], false);
    let layer = LayerApi::start(&issuer, "api", 0, false);
    let picky_layer = LayerApi::start(&issuer, "billing", 0, false);

    let t = user(&server, "alice");
    // After the login's answer, so no later than the token's issue: it expires by then + 3 s.
    let issued = Instant::now();
    let (status, sub, sid, _) = gate.auth(Some(&t.access));
    assert_eq!(status, 200, "{}", gate.log_text());
    // Envoy's ext_authz appends the original path to /auth; any method is fine.
    let res = gate
        .api
        .agent()
        .post(gate.api.url("/auth/orders/42?x=1"))
        .header("authorization", format!("Bearer {}", t.access))
        .send_empty()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let claims = server.api().me(&t.access).1;
    assert_eq!(sub.as_deref(), claims["sub"].as_str());
    assert_eq!(sid.as_deref(), Some(t.sid.as_str()));
    let (status, body) = layer.me(&t.access);
    assert_eq!((status, body["sid"].as_str()), (200, Some(t.sid.as_str())));

    // Garbage, no token, another issuer's token, a token for another audience.
    let foreign = user(&other, "mallory").access;
    for (token, what) in [
        (Some("garbage"), "garbage"),
        (Some(foreign.as_str()), "another issuer's token"),
    ] {
        let (status, sub, _, body) = gate.auth(token);
        assert_eq!(
            (status, code(&body), sub),
            (401, "invalid_token", None),
            "gate, {what}"
        );
        let (status, body) = layer.me(token.unwrap_or_default());
        assert_eq!(
            (status, code(&body)),
            (401, "invalid_token"),
            "layer, {what}"
        );
    }
    let (status, _, _, body) = gate.auth(None);
    assert_eq!((status, code(&body)), (401, "invalid_token"));
    let (status, _, _, body) = picky.auth(Some(&t.access));
    assert_eq!(
        (status, code(&body)),
        (401, "invalid_token"),
        "wrong audience"
    );
    let (status, body) = picky_layer.me(&t.access);
    assert_eq!(
        (status, code(&body)),
        (401, "invalid_token"),
        "wrong audience"
    );

    // Expired: the client is told to refresh.
    thread::sleep(Duration::from_millis(3100).saturating_sub(issued.elapsed()));
    let (status, _, _, body) = gate.auth(Some(&t.access));
    assert_eq!((status, code(&body)), (401, "token_expired"));
    let (status, body) = layer.me(&t.access);
    assert_eq!((status, code(&body)), (401, "token_expired"));
}

#[test]
fn a_logout_is_refused_by_the_gate_and_the_layer_within_the_poll_interval() {
    let dir = Dir::new();
    let server = Server::start_with_env(&dir, &[("TESSERA_REVOCATIONS__TOKEN", FEED)]);
    let gate = Gate::start(&dir, &server.base(), &[], true);
    let layer = LayerApi::start(&server.base(), "api", 60, true);
    let t = user(&server, "alice");
    assert_eq!(gate.auth(Some(&t.access)).0, 200);
    assert_eq!(layer.me(&t.access).0, 200);

    let (status, body) =
        server
            .api()
            .post_json("/v1/logout", None, &json!({ "refresh_token": t.refresh }));
    assert_eq!(status, 204, "{body}");
    let logged_out = Instant::now();
    let mut gate_refused = None;
    let mut layer_refused = None;
    while gate_refused.is_none() || layer_refused.is_none() {
        assert!(
            logged_out.elapsed() < FEED_BOUND,
            "the logout did not reach gate ({gate_refused:?}) and layer ({layer_refused:?}): {}",
            gate.log_text()
        );
        if gate_refused.is_none() {
            let (status, _, _, body) = gate.auth(Some(&t.access));
            if status == 401 {
                assert_eq!(code(&body), "invalid_token");
                gate_refused = Some(logged_out.elapsed());
            }
        }
        if layer_refused.is_none() && layer.me(&t.access).0 == 401 {
            layer_refused = Some(logged_out.elapsed());
        }
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("logout refused after: gate {gate_refused:?}, layer {layer_refused:?}");
}

#[test]
fn a_gate_started_before_its_issuer_answers_503_then_accepts() {
    let dir = Dir::new();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let gate = Gate::start(&dir, &issuer, &[], false);
    let (status, _, _, body) = gate.auth(Some("a.b.c"));
    assert_eq!((status, code(&body)), (503, "unavailable"));
    assert_eq!(gate.api.get("/readyz", None).0, 503);

    let server = Server::start_on_with_env(&dir, port, &[]).unwrap();
    let t = user(&server, "alice");
    let up = Instant::now();
    // The gate retries at least every 5 s while it has no keys.
    loop {
        let (status, ..) = gate.auth(Some(&t.access));
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{}", gate.log_text());
        assert!(up.elapsed() < Duration::from_secs(8), "{}", gate.log_text());
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(gate.api.get("/readyz", None).0, 200);
}

#[test]
fn the_gate_keeps_accepting_valid_tokens_while_the_issuer_is_down() {
    let dir = Dir::new();
    let mut server = Server::start(&dir);
    let gate = Gate::start(&dir, &server.base(), &[], false);
    let t = user(&server, "alice");
    assert_eq!(gate.auth(Some(&t.access)).0, 200);
    server.kill();
    for _ in 0..3 {
        assert_eq!(gate.auth(Some(&t.access)).0, 200, "{}", gate.log_text());
        assert_eq!(gate.auth(Some("garbage")).0, 401);
        thread::sleep(Duration::from_millis(200));
    }
}

/// The JWKS answers `tessera serve` has given, from its metrics.
fn jwks_fetches(server: &Server) -> u64 {
    let text = server
        .api()
        .agent()
        .get(server.url("/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("tessera_http_requests_total{route=\"/.well-known/jwks.json\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// 300 tokens naming random `kid`s (signed by a key the issuer never had) are refused at
/// once; they cost the issuer at most a few JWKS fetches (one per 30 s cooldown), not 300.
#[test]
fn random_kids_do_not_become_a_flood_of_jwks_fetches() {
    let dir = Dir::new();
    let server = Server::start(&dir);
    let gate = Gate::start(&dir, &server.base(), &[], false);
    let t = user(&server, "alice");
    assert_eq!(gate.auth(Some(&t.access)).0, 200);
    let before = jwks_fetches(&server);
    let claims = server.api().me(&t.access).1;
    let started = Instant::now();
    for i in 0..300 {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let signer = Signer::new(key.with_kid(format!("random-kid-{i}-{}", t.sid)));
        let token = signer.sign(&claims).unwrap();
        let (status, _, _, body) = gate.auth(Some(&token));
        assert_eq!((status, code(&body)), (401, "invalid_token"), "kid {i}");
    }
    let fetches = jwks_fetches(&server) - before;
    eprintln!(
        "300 random kids: {fetches} JWKS fetches in {:?}",
        started.elapsed()
    );
    assert!(fetches <= 3, "{fetches} JWKS fetches for 300 unknown kids");
    // The valid token still passes.
    assert_eq!(gate.auth(Some(&t.access)).0, 200);
}

/// `tessera keys rotate` publishes a new key at once and signs with it after the
/// pre-publication delay (10 s here): the gate accepts the first token it signs.
#[test]
fn a_rotated_key_is_accepted_by_the_gate_as_soon_as_it_signs() {
    let _turn = crate::heavy_turn();
    let dir = Dir::new();
    let env = [("TESSERA_KEYS__JWKS_MAX_AGE", "2s")];
    let server = Server::start_with_env(&dir, &env);
    let gate = Gate::start(&dir, &server.base(), &[], false);
    let t = user(&server, "alice");
    assert_eq!(gate.auth(Some(&t.access)).0, 200);
    let kid = |token: &str| -> String {
        let run = dir.run(&["token", "decode", token]);
        run.json()["header"]["kid"].as_str().unwrap().to_owned()
    };
    let old = kid(&t.access);
    let run = dir.run_env(
        &["keys", "rotate"],
        &[
            ("TESSERA_KEYS__JWKS_MAX_AGE", Some("2s")),
            ("TESSERA_DATABASE__URL", None),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        let access = server.api().login("alice").access;
        if kid(&access) != old {
            break access;
        }
        assert!(Instant::now() < deadline, "the new key never signed");
        thread::sleep(Duration::from_millis(250));
    };
    let (status, _, _, body) = gate.auth(Some(&fresh));
    assert_eq!(status, 200, "{body}: {}", gate.log_text());
    // Tokens of the old key stay valid until they expire.
    assert_eq!(gate.auth(Some(&t.access)).0, 200);
}
