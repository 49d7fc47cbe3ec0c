//! PostgreSQL: the conformance suite, each test on a database of its own, and what only a
//! server shows — replicas racing for one token, replicas migrating at once, a server that
//! is unreachable, goes away, cancels or kills a statement.
//!
//! The databases, `tessera_test_store_<pid>_<n>`, come from the test kit
//! ([`tessera_testkit::pg`]: the server at `TESSERA_TEST_PG_URL`, each database dropped
//! when its test is done, panic or not); so does the relay a test cuts to make the
//! database go away. When the server cannot be reached, the tests fail if `CI` is set, and
//! otherwise pass without running after a note on stderr.

use crate::ALL_VERSIONS;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Executor, PgConnection};
use tessera_store::conformance::Backend;
use tessera_store::postgres::MIGRATION_LOCK;
use tessera_store::{connect_any, PostgresOptions, PostgresStore};
use tessera_testkit::{free_port, Relay, TestDb};
use tessera_tokens::{
    RevokeReason, RotateOutcome, Rotation, SessionRecord, Store, StoreError, UserRecord,
};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// A database of the test's own; `None` when PostgreSQL is unreachable and the test may
/// be skipped.
fn test_db() -> Option<TestDb> {
    TestDb::create("store")
}

/// Pools small enough for two tests at once (with two handles each) to stay well under
/// PostgreSQL's default 100 connections.
fn test_options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 8,
        ..PostgresOptions::default()
    }
}

struct Postgres {
    // Dropped in this order: the pool before the database (which is dropped with FORCE
    // anyway).
    store: Arc<dyn Store>,
    db: TestDb,
}

#[async_trait::async_trait]
impl Backend for Postgres {
    async fn fresh() -> Option<Self> {
        let db = test_db()?;
        let store = PostgresStore::connect(db.url(), test_options())
            .await
            .unwrap();
        Some(Postgres {
            store: Arc::new(store),
            db,
        })
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn another_handle(&self) -> Arc<dyn Store> {
        Arc::new(
            PostgresStore::connect(self.db.url(), test_options())
                .await
                .unwrap(),
        )
    }
}

/// Every `Store` behaviour, as on SQLite.
mod conformance {
    tessera_store::conformance_tests!(super::Postgres);
}

// ---- fixtures ----------------------------------------------------------------------------

const T0: i64 = 1_700_000_000;

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: format!("u-{name}"),
        username: name.to_owned(),
        username_key: name.to_owned(),
        username_skeleton: Some(name.to_owned()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: T0,
    }
}

fn session(id: &str, user_id: &str) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        created_at: T0,
        last_used_at: T0,
        expires_at: T0 + 86_400,
        idle_expires_at: T0 + 86_400,
        revoked_at: None,
        revoke_reason: None,
        generation: 0,
        user_agent: None,
        ip: None,
    }
}

fn hash(a: u8, b: u8) -> [u8; 32] {
    let mut h = [0x42; 32];
    h[0] = a;
    h[1] = b;
    h
}

fn rotation(presented: [u8; 32], successor: [u8; 32], now: i64, grace: i64) -> Rotation {
    Rotation {
        presented,
        successor,
        now,
        idle_timeout: 3_600,
        grace,
        revoke_until: now + 960,
    }
}

async fn migration_versions(conn: &mut PgConnection) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(conn)
        .await
        .unwrap()
}

/// Fresh database and two stores on it with their own pools: two replicas.
async fn two_replicas() -> Option<(TestDb, Arc<dyn Store>, Arc<dyn Store>)> {
    let db = test_db()?;
    let a = PostgresStore::connect(db.url(), test_options())
        .await
        .unwrap();
    let b = PostgresStore::connect(db.url(), test_options())
        .await
        .unwrap();
    Some((db, Arc::new(a), Arc::new(b)))
}

