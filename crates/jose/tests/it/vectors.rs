//! Published test vectors, kept as data files: RFC 7515 Appendix A.1–A.3, RFC 7520 §4 (the
//! algorithms we support), RFC 8037 Appendix A.4 (Ed25519) and RFC 7638 §3.1.

use serde_json::Value;
use tessera_jose::{sign_jws, Algorithm, Header, Jwk, JwkSet, SigningKey, Verifier, VerifyingKey};

const RFC_JOSE: &str = include_str!("../data/rfc-jose.json");
const RFC7520: &str = include_str!("../data/rfc7520.json");

fn data(text: &str) -> Value {
    serde_json::from_str(text).expect("vector file is JSON")
}

fn s<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector member {name} is a string"))
}

fn jwk(v: &Value) -> Jwk {
    Jwk::from_json(&v.to_string()).expect("vector JWK parses")
}

/// RFC 7515 A.1–A.3 tokens expire at 1300819380 (2011-03-22T18:43:00Z).
const RFC7515_EXP: u64 = 1_300_819_380;

fn rfc7515(section: &str) -> (Value, Value) {
    let all = data(RFC_JOSE);
    let v = all["rfc7515"][section].clone();
    (all["rfc7515"].clone(), v)
}

/// Checks an RFC 7515 Appendix A token with `key`: signature and claims before `exp`, the
/// exact payload bytes through the raw API, and `token_expired` once `exp` has passed.
fn check_rfc7515(section: &str, key: VerifyingKey) {
    let (common, v) = rfc7515(section);
    let token = s(&v, "token");
    let verifier = Verifier::new(key).with_leeway(0);

    let claims = verifier
        .verify::<Value>(token, RFC7515_EXP - 1)
        .unwrap_or_else(|e| panic!("RFC 7515 {section}: {e}"));
    assert_eq!(claims.claims()["iss"], "joe");
    assert_eq!(claims.claims()["http://example.com/is_root"], true);

    let raw = verifier.verify_jws(token).expect("raw API verifies");
    assert_eq!(raw.payload, s(&common, "payload_bytes").as_bytes());

    let err = verifier
        .verify::<Value>(token, RFC7515_EXP)
        .expect_err("expired in 2011");
    assert_eq!(err.code(), "token_expired", "{section}");
}

#[test]
fn rfc7515_a1_hs256() {
    let (_, v) = rfc7515("A.1");
    let key = VerifyingKey::from_jwk(&jwk(&v["jwk"]), Some(Algorithm::HS256)).expect("A.1 key");
    check_rfc7515("A.1", key);
    // A.1's header is `{"typ":"JWT",\r\n "alg":"HS256"}`: our signer writes compact JSON, so
    // the token cannot be reproduced byte for byte; its MAC must still be the only valid one.
    let token = s(&v, "token");
    let tampered = format!("{}A", &token[..token.len() - 1]);
    let verifier = Verifier::new(
        VerifyingKey::from_jwk(&jwk(&v["jwk"]), Some(Algorithm::HS256)).expect("A.1 key"),
    );
    assert_eq!(
        verifier.verify_jws(&tampered).expect_err("tampered").code(),
        "invalid_signature"
    );
}

#[test]
fn rfc7515_a2_rs256_verifies_and_reproduces() {
    let (common, v) = rfc7515("A.2");
    let public = VerifyingKey::from_jwk(&jwk(&v["public_jwk"]), Some(Algorithm::RS256))
        .expect("A.2 public key");
    check_rfc7515("A.2", public);
    // The private JWK verifies too (only its public part is kept).
    let private = jwk(&v["jwk"]);
    check_rfc7515(
        "A.2",
        VerifyingKey::from_jwk(&private, Some(Algorithm::RS256)).expect("A.2 private as public"),
    );
    // RSASSA-PKCS1-v1_5 is deterministic and A.2's header is exactly `{"alg":"RS256"}`.
    let key = SigningKey::from_jwk(&private, Some(Algorithm::RS256)).expect("A.2 private key");
    let signed = sign_jws(
        &key,
        &Header::default(),
        s(&common, "payload_bytes").as_bytes(),
    )
    .expect("sign");
    assert_eq!(signed, s(&v, "token"));
}

