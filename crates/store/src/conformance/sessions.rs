//! Sessions: creation, lookup, revocation, listing, the revocation feed, purging.

use tessera_tokens::{Revocation, RevokeReason, RotateOutcome, SessionRecord, Store, StoreError};

use super::{add_session, add_user, hash, must_session, rotated, rotation, session, T0};

/// A session is found by id and by its refresh token; unknown ones are `None`.
pub async fn sessions_create_and_find(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let s1 = session("s1", &alice.id, T0);
    add_session(store, &s1, hash(1, 0)).await;
    let mut s2 = session("s2", &alice.id, T0 + 1);
    s2.user_agent = None;
    s2.ip = None;
    add_session(store, &s2, hash(2, 0)).await;

    assert_eq!(store.session("s1").await.unwrap(), Some(s1.clone()));
    assert_eq!(store.session("s2").await.unwrap(), Some(s2.clone()));
    assert_eq!(store.session_by_token(&hash(1, 0)).await.unwrap(), Some(s1));
    assert_eq!(store.session_by_token(&hash(2, 0)).await.unwrap(), Some(s2));
    assert_eq!(store.session("s3").await.unwrap(), None);
    assert_eq!(store.session_by_token(&hash(3, 0)).await.unwrap(), None);
}

/// Creating a session and its first token is all or nothing.
pub async fn sessions_create_is_atomic(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("s1", &alice.id, T0), hash(1, 0)).await;

    // Token already taken: the new session is not left behind.
    let err = store
        .create_session(&session("s2", &alice.id, T0), &hash(1, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.session("s2").await.unwrap(), None);

    // Session id already taken: the new token is not left behind.
    let err = store
        .create_session(&session("s1", &alice.id, T0 + 5), &hash(9, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.session_by_token(&hash(9, 0)).await.unwrap(), None);
    assert_eq!(must_session(store, "s1").await.created_at, T0);
}

/// A session needs an existing user.
pub async fn sessions_create_needs_user(store: &dyn Store) {
    let result = store
        .create_session(&session("s1", "u-nobody", T0), &hash(1, 0))
        .await;
    assert!(result.is_err(), "session for a missing user: {result:?}");
    assert_eq!(store.session("s1").await.unwrap(), None);
}

/// `revoke_session` is true the first time only, and keeps the first time and reason.
pub async fn revoke_session_reports_first_revocation(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("s1", &alice.id, T0), hash(1, 0)).await;

    assert!(store
        .revoke_session("s1", T0 + 10, RevokeReason::Logout)
        .await
        .unwrap());
    let s = must_session(store, "s1").await;
    assert_eq!(s.revoked_at, Some(T0 + 10));
    assert_eq!(s.revoke_reason, Some(RevokeReason::Logout));
    assert!(!s.is_live(T0 + 11));

    assert!(!store
        .revoke_session("s1", T0 + 20, RevokeReason::Admin)
        .await
        .unwrap());
    assert_eq!(must_session(store, "s1").await, s);
    assert!(!store
        .revoke_session("missing", T0 + 20, RevokeReason::Admin)
        .await
        .unwrap());
}

/// `revoke_user_sessions` revokes only that user's unrevoked sessions and counts them.
pub async fn revoke_user_sessions_counts(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let bob = add_user(store, "bob").await;
    for (i, id) in ["a1", "a2", "a3"].into_iter().enumerate() {
        add_session(store, &session(id, &alice.id, T0), hash(1, i as u64)).await;
    }
    add_session(store, &session("b1", &bob.id, T0), hash(2, 0)).await;
    store
        .revoke_session("a3", T0 + 5, RevokeReason::Logout)
        .await
        .unwrap();

    let n = store
        .revoke_user_sessions(&alice.id, T0 + 50, RevokeReason::Admin)
        .await
        .unwrap();
    assert_eq!(n, 2);
    for id in ["a1", "a2"] {
        let s = must_session(store, id).await;
        assert_eq!(
            (s.revoked_at, s.revoke_reason),
            (Some(T0 + 50), Some(RevokeReason::Admin))
        );
    }
    let a3 = must_session(store, "a3").await;
    assert_eq!(
        (a3.revoked_at, a3.revoke_reason),
        (Some(T0 + 5), Some(RevokeReason::Logout))
    );
    assert_eq!(must_session(store, "b1").await.revoked_at, None);

    let again = store
        .revoke_user_sessions(&alice.id, T0 + 60, RevokeReason::User)
        .await
        .unwrap();
    assert_eq!(again, 0);
    let nobody = store
        .revoke_user_sessions("u-nobody", T0 + 60, RevokeReason::User)
        .await
        .unwrap();
    assert_eq!(nobody, 0);
}