/// `racers` tasks, alternating between the replicas, present one token at the same moment.
async fn race(replicas: [&Arc<dyn Store>; 2], racers: usize, r: Rotation) -> Vec<RotateOutcome> {
    let barrier = Arc::new(Barrier::new(racers));
    let mut tasks = JoinSet::new();
    for i in 0..racers {
        let store = replicas[i % 2].clone();
        let (barrier, r) = (barrier.clone(), r.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store.rotate_refresh(&r).await.unwrap()
        });
    }
    tasks.join_all().await
}

// ---- replicas ----------------------------------------------------------------------------

/// Two replicas (separate pools) race for one token, grace off, round after round: one
/// rotation per round; every other request is reuse (or the revocation reuse caused), and
/// the family ends revoked for reuse with exactly one rotation counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_spend_a_token_exactly_once() {
    let Some((db, a, b)) = two_replicas().await else {
        return;
    };
    a.create_user(&user("alice")).await.unwrap();
    for round in 0..10u8 {
        let sid = format!("s{round}");
        a.create_session(&session(&sid, "u-alice"), &hash(round, 0))
            .await
            .unwrap();
        let outcomes = race(
            [&a, &b],
            16,
            rotation(hash(round, 0), hash(round, 1), T0 + 5, 0),
        )
        .await;
        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Rotated(_)))
            .count();
        assert_eq!(rotated, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.iter().all(|o| matches!(
                o,
                RotateOutcome::Rotated(_) | RotateOutcome::Reused | RotateOutcome::Revoked
            )),
            "round {round}: {outcomes:?}"
        );
        let s = b.session(&sid).await.unwrap().unwrap();
        assert_eq!(
            (s.generation, s.revoke_reason),
            (1, Some(RevokeReason::Reuse)),
            "round {round}"
        );
    }
    // One successor per session, never two.
    let mut conn = db.connect().await;
    let per_session: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens GROUP BY session_id ORDER BY session_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(per_session, vec![2; 10]);
}

/// Two replicas race for one token inside the grace window: one rotates, every other
/// request, on either replica, converges on the same session and successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_on_one_successor_within_grace() {
    let Some((db, a, b)) = two_replicas().await else {
        return;
    };
    a.create_user(&user("alice")).await.unwrap();
    for round in 0..10u8 {
        let sid = format!("s{round}");
        a.create_session(&session(&sid, "u-alice"), &hash(round, 0))
            .await
            .unwrap();
        let outcomes = race(
            [&a, &b],
            16,
            rotation(hash(round, 0), hash(round, 1), T0 + 5, 10),
        )
        .await;
        let winner: Vec<_> = outcomes
            .iter()
            .filter_map(|o| match o {
                RotateOutcome::Rotated(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(winner.len(), 1, "round {round}: {outcomes:?}");
        let graced = outcomes
            .iter()
            .filter(|o| **o == RotateOutcome::Grace(winner[0].clone()))
            .count();
        assert_eq!(graced, 15, "round {round}: {outcomes:?}");
        // The successor they all converge on is live on both replicas.
        let next = b
            .rotate_refresh(&rotation(hash(round, 1), hash(round, 2), T0 + 6, 10))
            .await
            .unwrap();
        assert!(matches!(next, RotateOutcome::Rotated(_)), "{next:?}");
    }
    let mut conn = db.connect().await;
    let revoked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(revoked, 0);
}

// ---- migrations --------------------------------------------------------------------------

/// Four replicas start at once on a new database: all connect, the schema is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_connects_migrate_once() {
    let Some(db) = test_db() else {
        return;
    };
    let mut starts = JoinSet::new();
    for _ in 0..4 {
        let url = db.url().to_owned();
        starts.spawn(async move { PostgresStore::connect(&url, test_options()).await });
    }
    let stores: Vec<_> = starts
        .join_all()
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    for s in &stores {
        s.ping().await.unwrap();
    }
    assert_eq!(
        migration_versions(&mut db.connect().await).await,
        ALL_VERSIONS
    );
    stores[0].create_user(&user("alice")).await.unwrap();
    assert_eq!(stores[3].list_users().await.unwrap(), vec![user("alice")]);
}

/// The migrations wait for the advisory lock: while another session holds it, `connect`
/// creates nothing; once it is released, `connect` completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_wait_for_the_advisory_lock() {
    let Some(db) = test_db() else {
        return;
    };
    let mut holder = db.connect().await;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut holder)
        .await
        .unwrap();
    let url = db.url().to_owned();
    let starting = tokio::spawn(async move { PostgresStore::connect(&url, test_options()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!starting.is_finished(), "connect did not wait for the lock");
    let mut probe = db.connect().await;
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('schema_migrations')::text")
        .fetch_one(&mut probe)
        .await
        .unwrap();
    assert_eq!(table, None, "migrated while another session held the lock");

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut holder)
        .await
        .unwrap();
    starting.await.unwrap().unwrap().ping().await.unwrap();
    assert_eq!(migration_versions(&mut probe).await, ALL_VERSIONS);
}

