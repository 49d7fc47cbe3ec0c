//! Three `tessera serve` replicas (A, B, C) on one PostgreSQL database and one Redis, the way
//! they run behind a load balancer: one master key, one issuer, one store ("any
//! number of replicas share one PostgreSQL and stay correct").
//!
//! - Grace window off: three replicas given the same refresh token at the same instant
//!   spend it exactly once; the two late requests are reuse, so the session is revoked.
//! - Grace window on: the three converge on one successor, round after round.
//! - A session revoked through one replica: its refresh token is refused by the others at
//!   once (the store is shared), its access token within the revocation sync (every 2 s).
//! - Failed logins spread over the replicas count once, in Redis.
//!
//! Each test starts its own trio, at the same moment (so migrations and the first signing
//! key race as they do in production), on a database of its own,
//! `tessera_test_replicas_<pid>_<n>`, dropped when the test ends, panic or not (and, should
//! a run be killed, by the test kit's clean-up of a later run). The tests run one at a time
//! (three servers each on a small machine).
//!
//! The PostgreSQL server is `TESSERA_TEST_PG_URL` ([`TestDb`]); Redis is at
//! [`REDIS_URL`]. When either is unreachable the tests fail if `CI` is set, and otherwise
//! pass without running after a note on stderr ([`services`]).
//!
//! The limiter's Redis keys have a fixed prefix, so runs (and anything else on this Redis)
//! would share counters: the rate-limit test uses a username and a client IP (trusted
//! `X-Forwarded-For`) of its own, and the other tests turn the signup and refresh limits
//! off.