/// `list_sessions` returns live sessions only, most recently used first.
pub async fn list_sessions_live_most_recent_first(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let bob = add_user(store, "bob").await;
    let now = T0 + 1_000;

    let mut older = session("a-older", &alice.id, T0);
    older.last_used_at = T0 + 10;
    let mut newer = session("a-newer", &alice.id, T0);
    newer.last_used_at = T0 + 50;
    let revoked = session("a-revoked", &alice.id, T0);
    let mut expired = session("a-expired", &alice.id, T0);
    expired.expires_at = now; // expiry instants are exclusive
    let mut idle = session("a-idle", &alice.id, T0);
    idle.idle_expires_at = now;
    let mut other = session("b-live", &bob.id, T0);
    other.last_used_at = T0 + 30;
    for (i, s) in [&older, &newer, &revoked, &expired, &idle, &other]
        .into_iter()
        .enumerate()
    {
        add_session(store, s, hash(1, i as u64)).await;
    }
    store
        .revoke_session("a-revoked", T0 + 60, RevokeReason::Logout)
        .await
        .unwrap();

    let ids = |v: Vec<SessionRecord>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let alices = store.list_sessions(Some(&alice.id), now).await.unwrap();
    assert_eq!(alices, vec![newer.clone(), older.clone()]);
    let everyone = store.list_sessions(None, now).await.unwrap();
    assert_eq!(ids(everyone), ["a-newer", "b-live", "a-older"]);
    // A second earlier, the expired ones were still live.
    let before = store.list_sessions(Some(&alice.id), now - 1).await.unwrap();
    assert_eq!(before.len(), 4);
    assert!(store
        .list_sessions(Some("u-nobody"), now)
        .await
        .unwrap()
        .is_empty());
}

/// `revocations_since` lists revocations at or after `since`, oldest first, at most `limit`.
pub async fn revocations_since_oldest_first(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    for (i, id) in ["s1", "s2", "s3", "s4"].into_iter().enumerate() {
        add_session(store, &session(id, &alice.id, T0), hash(1, i as u64)).await;
    }
    for (id, at) in [("s3", T0 + 30), ("s1", T0 + 10), ("s2", T0 + 20)] {
        store
            .revoke_session(id, at, RevokeReason::User)
            .await
            .unwrap();
    }
    let rev = |id: &str, at| Revocation {
        session_id: id.to_owned(),
        revoked_at: at,
    };

    assert_eq!(
        store.revocations_since(T0, 100).await.unwrap(),
        vec![rev("s1", T0 + 10), rev("s2", T0 + 20), rev("s3", T0 + 30)]
    );
    assert_eq!(
        store.revocations_since(T0 + 20, 100).await.unwrap(),
        vec![rev("s2", T0 + 20), rev("s3", T0 + 30)]
    );
    assert_eq!(
        store.revocations_since(T0 + 20, 1).await.unwrap(),
        vec![rev("s2", T0 + 20)]
    );
    assert!(store
        .revocations_since(T0 + 31, 100)
        .await
        .unwrap()
        .is_empty());
    assert!(store.revocations_since(T0, 0).await.unwrap().is_empty());
}

/// `purge` deletes expired and long-revoked sessions with their tokens, and keeps the rest.
pub async fn purge_removes_dead_sessions_and_their_tokens(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let before = T0 + 1_000;

    let live = session("live", &alice.id, T0);
    let mut at_edge = session("at-edge", &alice.id, T0);
    at_edge.expires_at = before; // not *before* `before`: kept
    at_edge.idle_expires_at = before;
    let mut expired = session("expired", &alice.id, T0);
    expired.expires_at = before - 1;
    let mut idle = session("idle", &alice.id, T0);
    idle.idle_expires_at = before - 1;
    let revoked_old = session("revoked-old", &alice.id, T0);
    let revoked_now = session("revoked-now", &alice.id, T0);
    let all = [&live, &at_edge, &expired, &idle, &revoked_old, &revoked_now];
    for (i, s) in all.into_iter().enumerate() {
        add_session(store, s, hash(i as u64, 0)).await;
    }
    store
        .revoke_session("revoked-old", before - 1, RevokeReason::Logout)
        .await
        .unwrap();
    store
        .revoke_session("revoked-now", before, RevokeReason::Logout)
        .await
        .unwrap();
    // Give the live session a spent token and a live one.
    rotated(
        store
            .rotate_refresh(&rotation(hash(0, 0), hash(0, 1), T0 + 5, 0))
            .await
            .unwrap(),
    );

    assert_eq!(store.purge(before).await.unwrap(), 3);

    for (i, s) in all.into_iter().enumerate() {
        let kept = matches!(s.id.as_str(), "live" | "at-edge" | "revoked-now");
        assert_eq!(
            store.session(&s.id).await.unwrap().is_some(),
            kept,
            "{}",
            s.id
        );
        let by_token = store.session_by_token(&hash(i as u64, 0)).await.unwrap();
        assert_eq!(by_token.is_some(), kept, "token of {}", s.id);
    }
    assert!(store.session_by_token(&hash(0, 1)).await.unwrap().is_some());
    // A purged session's token is gone, not reused or revoked.
    let outcome = store
        .rotate_refresh(&rotation(hash(2, 0), hash(2, 1), T0 + 6, 0))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Unknown);
    assert_eq!(store.purge(before).await.unwrap(), 0);
}

/// `purge` removes every dead session however many there are (a backend may delete in
/// batches), and counts them all.
pub async fn purge_removes_many_sessions(store: &dyn Store) {
    const DEAD: u64 = 1_100;
    let alice = add_user(store, "alice").await;
    for i in 0..DEAD {
        let mut s = session(&format!("dead{i}"), &alice.id, T0);
        s.expires_at = T0 + 10;
        add_session(store, &s, hash(i, 0)).await;
    }
    add_session(store, &session("live", &alice.id, T0), hash(DEAD, 0)).await;

    assert_eq!(store.purge(T0 + 11).await.unwrap(), DEAD);
    assert_eq!(store.list_sessions(None, T0).await.unwrap().len(), 1);
    assert_eq!(store.session_by_token(&hash(0, 0)).await.unwrap(), None);
}
