//! The integration tests of tessera-jose, through its public API only (STYLE §12): published
//! RFC vectors (`vectors`), one test per JWT attack (`attacks`), claim rules (`claims`), key
//! import and export (`keys`), the one-pass claims reader against the two passes it replaced
//! (`one_pass`) and property tests (`props`).
//!
//! Hand-made tokens are signed through `jsonwebtoken` (a dev-dependency): an attacker's token
//! is whatever bytes they choose, and our own signer only ever writes well-formed headers.

mod attacks;
mod claims;
mod keys;
mod one_pass;
mod props;
mod raw;
mod vectors;

use std::sync::OnceLock;

use serde_json::{json, Value};
use tessera_jose::{base64url, Algorithm, Family, Signer, SigningKey, Verifier};

/// The time every test verifies at, unless it says otherwise (2023-11-14T22:13:20Z).
pub const NOW: u64 = 1_700_000_000;

/// A 32-byte HMAC secret: the shortest HS256 accepts.
pub const SECRET: &[u8] = b"tessera-test-secret-32-bytes-ok!";

/// Base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64url::encode(bytes.as_ref())
}

/// Claims that are valid at [`NOW`].
pub fn valid_claims() -> Value {
    json!({"sub": "u_1", "iat": NOW, "exp": NOW + 900})
}

/// The HS256 key over [`SECRET`].
pub fn hs256() -> SigningKey {
    SigningKey::from_secret(Algorithm::HS256, SECRET).expect("a 32-byte secret is enough")
}

/// One generated signer per algorithm, in the order of [`Algorithm::ALL`], made once for the
/// whole binary (RSA key generation is the slow part of the suite).
pub fn signers() -> &'static [Signer] {
    static SIGNERS: OnceLock<Vec<Signer>> = OnceLock::new();
    SIGNERS.get_or_init(|| {
        Algorithm::ALL
            .iter()
            .map(|&alg| Signer::new(SigningKey::generate(alg).expect("key generation")))
            .collect()
    })
}

/// The shared generated signer for `alg`.
pub fn signer(alg: Algorithm) -> &'static Signer {
    signers()
        .iter()
        .find(|s| s.key().alg() == alg)
        .expect("every algorithm has a signer")
}

/// A verifier holding the public half of `key`.
pub fn verifier_for(key: &SigningKey) -> Verifier {
    Verifier::new(key.verifying_key().expect("verifying key"))
}

/// Verifies at [`NOW`] and returns the error code of the refusal.
pub fn refusal(verifier: &Verifier, token: &str) -> &'static str {
    verifier
        .verify::<Value>(token, NOW)
        .expect_err("the token must be refused")
        .code()
}

/// Signs any signing input with `key`, as an attacker holding the key could, and returns the
/// base64url signature.
pub fn raw_signature(key: &SigningKey, input: &[u8]) -> String {
    use jsonwebtoken::{crypto, Algorithm as J, EncodingKey};
    let alg = match key.alg() {
        Algorithm::HS256 => J::HS256,
        Algorithm::HS384 => J::HS384,
        Algorithm::HS512 => J::HS512,
        Algorithm::RS256 => J::RS256,
        Algorithm::RS384 => J::RS384,
        Algorithm::RS512 => J::RS512,
        Algorithm::PS256 => J::PS256,
        Algorithm::PS384 => J::PS384,
        Algorithm::PS512 => J::PS512,
        Algorithm::ES256 => J::ES256,
        Algorithm::ES384 => J::ES384,
        Algorithm::EdDSA => J::EdDSA,
    };
    let encoding = match key.alg().family() {
        Family::Hmac => {
            let jwk = key.to_jwk();
            let k = jwk.k.as_ref().expect("an oct JWK has k");
            EncodingKey::from_secret(&base64url::decode(k.expose_secret().as_bytes()).expect("k"))
        }
        Family::Rsa => EncodingKey::from_rsa_der(&pkcs8_inner(&pkcs8_der(key))),
        Family::Ec => EncodingKey::from_ec_der(&pkcs8_der(key)),
        Family::Okp => EncodingKey::from_ed_der(&pkcs8_der(key)),
    };
    crypto::sign(input, &encoding, alg).expect("jsonwebtoken signs")
}

/// A token from already encoded segments, signed by `key` over exactly those bytes.
pub fn forge_segments(key: &SigningKey, header_b64: &str, payload_b64: &str) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    let sig = raw_signature(key, input.as_bytes());
    format!("{input}.{sig}")
}

/// A token whose header and payload are exactly the given JSON texts, signed by `key`.
pub fn forge(key: &SigningKey, header: &str, payload: &str) -> String {
    forge_segments(key, &b64(header), &b64(payload))
}

/// The DER inside a PEM document (base64 body, standard alphabet).
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    base64url::decode(body.as_bytes()).expect("PEM body is base64")
}

fn pkcs8_der(key: &SigningKey) -> Vec<u8> {
    pem_to_der(&key.to_pem().expect("asymmetric keys export PKCS#8"))
}

/// Splits one DER TLV off the front of `der`: (tag, contents, rest).
pub fn der_tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let (tag, first) = (der[0], der[1]);
    let (len, start) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, 2 + n)
    };
    (tag, &der[start..start + len], &der[start + len..])
}

/// The private key inside a PKCS#8 `PrivateKeyInfo` (for RSA, the PKCS#1 `RSAPrivateKey`).
fn pkcs8_inner(der: &[u8]) -> Vec<u8> {
    let (_, info, _) = der_tlv(der);
    let (_, _version, rest) = der_tlv(info);
    let (_, _algorithm, rest) = der_tlv(rest);
    let (tag, key, _) = der_tlv(rest);
    assert_eq!(tag, 0x04, "PKCS#8 privateKey is an OCTET STRING");
    key.to_vec()
}

/// An ECDSA `r||s` signature as the DER `ECDSA-Sig-Value` other libraries produce.
pub fn ecdsa_to_der(raw: &[u8]) -> Vec<u8> {
    fn integer(v: &[u8]) -> Vec<u8> {
        let v = &v[v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1)..];
        let pad = v[0] & 0x80 != 0;
        let mut out = vec![0x02, (v.len() + usize::from(pad)) as u8];
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

/// A test data file under `tests/data/`.
pub fn data_file(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn helpers_forge_what_the_library_signs() {
    // The hand-made path and the library's own signer agree byte for byte (HMAC is
    // deterministic), so a refused forged token is refused for its content, not its making.
    let key = hs256();
    let made = tessera_jose::sign_jws(&key, &Default::default(), br#"{"a":1}"#).expect("sign");
    assert_eq!(forge(&key, r#"{"alg":"HS256"}"#, r#"{"a":1}"#), made);
    // And an asymmetric forged token verifies with the right key.
    for alg in [
        Algorithm::RS256,
        Algorithm::PS512,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let key = signer(alg).key();
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        let token = forge(key, &header, &valid_claims().to_string());
        verifier_for(key)
            .verify::<Value>(&token, NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}