#[tokio::test]
async fn reconnecting_applies_nothing_twice_and_keeps_data() {
    let Some(db) = test_db() else {
        return;
    };
    let store = PostgresStore::connect(db.url(), test_options())
        .await
        .unwrap();
    store.create_user(&user("alice")).await.unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = PostgresStore::connect(db.url(), test_options())
            .await
            .unwrap();
        assert_eq!(
            store.user_by_username("alice").await.unwrap(),
            Some(user("alice"))
        );
        store.close().await;
    }
    assert_eq!(
        migration_versions(&mut db.connect().await).await,
        ALL_VERSIONS
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let Some(db) = test_db() else {
        return;
    };
    PostgresStore::connect(db.url(), test_options())
        .await
        .unwrap()
        .close()
        .await;
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
        .execute(&mut db.connect().await)
        .await
        .unwrap();
    let err = PostgresStore::connect(db.url(), test_options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Other(m) if m.contains("9999") && m.contains("newer")),
        "{err:?}"
    );
}

// ---- connecting --------------------------------------------------------------------------

/// `connect_any` sends both PostgreSQL schemes here.
#[tokio::test]
async fn connect_any_dispatches_postgres_urls() {
    let Some(db) = test_db() else {
        return;
    };
    let store = connect_any(db.url()).await.unwrap();
    store.create_user(&user("alice")).await.unwrap();
    let other = connect_any(&db.url().replacen("postgres://", "postgresql://", 1))
        .await
        .unwrap();
    assert_eq!(other.list_users().await.unwrap(), vec![user("alice")]);
}

#[tokio::test]
async fn invalid_options_are_refused() {
    for options in [
        PostgresOptions {
            max_connections: 0,
            ..PostgresOptions::default()
        },
        PostgresOptions {
            min_connections: 17,
            ..PostgresOptions::default()
        },
        PostgresOptions {
            acquire_timeout: Duration::ZERO,
            ..PostgresOptions::default()
        },
    ] {
        let err = PostgresStore::connect("postgres://127.0.0.1:1/x", options.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Other(_)), "{options:?}: {err:?}");
    }
}

/// A port nobody listens on: `Unavailable` once `acquire_timeout` has passed (sqlx retries
/// a refused connection until then), and the password is not in the message.
#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_acquire_timeout() {
    let port = free_port();
    let options = PostgresOptions {
        acquire_timeout: Duration::from_millis(400),
        ..PostgresOptions::default()
    };
    let started = Instant::now();
    let err = PostgresStore::connect(
        &format!("postgres://tessera:hunter2@127.0.0.1:{port}/tessera"),
        options,
    )
    .await
    .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// The database goes away under a running store: operations fail with `Unavailable`
