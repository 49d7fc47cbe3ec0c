//! Signing keys.

use tessera_tokens::{Store, StoreError, StoredKey};

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
