//! Sessions: creation, lookup, revocation, listing, the revocation feed, purging.

use tessera_tokens::{
    FeedPosition, Revocation, RevocationPage, RevokeReason, RotateOutcome, SessionCap,
    SessionRecord, Store, StoreError,
};

use super::{
    add_session, add_user, hash, must_session, rotated, rotation, session, LIFETIME, T0, TTL,
};

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
        .revoke_session("s1", T0 + 10, RevokeReason::Logout, T0 + 10 + LIFETIME)
        .await
        .unwrap());
    let s = must_session(store, "s1").await;
    assert_eq!(s.revoked_at, Some(T0 + 10));
    assert_eq!(s.revoke_reason, Some(RevokeReason::Logout));
    assert!(!s.is_live(T0 + 11));

    assert!(!store
        .revoke_session("s1", T0 + 20, RevokeReason::Admin, T0 + 20 + LIFETIME)
        .await
        .unwrap());
    assert_eq!(must_session(store, "s1").await, s);
    assert!(!store
        .revoke_session("missing", T0 + 20, RevokeReason::Admin, T0 + 20 + LIFETIME)
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
        .revoke_session("a3", T0 + 5, RevokeReason::Logout, T0 + 5 + LIFETIME)
        .await
        .unwrap();

    let n = store
        .revoke_user_sessions(&alice.id, T0 + 50, RevokeReason::Admin, T0 + 50 + LIFETIME)
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
        .revoke_user_sessions(&alice.id, T0 + 60, RevokeReason::User, T0 + 60 + LIFETIME)
        .await
        .unwrap();
    assert_eq!(again, 0);
    let nobody = store
        .revoke_user_sessions("u-nobody", T0 + 60, RevokeReason::User, T0 + 60 + LIFETIME)
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
        .revoke_session(
            "a-revoked",
            T0 + 60,
            RevokeReason::Logout,
            T0 + 60 + LIFETIME,
        )
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

/// The session ids of a feed page, sorted.
fn ids(page: &RevocationPage) -> Vec<&str> {
    let mut v: Vec<&str> = page
        .revocations
        .iter()
        .map(|r| r.session_id.as_str())
        .collect();
    v.sort_unstable();
    v
}

/// The feed from nothing lists every live record with its times; read again from the
/// position it gave, it lists what was revoked since (records may repeat: only what is
/// new is asserted), and records past `until` are left out.
pub async fn revocation_feed_lists_live_records_and_continues(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    for (i, id) in ["s1", "s2", "s3", "s4"].into_iter().enumerate() {
        add_session(store, &session(id, &alice.id, T0), hash(1, i as u64)).await;
    }
    let empty = store.revocation_feed(None, T0).await.unwrap();
    assert!(empty.revocations.is_empty() && !empty.reset);
    for (id, at) in [("s2", T0 + 20), ("s1", T0 + 10)] {
        store
            .revoke_session(id, at, RevokeReason::User, at + LIFETIME)
            .await
            .unwrap();
    }
    let first = store
        .revocation_feed(Some(&empty.next), T0 + 30)
        .await
        .unwrap();
    assert!(!first.reset);
    assert_eq!(ids(&first), ["s1", "s2"]);
    let s1 = first
        .revocations
        .iter()
        .find(|r| r.session_id == "s1")
        .unwrap();
    assert_eq!((s1.revoked_at, s1.until), (T0 + 10, T0 + 10 + LIFETIME));
    assert_eq!(first.next.feed, empty.next.feed, "one database, one feed");

    store
        .revoke_session("s3", T0 + 40, RevokeReason::Logout, T0 + 40 + LIFETIME)
        .await
        .unwrap();
    let second = store
        .revocation_feed(Some(&first.next), T0 + 50)
        .await
        .unwrap();
    assert!(!second.reset);
    assert!(ids(&second).contains(&"s3"), "{second:?}");
    assert!(!ids(&second).contains(&"s4"), "s4 was never revoked");

    // From nothing: everything live. At s1's `until` it is left out (its tokens are dead).
    let all = store.revocation_feed(None, T0 + 50).await.unwrap();
    assert_eq!(ids(&all), ["s1", "s2", "s3"]);
    let later = store
        .revocation_feed(None, T0 + 10 + LIFETIME)
        .await
        .unwrap();
    assert_eq!(ids(&later), ["s2", "s3"]);
    // Nothing new: the position does not move backwards.
    let again = store
        .revocation_feed(Some(&second.next), T0 + 60)
        .await
        .unwrap();
    assert!(again.next.position >= second.next.position);
    assert!(!ids(&again).contains(&"s4"));
}

/// Every revocation writes exactly one record in the same statement: one session, a user's
/// sessions, a reuse. Revoking again writes nothing.
pub async fn revocation_feed_records_every_way_of_revoking(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let bob = add_user(store, "bob").await;
    add_session(store, &session("a1", &alice.id, T0), hash(1, 0)).await;
    add_session(store, &session("a2", &alice.id, T0), hash(1, 1)).await;
    add_session(store, &session("b1", &bob.id, T0), hash(2, 0)).await;
    add_session(store, &session("b2", &bob.id, T0), hash(3, 0)).await;

    store
        .revoke_session("a1", T0 + 1, RevokeReason::Logout, T0 + 100)
        .await
        .unwrap();
    store
        .revoke_session("a1", T0 + 2, RevokeReason::Admin, T0 + 200)
        .await
        .unwrap();
    assert_eq!(
        store
            .revoke_user_sessions(&alice.id, T0 + 3, RevokeReason::User, T0 + 300)
            .await
            .unwrap(),
        1
    );
    // b1: a spent token presented after the grace window.
    rotated(
        store
            .rotate_refresh(&rotation(hash(2, 0), hash(2, 1), T0 + 4, 0))
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .rotate_refresh(&rotation(hash(2, 0), hash(2, 1), T0 + 5, 0))
            .await
            .unwrap(),
        RotateOutcome::Reused
    );
    let page = store.revocation_feed(None, T0 + 6).await.unwrap();
    let mut got: Vec<(&str, i64, i64)> = page
        .revocations
        .iter()
        .map(|r| (r.session_id.as_str(), r.revoked_at, r.until))
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [
            ("a1", T0 + 1, T0 + 100),
            ("a2", T0 + 3, T0 + 300),
            ("b1", T0 + 5, T0 + 5 + LIFETIME),
        ],
        "one record per revoked session, none for b2"
    );
}