use std::fs::{self, File};
use std::hash::{BuildHasher, RandomState};
use std::process::{Child, Command, Stdio};
use std::sync::{Barrier, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_testkit::api::{answer, assert_session_revoked, tokens};
use tessera_testkit::services::{self, Service, REDIS_URL};
use tessera_testkit::{free_port, Answer, Api, TestDb, PASSWORD};

use crate::{Dir, BIN};

/// The issuer of every replica: the load balancer's URL, which no replica listens on.
const ISSUER: &str = "http://auth.replicas.test";

/// Concurrent rounds per race test.
const ROUNDS: usize = 200;

/// How soon a revocation made on one replica must reach the others' access-token checks:
/// they read revocations from the store every 2 s; the rest is slack for a loaded machine.
const REVOCATION_BOUND: Duration = Duration::from_secs(5);

/// Longest wait for a started replica to be ready (database and Redis).
const START_DEADLINE: Duration = Duration::from_secs(30);

/// One `tessera serve`, killed (SIGKILL) when dropped.
struct Replica {
    name: char,
    child: Child,
    log: std::path::PathBuf,
    api: Api,
}

impl Replica {
    fn spawn(name: char, dir: &Dir, env: &[(&str, &str)]) -> Replica {
        let port = free_port();
        let log = dir.file(&format!("replica-{name}-{port}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env("TESSERA_SERVER__BIND", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Replica {
            name,
            child,
            log,
            api: Api::new(&format!("http://127.0.0.1:{port}")),
        }
    }

    /// Waits until `/readyz` answers 200 with the limits counted in Redis.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_DEADLINE;
        let mut last = Value::Null;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {status}: {}", self.log_text()));
            }
            if let Ok((status, body)) = self.api.try_get("/readyz", None) {
                if status == 200 && body["checks"]["rate_limit"] == "redis" {
                    return Ok(());
                }
                last = body;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready within {START_DEADLINE:?} (last /readyz: {last}): {}",
                    self.log_text()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three replicas on one database and one Redis. Dropped in field order: the servers,
/// then the database, then the directory, then the turn.
struct Trio {
    replicas: Vec<Replica>,
    _db: TestDb,
    _dir: Dir,
    _turn: MutexGuard<'static, ()>,
}

impl Trio {
    /// Starts A, B and C at once with `extra` settings, or `None` when PostgreSQL or Redis
    /// is not there (see [`services`]).
    fn start(test: &str, extra: &[(&str, &str)]) -> Option<Trio> {
        if !services::available(&[Service::Postgres, Service::Redis]) {
            return None;
        }
        // A test that panicked while holding the turn poisons it; the turn is still good.
        let turn = crate::heavy_turn();
        let dir = Dir::new();
        let db = TestDb::create("replicas")?;
        // The master key of the trio: 32 random bytes, base64url (an HS256 secret is that).
        let master_key = dir.run(&["keys", "generate", "--alg", "HS256"]).json()["k"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut env = vec![
            ("TESSERA_DATABASE__URL", db.url()),
            // Three processes per test, other tests' servers beside them: stay well under
            // PostgreSQL's 100 connections.
            ("TESSERA_DATABASE__MAX_CONNECTIONS", "8"),
            ("TESSERA_REDIS__URL", REDIS_URL),
            ("TESSERA_MASTER_KEY", master_key.as_str()),
            ("TESSERA_SERVER__PUBLIC_URL", ISSUER),
            ("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "0"),
            ("TESSERA_RATE_LIMIT__LOGIN_SUCCESS_PER_MINUTE", "0"),
            // The feed test logs one user in 150 times.
            ("TESSERA_SESSIONS__MAX_PER_USER", "1000"),
            ("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "0"),
            ("TESSERA_LOG__LEVEL", "warn"),
        ];
        env.extend_from_slice(extra);

        let mut replicas: Vec<Replica> = ['A', 'B', 'C']
            .into_iter()
            .map(|name| Replica::spawn(name, &dir, &env))
            .collect();
        for r in &mut replicas {
            // A port found free can be taken before the replica binds it: try a few.
            let mut tries = 0;
            while let Err(why) = r.wait_ready() {
                tries += 1;
                assert!(tries < 3, "{test}: replica {} did not start: {why}", r.name);
                *r = Replica::spawn(r.name, &dir, &env);
            }
        }
        Some(Trio {
            replicas,
            _db: db,
            _dir: dir,
            _turn: turn,
        })
    }

    fn a(&self) -> &Replica {
        &self.replicas[0]
    }

    /// Every replica's log, for failure messages.
    fn logs(&self) -> String {
        self.replicas
            .iter()
            .map(|r| format!("--- replica {} ---\n{}", r.name, r.log_text()))
            .collect()
    }

    /// Signs up `username` through A.
    fn signup(&self, username: &str) {
        self.a().api.signup(username);
    }

    /// POSTs `token` to `/v1/token/refresh` on every replica at the same instant (threads
    /// released by one barrier, on connections already open); the answers in replica
    /// order.
    fn race(&self, token: &str) -> Vec<Answer> {
        let barrier = Barrier::new(self.replicas.len());
        thread::scope(|s| {
            let threads: Vec<_> = self
                .replicas
                .iter()
                .map(|r| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        r.api.refresh(token)
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        })
    }
}

/// Grace window off. Each of [`ROUNDS`] rounds logs in afresh (the login spread over the
/// replicas) and presents the new refresh token to A, B and C at once. With the window
/// off, any presentation of a spent token is reuse (RFC 9700 §4.14.2), so one
/// session cannot survive a race: each round has its own. Asserted every round:
///
/// - exactly one replica answers 200 (the token is spent once across all replicas), with
///   the session's id;
/// - the other two answer 401 with `login_required`: exactly one `refresh_token_reused`
///   (the replica whose request revoked the family) and one `refresh_token_revoked` (its
///   request found the session already revoked) — the revocation, too, happens once;
/// - the winner's successor, presented afterwards to another replica, answers
///   `refresh_token_revoked`: the reuse killed the whole family, the new token included.
#[test]
fn grace_off_a_token_raced_on_three_replicas_is_spent_once_and_its_family_revoked() {
    let Some(trio) = Trio::start(
        "replicas_grace_off",
        &[("TESSERA_TOKENS__REUSE_GRACE", "0s")],
    ) else {
        return;
    };
    let started = Instant::now();
    trio.signup("race-off");
    let mut wins = [0usize; 3];
    for round in 0..ROUNDS {
        let login = trio.replicas[round % 3].api.login("race-off");
        let sid = login.sid;
        let answers = trio.race(&login.refresh);
        let context = format!("round {round}, session {sid}, answers {answers:?}");
        let winners: Vec<usize> = (0..3).filter(|&i| answers[i].0 == 200).collect();
        assert_eq!(winners.len(), 1, "{context}\n{}", trio.logs());
        let winner = winners[0];
        wins[winner] += 1;
        assert_eq!(answers[winner].1["session_id"], sid.as_str(), "{context}");
        let mut losers: Vec<&str> = (0..3)
            .filter(|&i| i != winner)
            .map(|i| {
                let (status, body) = &answers[i];
                assert_eq!(
                    (*status, &body["login_required"]),
                    (401, &json!(true)),
                    "{context}"
                );
                body["error"].as_str().unwrap_or("")
            })
            .collect();
        losers.sort_unstable();
        assert_eq!(
            losers,
            ["refresh_token_reused", "refresh_token_revoked"],
            "{context}"
        );
        let successor = tokens(&answers[winner].1).refresh;
        let other = &trio.replicas[(winner + 1) % 3];
        assert_session_revoked(
            Some(&other.api.refresh(&successor)),
            None,
            &format!("{context}: the winner's successor on {}", other.name),
        );
    }
    eprintln!(
        "grace off: {ROUNDS} races, won by A/B/C {wins:?}, {:?}",
        started.elapsed()
    );
}

/// Grace window on (10 s). One session; each of [`ROUNDS`] rounds presents its current
/// refresh token to A, B and C at once. One request rotates, the two others are inside the
/// window and get the same successor back (derived from the old token with the shared
/// master key, so any replica can answer it): all three answer 200 with the same new
/// refresh token and the session's id, and the next round presents that token. At the
/// end, the access tokens of the last round, each signed by a different replica, verify on
/// every replica, the three publish the same JWKS, and the user has one live session.
#[test]
fn grace_on_a_token_raced_on_three_replicas_converges_on_one_successor() {
    let Some(trio) = Trio::start(
        "replicas_grace_on",
        &[("TESSERA_TOKENS__REUSE_GRACE", "10s")],
    ) else {
        return;
    };
    let started = Instant::now();
    trio.signup("race-on");
    let login = trio.a().api.login("race-on");
    let sid = login.sid;
    let mut token = login.refresh;
    let mut last = Vec::new();
    for round in 0..ROUNDS {
        let answers = trio.race(&token);
        let context = format!("round {round}, answers {answers:?}");
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{context}\n{}", trio.logs());
            assert_eq!(body["session_id"], sid.as_str(), "{context}");
        }
        let successor = tokens(&answers[0].1).refresh;
        assert_ne!(successor, token, "{context}");
        for (_, body) in &answers[1..] {
            assert_eq!(body["refresh_token"], successor.as_str(), "{context}");
        }
        token = successor;
        last = answers;
    }
    for (signer, (_, body)) in last.iter().enumerate() {
        let access = tokens(body).access;
        for r in &trio.replicas {
            let (status, claims) = r.api.me(&access);
            assert_eq!(
                status, 200,
                "signed by {signer}, checked by {}: {claims}",
                r.name
            );
            assert_eq!(claims["sid"], sid.as_str());
            assert_eq!(claims["iss"], ISSUER);
        }
    }
    // One key ring: whichever replica a client fetches the JWKS from, it gets the same set.
    let jwks: Vec<Value> = trio
        .replicas
        .iter()
        .map(|r| r.api.get("/.well-known/jwks.json", None).1)
        .collect();
    assert!(
        jwks[0]["keys"].as_array().is_some_and(|k| !k.is_empty()),
        "{}",
        jwks[0]
    );
    assert!(jwks.iter().all(|j| *j == jwks[0]), "JWKS differ: {jwks:?}");
    let (status, sessions) = trio
        .a()
        .api
        .get("/v1/sessions", Some(&tokens(&last[0].1).access));
    assert_eq!(status, 200, "{sessions}");
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");
    eprintln!("grace on: {ROUNDS} races, {:?}", started.elapsed());
}

/// A session revoked on A (`DELETE /v1/sessions/{id}`), and then all of a user's sessions
/// logged out on C (`POST /v1/logout/all`): the refresh tokens are refused at once by the
/// other replicas (`refresh_token_revoked`, `login_required`: the store is shared), and the
/// access tokens — which they accepted before, one issuer and one key ring for all — are
/// refused (`invalid_token`, docs/http-api.md "Error codes") within [`REVOCATION_BOUND`]: the replicas read
/// revocations from the store every 2 s.
#[test]
fn a_session_revoked_on_one_replica_is_refused_by_the_others() {
    let Some(trio) = Trio::start("replicas_revocation", &[]) else {
        return;
    };
    let [a, b, c] = [&trio.replicas[0], &trio.replicas[1], &trio.replicas[2]];
    trio.signup("revoked");

    // One session, revoked through A.
    let login = a.api.login("revoked");
    let (access, refresh) = (login.access, login.refresh);
    for r in [a, b, c] {
        assert_eq!(
            r.api.me(&access).0,
            200,
            "before the revocation, on {}",
            r.name
        );
    }
    let (status, body) = a
        .api
        .delete(&format!("/v1/sessions/{}", login.sid), &access);
    assert_eq!(status, 204, "{body}");
    let revoked = Instant::now();
    assert_session_revoked(None, Some(&a.api.me(&access)), "A knows at once");
    for r in [b, c] {
        assert_session_revoked(Some(&r.api.refresh(&refresh)), None, &r.name.to_string());
    }
    let took = wait_refused(&[b, c], &[&access], revoked);
    eprintln!("DELETE /v1/sessions/{{id}} on A: refused by B and C after {took:?}");

    // Two sessions, from B and C, logged out everywhere through C.
    let logins = [b.api.login("revoked"), c.api.login("revoked")];
    let access: Vec<String> = logins.iter().map(|l| l.access.clone()).collect();
    for r in [a, b, c] {
        for t in &access {
            assert_eq!(
                r.api.me(t).0,
                200,
                "before logout everywhere, on {}",
                r.name
            );
        }
    }
    let response = c
        .api
        .agent()
        .post(c.api.url("/v1/logout/all"))
        .header("authorization", format!("Bearer {}", access[1]))
        .send_empty()
        .unwrap();
    let (status, body) = answer(response);
    assert_eq!(status, 204, "{body}");
    let revoked = Instant::now();
    for l in &logins {
        for r in [a, b] {
            assert_session_revoked(Some(&r.api.refresh(&l.refresh)), None, &r.name.to_string());
        }
    }
    let tokens: Vec<&str> = access.iter().map(String::as_str).collect();
    let took = wait_refused(&[a, b], &tokens, revoked);
    eprintln!("POST /v1/logout/all on C: refused by A and B after {took:?}");
}

/// Polls `/v1/me` on `replicas` with each of `tokens` until every answer is 401
/// `invalid_token`; how long after `since` that was. Fails past [`REVOCATION_BOUND`].
fn wait_refused(replicas: &[&Replica], tokens: &[&str], since: Instant) -> Duration {
    loop {
        let answers: Vec<(char, (u16, Value))> = replicas
            .iter()
            .flat_map(|r| tokens.iter().map(move |t| (r.name, r.api.me(t))))
            .collect();
        if answers
            .iter()
            .all(|(_, (status, body))| *status == 401 && body["error"] == "invalid_token")
        {
            return since.elapsed();
        }
        for (name, (status, body)) in &answers {
            assert!(
                *status == 200 || *status == 401,
                "replica {name}: {status} {body}"
            );
        }
        assert!(
            since.elapsed() < REVOCATION_BOUND,
            "access tokens still accepted {REVOCATION_BOUND:?} after the revocation: \
             {answers:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// `rate_limit.login_per_minute = 3`, counted in Redis: three failed logins for one
/// username, one on each replica (none of which saw more than one), and the fourth
/// attempt is refused with 429 `rate_limited` and a `Retry-After` on every replica —
/// before the password is even checked, so the right password is refused too. Each
/// replica's `/readyz` says `checks.rate_limit = "redis"`.
#[test]
fn failed_logins_spread_over_the_replicas_count_once() {
    let Some(trio) = Trio::start(
        "replicas_rate_limit",
        &[
            ("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "3"),
            ("TESSERA_SERVER__TRUST_FORWARDED_FOR", "true"),
        ],
    ) else {
        return;
    };
    for r in &trio.replicas {
        let (status, body) = r.api.get("/readyz", None);
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["checks"]["rate_limit"], "redis",
            "replica {}: {body}",
            r.name
        );
    }
    // Redis keys outlive the test (a one-minute window) and are shared with every run:
    // a username and an IP of this run's own.
    let random = RandomState::new().hash_one(std::process::id());
    let user = format!("limited-{}-{random:016x}", std::process::id());
    let ip = format!(
        "10.{}.{}.{}",
        random >> 56,
        (random >> 48) & 0xff,
        (random >> 40) & 0xff
    );
    trio.signup(&user);
    let attempt = |r: &Replica, password: &str| -> (u16, Value, Option<u64>) {
        let response = r
            .api
            .agent()
            .post(r.api.url("/v1/login"))
            .header("x-forwarded-for", &ip)
            .content_type("application/json")
            .send(json!({"username": user, "password": password, "delivery": "body"}).to_string())
            .unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let (status, body) = answer(response);
        (status, body, retry_after)
    };
    for r in &trio.replicas {
        let (status, body, _) = attempt(r, "wrong password");
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_credentials")),
            "{}: {body}",
            r.name
        );
    }
    for (r, password) in trio
        .replicas
        .iter()
        .zip(["another wrong one", PASSWORD, PASSWORD])
    {
        let (status, body, retry_after) = attempt(r, password);
        assert_eq!(status, 429, "replica {}: {body}", r.name);
        assert_eq!(body["error"], "rate_limited", "replica {}: {body}", r.name);
        let retry_after = retry_after.unwrap_or_else(|| panic!("{}: no Retry-After", r.name));
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    }
}

/// The revocation feed's credential in the feed test.
const FEED_TOKEN: &str = "replicas-revocations-token-5c0e7a93d21f";

/// Sessions logged out at once in the feed test.
const FEED_SESSIONS: usize = 150;

/// The revocation feed across replicas: [`FEED_SESSIONS`] sessions are logged out at once,
/// spread over A, B and C by 15 threads, while a resource server polls the feed round-robin
/// over the three, always passing the last cursor it got (from whichever replica). On
/// PostgreSQL concurrent revocations commit out of order; the cursor must still make it
/// see every one: after the logouts end and one more round of polls, the set it holds has
/// all of them, and it never got a `reset` after its first answer.
#[test]
fn the_feed_polled_round_robin_sees_every_concurrent_logout() {
    let Some(trio) = Trio::start(
        "replicas_feed",
        &[("TESSERA_REVOCATIONS__TOKEN", FEED_TOKEN)],
    ) else {
        return;
    };
    trio.signup("fiona");
    // The sessions, logged in through all three replicas.
    let sessions: Vec<tessera_testkit::Tokens> = thread::scope(|s| {
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let replica = &trio.replicas[t];
                s.spawn(move || {
                    (0..FEED_SESSIONS / 3)
                        .map(|_| replica.api.login("fiona"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert_eq!(sessions.len(), FEED_SESSIONS);

    let poll = |round: usize, cursor: &Option<String>| -> Value {
        let replica = &trio.replicas[round % 3];
        let path = match cursor {
            Some(c) => format!("/v1/revocations?since={c}"),
            None => "/v1/revocations".to_owned(),
        };
        let (status, body) = replica.api.get(&path, Some(FEED_TOKEN));
        assert_eq!(status, 200, "replica {}: {body}", replica.name);
        body
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let seen: std::collections::HashSet<String> = thread::scope(|s| {
        let poller = s.spawn(|| {
            let mut seen = std::collections::HashSet::new();
            let mut cursor: Option<String> = None;
            let mut round = 0;
            let mut after_done = 0;
            // Keep polling while the logouts run, then one full round-robin more.
            while after_done < 3 {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    after_done += 1;
                }
                let answer = poll(round, &cursor);
                if cursor.is_some() {
                    assert!(
                        answer.get("reset").is_none(),
                        "a reset mid-stream: {answer}"
                    );
                }
                for e in answer["revocations"].as_array().unwrap() {
                    seen.insert(e["sid"].as_str().unwrap().to_owned());
                }
                cursor = Some(answer["cursor"].as_str().unwrap().to_owned());
                round += 1;
                thread::sleep(Duration::from_millis(5));
            }
            eprintln!("feed: {round} polls, {} sessions seen", seen.len());
            seen
        });
        // The logouts: 15 threads, each through the replicas in turn.
        let chunk = FEED_SESSIONS / 15;
        let workers: Vec<_> = sessions
            .chunks(chunk)
            .enumerate()
            .map(|(w, mine)| {
                let trio = &trio;
                s.spawn(move || {
                    for (i, t) in mine.iter().enumerate() {
                        let replica = &trio.replicas[(w + i) % 3];
                        let (status, body) = replica.api.post_json(
                            "/v1/logout",
                            None,
                            &json!({ "refresh_token": t.refresh }),
                        );
                        assert_eq!(status, 204, "logout on {}: {body}", replica.name);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        poller.join().unwrap()
    });
    let missing: Vec<&String> = sessions
        .iter()
        .map(|t| &t.sid)
        .filter(|sid| !seen.contains(*sid))
        .collect();
    assert!(
        missing.is_empty(),
        "the feed never showed {} of {FEED_SESSIONS} logouts: {missing:?}\n{}",
        missing.len(),
        trio.logs()
    );
}
