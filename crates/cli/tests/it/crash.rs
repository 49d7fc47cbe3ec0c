//! Crash safety: a server killed with SIGKILL in the middle of a refresh load, restarted on
//! the same database, loses no session — every refresh token a client last received still
//! works, and tokens signed before the crash still verify.
//!
//! SQLite runs in WAL mode with `synchronous = NORMAL`: a commit is in the WAL (the kernel's
//! page cache) before COMMIT returns, so killing the process loses nothing that was
//! acknowledged. (Only a power loss may roll back the last commits.)
//!
//! At the kill, a client may have a refresh in flight whose rotation the server committed
//! but whose answer never arrived: the client still holds the old token, now spent. That is
//! what the reuse-grace window (10 s by default) is for: the old token presented again gets
//! the successor the server committed. So the checks after the restart run at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tessera_testkit::api::tokens;
use tessera_testkit::{Api, Tokens};

use crate::serve::{Server, ADMIN_TOKEN};
use crate::Dir;

/// Concurrent sessions under load, one client thread each.
const SESSIONS: usize = 16;

/// Sessions whose last rotation is committed but whose answer the client drops, just
/// before the kill: the case the grace window exists for, made certain rather than left to
/// the timing of the kill.
const LOST_ANSWERS: usize = 2;

/// How long the load runs before the kill (at least: every client must also have rotated
/// a few times).
const LOAD: Duration = Duration::from_secs(1);

/// Rotations every client completes before the kill.
const MIN_ROTATIONS: u64 = 3;

/// The server's default `tokens.reuse_grace`.
const GRACE: Duration = Duration::from_secs(10);

/// What one client holds: the last tokens it received in a complete 200 answer.
#[derive(Debug)]
struct Client {
    session_id: String,
    refresh: String,
    first_access: String,
    last_access: String,
}

impl Client {
    fn from_login(login: &Tokens) -> Client {
        Client {
            session_id: login.sid.clone(),
            refresh: login.refresh.clone(),
            first_access: login.access.clone(),
            last_access: login.access.clone(),
        }
    }

    /// Takes the tokens of a refresh answer.
    fn received(&mut self, answer: &Value) {
        let received = tokens(answer);
        self.refresh = received.refresh;
        self.last_access = received.access;
    }
}

