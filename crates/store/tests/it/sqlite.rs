//! SQLite-specific behaviour: URLs, connecting, migrations, locking, error mapping.

use crate::ALL_VERSIONS;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::{Connection, Row, SqliteConnection};
use tessera_store::{connect_any, sqlite_path, SqliteOptions, SqliteStore};
use tessera_tokens::{SessionRecord, Store, StoreError, UserRecord};

fn url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("tessera.db").display())
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        id: format!("u-{name}"),
        username: name.to_owned(),
        username_key: name.to_owned(),
        username_skeleton: Some(name.to_owned()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: 1_700_000_000,
    }
}

async fn raw(url: &str) -> SqliteConnection {
    SqliteConnection::connect(url).await.unwrap()
}

async fn migration_versions(url: &str) -> Vec<i64> {
    let mut conn = raw(url).await;
    sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[test]
fn sqlite_path_reads_relative_and_absolute_paths() {
    assert_eq!(
        sqlite_path("sqlite://tessera.db").unwrap(),
        PathBuf::from("tessera.db")
    );
    assert_eq!(
        sqlite_path("sqlite://data/t.db").unwrap(),
        PathBuf::from("data/t.db")
    );
    assert_eq!(
        sqlite_path("sqlite:///var/lib/tessera/t.db").unwrap(),
        PathBuf::from("/var/lib/tessera/t.db")
    );
    assert_eq!(sqlite_path("sqlite:t.db").unwrap(), PathBuf::from("t.db"));
    for bad in [
        "sqlite://",
        "sqlite://:memory:",
        "sqlite://t.db?mode=ro",
        "postgres://x",
        "t.db",
    ] {
        assert!(
            matches!(sqlite_path(bad), Err(StoreError::Other(_))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn connect_creates_and_migrates_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&url(dir.path()), SqliteOptions::default())
        .await
        .unwrap();
    assert!(dir.path().join("tessera.db").exists());
    assert_eq!(store.path(), dir.path().join("tessera.db"));
    store.ping().await.unwrap();
    assert_eq!(migration_versions(&url(dir.path())).await, ALL_VERSIONS);
}

#[tokio::test]
async fn reconnecting_applies_nothing_twice_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let store = SqliteStore::connect(&u, SqliteOptions::default())
        .await
        .unwrap();
    store.create_user(&user("alice")).await.unwrap();
    store.close().await;

    for _ in 0..2 {
        let store = SqliteStore::connect(&u, SqliteOptions::default())
            .await
            .unwrap();
        assert_eq!(
            store.user_by_username("alice").await.unwrap(),
            Some(user("alice"))
        );
        store.close().await;
    }
    assert_eq!(migration_versions(&u).await, ALL_VERSIONS);
}

/// The server and the CLI starting at once on a new file: both migrate, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_connects_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    // Create the file in WAL mode first: switching to WAL is the one step that cannot wait
    // for a lock, and a real deployment has done it long before a second process appears.
    let mut conn = raw(&format!("{u}?mode=rwc")).await;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let (a, b) = tokio::join!(
        SqliteStore::connect(&u, SqliteOptions::default()),
        SqliteStore::connect(&u, SqliteOptions::default()),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(migration_versions(&u).await, ALL_VERSIONS);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    SqliteStore::connect(&u, SqliteOptions::default())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = raw(&u).await;
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let err = SqliteStore::connect(&u, SqliteOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Other(m) if m.contains("9999") && m.contains("newer")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_directory_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let u = format!("sqlite://{}", dir.path().join("no-such-dir/t.db").display());
    let err = SqliteStore::connect(&u, SqliteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn zero_readers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        max_readers: 0,
        ..SqliteOptions::default()
    };
    let err = SqliteStore::connect(&url(dir.path()), options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
}

#[tokio::test]
async fn connect_any_dispatches_on_the_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let store = connect_any(&url(dir.path())).await.unwrap();
    store.ping().await.unwrap();

    // Refused before any I/O, without echoing the URL (it may hold a password); the
    // PostgreSQL side of the dispatch is tested in `postgres.rs`.
    let err = connect_any("postgres://tessera:hunter2@[db/tessera")
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert!(
        !text.contains("hunter2"),
        "the error echoes the URL: {text}"
    );

    for bad in ["mysql://db/tessera", "tessera.db", ""] {
        let err = connect_any(bad).await.err().unwrap();
        assert!(matches!(err, StoreError::Other(_)), "{bad}: {err:?}");
    }
}

/// Another process holding the write lock longer than `busy_timeout`: `Unavailable` after
/// about that long, nothing written; once released, writes work again.
#[tokio::test]
async fn a_lock_held_past_busy_timeout_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(200),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::connect(&u, options).await.unwrap();

    let mut other = raw(&u).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let started = Instant::now();
    let err = store.create_user(&user("alice")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Reads go on under WAL while the lock is held.
    assert_eq!(store.list_users().await.unwrap(), vec![]);
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();

    store.create_user(&user("alice")).await.unwrap();
}

/// Another process holding the write lock briefly: the write waits and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_briefly_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let store = SqliteStore::connect(&u, SqliteOptions::default())
        .await
        .unwrap();

    let mut other = raw(&u).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    });
    store.create_user(&user("alice")).await.unwrap();
    release.await.unwrap();
}

