//! Concurrent callers: one spend per token, no lost updates, several handles (processes) on
//! one database.

use std::sync::Arc;

use tessera_tokens::{RevokeReason, RotateOutcome, SessionCap, Store};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::{add_session, add_user, hash, must_session, rotation, session, user, LIFETIME, T0};

const RACERS: usize = 50;

/// Runs `RACERS` tasks that present the same token at the same moment.
async fn race_one_token(store: Arc<dyn Store>, grace: i64) -> Vec<RotateOutcome> {
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = JoinSet::new();
    for _ in 0..RACERS {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            store
                .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 60, grace))
                .await
                .unwrap()
        });
    }
    tasks.join_all().await
}

/// 50 tasks rotate one token at once, grace off: exactly one rotates, the rest see reuse
/// (and the family ends revoked for reuse) or the revocation that reuse caused.
pub async fn concurrent_rotation_without_grace(store: Arc<dyn Store>) {
    let alice = add_user(&*store, "alice").await;
    add_session(&*store, &session("s1", &alice.id, T0), hash(1, 0)).await;

    let outcomes = race_one_token(store.clone(), 0).await;
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Rotated(_)))
        .count();
    let reused = outcomes
        .iter()
        .filter(|o| **o == RotateOutcome::Reused)
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    assert!(reused >= 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            RotateOutcome::Rotated(_) | RotateOutcome::Reused | RotateOutcome::Revoked
        )),
        "{outcomes:?}"
    );
    let s = must_session(&*store, "s1").await;
    assert_eq!(
        (s.generation, s.revoke_reason),
        (1, Some(RevokeReason::Reuse))
    );
}

/// 50 tasks rotate one token at once within the grace window: exactly one rotates, every
/// other one converges on the same session (`Grace`).
pub async fn concurrent_rotation_within_grace(store: Arc<dyn Store>) {
    let alice = add_user(&*store, "alice").await;
    add_session(&*store, &session("s1", &alice.id, T0), hash(1, 0)).await;

    let outcomes = race_one_token(store.clone(), 10).await;
    let winner: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            RotateOutcome::Rotated(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(winner.len(), 1, "{outcomes:?}");
    let graced = outcomes
        .iter()
        .filter(|o| **o == RotateOutcome::Grace(winner[0].clone()))
        .count();
    assert_eq!(graced, RACERS - 1, "{outcomes:?}");
    let s = must_session(&*store, "s1").await;
    assert_eq!((s.generation, s.revoked_at), (1, None));
}

/// 20 sessions rotate concurrently, 20 rounds each: every rotation succeeds and no
/// generation increment is lost.
pub async fn concurrent_rotations_lose_no_update(store: Arc<dyn Store>) {
    const SESSIONS: u64 = 20;
    const ROUNDS: u64 = 20;
    let alice = add_user(&*store, "alice").await;
    for i in 0..SESSIONS {
        add_session(
            &*store,
            &session(&format!("s{i}"), &alice.id, T0),
            hash(i, 0),
        )
        .await;
    }

    let mut tasks = JoinSet::new();
    for i in 0..SESSIONS {
        let store = store.clone();
        tasks.spawn(async move {
            for r in 0..ROUNDS {
                let now = T0 + 1 + r as i64;
                let outcome = store
                    .rotate_refresh(&rotation(hash(i, r), hash(i, r + 1), now, 0))
                    .await
                    .unwrap();
                match outcome {
                    RotateOutcome::Rotated(s) => assert_eq!(s.generation, r as i64 + 1),
                    other => panic!("session {i} round {r}: {other:?}"),
                }
            }
        });
    }
    tasks.join_all().await;

    for i in 0..SESSIONS {
        let s = must_session(&*store, &format!("s{i}")).await;
        assert_eq!(
            (s.generation, s.last_used_at),
            (ROUNDS as i64, T0 + ROUNDS as i64)
        );
    }
}

/// Two independent handles (like the server and the `tessera users` CLI, two processes)
/// write at the same time: every write succeeds — no "database is locked" — and each handle
/// sees the other's writes.
pub async fn two_handles_write_concurrently(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const PER_HANDLE: u64 = 10;
    const ROUNDS: u64 = 5;
    let mut tasks = JoinSet::new();
    for (h, store) in [(0u64, a.clone()), (1, b.clone())] {
        for n in 0..PER_HANDLE {
            let store = store.clone();
            tasks.spawn(async move {
                let k = h * 100 + n;
                let u = user(&format!("user{k}"), T0);
                store.create_user(&u).await.unwrap();
                store
                    .create_session(&session(&format!("s{k}"), &u.id, T0), &hash(k, 0))
                    .await
                    .unwrap();
                for r in 0..ROUNDS {
                    let rot = rotation(hash(k, r), hash(k, r + 1), T0 + 1 + r as i64, 0);
                    let outcome = store.rotate_refresh(&rot).await.unwrap();
                    assert!(matches!(outcome, RotateOutcome::Rotated(_)), "{outcome:?}");
                }
            });
        }
    }
    tasks.join_all().await;

    assert_eq!(a.list_users().await.unwrap().len(), 2 * PER_HANDLE as usize);
    let sessions = b.list_sessions(None, T0 + 100).await.unwrap();
    assert_eq!(sessions.len(), 2 * PER_HANDLE as usize);
    assert!(sessions.iter().all(|s| s.generation == ROUNDS as i64));
}

/// Logins of one user race through two handles (two replicas) with a cap of 3: exactly 3
/// sessions stay live, every other one was evicted by exactly one login and has its
/// revocation record.
pub async fn capped_logins_race_keep_the_cap(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const LOGINS: u64 = 12;
    const CAP: u32 = 3;
    let alice = add_user(&*a, "alice").await;
    let barrier = Arc::new(Barrier::new(LOGINS as usize));
    let mut tasks = JoinSet::new();
    for k in 0..LOGINS {
        let store = if k % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        let user_id = alice.id.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let cap = SessionCap {
                max_live: CAP,
                until: T0 + LIFETIME,
            };
            store
                .create_capped_session(&session(&format!("s{k}"), &user_id, T0), &hash(k, 0), &cap)
                .await
                .unwrap()
        });
    }
    let mut evicted: Vec<String> = tasks.join_all().await.into_iter().flatten().collect();
    evicted.sort();
    let before = evicted.len();
    evicted.dedup();
    assert_eq!(
        evicted.len(),
        before,
        "a session evicted twice: {evicted:?}"
    );
    assert_eq!(evicted.len(), (LOGINS - u64::from(CAP)) as usize);

    let live = b.list_sessions(Some(&alice.id), T0 + 1).await.unwrap();
    assert_eq!(live.len(), CAP as usize, "{live:?}");
    assert!(live.iter().all(|s| !evicted.contains(&s.id)));
    let mut fed: Vec<String> = a
        .revocation_feed(None, T0 + 1)
        .await
        .unwrap()
        .revocations
        .into_iter()
        .map(|r| r.session_id)
        .collect();
    fed.sort();
    assert_eq!(fed, evicted);
}
