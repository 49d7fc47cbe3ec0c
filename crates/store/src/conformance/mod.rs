//! The behaviour every [`Store`] backend must have, written once (STYLE.md practice 9).
//!
//! Each function is one test: it takes a store over a fresh, empty, migrated database (or
//! two handles to one, for the cross-process test), and panics on a failure. A backend's
//! test binary implements [`Backend`] and expands [`conformance_tests!`](crate::conformance_tests)
//! to get one `#[tokio::test]` per function (SQLite and PostgreSQL do so in `tests/it`):
//!
//! ```ignore
//! struct Sqlite { /* temp dir, store */ }
//!
//! #[async_trait::async_trait]
//! impl tessera_store::conformance::Backend for Sqlite { /* … */ }
//!
//! tessera_store::conformance_tests!(Sqlite);
//! ```
//!
//! Times are fixed Unix seconds around [`T0`]; nothing sleeps.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;

use async_trait::async_trait;
use tessera_tokens::{
    RotateOutcome, Rotation, SessionRecord, Store, TokenHash, UnixTime, UserRecord,
};

mod concurrency;
mod keys;
mod rotation;
mod sessions;
mod users;

pub use concurrency::*;
pub use keys::*;
pub use rotation::*;
pub use sessions::*;
pub use users::*;

/// A backend under test: how to get a fresh database.
#[async_trait]
pub trait Backend: Send + Sync + Sized + 'static {
    /// A new, empty, migrated database that no other test uses, and a handle to it. The
    /// database lives as long as the returned value.
    ///
    /// `None` when the backend's server cannot be reached here and the backend allows
    /// skipping (it says so itself, once); the test then returns without running.
    async fn fresh() -> Option<Self>;
    /// The handle opened by [`fresh`](Backend::fresh).
    fn store(&self) -> Arc<dyn Store>;
    /// A second, independent handle to the same database (its own connections), as another
    /// process would have.
    async fn another_handle(&self) -> Arc<dyn Store>;
}

/// Expands to one `#[tokio::test]` per conformance function, each on a fresh database of
/// the given [`Backend`] type (or skipped when [`Backend::fresh`] says `None`). The calling
/// crate needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:ty) => {
        $crate::conformance_tests!(@one $backend;
            ping_answers,
            users_create_and_find,
            users_username_key_conflict,
            users_skeleton_conflict,
            users_without_skeleton_get_their_key_once,
            normalize_usernames_backfills_and_keeps_collisions,
            sessions_create_and_find,
            sessions_create_is_atomic,
            sessions_create_needs_user,
            revoke_session_reports_first_revocation,
            capped_session_evicts_least_recently_used,
            revoke_user_sessions_counts,
            list_sessions_live_most_recent_first,
            revocation_feed_lists_live_records_and_continues,
            revocation_feed_records_every_way_of_revoking,
            revocation_feed_resets_a_position_it_cannot_continue,
            purge_keeps_revocation_records_until_their_until,
            purge_removes_dead_sessions_and_their_tokens,
            purge_removes_many_sessions,
            rotate_live_token,
            rotate_clamps_idle_expiry_to_absolute_expiry,
            rotate_spent_token_within_grace,
            rotate_spent_token_after_grace_is_reuse,
            rotate_spent_token_without_grace_is_reuse,
            rotate_unknown_token,
            rotate_expired_session_absolute,
            rotate_expired_session_idle,
            rotate_spent_token_of_expired_session,
            rotate_revoked_session,
            signing_keys_insert_and_list,
            signing_keys_kid_conflict,
            signing_key_rotation_retires_the_others,
            signing_key_rotation_is_compare_and_set,
            retired_keys_are_deleted_after_their_time,
        );
        $crate::conformance_tests!(@shared $backend;
            concurrent_rotation_without_grace,
            concurrent_rotation_within_grace,
            concurrent_rotations_lose_no_update,
        );
        $crate::conformance_tests!(@pair $backend;
            two_handles_write_concurrently,
            signing_key_rotation_races_have_one_winner,
            capped_logins_race_keep_the_cap,
        );
    };
    (@one $backend:ty; $($name:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(db) = <$backend as $crate::conformance::Backend>::fresh().await else {
                return;
            };
            $crate::conformance::$name(&*$crate::conformance::Backend::store(&db)).await;
        }
    )*};
    (@shared $backend:ty; $($name:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(db) = <$backend as $crate::conformance::Backend>::fresh().await else {
                return;
            };
            $crate::conformance::$name($crate::conformance::Backend::store(&db)).await;
        }
    )*};
    (@pair $backend:ty; $($name:ident),* $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(db) = <$backend as $crate::conformance::Backend>::fresh().await else {
                return;
            };
            let other = $crate::conformance::Backend::another_handle(&db).await;
            $crate::conformance::$name($crate::conformance::Backend::store(&db), other).await;
        }
    )*};
}

/// The fixed "now" the tests start from.
pub const T0: UnixTime = 1_700_000_000;
const DAY: i64 = 86_400;
/// Absolute session lifetime used by the fixtures.
const TTL: i64 = 14 * DAY;
/// Idle timeout used by the fixtures.
const IDLE: i64 = 7 * DAY;
/// How long a revocation record lives in the fixtures: an access-token lifetime (15 min)
/// plus the leeway (60 s).
const LIFETIME: i64 = 960;

/// A distinct token hash per `(a, b)`.
fn hash(a: u64, b: u64) -> TokenHash {
    let mut h = [0x5a; 32];
    h[..8].copy_from_slice(&a.to_be_bytes());
    h[8..16].copy_from_slice(&b.to_be_bytes());
    h
}

fn user(username: &str, created_at: UnixTime) -> UserRecord {
    UserRecord {
        id: format!("u-{}", username.to_lowercase()),
        username: username.to_owned(),
        username_key: username.to_lowercase(),
        username_skeleton: Some(format!("skeleton-of-{}", username.to_lowercase())),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt-of-{username}$hash"),
        created_at,
    }
}

async fn add_user(store: &dyn Store, username: &str) -> UserRecord {
    let u = user(username, T0);
    store.create_user(&u).await.unwrap();
    u
}

/// A fresh session logged in at `created_at` with the fixtures' lifetimes.
fn session(id: &str, user_id: &str, created_at: UnixTime) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        created_at,
        last_used_at: created_at,
        expires_at: created_at + TTL,
        idle_expires_at: created_at + IDLE,
        revoked_at: None,
        revoke_reason: None,
        generation: 0,
        user_agent: Some("conformance/1.0".to_owned()),
        ip: Some("192.0.2.7".to_owned()),
    }
}

async fn add_session(store: &dyn Store, s: &SessionRecord, token: TokenHash) {
    store.create_session(s, &token).await.unwrap();
}

fn rotation(presented: TokenHash, successor: TokenHash, now: UnixTime, grace: i64) -> Rotation {
    Rotation {
        presented,
        successor,
        now,
        idle_timeout: IDLE,
        grace,
        revoke_until: now + LIFETIME,
    }
}

#[track_caller]
fn rotated(outcome: RotateOutcome) -> SessionRecord {
    match outcome {
        RotateOutcome::Rotated(s) => s,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

async fn must_session(store: &dyn Store, id: &str) -> SessionRecord {
    store.session(id).await.unwrap().unwrap()
}
