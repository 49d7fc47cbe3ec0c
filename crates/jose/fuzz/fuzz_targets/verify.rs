//! Arbitrary bytes as a compact token, into a verifier holding an HS256 and an ES256 key.
//!
//! Each input is tried three ways: as the token text itself; split at 0xFF bytes into
//! header, payload and signature that are base64url-encoded here (so the fuzzer reaches the
//! JSON scanner without having to discover base64 first); and as the payload of a token that
//! is correctly signed by the HS256 key (so it reaches the claim checks and serde, which only
//! run after a signature verified). Any panic is a bug, and so is an error that is not a token
//! rejection (a key or crypto error from token input).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_jose::{
    base64url, dangerous, sign_jws, Algorithm, Header, Jwk, SigningKey, Verifier, VerifyingKey,
    DEFAULT_MAX_TOKEN_LEN,
};

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"tessera-fuzz-secret-of-32-bytes!";
/// RFC 7515 Appendix A.3's public key.
const ES256_JWK: &str = r#"{"kty":"EC","crv":"P-256",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

struct Fixture {
    signer: SigningKey,
    verifiers: Vec<Verifier>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hs = VerifyingKey::from_secret(Algorithm::HS256, SECRET).expect("secret");
        let es = Jwk::from_json(ES256_JWK)
            .and_then(|j| VerifyingKey::from_jwk(&j, None))
            .expect("ES256 JWK");
        let both = Verifier::with_keys(vec![hs.clone().with_kid("hs"), es.with_kid("es")])
            .with_issuer("https://auth.example")
            .with_audience("api")
            .with_typ("at+jwt")
            .require("sid");
        let lenient = Verifier::new(hs).allow_missing_exp().with_leeway(0);
        Fixture {
            signer: SigningKey::from_secret(Algorithm::HS256, SECRET)
                .expect("secret")
                .with_kid("hs"),
            verifiers: vec![both, lenient],
        }
    })
}

fn check(token: &str) {
    for v in &fixture().verifiers {
        if let Err(e) = v.verify::<Value>(token, NOW) {
            assert!(e.kind().is_token_rejection(), "{e}");
        }
        if let Err(e) = v.verify_jws(token) {
            assert!(e.kind().is_token_rejection(), "{e}");
        }
        if let Err(e) = v.verify_detached(token, b"detached payload") {
            assert!(e.kind().is_token_rejection(), "{e}");
        }
    }
    if let Err(e) = dangerous::decode_unverified(token) {
        assert!(e.kind().is_token_rejection(), "{e}");
    }
}

fuzz_target!(|data: &[u8]| {
    check(&String::from_utf8_lossy(data));

    let mut parts = data.splitn(3, |&b| b == 0xff);
    let mut next = || base64url::encode(parts.next().unwrap_or_default());
    let (header, payload, signature) = (next(), next(), next());
    check(&format!("{header}.{payload}.{signature}"));

    let header = Header {
        typ: Some("at+jwt".into()),
        kid: Some("hs".into()),
        ..Header::default()
    };
    let signed = sign_jws(&fixture().signer, &header, data).expect("HS256 signs any payload");
    check(&signed);
    // A correctly signed token within the size cap always passes the signature check: what
    // fails in `verify` is then a claim.
    if signed.len() <= DEFAULT_MAX_TOKEN_LEN {
        let raw = fixture().verifiers[0]
            .verify_jws(&signed)
            .expect("signature verifies");
        assert_eq!(raw.payload, data);
    }
});