/// within `acquire_timeout`, nothing is half-written, and the store recovers by itself
/// when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_is_unavailable_then_recovers() {
    let Some(db) = test_db() else {
        return;
    };
    let mut relay = Relay::start(&db.server_addr());
    let url = db.url_via(&relay.addr());
    let options = PostgresOptions {
        acquire_timeout: Duration::from_millis(500),
        ..test_options()
    };
    let store = PostgresStore::connect(&url, options).await.unwrap();
    store.create_user(&user("alice")).await.unwrap();
    store
        .create_session(&session("s1", "u-alice"), &hash(1, 0))
        .await
        .unwrap();

    relay.cut();
    for attempt in 0..2 {
        let started = Instant::now();
        let err = store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 1, 0))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err, StoreError::Unavailable(_)),
            "{attempt}: {err:?}"
        );
        assert!(
            took < Duration::from_millis(1_500),
            "{attempt}: took {took:?}"
        );
    }
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));

    relay.restore();
    // Nothing was half-written: the token is still live, and rotates once.
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 2, 0))
        .await
        .unwrap();
    let s = match outcome {
        RotateOutcome::Rotated(s) => s,
        other => panic!("after recovery: {other:?}"),
    };
    assert_eq!(s.generation, 1);
    store.ping().await.unwrap();
}

// ---- server-side cancellation ------------------------------------------------------------

/// Waits until a `tessera` connection to `db` is blocked on a lock; returns its pid.
async fn blocked_backend(db: &TestDb) -> i32 {
    let mut conn = db.connect().await;
    for _ in 0..250 {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 \
             AND application_name = 'tessera' AND wait_event_type = 'Lock'",
        )
        .bind(db.name())
        .fetch_optional(&mut conn)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no blocked tessera backend");
}

/// Locks the row of `token` in a transaction of another connection, as a long
/// transaction of another replica would.
async fn lock_token(db: &TestDb, token: [u8; 32]) -> PgConnection {
    let mut conn = db.connect().await;
    conn.execute("BEGIN").await.unwrap();
    sqlx::query("SELECT 1 FROM refresh_tokens WHERE hash = $1 FOR UPDATE")
        .bind(&token[..])
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn store_with_session(db: &TestDb, options: PostgresOptions) -> PostgresStore {
    let store = PostgresStore::connect(db.url(), options).await.unwrap();
    store.create_user(&user("alice")).await.unwrap();
    store
        .create_session(&session("s1", "u-alice"), &hash(1, 0))
        .await
        .unwrap();
    store
}

/// A rotation blocked past `statement_timeout` is cancelled by the server (57014):
/// `Unavailable`, nothing written; the same rotation succeeds once the lock is gone.
#[tokio::test]
async fn a_statement_past_statement_timeout_is_unavailable() {
    let Some(db) = test_db() else {
        return;
    };
    let options = PostgresOptions {
        statement_timeout: Duration::from_millis(200),
        ..test_options()
    };
    let store = store_with_session(&db, options).await;
    let mut holder = lock_token(&db, hash(1, 0)).await;

    let started = Instant::now();
    let err = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 1, 0))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&err, StoreError::Unavailable(m) if m.contains("57014")),
        "{err:?}"
    );
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(2),
        "took {took:?}"
    );

    holder.execute("ROLLBACK").await.unwrap();
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 2, 0))
        .await
        .unwrap();
    assert!(
        matches!(outcome, RotateOutcome::Rotated(ref s) if s.generation == 1),
        "{outcome:?}"
    );
}

/// The server terminating the connection mid-statement (57P01, as a shutdown does):
/// `Unavailable`; the pool replaces the connection and the next rotation succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_connection_is_unavailable() {
    let Some(db) = test_db() else {
        return;
    };
    let store = Arc::new(store_with_session(&db, test_options()).await);
    let mut holder = lock_token(&db, hash(1, 0)).await;

    let rotating = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 1, 0))
                .await
        })
    };
    let pid = blocked_backend(&db).await;
    let mut admin = db.connect().await;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await
        .unwrap();
    let err = rotating.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    holder.execute("ROLLBACK").await.unwrap();
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 2, 0))
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
}

// ---- storage -----------------------------------------------------------------------------

