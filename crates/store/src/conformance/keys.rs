//! Signing keys.

use std::sync::Arc;

use tessera_tokens::{KeyRotation, Store, StoreError, StoredKey};
use tokio::task::JoinSet;

use super::T0;

fn key(kid: &str, created_at: i64, retired_at: Option<i64>) -> StoredKey {
    StoredKey {
        kid: kid.to_owned(),
        alg: "ES256".to_owned(),
        public_jwk: format!(r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","x":"…","y":"…"}}"#),
        // Arbitrary bytes, including NUL and 0xff: a BLOB, not text.
        private_sealed: vec![0x00, 0xff, 0x10, 0x80, b'k', 0x00],
        created_at,
        activates_at: created_at + 3_600,
        retired_at,
    }
}

/// Keys come back oldest first, byte for byte.
pub async fn signing_keys_insert_and_list(store: &dyn Store) {
    assert!(store.signing_keys().await.unwrap().is_empty());
    let newer = key("k-newer", T0 + 10, None);
    let older = key("k-older", T0, Some(T0 + 100));
    let mut hmac = key("k-hmac", T0 + 20, None);
    hmac.alg = "HS256".to_owned();
    hmac.public_jwk = String::new(); // HMAC keys are never published
    for k in [&newer, &older, &hmac] {
        store.insert_signing_key(k).await.unwrap();
    }
    assert_eq!(
        store.signing_keys().await.unwrap(),
        vec![older, newer, hmac]
    );
}

/// A taken `kid` is `Conflict`, and the stored key is unchanged.
pub async fn signing_keys_kid_conflict(store: &dyn Store) {
    let k = key("k1", T0, None);
    store.insert_signing_key(&k).await.unwrap();
    let mut again = key("k1", T0 + 5, None);
    again.private_sealed = vec![1, 2, 3];
    let err = store.insert_signing_key(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.signing_keys().await.unwrap(), vec![k]);
}

fn rotation(kid: &str, created_at: i64, expected_newest: Option<&str>) -> KeyRotation {
    KeyRotation {
        key: key(kid, created_at, None),
        expected_newest: expected_newest.map(str::to_owned),
    }
}

/// A rotation stores the new key and retires every unretired key when the new one
/// activates; keys retired earlier keep their time.
pub async fn signing_key_rotation_retires_the_others(store: &dyn Store) {
    assert!(store
        .rotate_signing_key(&rotation("k1", T0, None))
        .await
        .unwrap());
    assert!(store
        .rotate_signing_key(&rotation("k2", T0 + 10, Some("k1")))
        .await
        .unwrap());
    assert!(store
        .rotate_signing_key(&rotation("k3", T0 + 20, Some("k2")))
        .await
        .unwrap());
    let keys = store.signing_keys().await.unwrap();
    let kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k1", "k2", "k3"]);
    // k1 retired when k2 activated, k2 when k3 activates; k3 signs on.
    assert_eq!(keys[0].retired_at, Some(T0 + 10 + 3_600));
    assert_eq!(keys[1].retired_at, Some(T0 + 20 + 3_600));
    assert_eq!(keys[2].retired_at, None);
    assert_eq!(keys[2], key("k3", T0 + 20, None));
}

/// A rotation whose expectation is stale (another replica rotated first) changes nothing.
pub async fn signing_key_rotation_is_compare_and_set(store: &dyn Store) {
    assert!(!store
        .rotate_signing_key(&rotation("k1", T0, Some("nothing")))
        .await
        .unwrap());
    assert!(store.signing_keys().await.unwrap().is_empty());
    assert!(store
        .rotate_signing_key(&rotation("k1", T0, None))
        .await
        .unwrap());
    let before = store.signing_keys().await.unwrap();
    // Seen no key, or an older one: stale.
    assert!(!store
        .rotate_signing_key(&rotation("k2", T0 + 1, None))
        .await
        .unwrap());
    assert!(store
        .rotate_signing_key(&rotation("k2", T0 + 1, Some("k1")))
        .await
        .unwrap());
    assert!(!store
        .rotate_signing_key(&rotation("k3", T0 + 2, Some("k1")))
        .await
        .unwrap());
    let after = store.signing_keys().await.unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].kid, before[0].kid);
    // Equal creation times: the later insertion is the newer key.
    assert!(store
        .rotate_signing_key(&rotation("k2b", T0 + 1, Some("k2")))
        .await
        .unwrap());
    assert!(store
        .rotate_signing_key(&rotation("k2c", T0 + 1, Some("k2b")))
        .await
        .unwrap());
    // A kid taken already: Conflict, nothing retired.
    let err = store
        .rotate_signing_key(&rotation("k1", T0 + 3, Some("k2c")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.last().map(|k| k.retired_at), Some(None));
}

/// Rotations racing on one expectation, through two handles (two replicas): exactly one
/// wins.
pub async fn signing_key_rotation_races_have_one_winner(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    assert!(a
        .rotate_signing_key(&rotation("k0", T0, None))
        .await
        .unwrap());
    let mut tries = JoinSet::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tries.spawn(async move {
            let r = rotation(&format!("r{i}"), T0 + 60, Some("k0"));
            store.rotate_signing_key(&r).await.unwrap()
        });
    }
    let won: Vec<bool> = tries.join_all().await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let keys = b.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys.iter().filter(|k| k.retired_at.is_none()).count(), 1);
}

/// Only keys retired before the cut are deleted; unretired keys never are.
pub async fn retired_keys_are_deleted_after_their_time(store: &dyn Store) {
    for (kid, retired) in [
        ("old", Some(T0 + 100)),
        ("edge", Some(T0 + 200)),
        ("live", None),
    ] {
        store
            .insert_signing_key(&key(kid, T0, retired))
            .await
            .unwrap();
    }
    assert_eq!(store.delete_retired_keys(T0 + 100).await.unwrap(), 0);
    assert_eq!(store.delete_retired_keys(T0 + 200).await.unwrap(), 1);
    assert_eq!(store.delete_retired_keys(T0 + 10_000).await.unwrap(), 1);
    let kids: Vec<_> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["live"]);
}
