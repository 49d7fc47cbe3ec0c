//! Users and the database's health.

use tessera_tokens::{normalize_usernames, NormalizeReport, Store, StoreError, UserRecord};

use super::{user, T0};

/// `ping` succeeds on a working database.
pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.unwrap();
}

/// Users are found by lookup key and by id, and listed oldest first.
pub async fn users_create_and_find(store: &dyn Store) {
    assert!(store.list_users().await.unwrap().is_empty());
    let alice = user("alice", T0 + 5);
    let bob = user("Bob", T0 + 1);
    store.create_user(&alice).await.unwrap();
    store.create_user(&bob).await.unwrap();

    assert_eq!(
        store.user_by_username("bob").await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(
        store.user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    // The lookup key is exact: normalizing it is the domain's job.
    assert_eq!(store.user_by_username("Bob").await.unwrap(), None);
    assert_eq!(store.user_by_username("carol").await.unwrap(), None);
    assert_eq!(store.user_by_id("u-nobody").await.unwrap(), None);
    assert_eq!(store.list_users().await.unwrap(), vec![bob, alice]);
}

/// A taken `username_key` (or id) is `Conflict`, and the error does not echo the values.
pub async fn users_username_key_conflict(store: &dyn Store) {
    let first = user("Kestrel-7f3a", T0);
    store.create_user(&first).await.unwrap();

    let mut same_key = user("kestrel-7F3A", T0 + 1);
    same_key.id = "u-other".to_owned();
    same_key.password_hash = "$argon2id$secret-hash-9c1d".to_owned();
    let err = store.create_user(&same_key).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let text = err.to_string().to_lowercase();
    assert!(
        !text.contains("kestrel"),
        "error echoes the username: {text}"
    );
    assert!(
        !text.contains("secret-hash"),
        "error echoes the hash: {text}"
    );

    let mut same_id = user("someone-else", T0 + 2);
    same_id.id = first.id.clone();
    let err = store.create_user(&same_id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    assert_eq!(store.list_users().await.unwrap(), vec![first]);
}

/// Two users with different keys but one confusable skeleton: the second is `Conflict`.
/// Rows without a skeleton (accounts from before the rule) never conflict on it.
pub async fn users_skeleton_conflict(store: &dyn Store) {
    let first = user("alice", T0);
    store.create_user(&first).await.unwrap();
    let mut look_alike = user("a\u{430}lice", T0 + 1);
    look_alike.username_skeleton = first.username_skeleton.clone();
    let err = store.create_user(&look_alike).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let mut old_a = user("old-a", T0 + 2);
    old_a.username_skeleton = None;
    let mut old_b = user("old-b", T0 + 3);
    old_b.username_skeleton = None;
    store.create_user(&old_a).await.unwrap();
    store.create_user(&old_b).await.unwrap();
    assert_eq!(store.list_users().await.unwrap(), vec![first, old_a, old_b]);
}

/// An account from before the username rules, as migration 3 leaves it: no skeleton, the
/// old key (the name lowercased).
fn legacy(name: &str, created_at: i64) -> UserRecord {
    let mut u = user(name, created_at);
    u.id = format!("u-legacy-{created_at}");
    u.username_key = name.to_lowercase();
    u.username_skeleton = None;
    u
}

/// `users_without_skeleton` lists the accounts still to normalize, oldest first;
/// `set_username_key` gives one its key and skeleton once, and refuses another's.
pub async fn users_without_skeleton_get_their_key_once(store: &dyn Store) {
    let done = user("carol", T0);
    store.create_user(&done).await.unwrap();
    let a = legacy("ＤＡＶＥ", T0 + 2);
    let b = legacy("Erin", T0 + 1);
    store.create_user(&a).await.unwrap();
    store.create_user(&b).await.unwrap();
    assert_eq!(
        store.users_without_skeleton().await.unwrap(),
        vec![b.clone(), a.clone()]
    );

    assert!(store.set_username_key(&a.id, "dave", "dave").await.unwrap());
    // Once only: a second process finding it done changes nothing.
    assert!(!store
        .set_username_key(&a.id, "dave2", "dave2")
        .await
        .unwrap());
    assert!(!store.set_username_key("u-gone", "x", "x").await.unwrap());
    let found = store.user_by_username("dave").await.unwrap().unwrap();
    assert_eq!(found.id, a.id);
    assert_eq!(found.username, "ＤＡＶＥ", "the display name is kept");
    assert_eq!(found.username_skeleton.as_deref(), Some("dave"));

    // Erin may take neither Dave's key nor Carol's skeleton.
    for (key, skeleton) in [
        ("dave", "erin"),
        ("erin", done.username_skeleton.as_deref().unwrap()),
    ] {
        let err = store
            .set_username_key(&b.id, key, skeleton)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    assert_eq!(store.users_without_skeleton().await.unwrap(), vec![b]);
}

/// The start-up backfill over this backend: old accounts get the RFC 8265 key and skeleton;
/// one that looks like an older account, or whose name breaks the rules, keeps its old key
/// and is counted; a second run has nothing left to do but count them again.
pub async fn normalize_usernames_backfills_and_keeps_collisions(store: &dyn Store) {
    let alice = legacy("ALICE", T0);
    let bob = legacy("Ｂｏｂ", T0 + 1);
    let cyrillic = legacy("\u{430}lice", T0 + 2);
    let invisible = legacy("zero\u{200B}width", T0 + 3);
    for u in [&alice, &bob, &cyrillic, &invisible] {
        store.create_user(u).await.unwrap();
    }

    let report = normalize_usernames(store).await.unwrap();
    assert_eq!(
        report,
        NormalizeReport {
            normalized: 2,
            kept: 2
        }
    );

    let found = store.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.username_skeleton.as_deref()),
        (alice.id.as_str(), Some("alice"))
    );
    let found = store.user_by_username("bob").await.unwrap().unwrap();
    assert_eq!(found.id, bob.id);
    assert_eq!(found.username, "Ｂｏｂ");
    // The kept ones answer to their old keys.
    for kept in [&cyrillic, &invisible] {
        let found = store
            .user_by_username(&kept.username_key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, kept.id);
        assert_eq!(found.username_skeleton, None);
    }

    let again = normalize_usernames(store).await.unwrap();
    assert_eq!(
        again,
        NormalizeReport {
            normalized: 0,
            kept: 2
        }
    );
}