/// Only the 32-byte hash of a refresh token is stored, as a BLOB.
#[tokio::test]
async fn refresh_tokens_are_stored_as_32_byte_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let store = SqliteStore::connect(&u, SqliteOptions::default())
        .await
        .unwrap();
    store.create_user(&user("alice")).await.unwrap();
    let s = SessionRecord {
        id: "s1".into(),
        user_id: "u-alice".into(),
        created_at: 1,
        last_used_at: 1,
        expires_at: 100,
        idle_expires_at: 100,
        revoked_at: None,
        revoke_reason: None,
        generation: 0,
        user_agent: None,
        ip: None,
    };
    store.create_session(&s, &[7; 32]).await.unwrap();

    let mut conn = raw(&u).await;
    let row = sqlx::query("SELECT typeof(hash), length(hash) FROM refresh_tokens")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "blob");
    assert_eq!(row.get::<i64, _>(1), 32);
}

/// The database holds password hashes: it and the `-wal` and `-shm` files SQLite creates
/// beside it are readable and writable by their owner only (mode 0600), whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_and_shm_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&url(dir.path()), SqliteOptions::default())
        .await
        .unwrap();
    store.create_user(&user("alice")).await.unwrap();
    let db = sqlite_path(&url(dir.path())).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{path}");
    }
}

/// Undoes migration 3 on a migrated database: the schema of a database last opened by a
/// Tessera before the RFC 8265 username rules.
pub(crate) const BEFORE_MIGRATION_3: &str = "DROP INDEX users_username_skeleton; \
     ALTER TABLE users DROP COLUMN username_skeleton; \
     DELETE FROM schema_migrations WHERE version = 3;";

/// Rows written under the old rules (key = the name lowercased), with one pair of names that
/// now look alike (Latin and Cyrillic `a`) and one name the rules refuse (U+200B).
pub(crate) const OLD_ROWS: &str =
    "INSERT INTO users (id, username, username_key, password_hash, created_at) VALUES \
     ('u-1', 'Alice', 'alice', 'h', 1), \
     ('u-2', 'ＢＯＢ', 'ｂｏｂ', 'h', 2), \
     ('u-3', 'аlice', 'аlice', 'h', 3), \
     ('u-4', 'zero\u{200B}width', 'zero\u{200B}width', 'h', 4);";

/// What opening the upgraded database must show: new keys and skeletons for the first two,
/// the old keys kept for the others, every account still found (both backends).
pub(crate) async fn assert_upgraded(store: &dyn Store) {
    let found =
        |key: &'static str| async move { store.user_by_username(key).await.unwrap().unwrap() };
    let alice = found("alice").await;
    assert_eq!(
        (alice.id.as_str(), alice.username_skeleton.as_deref()),
        ("u-1", Some("alice"))
    );
    let bob = found("bob").await;
    assert_eq!((bob.id.as_str(), bob.username.as_str()), ("u-2", "ＢＯＢ"));
    assert_eq!(bob.username_skeleton.as_deref(), Some("bob"));
    for (key, id) in [("аlice", "u-3"), ("zero\u{200B}width", "u-4")] {
        let kept = found(key).await;
        assert_eq!((kept.id.as_str(), kept.username_skeleton), (id, None));
    }
    let left = store.users_without_skeleton().await.unwrap();
    assert_eq!(
        left.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["u-3", "u-4"]
    );
}

/// Migration 3 on a database with accounts: the column and index are added, start-up
/// computes the keys and skeletons in Rust, and collisions do not stop start-up.
#[tokio::test]
async fn migration_3_backfills_keys_and_skeletons_and_keeps_collisions() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    SqliteStore::connect(&u, SqliteOptions::default())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = raw(&u).await;
    sqlx::raw_sql(BEFORE_MIGRATION_3)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(OLD_ROWS).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    assert_eq!(migration_versions(&u).await, [1, 2]);

    for _ in 0..2 {
        let store = SqliteStore::connect(&u, SqliteOptions::default())
            .await
            .unwrap();
        assert_upgraded(&store).await;
        store.close().await;
    }
    assert_eq!(migration_versions(&u).await, ALL_VERSIONS);
}
