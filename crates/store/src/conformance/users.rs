//! Users and the database's health.

use tessera_tokens::{Store, StoreError};

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