/// Only the 32-byte hash of a refresh token is stored, as BYTEA; the schema refuses any
/// other length.
#[tokio::test]
async fn refresh_tokens_are_stored_as_32_byte_bytea() {
    let Some(db) = test_db() else {
        return;
    };
    let _store = store_with_session(&db, test_options()).await;
    let mut conn = db.connect().await;
    let (kind, len): (String, i32) =
        sqlx::query_as("SELECT pg_typeof(hash)::text, octet_length(hash) FROM refresh_tokens")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), len), ("bytea", 32));
    let short = sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ('\\x00', 's1', 0)",
    )
    .execute(&mut conn)
    .await;
    assert!(short.is_err());
}

// ---- the outage latch --------------------------------------------------------------------

/// The database goes away under a store with the default 5 s `acquire_timeout`: the first
/// operation after it left meets a dead pooled connection, the latch's probe is refused,
/// and the operation fails in a fraction of that; so do the 32 that follow at once, all
/// at the same moment. When the database is back, the next operation succeeds, and every
/// rotation that failed wrote nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_ends_by_itself() {
    let Some(db) = test_db() else {
        return;
    };
    let mut relay = Relay::start(&db.server_addr());
    let store = Arc::new(
        PostgresStore::connect(&db.url_via(&relay.addr()), test_options())
            .await
            .unwrap(),
    );
    store.create_user(&user("alice")).await.unwrap();
    for i in 0..32u8 {
        store
            .create_session(&session(&format!("s{i}"), "u-alice"), &hash(i, 0))
            .await
            .unwrap();
    }
    // Several pooled connections, idle when the database goes.
    let mut warm = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        warm.spawn(async move { store.ping().await.unwrap() });
    }
    warm.join_all().await;

    relay.cut();
    let fast = Duration::from_millis(1_000); // acquire_timeout is 5 s
    let started = Instant::now();
    let err = store.ping().await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(took < fast, "the first operation took {took:?}");

    let mut racing = JoinSet::new();
    for i in 0..32u8 {
        let store = store.clone();
        racing.spawn(async move {
            let started = Instant::now();
            let outcome = store
                .rotate_refresh(&rotation(hash(i, 0), hash(i, 1), T0 + 1, 10))
                .await;
            (outcome, started.elapsed())
        });
    }
    for (outcome, took) in racing.join_all().await {
        assert!(
            matches!(outcome, Err(StoreError::Unavailable(_))),
            "{outcome:?}"
        );
        assert!(took < fast, "took {took:?}");
    }

    relay.restore();
    store.ping().await.unwrap();
    for i in 0..32u8 {
        let outcome = store
            .rotate_refresh(&rotation(hash(i, 0), hash(i, 1), T0 + 2, 10))
            .await
            .unwrap();
        assert!(
            matches!(outcome, RotateOutcome::Rotated(ref s) if s.generation == 1),
            "{i}: {outcome:?}"
        );
    }
}

/// The server closing every idle connection of the pool (as an administrator's
/// `pg_terminate_backend`, or a firewall's idle timeout, would) is no outage: the probe
/// connects, the pool replaces its connections, and no operation fails.
#[tokio::test]
async fn dead_idle_connections_are_replaced_without_an_outage() {
    let Some(db) = test_db() else {
        return;
    };
    let store = store_with_session(&db, test_options()).await;
    let mut admin = db.connect().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'tessera'",
    )
    .bind(db.name())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "no idle tessera connection to kill");
    // Idle past the threshold, so the pool pings it before use and replaces it.
    tokio::time::sleep(tessera_store::postgres::PING_IF_IDLE_FOR + Duration::from_millis(200))
        .await;

    store.ping().await.unwrap();
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 1, 0))
        .await
        .unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
}

