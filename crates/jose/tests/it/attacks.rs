//! One test per JWT attack, named after the attack (or CVE) it pins. Every malicious token is
//! made by hand and, where the attack needs it, correctly signed over its malicious bytes, so
//! that a refusal proves the rule and not a bad signature. docs/security.md maps each test to
//! the check that stops the attack.

use serde_json::{json, Value};
use tessera_jose::{
    sign_jws, verifying_key_from_text, Algorithm, Header, Jwk, JwkSet, Signer, SigningKey,
    Verifier, VerifyingKey, DEFAULT_MAX_TOKEN_LEN, MAX_DEPTH,
};

use crate::{
    b64, data_file, ecdsa_to_der, forge, forge_segments, hs256, pem_to_der, raw_signature, refusal,
    signer, valid_claims, verifier_for, NOW, SECRET,
};

fn claims_text() -> String {
    valid_claims().to_string()
}

/// The verifier of the legitimate HS256 key.
fn hs256_verifier() -> Verifier {
    verifier_for(&hs256())
}

/// The header of a legitimate token for `key`.
fn alg_header(key: &SigningKey) -> String {
    format!(r#"{{"alg":"{}"}}"#, key.alg())
}

#[test]
fn alg_none_in_any_casing_is_refused() {
    let payload = b64(claims_text());
    for alg in [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ] {
        let key = signer(alg).key();
        let verifier = verifier_for(key);
        for none in ["none", "None", "NONE", "nOnE", "noNe"] {
            let header = b64(format!(r#"{{"alg":"{none}"}}"#));
            let input = format!("{header}.{payload}");
            // Unsecured JWS (RFC 7515 §6): empty signature; also with junk and with a real
            // signature of the key over the same bytes.
            let real = raw_signature(key, input.as_bytes());
            for sig in ["", "AAAA", real.as_str()] {
                let token = format!("{input}.{sig}");
                assert_eq!(
                    refusal(&verifier, &token),
                    "algorithm_mismatch",
                    "{alg} {none}"
                );
                let raw = verifier.verify_jws(&token).expect_err("raw API too");
                assert_eq!(raw.code(), "algorithm_mismatch");
            }
        }
        // Control: the same input with the key's own alg verifies.
        let token = forge(key, &alg_header(key), &claims_text());
        verifier.verify::<Value>(&token, NOW).expect("control");
    }
    // `none` cannot even be named by the caller.
    for none in ["none", "None", "NONE"] {
        let err = none.parse::<Algorithm>().expect_err("no such algorithm");
        assert_eq!(err.code(), "unsupported_algorithm");
        let jwk = Jwk::from_json(&format!(
            r#"{{"kty":"oct","alg":"{none}","k":"{}"}}"#,
            b64(SECRET)
        ))
        .expect("JWK parses");
        let err = VerifyingKey::from_jwk(&jwk, None).expect_err("alg none key");
        assert_eq!(err.code(), "invalid_key");
    }
}

#[test]
fn alg_names_are_case_sensitive() {
    // A correctly signed HS256 token whose header spells the name another way.
    let key = hs256();
    let verifier = hs256_verifier();
    for alg in ["hs256", "Hs256", "HS256 ", " HS256", "HS-256", "HS2560", ""] {
        let token = forge(&key, &format!(r#"{{"alg":"{alg}"}}"#), &claims_text());
        assert_eq!(refusal(&verifier, &token), "algorithm_mismatch", "{alg:?}");
    }
}

/// Every way an attacker could turn a public key into HMAC secret bytes.
fn public_key_as_secrets(key: &SigningKey) -> Vec<Vec<u8>> {
    let vk = key.verifying_key().expect("public");
    let pem = vk.to_pem().expect("SPKI PEM");
    let jwk = key.public_jwk().expect("public JWK");
    let mut secrets = vec![
        pem.as_bytes().to_vec(),
        pem.trim_end().as_bytes().to_vec(),
        pem_to_der(&pem),
        jwk.to_json().into_bytes(),
    ];
    if let Some(n) = &jwk.n {
        secrets.push(tessera_jose::base64url::decode(n.as_bytes()).expect("n"));
    }
    secrets
}

/// Key confusion (CVE-2015-9235 and friends): the attacker HMACs a token with the bytes of
/// the server's public key and sets `alg` to an HS algorithm.
fn assert_key_confusion_refused(alg: Algorithm) {
    let key = signer(alg).key();
    let kid = key.kid().expect("generated keys have a kid");
    // A key given explicitly ignores `kid`, never `alg`.
    let explicit = Verifier::explicit(key.verifying_key().expect("public"));
    for secret in public_key_as_secrets(key) {
        for hs in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let Ok(attacker) = SigningKey::from_secret(hs, &secret) else {
                continue; // too short for this hash: no token to forge
            };
            for header in [
                format!(r#"{{"alg":"{hs}"}}"#),
                format!(r#"{{"alg":"{hs}","kid":"{kid}"}}"#),
            ] {
                let token = forge(&attacker, &header, &claims_text());
                for verifier in [&verifier_for(key), &explicit] {
                    assert_eq!(
                        refusal(verifier, &token),
                        "algorithm_mismatch",
                        "{alg} {hs}"
                    );
                }
            }
        }
    }
    // Nor can the public key be loaded as an HMAC key by mistake.
    let vk = key.verifying_key().expect("public");
    let pem = vk.to_pem().expect("SPKI PEM");
    for hs in [Algorithm::HS256, Algorithm::HS512] {
        let by_pem = VerifyingKey::from_pem(pem.as_bytes(), hs).expect_err("PEM as HMAC");
        assert_eq!(by_pem.code(), "invalid_key");
        let by_text = verifying_key_from_text(pem.as_bytes(), Some(hs)).expect_err("text");
        assert_eq!(by_text.code(), "invalid_key");
        let jwk = key.public_jwk().expect("public JWK");
        let by_jwk = VerifyingKey::from_jwk(&jwk, Some(hs)).expect_err("JWK as HMAC");
        assert_eq!(by_jwk.code(), "invalid_key");
    }
}

#[test]
fn hs256_signed_with_rsa_public_key_is_refused() {
    assert_key_confusion_refused(Algorithm::RS256);
    assert_key_confusion_refused(Algorithm::PS256);
}

#[test]
fn hs256_signed_with_ec_or_ed25519_public_key_is_refused() {
    assert_key_confusion_refused(Algorithm::ES256);
    assert_key_confusion_refused(Algorithm::EdDSA);
}

#[test]
fn kid_naming_a_key_of_another_algorithm_is_refused() {
    // A key set holding an HMAC key and an RSA key: `kid` picks the key, and the key alone
    // decides the algorithm, so a token cannot pair one key's kid with the other's alg.
    let rsa = signer(Algorithm::RS256).key();
    let hmac = hs256().with_kid("hmac");
    let verifier = Verifier::with_keys(vec![
        hmac.verifying_key().expect("hmac"),
        rsa.verifying_key().expect("rsa").with_kid("rsa"),
    ]);
    let rsa_pem = rsa.verifying_key().expect("pk").to_pem().expect("pem");
    let attacker = SigningKey::from_secret(Algorithm::HS256, rsa_pem.as_bytes()).expect("key");
    let hs_with_rsa_kid = forge(&attacker, r#"{"alg":"HS256","kid":"rsa"}"#, &claims_text());
    assert_eq!(refusal(&verifier, &hs_with_rsa_kid), "algorithm_mismatch");
    let rs_with_hmac_kid = forge(rsa, r#"{"alg":"RS256","kid":"hmac"}"#, &claims_text());
    assert_eq!(refusal(&verifier, &rs_with_hmac_kid), "algorithm_mismatch");
    // Controls: each key verifies its own tokens.
    let good_rsa = forge(rsa, r#"{"alg":"RS256","kid":"rsa"}"#, &claims_text());
    let good_hmac = forge(&hmac, r#"{"alg":"HS256","kid":"hmac"}"#, &claims_text());
    verifier.verify::<Value>(&good_rsa, NOW).expect("rsa");
    verifier.verify::<Value>(&good_hmac, NOW).expect("hmac");
}

#[test]
fn rs256_and_ps256_are_not_interchangeable() {
    // One RSA key pair, bound to PS256 by the verifier. A PKCS#1 v1.5 signature by the same
    // private key (say, from another service sharing the key) is refused however labelled.
    let pem = data_file("keys/rsa2048-pkcs8.pem");
    let as_rs256 = SigningKey::from_pem(pem.as_bytes(), Algorithm::RS256).expect("RS256");
    let as_ps256 = SigningKey::from_pem(pem.as_bytes(), Algorithm::PS256).expect("PS256");
    let verifier = verifier_for(&as_ps256);
    let rs = forge(&as_rs256, r#"{"alg":"RS256"}"#, &claims_text());
    assert_eq!(refusal(&verifier, &rs), "algorithm_mismatch");
    let v15_labelled_pss = forge(&as_rs256, r#"{"alg":"PS256"}"#, &claims_text());
    assert_eq!(refusal(&verifier, &v15_labelled_pss), "invalid_signature");
    let good = forge(&as_ps256, r#"{"alg":"PS256"}"#, &claims_text());
    verifier.verify::<Value>(&good, NOW).expect("control");
}

/// The order n of the curve of `alg`, big-endian.
fn curve_order(alg: Algorithm) -> Vec<u8> {
    let hex = match alg {
        Algorithm::ES256 => "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        _ => concat!(
            "ffffffffffffffffffffffffffffffffffffffffffffffff",
            "c7634d81f4372ddf581a0db248b0a77aecec196accc52973"
        ),
    };
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn cve_2022_21449_psychic_signature_r_s_zero() {
    // Java 15–18 accepted the ECDSA signature r = s = 0 for any message and any key.
    for alg in [Algorithm::ES256, Algorithm::ES384] {
        let key = signer(alg).key();
        let verifier = verifier_for(key);
        let good = forge(key, &alg_header(key), &claims_text());
        verifier.verify::<Value>(&good, NOW).expect("control");
        let (input, sig) = good.rsplit_once('.').expect("three segments");
        let sig = tessera_jose::base64url::decode(sig.as_bytes()).expect("sig");
        let half = sig.len() / 2;
        let zero = vec![0u8; half];
        let n = curve_order(alg);
        let forged: [(&str, Vec<u8>); 5] = [
            ("r = s = 0", [zero.clone(), zero.clone()].concat()),
            ("r = 0", [zero.clone(), sig[half..].to_vec()].concat()),
            ("s = 0", [sig[..half].to_vec(), zero.clone()].concat()),
            // n ≡ 0 (mod n): the same attack in another spelling.
            ("r = s = n", [n.clone(), n.clone()].concat()),
            ("r = n, s = 0", [n.clone(), zero.clone()].concat()),
        ];
        for (what, sig) in forged {
            let token = format!("{input}.{}", b64(&sig));
            assert_eq!(
                refusal(&verifier, &token),
                "invalid_signature",
                "{alg} {what}"
            );
        }
    }
    // The Ed25519 equivalent: an all-zero signature.
    let key = signer(Algorithm::EdDSA).key();
    let good = forge(key, &alg_header(key), &claims_text());
    let (input, _) = good.rsplit_once('.').expect("three segments");
    let token = format!("{input}.{}", b64([0u8; 64]));
    assert_eq!(refusal(&verifier_for(key), &token), "invalid_signature");
}

#[test]
fn ecdsa_der_encoded_signature_is_refused() {
    // RFC 7518 §3.4: JWS ECDSA signatures are fixed-length r||s; DER is another encoding of
    // the same (r, s), which must not be accepted (it makes signatures malleable).
    for alg in [Algorithm::ES256, Algorithm::ES384] {
        let key = signer(alg).key();
        let verifier = verifier_for(key);
        let good = forge(key, &alg_header(key), &claims_text());
        verifier.verify::<Value>(&good, NOW).expect("control");
        let (input, sig) = good.rsplit_once('.').expect("three segments");
        let raw = tessera_jose::base64url::decode(sig.as_bytes()).expect("sig");
        let der = ecdsa_to_der(&raw);
        assert_eq!(der[0], 0x30, "a DER SEQUENCE");
        let token = format!("{input}.{}", b64(der));
        assert_eq!(refusal(&verifier, &token), "invalid_signature", "{alg}");
    }
    // The same with a token that openssl signed, left in openssl's DER form.
    let doc: Value = serde_json::from_str(&data_file("keys/openssl-tokens.json")).expect("json");
    let pem = data_file("keys/p256-spki.pem");
    let verifier =
        Verifier::new(VerifyingKey::from_pem(pem.as_bytes(), Algorithm::ES256).expect("pk"));
    let der_token = doc["tokens"]["ES256-der"]["token"].as_str().expect("token");
    assert_eq!(refusal(&verifier, der_token), "invalid_signature");
    let raw_token = doc["tokens"]["ES256"]["token"].as_str().expect("token");
    verifier
        .verify::<Value>(raw_token, NOW)
        .expect("the r||s form verifies");
}

/// An attacker's key travels in the header; the legitimate verifier must not use it. The
/// same header signed by the legitimate key verifies, so the refusal is about the key alone.
fn assert_header_key_is_ignored(member: impl Fn(&SigningKey) -> String) {
    for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA] {
        let legit = signer(alg).key();
        let attacker = SigningKey::generate(alg).expect("attacker key");
        let verifier = verifier_for(legit);
        let header = format!(r#"{{"alg":"{alg}",{}}}"#, member(&attacker));
        let forged = forge(&attacker, &header, &claims_text());
        assert_eq!(
            refusal(&verifier, &forged),
            "invalid_signature",
            "{alg} {header}"
        );
        let control = forge(legit, &header, &claims_text());
        verifier.verify::<Value>(&control, NOW).expect("control");
    }
}

#[test]
fn embedded_jwk_is_never_used() {
    // CVE-2018-0114 (node-jose): the verifier trusted the `jwk` of the token's own header.
    assert_header_key_is_ignored(|attacker| {
        format!(
            r#""jwk":{}"#,
            attacker.public_jwk().expect("public").to_json()
        )
    });
    // HMAC flavour: the attacker's secret as an `oct` JWK.
    let attacker = SigningKey::from_secret(Algorithm::HS256, &[7u8; 32]).expect("key");
    let header = format!(
        r#"{{"alg":"HS256","jwk":{{"kty":"oct","k":"{}"}}}}"#,
        b64([7u8; 32])
    );
    let forged = forge(&attacker, &header, &claims_text());
    assert_eq!(refusal(&hs256_verifier(), &forged), "invalid_signature");
}

#[test]
fn embedded_jku_is_never_used() {
    assert_header_key_is_ignored(|_| r#""jku":"https://attacker.invalid/jwks.json""#.into());
}

#[test]
fn embedded_x5u_is_never_used() {
    assert_header_key_is_ignored(|_| r#""x5u":"https://attacker.invalid/cert.pem""#.into());
}

#[test]
fn embedded_x5c_is_never_used() {
    // Not a real certificate, but the attacker's key DER where a certificate chain would be.
    assert_header_key_is_ignored(|attacker| {
        let pem = attacker.verifying_key().expect("pk").to_pem().expect("pem");
        let der = pem_to_der(&pem);
        let std_b64: String = b64(der).replace('-', "+").replace('_', "/");
        format!(r#""x5c":["{std_b64}"]"#)
    });
}

#[test]
fn attacker_kid_selects_no_key() {
    // A generated key carries its thumbprint as kid; a token naming the attacker's own
    // thumbprint (or path- or SQL-looking kids) finds no key.
    let legit = signer(Algorithm::ES256).key();
    let attacker = SigningKey::generate(Algorithm::ES256).expect("attacker key");
    let verifier = verifier_for(legit);
    let attacker_kid = attacker.kid().expect("kid").to_owned();
    for kid in [
        attacker_kid.as_str(),
        "../../../../dev/null",
        "' OR '1'='1",
        "",
    ] {
        let header = format!(r#"{{"alg":"ES256","kid":{}}}"#, json!(kid));
        let token = forge(&attacker, &header, &claims_text());
        assert_eq!(refusal(&verifier, &token), "unknown_key", "{kid:?}");
    }
}

/// A key given explicitly (a person naming the key file) is the key: the token's `kid` is
/// not consulted, so naming a kid, even the attacker's own, selects nothing, and only the
/// signature decides.
#[test]
fn explicit_key_is_chosen_by_no_kid_and_the_signature_decides() {
    let legit = SigningKey::generate(Algorithm::ES256)
        .expect("key")
        .with_kid("Y");
    let attacker = SigningKey::generate(Algorithm::ES256).expect("attacker key");
    let explicit = Verifier::explicit(legit.verifying_key().expect("public"));
    for header in [
        r#"{"alg":"ES256","kid":"X"}"#,
        r#"{"alg":"ES256","kid":"Y"}"#,
        r#"{"alg":"ES256"}"#,
    ] {
        let token = forge(&legit, header, &claims_text());
        let verified = explicit
            .verify::<Value>(&token, NOW)
            .unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!(verified.kid(), Some("Y"), "the key's own kid is reported");
        // The attacker's signature over the same header is refused, whatever it names.
        let forged = forge(&attacker, header, &claims_text());
        assert_eq!(refusal(&explicit, &forged), "invalid_signature", "{header}");
    }
    // The same key as a one-key set still refuses another kid.
    let token = forge(&legit, r#"{"alg":"ES256","kid":"X"}"#, &claims_text());
    assert_eq!(refusal(&verifier_for(&legit), &token), "unknown_key");
}

#[test]
fn unknown_crit_is_refused() {
    // RFC 7515 §4.1.11: a recipient that does not understand a `crit` extension must reject
    // the JWS. Each token is signed by the legitimate key.
    let key = hs256();
    let verifier = hs256_verifier();
    for header in [
        r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
        r#"{"alg":"HS256","crit":["http://example.invalid/ext"],"http://example.invalid/ext":true}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":true}"#,
        r#"{"alg":"HS256","\u0063rit":["exp"]}"#,
    ] {
        let token = forge(&key, header, &claims_text());
        assert_eq!(refusal(&verifier, &token), "invalid_token", "{header}");
        let raw = verifier.verify_jws(&token).expect_err("raw API too");
        assert_eq!(raw.code(), "invalid_token", "{header}");
    }
}

#[test]
fn unencoded_payload_b64_false_is_refused() {
    // RFC 7797 changes what is signed; a verifier that ignored `b64` would check other bytes.
    let key = hs256();
    let token = forge(&key, r#"{"alg":"HS256","b64":false}"#, &claims_text());
    assert_eq!(refusal(&hs256_verifier(), &token), "invalid_token");
}

/// `text` base64url-encoded with `=` padding, which must be non-empty.
fn padded(text: &str) -> String {
    let mut out = b64(text);
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    assert!(out.ends_with('='), "{text} needs padding for this test");
    out
}

/// A JSON text whose length is not a multiple of 3 (so its base64 needs padding).
fn unaligned(json: String) -> String {
    let mut json = json;
    while json.len().is_multiple_of(3) {
        json.push(' ');
    }
    json
}

#[test]
fn padded_base64_is_refused() {
    // Each token is signed over its padded bytes, so only the encoding rule can refuse it.
    let key = hs256();
    let verifier = hs256_verifier();
    let header = unaligned(r#"{"alg":"HS256"}"#.into());
    let payload = unaligned(claims_text());
    let good = forge_segments(&key, &b64(&header), &b64(&payload));
    verifier.verify::<Value>(&good, NOW).expect("control");

    let padded_header = forge_segments(&key, &padded(&header), &b64(&payload));
    assert_eq!(refusal(&verifier, &padded_header), "malformed_token");
    let padded_payload = forge_segments(&key, &b64(&header), &padded(&payload));
    assert_eq!(refusal(&verifier, &padded_payload), "malformed_token");
    // HS256 signatures are 32 bytes: 43 characters, one `=` when padded.
    let padded_sig = format!("{good}=");
    assert_eq!(refusal(&verifier, &padded_sig), "invalid_signature");
}

/// Sets the lowest unused bit of the last character of an unpadded base64url text, which
/// leaves the decoded bytes unchanged in a lenient decoder.
fn with_trailing_bit(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(text.len() % 4, 0, "{text} has unused trailing bits");
    let last = text.as_bytes()[text.len() - 1];
    let i = ALPHABET.iter().position(|&c| c == last).expect("base64url");
    assert_eq!(i & 1, 0, "canonical encodings have the unused bits clear");
    format!("{}{}", &text[..text.len() - 1], ALPHABET[i | 1] as char)
}

#[test]
fn non_canonical_base64_is_refused() {
    let key = hs256();
    let verifier = hs256_verifier();
    let header = unaligned(r#"{"alg":"HS256"}"#.into());
    let payload = unaligned(claims_text());
    let (h, p) = (b64(&header), b64(&payload));

    // Trailing bits set: a lenient decoder reads the same bytes, so the same claims would
    // exist under many encodings.
    let token = forge_segments(&key, &with_trailing_bit(&h), &p);
    assert_eq!(refusal(&verifier, &token), "malformed_token");
    let token = forge_segments(&key, &h, &with_trailing_bit(&p));
    assert_eq!(refusal(&verifier, &token), "malformed_token");
    let good = forge_segments(&key, &h, &p);
    let (input, sig) = good.rsplit_once('.').expect("three segments");
    let token = format!("{input}.{}", with_trailing_bit(sig));
    assert_eq!(refusal(&verifier, &token), "invalid_signature");

    // The standard alphabet (`+`, `/`) and embedded whitespace are not base64url.
    let tricky = r#"{"sub":"u_1","x":"???>>>~~~","exp":1700000900}"#;
    let p = b64(tricky);
    assert!(p.contains(['-', '_']), "{p}");
    let std_alphabet = p.replace('-', "+").replace('_', "/");
    let token = forge_segments(&key, &h, &std_alphabet);
    assert_eq!(refusal(&verifier, &token), "malformed_token");
    let control = forge_segments(&key, &h, &p);
    verifier
        .verify::<Value>(&control, NOW)
        .expect("the base64url spelling");
    let spaced = format!("{} {}", &h[..8], &h[8..]);
    let token = forge_segments(&key, &spaced, &b64(&payload));
    assert_eq!(refusal(&verifier, &token), "malformed_token");
}

#[test]
fn wrong_segment_count_is_refused() {
    let key = hs256();
    let verifier = hs256_verifier();
    let good = Signer::new(hs256()).sign(&valid_claims()).expect("sign");
    verifier.verify::<Value>(&good, NOW).expect("control");
    let (h, rest) = good.split_once('.').expect("dots");
    let (p, s) = rest.split_once('.').expect("dots");
    let hp = format!("{h}.{p}");
    let sig_of = |input: &str| raw_signature(&key, input.as_bytes());
    for token in [
        String::new(),
        ".".into(),
        "..".into(),
        h.to_owned(),
        hp.clone(),              // signature segment removed
        format!("{hp}.{s}."),    // a fourth, empty segment
        format!("{hp}.{s}.{s}"), // a fourth segment
        format!("{h}.{p}.{p}.{}", sig_of(&format!("{h}.{p}.{p}"))),
        format!("{h}.{p}.{p}.{p}.{s}"), // the shape of a JWE
        format!("{h}.{}", sig_of(h)),   // two segments, correctly signed
    ] {
        assert_eq!(refusal(&verifier, &token), "malformed_token", "{token}");
    }
    // An empty header segment is not a JWS either.
    let token = format!(".{p}.{}", sig_of(&format!(".{p}")));
    assert_eq!(refusal(&verifier, &token), "malformed_token");
}

#[test]
fn oversized_token_is_refused_before_decoding() {
    let key = hs256();
    let verifier = hs256_verifier();
    // Not even base64: the size cap answers before any decoding is attempted.
    let junk = "!".repeat(DEFAULT_MAX_TOKEN_LEN + 1);
    let err = verifier.verify::<Value>(&junk, NOW).expect_err("too long");
    assert_eq!(err.code(), "malformed_token");
    assert!(err.detail().contains("size"), "{}", err.detail());
    let junk_dots = format!("{}.a.a", "!".repeat(DEFAULT_MAX_TOKEN_LEN));
    let err = verifier.verify_jws(&junk_dots).expect_err("too long");
    assert!(err.detail().contains("size"), "{}", err.detail());

    // A correctly signed token exactly at the cap verifies; one byte over does not.
    let token_with = |filler: usize| {
        let mut claims = valid_claims();
        claims["pad"] = json!("x".repeat(filler));
        let payload = claims.to_string();
        forge(&key, r#"{"alg":"HS256"}"#, &payload)
    };
    let at_cap = (0..DEFAULT_MAX_TOKEN_LEN)
        .map(token_with)
        .find(|t| t.len() == DEFAULT_MAX_TOKEN_LEN)
        .expect("some filler reaches the cap exactly");
    verifier.verify::<Value>(&at_cap, NOW).expect("at the cap");
    let over = token_with(
        (0..DEFAULT_MAX_TOKEN_LEN)
            .find(|&n| token_with(n).len() > DEFAULT_MAX_TOKEN_LEN)
            .expect("long enough"),
    );
    let err = verifier
        .verify::<Value>(&over, NOW)
        .expect_err("over the cap");
    assert!(err.detail().contains("size"), "{}", err.detail());
    // The cap is configurable.
    let small = hs256_verifier().with_max_token_len(100);
    let normal = forge(&key, r#"{"alg":"HS256"}"#, &claims_text());
    assert!(normal.len() > 100);
    assert_eq!(refusal(&small, &normal), "malformed_token");
}

/// `levels` arrays nested around an empty array.
fn nested_arrays(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

#[test]
fn deeply_nested_json_is_refused() {
    let key = hs256();
    let verifier = hs256_verifier();
    let claims = |deep: &str| format!(r#"{{"sub":"u_1","exp":{},"deep":{deep}}}"#, NOW + 900);
    // The claims object is level 1, so MAX_DEPTH - 1 arrays inside it make MAX_DEPTH levels.
    let at_limit = forge(
        &key,
        r#"{"alg":"HS256"}"#,
        &claims(&nested_arrays(MAX_DEPTH - 1)),
    );
    verifier.verify::<Value>(&at_limit, NOW).expect("32 levels");
    let over = forge(
        &key,
        r#"{"alg":"HS256"}"#,
        &claims(&nested_arrays(MAX_DEPTH)),
    );
    assert_eq!(refusal(&verifier, &over), "malformed_token");
    let objects = format!("{}1{}", r#"{"a":"#.repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
    let over = forge(&key, r#"{"alg":"HS256"}"#, &claims(&objects));
    assert_eq!(refusal(&verifier, &over), "malformed_token");
    // In the header too, where it is refused before the signature is looked at.
    let header = format!(r#"{{"alg":"HS256","x":{}}}"#, nested_arrays(MAX_DEPTH));
    let token = format!("{}.{}.AAAA", b64(header), b64(claims_text()));
    assert_eq!(refusal(&verifier, &token), "malformed_token");
    // A stack-exhaustion attempt: 200 000 levels under a raised size cap; no overflow.
    let huge = forge(&key, r#"{"alg":"HS256"}"#, &claims(&nested_arrays(200_000)));
    let roomy = hs256_verifier().with_max_token_len(1 << 20);
    assert_eq!(refusal(&roomy, &huge), "malformed_token");
}

#[test]
fn duplicate_exp_is_refused() {
    // serde_json keeps the last duplicate, another parser the first: a signed token must
    // mean one thing to every reader.
    let key = hs256();
    let verifier = hs256_verifier();
    let expired = NOW - 3600;
    let valid = NOW + 900;
    for payload in [
        format!(r#"{{"sub":"u_1","exp":{expired},"exp":{valid}}}"#),
        format!(r#"{{"sub":"u_1","exp":{valid},"exp":{expired}}}"#),
        format!(r#"{{"sub":"u_1","exp":{expired},"\u0065xp":{valid}}}"#),
        format!(r#"{{"sub":"u_1","exp":{valid},"aud":"a","aud":"b"}}"#),
        format!(r#"{{"sub":"u_1","exp":{valid},"ctx":{{"role":"user","role":"admin"}}}}"#),
    ] {
        let token = forge(&key, r#"{"alg":"HS256"}"#, &payload);
        assert_eq!(refusal(&verifier, &token), "malformed_token", "{payload}");
    }
}

#[test]
fn duplicate_alg_in_header_is_refused() {
    let key = hs256();
    let verifier = hs256_verifier();
    for header in [
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","alg":"none"}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
    ] {
        let token = forge(&key, header, &claims_text());
        assert_eq!(refusal(&verifier, &token), "malformed_token", "{header}");
    }
}

#[test]
fn cve_2026_25537_exp_as_string_is_refused() {
    // jsonwebtoken < 10.3 treated a registered time claim of the wrong JSON type as absent,
    // so `"exp":"never"` made a token that never expires.
    let lenient = hs256_verifier().allow_missing_exp();
    for exp in [json!("never"), json!((NOW + 900).to_string()), json!("")] {
        let claims = json!({"sub": "u_1", "exp": exp});
        let token = Signer::new(hs256()).sign(&claims).expect("sign");
        assert_eq!(
            refusal(&hs256_verifier(), &token),
            "invalid_token",
            "{claims}"
        );
        // Even a verifier that does not require exp checks its type when present.
        assert_eq!(refusal(&lenient, &token), "invalid_token", "{claims}");
    }
}

#[test]
fn cve_2026_25537_nbf_as_string_is_refused() {
    // The advisory's main case: `nbf` as a string skipped the not-before check.
    let claims = json!({"sub": "u_1", "exp": NOW + 900, "nbf": (NOW + 3600).to_string()});
    let token = Signer::new(hs256()).sign(&claims).expect("sign");
    assert_eq!(refusal(&hs256_verifier(), &token), "invalid_token");
    let claims = json!({"sub": "u_1", "exp": NOW + 900, "iat": (NOW + 3600).to_string()});
    let token = Signer::new(hs256()).sign(&claims).expect("sign");
    assert_eq!(refusal(&hs256_verifier(), &token), "invalid_token");
}

#[test]
fn exp_behind_a_unicode_escape_is_still_checked() {
    // `"\u0065xp"` is the member name `exp`; a scanner comparing raw bytes would miss it.
    let key = hs256();
    let payload = format!(r#"{{"sub":"u_1","\u0065xp":{}}}"#, NOW - 3600);
    let token = forge(&key, r#"{"alg":"HS256"}"#, &payload);
    assert_eq!(refusal(&hs256_verifier(), &token), "token_expired");
    let token = forge(&key, r#"{"\u0061lg":"none"}"#, &claims_text());
    assert_eq!(refusal(&hs256_verifier(), &token), "algorithm_mismatch");
}

#[test]
fn expired_token_is_refused() {
    let token = Signer::new(hs256())
        .sign(&json!({"sub": "u_1", "exp": NOW - 61}))
        .expect("sign");
    assert_eq!(refusal(&hs256_verifier(), &token), "token_expired");
}

#[test]
fn nbf_in_the_future_is_refused() {
    let signer = Signer::new(hs256());
    let token = signer
        .sign(&json!({"sub": "u_1", "exp": NOW + 7200, "nbf": NOW + 3600}))
        .expect("sign");
    assert_eq!(refusal(&hs256_verifier(), &token), "token_not_yet_valid");
    hs256_verifier()
        .verify::<Value>(&token, NOW + 3600)
        .expect("valid once nbf has come");
}

#[test]
fn wrong_audience_is_refused() {
    let verifier = hs256_verifier().with_audience("api");
    let signer = Signer::new(hs256());
    for aud in [
        json!("other"),
        json!(["other", "more"]),
        json!([]),
        json!("API"),
    ] {
        let token = signer
            .sign(&json!({"sub": "u_1", "exp": NOW + 900, "aud": aud}))
            .expect("sign");
        assert_eq!(refusal(&verifier, &token), "invalid_audience", "{aud}");
    }
    let token = signer.sign(&valid_claims()).expect("sign");
    assert_eq!(refusal(&verifier, &token), "invalid_audience", "no aud");
}

#[test]
fn wrong_issuer_is_refused() {
    let verifier = hs256_verifier().with_issuer("https://auth.example");
    let signer = Signer::new(hs256());
    for iss in [
        "https://evil.example",
        "https://auth.example/",
        "HTTPS://AUTH.EXAMPLE",
    ] {
        let token = signer
            .sign(&json!({"sub": "u_1", "exp": NOW + 900, "iss": iss}))
            .expect("sign");
        assert_eq!(refusal(&verifier, &token), "invalid_issuer", "{iss}");
    }
    let token = signer.sign(&valid_claims()).expect("sign");
    assert_eq!(refusal(&verifier, &token), "invalid_issuer", "no iss");
}

#[test]
fn short_hmac_secret_is_refused() {
    // RFC 7518 §3.2: the key must be at least as long as the hash output.
    for (alg, min) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        for len in [0, 1, min - 1] {
            let secret = vec![0x5a; len];
            let err = SigningKey::from_secret(alg, &secret).expect_err("short");
            assert_eq!(err.code(), "invalid_key", "{alg} {len}");
            let err = VerifyingKey::from_secret(alg, &secret).expect_err("short");
            assert_eq!(err.code(), "invalid_key", "{alg} {len}");
            let jwk = format!(r#"{{"kty":"oct","alg":"{alg}","k":"{}"}}"#, b64(&secret));
            let jwk = Jwk::from_json(&jwk).expect("JWK parses");
            let err = VerifyingKey::from_jwk(&jwk, None).expect_err("short JWK");
            assert_eq!(err.code(), "invalid_key", "{alg} {len}");
        }
        SigningKey::from_secret(alg, &vec![0x5a; min]).expect("exactly the hash size");
        VerifyingKey::from_secret(alg, &vec![0x5a; min]).expect("exactly the hash size");
    }
}

#[test]
fn stripped_or_foreign_signature_is_refused() {
    let verifier = hs256_verifier();
    let good = Signer::new(hs256()).sign(&valid_claims()).expect("sign");
    let (input, _) = good.rsplit_once('.').expect("three segments");
    assert_eq!(
        refusal(&verifier, &format!("{input}.")),
        "invalid_signature"
    );
    let other = SigningKey::from_secret(Algorithm::HS256, &[1u8; 32]).expect("key");
    let foreign = Signer::new(other).sign(&valid_claims()).expect("sign");
    assert_eq!(refusal(&verifier, &foreign), "invalid_signature");
    // Signatures of impossible lengths, including longer than any RSA-8192 signature.
    for len in [1, 31, 33, 1025, 4000] {
        let token = format!("{input}.{}", b64(vec![0u8; len]));
        assert_eq!(refusal(&verifier, &token), "invalid_signature", "{len}");
    }
    let token = format!("{input}.A");
    assert_eq!(refusal(&verifier, &token), "invalid_signature");
}

#[test]
fn signature_is_checked_before_claims() {
    // An attacker must not learn anything about claim checks from unsigned tokens: a badly
    // signed expired token answers invalid_signature, not token_expired.
    let other = SigningKey::from_secret(Algorithm::HS256, &[1u8; 32]).expect("key");
    let token = Signer::new(other)
        .sign(&json!({"sub": "u_1", "exp": 1, "aud": "x"}))
        .expect("sign");
    let verifier = hs256_verifier().with_audience("api");
    assert_eq!(refusal(&verifier, &token), "invalid_signature");
}

#[test]
fn detached_payload_cannot_be_swapped() {
    let key = hs256();
    let verifier = hs256_verifier();
    let attached = sign_jws(&key, &Header::default(), b"pay 10 EUR").expect("sign");
    let (h, rest) = attached.split_once('.').expect("dots");
    let (_, s) = rest.split_once('.').expect("dots");
    let detached = format!("{h}..{s}");
    verifier
        .verify_detached(&detached, b"pay 10 EUR")
        .expect("the signed payload");
    let err = verifier
        .verify_detached(&detached, b"pay 99 EUR")
        .expect_err("another payload");
    assert_eq!(err.code(), "invalid_signature");
    // An attached token is not a detached one: its payload segment must be empty.
    let err = verifier
        .verify_detached(&attached, b"pay 10 EUR")
        .expect_err("payload segment present");
    assert_eq!(err.code(), "malformed_token");
}

#[test]
fn jwks_keys_for_encryption_are_not_used_for_signatures() {
    // RFC 7517 §4.2: a key published with `use: "enc"` is skipped when building a verifier.
    let key = hs256().with_kid("k");
    let mut jwk = key.to_jwk();
    jwk.use_ = Some("enc".into());
    let set = JwkSet { keys: vec![jwk] };
    let err = Verifier::from_jwks(&set, None).expect_err("no usable key");
    assert_eq!(err.code(), "invalid_key");
}