/// A position from another database, or ahead of this feed, cannot be continued: the page
/// is everything live, marked `reset`.
pub async fn revocation_feed_resets_a_position_it_cannot_continue(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("s1", &alice.id, T0), hash(1, 0)).await;
    store
        .revoke_session("s1", T0, RevokeReason::Logout, T0 + LIFETIME)
        .await
        .unwrap();
    let page = store.revocation_feed(None, T0).await.unwrap();
    // The feed's identity is a stable, cursor-safe token.
    assert!(
        page.next.feed.len() >= 16 && page.next.feed.bytes().all(|b| b.is_ascii_hexdigit()),
        "{:?}",
        page.next.feed
    );
    let foreign = FeedPosition {
        feed: "0123456789abcdef".into(),
        position: 0,
    };
    let ahead = FeedPosition {
        position: page.next.position + 1_000_000,
        ..page.next.clone()
    };
    for since in [foreign, ahead] {
        let reset = store.revocation_feed(Some(&since), T0).await.unwrap();
        assert!(reset.reset, "{since:?}");
        assert_eq!(ids(&reset), ["s1"]);
        assert_eq!(reset.next.feed, page.next.feed);
    }
}

/// `purge` deletes revocation records whose `until` is before its horizon and keeps the
/// others, even when their sessions are deleted: a restarted server still refuses the
/// access tokens of a session revoked long ago but within `until`.
pub async fn purge_keeps_revocation_records_until_their_until(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    add_session(store, &session("short", &alice.id, T0), hash(1, 0)).await;
    add_session(store, &session("long", &alice.id, T0), hash(2, 0)).await;
    store
        .revoke_session("short", T0, RevokeReason::Logout, T0 + 100)
        .await
        .unwrap();
    store
        .revoke_session("long", T0, RevokeReason::Logout, T0 + 3 * 3600)
        .await
        .unwrap();
    // An hourly purge two hours later deletes both revoked sessions, and the short record.
    assert_eq!(store.purge(T0 + 7200 - 3600).await.unwrap(), 2);
    assert!(store.session("long").await.unwrap().is_none());
    let page = store.revocation_feed(None, T0 + 50).await.unwrap();
    assert_eq!(ids(&page), ["long"], "the short record was purged");
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
        .revoke_session(
            "revoked-old",
            before - 1,
            RevokeReason::Logout,
            before - 1 + LIFETIME,
        )
        .await
        .unwrap();
    store
        .revoke_session(
            "revoked-now",
            before,
            RevokeReason::Logout,
            before + LIFETIME,
        )
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

/// A capped session creation revokes the user's least recently used live sessions (oldest
/// `last_used_at`, then oldest `created_at`) so at most the cap stay live, the new one
/// included; each evicted session has its revocation record. Dead sessions and other
/// users' sessions are not counted.
pub async fn capped_session_evicts_least_recently_used(store: &dyn Store) {
    let alice = add_user(store, "alice").await;
    let bob = add_user(store, "bob").await;
    let cap = |max_live, now: i64| SessionCap {
        max_live,
        until: now + LIFETIME,
    };
    // Not counted: a revoked session, an expired one, bob's.
    add_session(store, &session("gone", &alice.id, T0 - 1), hash(90, 0)).await;
    store
        .revoke_session("gone", T0 - 1, RevokeReason::Logout, T0 - 1 + LIFETIME)
        .await
        .unwrap();
    add_session(store, &session("old", &alice.id, T0 - TTL), hash(91, 0)).await;
    add_session(store, &session("b1", &bob.id, T0), hash(92, 0)).await;

    for (k, id) in [(1, "s1"), (2, "s2"), (3, "s3")] {
        let evicted = store
            .create_capped_session(
                &session(id, &alice.id, T0 + k),
                &hash(k as u64, 0),
                &cap(3, T0 + k),
            )
            .await
            .unwrap();
        assert!(evicted.is_empty(), "{id}: {evicted:?}");
    }
    // s1 is used again: s2 becomes the least recently used.
    rotated(
        store
            .rotate_refresh(&rotation(hash(1, 0), hash(1, 1), T0 + 4, 0))
            .await
            .unwrap(),
    );

    let evicted = store
        .create_capped_session(
            &session("s4", &alice.id, T0 + 5),
            &hash(4, 0),
            &cap(3, T0 + 5),
        )
        .await
        .unwrap();
    assert_eq!(evicted, ["s2"]);
    let s2 = must_session(store, "s2").await;
    assert_eq!(
        (s2.revoked_at, s2.revoke_reason),
        (Some(T0 + 5), Some(RevokeReason::Evicted))
    );
    let live =
        |sessions: Vec<SessionRecord>| sessions.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        live(store.list_sessions(Some(&alice.id), T0 + 5).await.unwrap()),
        ["s4", "s1", "s3"]
    );
    assert_eq!(
        store
            .rotate_refresh(&rotation(hash(2, 0), hash(2, 1), T0 + 6, 0))
            .await
            .unwrap(),
        RotateOutcome::Revoked
    );
    let feed = store.revocation_feed(None, T0 + 6).await.unwrap();
    assert!(
        feed.revocations.contains(&Revocation {
            session_id: "s2".into(),
            revoked_at: T0 + 5,
            until: T0 + 5 + LIFETIME,
        }),
        "{feed:?}"
    );

    // s5 logs in at the moment s1 was last used: with a cap of 2 three go, s3 (least
    // recently used) first, then s1 before s5 (same last use, older login).
    add_session(store, &session("s5", &alice.id, T0 + 4), hash(5, 0)).await;
    let evicted = store
        .create_capped_session(
            &session("s6", &alice.id, T0 + 7),
            &hash(6, 0),
            &cap(2, T0 + 7),
        )
        .await
        .unwrap();
    assert_eq!(evicted, ["s3", "s1", "s5"]);
    assert_eq!(
        live(store.list_sessions(Some(&alice.id), T0 + 7).await.unwrap()),
        ["s6", "s4"]
    );
    // A cap of 1 leaves the new session alone; bob's and the dead ones were never touched.
    let evicted = store
        .create_capped_session(
            &session("s7", &alice.id, T0 + 8),
            &hash(7, 0),
            &cap(1, T0 + 8),
        )
        .await
        .unwrap();
    assert_eq!(evicted, ["s4", "s6"]);
    assert_eq!(
        live(store.list_sessions(Some(&alice.id), T0 + 8).await.unwrap()),
        ["s7"]
    );
    assert_eq!(must_session(store, "b1").await.revoked_at, None);
    assert_eq!(must_session(store, "old").await.revoked_at, None);
    assert_eq!(
        must_session(store, "gone").await.revoke_reason,
        Some(RevokeReason::Logout)
    );
}
