//! Arbitrary bytes as key documents: JWK and JWKS JSON, PEM text, PKCS#8 and SPKI DER, for
//! every algorithm. Any panic is a bug, and so is a key that imports but cannot sign and
//! verify, or a JWK whose own JSON does not parse back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_jose::{
    sign_jws, signing_key_from_text, verifying_key_from_text, Algorithm, Header, Jwk, JwkSet,
    SigningKey, Verifier, VerifyingKey,
};

fn algs() -> impl Iterator<Item = Option<Algorithm>> {
    std::iter::once(None).chain(Algorithm::ALL.into_iter().map(Some))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(jwk) = Jwk::from_json(&text) {
        for alg in algs() {
            let _ = VerifyingKey::from_jwk(&jwk, alg);
            if let Ok(key) = SigningKey::from_jwk(&jwk, alg) {
                let token = sign_jws(&key, &Header::default(), b"{}").expect("imported key signs");
                let verifier = Verifier::new(key.verifying_key().expect("public half"));
                verifier
                    .verify_jws(&token)
                    .expect("and verifies what it signed");
            }
        }
        let _ = jwk.thumbprint();
        let _ = jwk.to_public();
        Jwk::from_json(&jwk.to_json()).expect("a JWK's own JSON parses back");
    }
    if let Ok(set) = JwkSet::from_json(&text) {
        let _ = Verifier::from_jwks(&set, None);
        let _ = Verifier::from_jwks(&set, Some(Algorithm::RS256));
    }
    for alg in algs() {
        let _ = verifying_key_from_text(data, alg);
        let _ = signing_key_from_text(data, alg);
        if let Some(alg) = alg {
            let _ = VerifyingKey::from_spki_der(data, alg);
            let _ = SigningKey::from_pkcs8_der(data, alg);
        }
    }
});
