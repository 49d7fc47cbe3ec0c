//! Signing-key lifecycle (issue 4): next → current → retired → removed, on a manual clock,
//! seen the way a client sees it: through the JWKS route and the tokens the server signs.
//! Two app states on one database stand for two replicas.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tessera_jose::{JwkSet, Verifier};
use tessera_server::{app, AppState, Config};
use tessera_store::{SqliteOptions, SqliteStore};
use tessera_tokens::{Clock, KeyPhase, ManualClock, MasterKey, PasswordParams, Store};

use crate::common::{tokens, Tokens, PASSWORD, T0};

const DAY: i64 = 86_400;
/// `keys.jwks_max_age` of these tests: how long a new key is published before it signs.
const MAX_AGE: i64 = 120;
/// Access-token lifetime plus leeway (15 min + 60 s, the defaults): how long a retired key
/// stays published.
const RETAIN: i64 = 15 * 60 + 60;

/// One replica: an app state on the shared store, served on its own port.
struct Replica {
    base: String,
    state: AppState,
    http: reqwest::Client,
}

impl Replica {
    async fn start(
        store: Arc<SqliteStore>,
        master: &MasterKey,
        clock: &ManualClock,
        env: &[(&str, &str)],
    ) -> Replica {
        let mut vars: HashMap<String, String> = [
            ("TESSERA_SERVER__PUBLIC_URL", "http://tessera.test"),
            ("TESSERA_KEYS__JWKS_MAX_AGE", "120s"),
            ("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "1000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let state = AppState::new(
            Config::load(None, vars).unwrap(),
            store,
            Arc::new(clock.clone()),
            master.clone(),
            PasswordParams::INSECURE_FOR_TESTS,
            None,
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        Replica {
            base: format!("http://{addr}"),
            state,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    /// The JWKS a client fetches now.
    async fn jwks(&self) -> JwkSet {
        let res = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        JwkSet::from_json(&res.text().await.unwrap()).unwrap()
    }

    async fn kids(&self) -> Vec<String> {
        self.jwks()
            .await
            .keys
            .iter()
            .map(|k| k.kid.clone().unwrap())
            .collect()
    }

    async fn signup(&self, username: &str) {
        let res = self
            .http
            .post(format!("{}/v1/users", self.base))
            .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    async fn login(&self, username: &str) -> Tokens {
        let res = self
            .http
            .post(format!("{}/v1/login", self.base))
            .json(&serde_json::json!({
                "username": username, "password": PASSWORD, "delivery": "body"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        tokens(&res.json().await.unwrap())
    }

    async fn me_status(&self, access: &str) -> u16 {
        self.http
            .get(format!("{}/v1/me", self.base))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// One round of key upkeep, as the background task runs it every few seconds.
    async fn maintain(&self) -> tessera_tokens::Maintenance {
        self.state.auth().maintain_keys().await.unwrap()
    }
}

/// A compact token's header.
fn header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&tessera_jose::base64url::decode(header.as_bytes()).unwrap()).unwrap()
}

/// The `kid` in a compact token's header.
fn kid_of(token: &str) -> String {
    header(token)["kid"].as_str().unwrap().to_owned()
}

/// The `alg` in a compact token's header.
fn alg_of(token: &str) -> String {
    header(token)["alg"].as_str().unwrap().to_owned()
}

/// What a resource server does: verify with the JWKS it fetched, at time `now`.
fn verifies_with(jwks: &JwkSet, token: &str, now: i64) -> bool {
    Verifier::from_jwks(jwks, None)
        .unwrap()
        .with_issuer("http://tessera.test")
        .with_audience("api")
        .with_typ("at+jwt")
        .verify::<Value>(token, u64::try_from(now).unwrap())
        .is_ok()
}

async fn fresh_store(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
    Arc::new(
        SqliteStore::connect(&url, SqliteOptions::default())
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn rotation_publishes_first_signs_later_and_removes_after_the_last_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let master = MasterKey::generate().unwrap();
    let store = fresh_store(&dir).await;
    let a = Replica::start(store.clone(), &master, &clock, &[]).await;
    a.signup("alice").await;

    // First start: one key, signing at once.
    let k1 = a.state.auth().keys().current_kid().unwrap();
    assert_eq!(a.kids().await, [k1.as_str()]);
    assert_eq!(kid_of(&a.login("alice").await.access), k1);

    // Not due until the key has signed for the period minus the pre-publication delay.
    clock.set(T0 + 30 * DAY - MAX_AGE - 1);
    let m = a.maintain().await;
    assert_eq!(m.rotated, None);
    assert!(!m.changed);

    // Due: a new key is stored and published at once, but k1 still signs.
    let rotated_at = T0 + 30 * DAY - MAX_AGE;
    clock.set(rotated_at);
    let k2 = a.maintain().await.rotated.expect("rotation due");
    assert_ne!(k2, k1);
    assert_eq!(a.kids().await, [k1.clone(), k2.clone()]);
    let jwks_at_rotation = a.jwks().await;
    let by_k1 = a.login("alice").await;
    assert_eq!(kid_of(&by_k1.access), k1, "the new key must not sign yet");
    // Nothing more to do on the next rounds: the rotation is pending.
    assert_eq!(a.maintain().await.rotated, None);

    // The last second before activation: still k1.
    clock.set(rotated_at + MAX_AGE - 1);
    a.maintain().await;
    let last_by_k1 = a.login("alice").await;
    assert_eq!(kid_of(&last_by_k1.access), k1);

    // Activation: k2 signs; a client still holding the JWKS it cached when the rotation
    // happened (up to max-age ago) verifies the new tokens: k2 was published before first use.
    let activated_at = rotated_at + MAX_AGE;
    clock.set(activated_at);
    assert!(a.maintain().await.changed);
    let by_k2 = a.login("alice").await;
    assert_eq!(kid_of(&by_k2.access), k2);
    assert!(verifies_with(
        &jwks_at_rotation,
        &by_k2.access,
        activated_at
    ));
    assert_eq!(a.kids().await, [k1.clone(), k2.clone()]);
    let phases: Vec<_> = a
        .state
        .auth()
        .keys()
        .keys()
        .into_iter()
        .map(|(k, p)| (k.kid, p))
        .collect();
    assert_eq!(
        phases,
        [
            (k1.clone(), KeyPhase::Retired),
            (k2.clone(), KeyPhase::Current)
        ]
    );

    // Tokens k1 signed verify through the JWKS, and at the server, until they expire.
    for (token, exp) in [
        (&by_k1.access, rotated_at + 15 * 60),
        (&last_by_k1.access, activated_at - 1 + 15 * 60),
    ] {
        clock.set(exp - 1);
        a.maintain().await;
        assert!(verifies_with(&a.jwks().await, token, exp - 1));
        assert_eq!(a.me_status(token).await, 200);
    }

    // k1 stays published until the retention (lifetime + leeway) after it stopped signing,
    clock.set(activated_at + RETAIN - 1);
    assert_eq!(a.maintain().await.deleted, 0);
    assert_eq!(a.kids().await, [k1.clone(), k2.clone()]);
    // then it is removed from the JWKS and from the store.
    clock.set(activated_at + RETAIN);
    let m = a.maintain().await;
    assert_eq!(m.deleted, 1);
    assert_eq!(a.kids().await, [k2.as_str()]);
    let stored: Vec<_> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(stored, [k2.as_str()]);
    // k2 signs on, and its tokens verify with the JWKS of one key.
    let fresh = a.login("alice").await;
    assert_eq!(kid_of(&fresh.access), k2);
    assert!(verifies_with(
        &a.jwks().await,
        &fresh.access,
        activated_at + RETAIN
    ));
}

/// Replicas that find a rotation due at the same moment rotate once, and each picks up the
/// result on its next round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_rotate_once_and_agree() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let master = MasterKey::generate().unwrap();
    let store = fresh_store(&dir).await;
    let replicas = [
        Replica::start(store.clone(), &master, &clock, &[]).await,
        Replica::start(store.clone(), &master, &clock, &[]).await,
        Replica::start(store.clone(), &master, &clock, &[]).await,
    ];
    // One first key for all, though three replicas started on an empty database.
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    let k1 = replicas[0].state.auth().keys().current_kid().unwrap();
    for r in &replicas {
        assert_eq!(r.state.auth().keys().current_kid().unwrap(), k1);
    }

    clock.set(T0 + 30 * DAY);
    let (a, b, c) = tokio::join!(
        replicas[0].state.auth().maintain_keys(),
        replicas[1].state.auth().maintain_keys(),
        replicas[2].state.auth().maintain_keys(),
    );
    let rounds = [a, b, c];
    let rotated: Vec<_> = rounds
        .into_iter()
        .filter_map(|m| m.unwrap().rotated)
        .collect();
    assert_eq!(rotated.len(), 1, "exactly one replica rotates: {rotated:?}");
    assert_eq!(store.signing_keys().await.unwrap().len(), 2);

    // Every replica publishes the new key after its next round, and signs with it once
    // it activates.
    for r in &replicas {
        r.maintain().await;
        assert_eq!(r.kids().await, [k1.clone(), rotated[0].clone()]);
    }
    clock.advance(MAX_AGE);
    replicas[0].signup("bob").await;
    for r in &replicas {
        assert_eq!(r.maintain().await.rotated, None);
        assert_eq!(kid_of(&r.login("bob").await.access), rotated[0]);
    }
}

/// Changing `tokens.algorithm` rotates to a key of the new algorithm the same way: the old
/// key signs until the new one activates, and its tokens keep verifying.
#[tokio::test]
async fn changing_the_algorithm_rotates_with_prepublication() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let master = MasterKey::generate().unwrap();
    let store = fresh_store(&dir).await;
    let es = Replica::start(store.clone(), &master, &clock, &[]).await;
    es.signup("carol").await;
    let old = es.login("carol").await;
    drop(es);

    // Restarted with EdDSA: the ES256 key still signs, the EdDSA key is pending.
    clock.advance(60);
    let ed = Replica::start(
        store.clone(),
        &master,
        &clock,
        &[("TESSERA_TOKENS__ALGORITHM", "EdDSA")],
    )
    .await;
    let new_kid = ed
        .maintain()
        .await
        .rotated
        .expect("algorithm change rotates");
    assert_eq!(alg_of(&ed.login("carol").await.access), "ES256");
    assert_eq!(ed.kids().await.len(), 2);

    clock.advance(MAX_AGE);
    ed.maintain().await;
    let new = ed.login("carol").await;
    assert_eq!(alg_of(&new.access), "EdDSA");
    assert_eq!(kid_of(&new.access), new_kid);
    let jwks = ed.jwks().await;
    assert!(verifies_with(&jwks, &old.access, clock.now()));
    assert!(verifies_with(&jwks, &new.access, clock.now()));
    assert_eq!(ed.me_status(&old.access).await, 200);
    // No further rotation: the newest key has the configured algorithm.
    assert_eq!(ed.maintain().await.rotated, None);
}