#[test]
fn rfc7515_a3_es256_verifies() {
    let (common, v) = rfc7515("A.3");
    // The curve decides the algorithm when the JWK has no `alg`.
    let public = VerifyingKey::from_jwk(&jwk(&v["public_jwk"]), None).expect("A.3 public key");
    assert_eq!(public.alg(), Algorithm::ES256);
    check_rfc7515("A.3", public);
    // ECDSA is randomized: a fresh signature with the private key differs but verifies.
    let key = SigningKey::from_jwk(&jwk(&v["jwk"]), None).expect("A.3 private key");
    let payload = s(&common, "payload_bytes").as_bytes();
    let signed = sign_jws(&key, &Header::default(), payload).expect("sign");
    assert_ne!(signed, s(&v, "token"));
    let verifier = Verifier::new(key.verifying_key().expect("public"));
    assert_eq!(
        verifier.verify_jws(&signed).expect("verifies").payload,
        payload
    );
}

#[test]
fn rfc7638_3_1_thumbprint() {
    let all = data(RFC_JOSE);
    let v = &all["rfc7638"];
    let want = s(v, "thumbprint_sha256");
    let key = jwk(&v["jwk"]);
    assert_eq!(key.thumbprint().expect("thumbprint"), want);
    // The same through an imported key (which re-encodes n and e from the parsed integers).
    let imported = VerifyingKey::from_jwk(&key, None).expect("RS256 JWK");
    assert_eq!(imported.thumbprint().expect("thumbprint"), want);
    assert_eq!(imported.kid(), Some("2011-04-29"));
}

#[test]
fn rfc8037_a4_ed25519_signs_byte_for_byte() {
    let all = data(RFC_JOSE);
    let v = &all["rfc8037"];
    let private = jwk(&v["jwk"]);
    let key = SigningKey::from_jwk(&private, None).expect("Ed25519 JWK");
    assert_eq!(key.alg(), Algorithm::EdDSA);
    let payload = s(v, "payload_text").as_bytes();
    // Ed25519 is deterministic: signing reproduces the published JWS exactly.
    let signed = sign_jws(&key, &Header::default(), payload).expect("sign");
    assert_eq!(signed, s(v, "jws"));

    let public = VerifyingKey::from_jwk(&private.to_public().expect("public"), None).expect("pk");
    let verified = Verifier::new(public)
        .verify_jws(s(v, "jws"))
        .expect("A.4 verifies");
    assert_eq!(verified.payload, payload);
    assert_eq!(verified.alg, Algorithm::EdDSA);
    // RFC 8037 A.3: the thumbprint of the key.
    assert_eq!(
        key.thumbprint().expect("thumbprint"),
        s(v, "thumbprint_sha256")
    );
    // The payload is not a JWT claims set: the claims API refuses it after the signature.
    let err = Verifier::new(key.verifying_key().expect("pk"))
        .verify::<Value>(s(v, "jws"), 0)
        .expect_err("not JSON");
    assert_eq!(err.code(), "malformed_token");
}

/// The RFC 7520 key named `name`, bound to `alg` (the RSA key carries no `alg`).
fn rfc7520_key(doc: &Value, name: &str, alg: Algorithm) -> Jwk {
    let key = jwk(&doc["keys"][name]);
    assert_eq!(key.use_.as_deref(), Some("sig"));
    assert_eq!(key.algorithm(Some(alg)).expect("key fits the example"), alg);
    key
}