/// A pool that is only busy is no outage either: an operation that waits past
/// `acquire_timeout` for the one connection fails, the probe connects, and the next
/// operation goes through as soon as the connection is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_is_not_an_outage() {
    let Some(db) = test_db() else {
        return;
    };
    let options = PostgresOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
        ..PostgresOptions::default()
    };
    let store = Arc::new(store_with_session(&db, options).await);
    let mut holder = lock_token(&db, hash(1, 0)).await;
    // Takes the only connection and waits on the row lock.
    let rotating = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 1, 0))
                .await
        })
    };
    blocked_backend(&db).await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    holder.execute("ROLLBACK").await.unwrap();
    let outcome = rotating.await.unwrap().unwrap();
    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
    store.ping().await.unwrap();
}

/// Concurrent revocations commit out of order: a record whose transaction started first
/// (and so holds the lower sequence number) but commits last is still found by a reader
/// that continues from the position it got while that transaction was open. A cursor of
/// "the highest sequence number seen" would miss it for good.
#[tokio::test]
async fn the_feed_finds_a_revocation_that_commits_after_a_later_one() {
    let Some(db) = test_db() else { return };
    let store = PostgresStore::connect(db.url(), test_options())
        .await
        .unwrap();
    store.create_user(&user("alice")).await.unwrap();
    for (i, id) in ["slow", "fast"].into_iter().enumerate() {
        store
            .create_session(&session(id, "u-alice"), &hash(i as u8, 0))
            .await
            .unwrap();
    }
    // The slow revocation: its transaction writes the record, then waits.
    let mut slow = db.connect().await;
    slow.execute("BEGIN").await.unwrap();
    slow.execute(
        "WITH revoked AS (UPDATE sessions SET revoked_at = 1700000100, revoke_reason = 'admin' \
         WHERE id = 'slow' RETURNING id) \
         INSERT INTO revocations (session_id, revoked_at, until) \
         SELECT id, 1700000100, 1700001060 FROM revoked",
    )
    .await
    .unwrap();
    // The fast one commits while the slow one is open, and a reader polls in between.
    assert!(store
        .revoke_session("fast", T0 + 100, RevokeReason::Logout, T0 + 1060)
        .await
        .unwrap());
    let first = store.revocation_feed(None, T0 + 100).await.unwrap();
    let ids = |page: &tessera_tokens::RevocationPage| {
        page.revocations
            .iter()
            .map(|r| r.session_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ["fast"], "the slow one is not committed yet");
    slow.execute("COMMIT").await.unwrap();
    let second = store
        .revocation_feed(Some(&first.next), T0 + 101)
        .await
        .unwrap();
    assert!(!second.reset);
    assert!(ids(&second).contains(&"slow".to_owned()), "{second:?}");
    // The hard case indeed: the slow record's sequence number is below the fast one's.
    let seqs: Vec<(String, i64)> = sqlx::query_as("SELECT session_id, seq FROM revocations")
        .fetch_all(&mut db.connect().await)
        .await
        .unwrap();
    let seq = |id: &str| seqs.iter().find(|(s, _)| s == id).unwrap().1;
    assert!(seq("slow") < seq("fast"), "{seqs:?}");
}

/// Migration 3 on a database with accounts (see the SQLite test of the same name).
#[tokio::test]
async fn migration_3_backfills_keys_and_skeletons_and_keeps_collisions() {
    use crate::sqlite::{assert_upgraded, BEFORE_MIGRATION_3, OLD_ROWS};
    let Some(db) = test_db() else { return };
    let store = PostgresStore::connect(db.url(), test_options())
        .await
        .unwrap();
    drop(store);
    let mut conn = db.connect().await;
    sqlx::raw_sql(BEFORE_MIGRATION_3)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(OLD_ROWS).execute(&mut conn).await.unwrap();
    assert_eq!(migration_versions(&mut conn).await, [1, 2]);

    for _ in 0..2 {
        let store = PostgresStore::connect(db.url(), test_options())
            .await
            .unwrap();
        assert_upgraded(&store).await;
    }
    assert_eq!(migration_versions(&mut conn).await, ALL_VERSIONS);
}
