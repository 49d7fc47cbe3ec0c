//! Primitives the rest of Tessera needs besides JWS: hashing refresh tokens, deriving
//! successor tokens, sealing private keys at rest, comparing secrets. Part of the crypto
//! seam: like `crypto.rs`, it is one of the two modules that import aws-lc-rs.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{constant_time, hmac};
use zeroize::Zeroizing;

use crate::crypto;
use crate::error::{Error, ErrorKind};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    crypto::sha256(data)
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Compares two byte strings in constant time (for equal lengths).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

const SEAL_VERSION: u8 = 1;

/// Encrypts `plaintext` with AES-256-GCM under a 32-byte `key`, binding `aad` (e.g. a key
/// id). Output: version byte, 12-byte random nonce, ciphertext and tag.
pub fn seal(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let k = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    crypto::random_bytes(&mut nonce)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| Error::new(ErrorKind::Crypto, "encryption failed"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts what [`seal`] produced; fails on a wrong key, a wrong `aad` or any tampering.
pub fn open(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    const BAD: Error = Error::new(
        ErrorKind::InvalidKey,
        "sealed data does not open with this key",
    );
    let k = aead_key(key)?;
    let (version, rest) = sealed.split_first().ok_or(BAD)?;
    if *version != SEAL_VERSION || rest.len() < NONCE_LEN + 16 {
        return Err(BAD);
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| BAD)?;
    let mut body = Zeroizing::new(body.to_vec());
    let n = k
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .map_err(|_| BAD)?
        .len();
    body.truncate(n);
    Ok(body)
}

fn aead_key(key: &[u8]) -> Result<LessSafeKey, Error> {
    let k = UnboundKey::new(&AES_256_GCM, key)
        .map_err(|_| Error::new(ErrorKind::InvalidKey, "an AES-256-GCM key is 32 bytes"))?;
    Ok(LessSafeKey::new(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"kid1", b"private key bytes").expect("seal");
        assert_eq!(
            &*open(&key, b"kid1", &sealed).expect("open"),
            b"private key bytes"
        );
        assert!(open(&key, b"kid2", &sealed).is_err(), "aad is bound");
        assert!(open(&[8u8; 32], b"kid1", &sealed).is_err(), "wrong key");
        let mut t = sealed.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(open(&key, b"kid1", &t).is_err(), "tampered");
        assert!(seal(&[0u8; 16], b"", b"x").is_err(), "short key");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::b64::encode(&tag),
            crate::b64::encode(&[
                0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
                0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
                0x64, 0xec, 0x38, 0x43
            ])
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