#[test]
fn sigkill_during_refresh_load_loses_no_session() {
    let _turn = crate::heavy_turn();
    let test_started = Instant::now();
    let dir = Dir::new();
    let mut server = Server::start(&dir);
    let port = server.port();
    let base = server.base();
    server.api().signup("crash");
    let logins: Vec<Tokens> = (0..SESSIONS + LOST_ANSWERS)
        .map(|_| server.api().login("crash"))
        .collect();
    let (loaded, quiet) = logins.split_at(SESSIONS);

    // The load: each client rotates its own session's token in a loop until the server
    // stops answering.
    let counters: Arc<Vec<AtomicU64>> =
        Arc::new((0..SESSIONS).map(|_| AtomicU64::new(0)).collect());
    let threads: Vec<_> = loaded
        .iter()
        .enumerate()
        .map(|(i, login)| {
            let (counters, base) = (Arc::clone(&counters), base.clone());
            let client = Client::from_login(login);
            thread::spawn(move || rotate_until_error(i, client, &base, &counters[i]))
        })
        .collect();

    let load_started = Instant::now();
    let deadline = load_started + Duration::from_secs(10);
    while load_started.elapsed() < LOAD
        || counters
            .iter()
            .any(|c| c.load(Ordering::Relaxed) < MIN_ROTATIONS)
    {
        assert!(
            Instant::now() < deadline,
            "the refresh load did not get going: {counters:?}\n{}",
            server.log_text()
        );
        thread::sleep(Duration::from_millis(10));
    }
    // The quiet sessions rotate once more, and their clients drop the answers.
    let api = Api::new(&base);
    let lost: Vec<(Client, String)> = quiet
        .iter()
        .map(|login| {
            let client = Client::from_login(login);
            let (status, answer) = api.refresh(&client.refresh);
            assert_eq!(status, 200, "{answer}");
            (client, tokens(&answer).refresh)
        })
        .collect();
    server.kill();
    let killed = Instant::now();
    let rotations: u64 = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let mut clients: Vec<Client> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let lost_successors: Vec<String> = lost.iter().map(|(_, s)| s.clone()).collect();
    clients.extend(lost.into_iter().map(|(c, _)| c));

    // Restart on the same directory (tessera.db, tessera.master.key) and port (the issuer).
    let server = restart(&dir, port);
    // Active: known, its session live, and its successor not stored (RFC 7662).
    let active = |token: &str| -> bool {
        let (status, body) = api.post_form(
            "/oauth/introspect",
            Some(ADMIN_TOKEN),
            &format!("token={token}"),
        );
        assert_eq!(status, 200, "{body}");
        body["active"] == json!(true)
    };

    // Which clients lost the answer to a rotation the server had committed: their last
    // token is spent. Before anything else touches them.
    let spent: Vec<bool> = clients.iter().map(|c| !active(&c.refresh)).collect();

    // Every client's last refresh token refreshes: live ones rotate; spent ones get the
    // grace answer, which stores nothing.
    let successors: Vec<String> = clients
        .iter()
        .zip(&spent)
        .map(|(c, spent)| {
            let (status, answer) = api.refresh(&c.refresh);
            assert_eq!(
                status,
                200,
                "session {} (last token spent before the crash: {spent}), {:?} after the \
                 kill: {answer}\n{}",
                c.session_id,
                killed.elapsed(),
                server.log_text()
            );
            assert_eq!(answer["session_id"], c.session_id.as_str());
            tokens(&answer).refresh
        })
        .collect();
    let grace_checks_done = killed.elapsed();

    // The committed-but-unanswered case, more strongly: the old token gets the very
    // successor the server committed (and sent) before the crash, every time it is asked,
    // and that successor is stored and live.
    for (i, committed) in lost_successors.iter().enumerate() {
        let k = SESSIONS + i;
        assert!(
            spent[k],
            "session {}: the dropped rotation was not kept",
            clients[k].session_id
        );
        assert_eq!(
            &successors[k], committed,
            "session {}",
            clients[k].session_id
        );
    }
    for ((c, spent), successor) in clients.iter().zip(&spent).zip(&successors) {
        if *spent {
            assert!(
                active(successor),
                "session {}: successor not stored",
                c.session_id
            );
            let (status, again) = api.refresh(&c.refresh);
            assert_eq!(status, 200, "session {}: {again}", c.session_id);
            assert_eq!(again["refresh_token"].as_str(), Some(successor.as_str()));
        }
    }

    // Every session goes on: its new token rotates normally.
    for (c, successor) in clients.iter().zip(&successors) {
        let (status, answer) = api.refresh(successor);
        assert_eq!(status, 200, "session {}: {answer}", c.session_id);
    }

    // Access tokens signed before the crash still verify: on the server, and offline with
    // the published JWKS fetched by URL.
    let jwks = server.url("/.well-known/jwks.json");
    let issuer = server.base();
    for c in &clients {
        for token in [&c.first_access, &c.last_access] {
            let (status, claims) = api.me(token);
            assert_eq!(status, 200, "session {}: {claims}", c.session_id);
            assert_eq!(claims["sid"], c.session_id.as_str());
            let claims = dir
                .verify(token, &["--jwks", &jwks, "--iss", &issuer, "--aud", "api"])
                .json();
            assert_eq!(claims["sid"], c.session_id.as_str());
        }
    }

    let spent_count = spent.iter().filter(|s| **s).count();
    eprintln!(
        "crash test: {rotations} rotations under load before the kill; {spent_count} sessions \
         answered by the grace window ({LOST_ANSWERS} by design); refresh checks done \
         {grace_checks_done:?} after the kill; {:?} in all",
        test_started.elapsed()
    );
    assert!(
        grace_checks_done < GRACE,
        "refresh checks {grace_checks_done:?} after the kill"
    );
    assert!(
        test_started.elapsed() < Duration::from_secs(30),
        "{:?}",
        test_started.elapsed()
    );
}

/// One client under load: rotates its session's refresh token until a request fails (the
/// kill), and returns what it last received.
fn rotate_until_error(i: usize, mut client: Client, base: &str, counter: &AtomicU64) -> Client {
    // Each request bounded, so a wedged connection cannot hang the test.
    let api = Api::with_timeout(base, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        // Only an answer read to its end counts as received.
        match api.try_refresh(&client.refresh) {
            Ok((200, body)) => {
                client.received(&body);
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, body)) => panic!("client {i}: refresh answered {status}: {body}"),
            Err(_) => return client,
        }
    }
    panic!("client {i}: still rotating after 15 s: the server was not killed");
}

/// Starts the server again on `port`, which the killed one held a moment ago.
fn restart(dir: &Dir, port: u16) -> Server {
    let mut last = String::new();
    for _ in 0..3 {
        match Server::start_on(dir, port) {
            Ok(server) => return server,
            Err(why) => last = why,
        }
    }
    panic!("restart on port {port} failed: {last}");
}