#[test]
fn rfc7520_4_jws_examples() {
    let doc = data(RFC7520);
    let payload = s(&doc, "payload_text").as_bytes();
    assert_eq!(
        tessera_jose::base64url::encode(payload),
        s(&doc, "payload_b64")
    );
    let examples = doc["examples"].as_array().expect("examples");
    assert_eq!(examples.len(), 4, "4.1, 4.2, 4.4 and 4.5");
    for ex in examples {
        let section = s(ex, "section");
        let alg: Algorithm = s(ex, "alg").parse().expect("supported alg");
        let key = rfc7520_key(&doc, s(ex, "key"), alg);
        let public = VerifyingKey::from_jwk(&key, Some(alg)).expect("verifying key");
        let verifier = Verifier::new(public);
        let compact = s(ex, "compact");
        assert!(compact.ends_with(s(ex, "signature_b64")), "{section}");

        let verified = if ex["detached"] == true {
            // RFC 7515 Appendix F: `header..signature`, payload given out of band.
            let err = verifier.verify_jws(compact).expect_err("no payload");
            assert_eq!(err.code(), "invalid_signature", "{section}");
            let err = verifier
                .verify_detached(compact, b"another payload")
                .expect_err("wrong detached payload");
            assert_eq!(err.code(), "invalid_signature", "{section}");
            verifier.verify_detached(compact, payload)
        } else {
            verifier.verify_jws(compact)
        }
        .unwrap_or_else(|e| panic!("RFC 7520 {section}: {e}"));
        assert_eq!(verified.payload, payload, "{section}");
        assert_eq!(verified.alg, alg, "{section}");
        assert_eq!(verified.kid.as_deref(), key.kid.as_deref(), "{section}");

        // Re-sign with the same protected header: our header encoding is the RFC's byte for
        // byte, and deterministic algorithms reproduce the whole token.
        let signing = SigningKey::from_jwk(&key, Some(alg)).expect("signing key");
        let header = Header {
            kid: key.kid.clone(),
            ..Header::default()
        };
        let signed = sign_jws(&signing, &header, payload).expect("sign");
        assert!(
            signed.starts_with(&format!("{}.", s(ex, "protected_b64"))),
            "{section}"
        );
        if ex["deterministic"] == true && ex["detached"] != true {
            assert_eq!(signed, compact, "{section}");
        } else if ex["detached"] == true {
            let (head, rest) = signed.split_once('.').expect("three segments");
            let (_, sig) = rest.split_once('.').expect("three segments");
            assert_eq!(format!("{head}..{sig}"), compact, "{section}");
        } else {
            assert_ne!(signed, compact, "{section}: PSS is randomized");
            assert_eq!(
                verifier.verify_jws(&signed).expect("verifies").payload,
                payload
            );
        }
    }
}

#[test]
fn rfc7520_keys_as_a_jwks() {
    let doc = data(RFC7520);
    let set = format!(
        r#"{{"keys":[{},{}]}}"#,
        doc["keys"]["rsa"], doc["keys"]["oct"]
    );
    let set = JwkSet::from_json(&set).expect("JWKS");
    // The RSA key carries no `alg`: without a default it is skipped, as RFC 7517 §5 allows.
    let only_oct = Verifier::from_jwks(&set, None).expect("the oct key is usable");
    assert_eq!(only_oct.keys().len(), 1);
    let both = Verifier::from_jwks(&set, Some(Algorithm::RS256)).expect("both usable");
    assert_eq!(both.keys().len(), 2);
    // The verifier picks each example's key by `kid`.
    for ex in doc["examples"].as_array().expect("examples") {
        let compact = s(ex, "compact");
        match s(ex, "section") {
            "4.1" | "4.4" => {
                both.verify_jws(compact).expect("verifies by kid");
            }
            // 4.2 is PS384 while the set binds the RSA key to RS256: refused.
            "4.2" => assert_eq!(
                both.verify_jws(compact).expect_err("alg differs").code(),
                "algorithm_mismatch"
            ),
            _ => {}
        }
    }
    let example_4_1 = s(&doc["examples"][0], "compact");
    assert_eq!(
        only_oct
            .verify_jws(example_4_1)
            .expect_err("no RSA key")
            .code(),
        "unknown_key"
    );
}
