//! `rotate_refresh`: every [`RotateOutcome`], one at a time.

use tessera_tokens::{RevokeReason, RotateOutcome, SessionRecord, Store};

use super::{
    add_session, add_user, hash, must_session, rotated, rotation, session, IDLE, LIFETIME, T0,
};

/// A live token rotates: spent, successor stored, session slid forward, generation + 1.
pub async fn rotate_live_token(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let s = session("s1", &alice.id, T0);
    add_session(store, &s, hash(1, 0)).await;

    let now = T0 + 60;
    let after = rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), now, 10))
            .await
            .unwrap(),
    );
    let expected = SessionRecord {
        last_used_at: now,
        idle_expires_at: now + IDLE,
        generation: 1,
        ..s.clone()
    };
    assert_eq!(after, expected);
    assert_eq!(must_session(store, "s1").await, expected);
    // Both the spent token and its successor still lead to the session.
    assert_eq!(
        store.session_by_token(&hash(1, 0)).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        store.session_by_token(&hash(1, 1)).await.unwrap(),
        Some(expected)
    );

    let later = T0 + 3_600;
    let again = rotated(
        store
            .rotate_refresh(&rotation(hash(1, 1), hash(1, 2), later, 10))
            .await
            .unwrap(),
    );
    assert_eq!(
        (again.generation, again.last_used_at, again.idle_expires_at),
        (2, later, later + IDLE)
    );
    assert_eq!(
        again.expires_at, s.expires_at,
        "absolute expiry never moves"
    );
}

/// The sliding idle expiry never passes the absolute expiry.
pub async fn rotate_clamps_idle_expiry_to_absolute_expiry(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let mut s = session("s1", &alice.id, T0);
    s.expires_at = T0 + 100;
    s.idle_expires_at = T0 + 100;
    add_session(store, &s, hash(1, 0)).await;

    let after = rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 50, 10))
            .await
            .unwrap(),
    );
    assert_eq!(after.idle_expires_at, T0 + 100);
}

/// A spent token presented again within the grace window answers `Grace` with the session
/// and writes nothing: the successor stays live.
pub async fn rotate_spent_token_within_grace(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("s1", &alice.id, T0), hash(1, 0)).await;
    let first = rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 60, 10))
            .await
            .unwrap(),
    );

    for now in [T0 + 60, T0 + 65, T0 + 69] {
        let outcome = store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), now, 10))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            RotateOutcome::Grace(first.clone()),
            "at T0+{}",
            now - T0
        );
    }
    assert_eq!(must_session(store, "s1").await, first);

    let next = rotated(
        store
            .rotate_refresh(&rotation(hash(1, 1), hash(1, 2), T0 + 66, 10))
            .await
            .unwrap(),
    );
    assert_eq!(next.generation, 2);
}

/// A spent token presented once the grace window has passed revokes the session (reason
/// `Reuse`); the family's other tokens then answer `Revoked`.
pub async fn rotate_spent_token_after_grace_is_reuse(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("s1", &alice.id, T0), hash(1, 0)).await;
    rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 60, 10))
            .await
            .unwrap(),
    );

    // The window is [spent_at, spent_at + grace).
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 70, 10))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Reused);
    let s = must_session(store, "s1").await;
    assert_eq!(
        (s.revoked_at, s.revoke_reason),
        (Some(T0 + 70), Some(RevokeReason::Reuse))
    );
    assert_eq!(s.generation, 1);

    // The successor, live until now, is dead with its family.
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 1), hash(1, 2), T0 + 71, 10))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Revoked);
    // And the spent token again: revoked, not reused twice.
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 72, 10))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Revoked);
    assert_eq!(must_session(store, "s1").await, s);

    let feed = store
        .revocation_feed(None, T0 + 70)
        .await
        .unwrap()
        .revocations;
    assert_eq!(feed.len(), 1);
    assert_eq!(
        (
            feed[0].session_id.as_str(),
            feed[0].revoked_at,
            feed[0].until
        ),
        ("s1", T0 + 70, T0 + 70 + LIFETIME)
    );
    assert!(store.list_sessions(None, T0 + 73).await.unwrap().is_empty());
}

