//! `tessera-baseline`, the yardstick of `--phases compare`: a real process on a free
//! loopback port, given tokens made by Tessera's own JOSE library. It must accept exactly
//! what Tessera's `/v1/me` accepts for the comparison to mean anything: a baseline that
//! skipped a check would be faster for the wrong reason.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::routing::get;
use serde_json::{json, Value};
use tessera_jose::{Algorithm, JwkSet, Signer, SigningKey};
use tessera_tokens::{Clock as _, SystemClock};

const BIN: &str = env!("CARGO_BIN_EXE_tessera-baseline");
const ISSUER: &str = "http://127.0.0.1:1";

/// A running baseline, killed on drop.
struct Baseline {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

impl Baseline {
    /// Starts it with `keys` (`--secret-file F` or `--jwks-url U`) and waits for /healthz.
    async fn start(keys: &[&str]) -> Baseline {
        let addr = free_port();
        let child = Command::new(BIN)
            .args(["--bind", &addr.to_string(), "--issuer", ISSUER])
            .args(keys)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn tessera-baseline");
        let mut b = Baseline {
            child,
            addr,
            http: client(),
        };
        let t = Instant::now();
        loop {
            if let Ok(r) = b.http.get(b.url("/healthz")).send().await {
                assert_eq!(r.status(), 200);
                let body: Value = r.json().await.expect("JSON");
                assert_eq!(body, json!({"status": "ok"}));
                return b;
            }
            if let Some(status) = b.child.try_wait().expect("try_wait") {
                panic!("tessera-baseline exited: {status}");
            }
            assert!(t.elapsed() < Duration::from_secs(20), "no /healthz answer");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET /v1/me` with `token`: the status, the body, and the challenge if any.
    async fn me(&self, token: Option<&str>) -> (u16, Value, Option<String>) {
        let mut req = self.http.get(self.url("/v1/me"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("ASCII").to_owned());
        if status == 200 {
            assert_eq!(r.headers()["cache-control"], "no-store");
        }
        (status, r.json().await.expect("JSON body"), challenge)
    }
}

/// The claims of a Tessera access token, `exp` from now.
fn claims(exp_in: i64) -> Value {
    let now = SystemClock.now();
    json!({
        "iss": ISSUER, "sub": "usr_1", "aud": "api", "exp": now + exp_in, "iat": now,
        "nbf": now, "jti": "tok_1", "sid": "ses_1",
    })
}

/// Signs as Tessera does: `typ: at+jwt`, the key's `kid`.
fn sign(key: &SigningKey, claims: &Value) -> String {
    Signer::new(copy(key))
        .with_typ("at+jwt")
        .sign(claims)
        .expect("sign")
}

/// `SigningKey` is not `Clone` (secret material is not copied by accident).
fn copy(key: &SigningKey) -> SigningKey {
    SigningKey::from_jwk(&key.to_jwk(), None).expect("key")
}

#[track_caller]
fn refused(answer: (u16, Value, Option<String>), code: &str) {
    let (status, body, challenge) = answer;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        challenge.is_some_and(|c| c.starts_with("Bearer error=\"invalid_token\"")),
        "{body}"
    );
}

#[tokio::test]
async fn hs256_secret_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = [7u8; 32];
    let file = dir.path().join("hs256.key");
    std::fs::write(&file, secret).expect("write");
    let b = Baseline::start(&["--secret-file", file.to_str().expect("UTF-8")]).await;
    let key = SigningKey::from_secret(Algorithm::HS256, &secret)
        .expect("key")
        .with_kid("k1");

    // The answer is the token's claims.
    let good = claims(900);
    let (status, body, _) = b.me(Some(&sign(&key, &good))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, good);

    // Past exp, beyond the 60 s leeway: the client should refresh.
    refused(
        b.me(Some(&sign(&key, &claims(-120)))).await,
        "token_expired",
    );
    // Within the leeway: still good.
    assert_eq!(b.me(Some(&sign(&key, &claims(-30)))).await.0, 200);
    let mut wrong_aud = claims(900);
    wrong_aud["aud"] = "other".into();
    refused(b.me(Some(&sign(&key, &wrong_aud))).await, "invalid_token");
    let mut wrong_iss = claims(900);
    wrong_iss["iss"] = "http://evil".into();
    refused(b.me(Some(&sign(&key, &wrong_iss))).await, "invalid_token");
    let mut no_sub = claims(900);
    no_sub.as_object_mut().expect("object").remove("sub");
    refused(b.me(Some(&sign(&key, &no_sub))).await, "invalid_token");
    let other = SigningKey::from_secret(Algorithm::HS256, &[8u8; 32]).expect("key");
    refused(
        b.me(Some(&sign(&other, &claims(900)))).await,
        "invalid_token",
    );
    // The key is bound to HS256: an HS384 token under the same secret is refused.
    let hs384 = SigningKey::from_secret(Algorithm::HS384, &[7u8; 48]).expect("key");
    refused(
        b.me(Some(&sign(&hs384, &claims(900)))).await,
        "invalid_token",
    );
    refused(b.me(None).await, "invalid_token");
    refused(b.me(Some("not.a.jwt")).await, "invalid_token");
}

/// Serves `jwks` at `/jwks` on a free loopback port, as Tessera's well-known URL does.
async fn serve_jwks(jwks: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/jwks", get(move || async move { jwks }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn es256_from_the_jwks() {
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let jwks = JwkSet {
        keys: vec![key.public_jwk().expect("public")],
    };
    let addr = serve_jwks(jwks.to_json()).await;
    let b = Baseline::start(&["--jwks-url", &format!("http://{addr}/jwks")]).await;

    let (status, body, _) = b.me(Some(&sign(&key, &claims(900)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["jti"], "tok_1");

    let kid = key.kid().expect("kid").to_owned();
    // Another ES256 key claiming the published kid.
    let impostor = SigningKey::generate(Algorithm::ES256)
        .expect("key")
        .with_kid(kid.clone());
    refused(
        b.me(Some(&sign(&impostor, &claims(900)))).await,
        "invalid_token",
    );
    // Algorithm confusion: an HS256 token naming the EC key's kid.
    let hmac = SigningKey::from_secret(Algorithm::HS256, &[1u8; 32])
        .expect("key")
        .with_kid(kid);
    refused(
        b.me(Some(&sign(&hmac, &claims(900)))).await,
        "invalid_token",
    );
    // The right key under a kid the set does not have.
    let unknown = copy(&key).with_kid("nope");
    refused(
        b.me(Some(&sign(&unknown, &claims(900)))).await,
        "invalid_token",
    );
    refused(
        b.me(Some(&sign(&key, &claims(-120)))).await,
        "token_expired",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_start_without_usable_keys() {
    let addr = serve_jwks(r#"{"keys":[]}"#.to_owned()).await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["--bind", &free_port().to_string(), "--issuer", ISSUER])
            .args(["--jwks-url", &format!("http://{addr}/jwks")])
            .output()
    })
    .await
    .expect("join")
    .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no usable key"), "{stderr}");
}