/// With grace 0, presenting a spent token is reuse at once, even in the same second.
pub async fn rotate_spent_token_without_grace_is_reuse(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("s1", &alice.id, T0), hash(1, 0)).await;
    rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 60, 0))
            .await
            .unwrap(),
    );
    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 60, 0))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Reused);
    let s = must_session(store, "s1").await;
    assert_eq!(s.revoke_reason, Some(RevokeReason::Reuse));
}

/// A token the store never saw is `Unknown`, and nothing is written.
pub async fn rotate_unknown_token(store: &dyn Store) {
    let outcome = store
        .rotate_refresh(&rotation(hash(7, 7), hash(7, 8), T0, 10))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Unknown);

    let alice = add_user(store, "alice").await;
    let s = session("s1", &alice.id, T0);
    add_session(store, &s, hash(1, 0)).await;
    let outcome = store
        .rotate_refresh(&rotation(hash(7, 7), hash(7, 8), T0 + 1, 10))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Unknown);
    assert_eq!(store.session_by_token(&hash(7, 8)).await.unwrap(), None);
    assert_eq!(must_session(store, "s1").await, s);
}

/// Past the absolute expiry: `Expired`, and the token is not spent (the attempt is rolled
/// back), so an earlier `now` still rotates it.
pub async fn rotate_expired_session_absolute(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let mut s = session("s1", &alice.id, T0);
    s.expires_at = T0 + 100;
    s.idle_expires_at = T0 + 100;
    add_session(store, &s, hash(1, 0)).await;

    for now in [T0 + 100, T0 + 5_000] {
        let outcome = store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), now, 10))
            .await
            .unwrap();
        assert_eq!(outcome, RotateOutcome::Expired);
    }
    assert_eq!(must_session(store, "s1").await, s);
    assert_eq!(store.session_by_token(&hash(1, 1)).await.unwrap(), None);

    let after = rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 99, 10))
            .await
            .unwrap(),
    );
    assert_eq!(after.generation, 1);
}

/// Past the idle expiry (before the absolute one): `Expired`, token not spent.
pub async fn rotate_expired_session_idle(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let mut s = session("s1", &alice.id, T0);
    s.expires_at = T0 + 1_000;
    s.idle_expires_at = T0 + 50;
    add_session(store, &s, hash(1, 0)).await;

    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 50, 10))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Expired);
    assert_eq!(must_session(store, "s1").await, s);

    let after = rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 49, 10))
            .await
            .unwrap(),
    );
    assert_eq!((after.generation, after.idle_expires_at), (1, T0 + 1_000));
}

/// A spent token of a session that has since expired is `Expired`, not reuse: the session
/// is not revoked.
pub async fn rotate_spent_token_of_expired_session(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let mut s = session("s1", &alice.id, T0);
    s.expires_at = T0 + 100;
    add_session(store, &s, hash(1, 0)).await;
    rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 10, 0))
            .await
            .unwrap(),
    );

    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 100, 0))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Expired);
    assert_eq!(must_session(store, "s1").await.revoked_at, None);
}

/// A token of a revoked session is `Revoked`, and nothing is written.
pub async fn rotate_revoked_session(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("s1", &alice.id, T0), hash(1, 0)).await;
    store
        .revoke_session("s1", T0 + 10, RevokeReason::Logout, T0 + 10 + LIFETIME)
        .await
        .unwrap();
    let before = must_session(store, "s1").await;

    let outcome = store
        .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 20, 10))
        .await
        .unwrap();
    assert_eq!(outcome, RotateOutcome::Revoked);
    assert_eq!(must_session(store, "s1").await, before);
    assert_eq!(store.session_by_token(&hash(1, 1)).await.unwrap(), None);
}
