//! Property tests: sign → verify round trips for every algorithm, any change to a token makes
//! it fail, and no input makes a parser panic. Case counts are modest so the whole suite
//! stays fast in debug builds; the fuzz targets under `fuzz/` explore much further.
//!
//! proptest catches panics and reports them (shrunk) as failures, so the "never panics"
//! properties need no assertion beyond calling the parser.

use std::sync::OnceLock;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};
use tessera_jose::{
    base64url, dangerous, sign_jws, signing_key_from_text, verifying_key_from_text, Algorithm,
    Error, Header, Jwk, JwkSet, SigningKey, Verifier, VerifyingKey,
};

use crate::{b64, data_file, pem_to_der, signers, valid_claims, verifier_for, NOW};

/// One verifier per shared signer, in the same order.
fn verifiers() -> &'static [Verifier] {
    static VERIFIERS: OnceLock<Vec<Verifier>> = OnceLock::new();
    VERIFIERS.get_or_init(|| signers().iter().map(|s| verifier_for(s.key())).collect())
}

/// One valid token per shared signer, in the same order.
fn tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        signers()
            .iter()
            .map(|s| s.sign(&valid_claims()).expect("sign"))
            .collect()
    })
}

/// A verifier over every shared key (chosen by kid) plus a few stand-alone ones, so random
/// input reaches every algorithm's code.
fn all_verifiers() -> &'static [Verifier] {
    static ALL: OnceLock<Vec<Verifier>> = OnceLock::new();
    ALL.get_or_init(|| {
        let keys = signers()
            .iter()
            .map(|s| s.key().verifying_key().expect("vk"))
            .collect();
        let mut all = vec![Verifier::with_keys(keys).with_audience("api")];
        all.extend(verifiers().iter().cloned());
        all.push(Verifier::with_keys(vec![])); // no key at all
        all
    })
}

const REGISTERED: [&str; 7] = ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"];

/// Arbitrary JSON without floats (serde_json does not promise to round-trip every float).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Claims valid at NOW: registered claims of the right types, anything else besides.
fn claims() -> impl Strategy<Value = Value> {
    (
        btree_map("[a-z_]{1,10}|\\PC{1,8}", json_value(), 0..6),
        any::<String>(),
        1u64..100_000_000,
        prop::option::of(prop_oneof![
            any::<String>().prop_map(Value::from),
            vec(any::<String>(), 0..3).prop_map(Value::from),
        ]),
        prop::option::of(any::<String>()),
    )
        .prop_map(|(extra, sub, ttl, aud, iss)| {
            let mut m: Map<String, Value> = extra
                .into_iter()
                .filter(|(k, _)| !REGISTERED.contains(&k.as_str()))
                .collect();
            m.insert("sub".into(), sub.into());
            m.insert("iat".into(), NOW.into());
            m.insert("exp".into(), (NOW + ttl).into());
            if let Some(aud) = aud {
                m.insert("aud".into(), aud);
            }
            if let Some(iss) = iss {
                m.insert("iss".into(), iss.into());
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sign_verify_round_trip_for_every_algorithm(claims in claims()) {
        for (s, v) in signers().iter().zip(verifiers()) {
            let alg = s.key().alg();
            let token = s.sign(&claims).expect("sign");
            let verified = v
                .verify::<Value>(&token, NOW)
                .map_err(|e| TestCaseError::fail(format!("{alg}: {e}")))?;
            prop_assert_eq!(verified.claims(), &claims);
            prop_assert_eq!(verified.alg(), alg);
            prop_assert_eq!(verified.kid(), s.key().kid());
            // The unverified view reads the same claims.
            let seen = dangerous::decode_unverified(&token).expect("decodes");
            prop_assert_eq!(seen.payload.map(Value::Object), Some(claims.clone()));
        }
    }

    #[test]
    fn raw_jws_round_trip_for_every_algorithm(
        payload in vec(any::<u8>(), 0..600),
        typ in prop::option::of(any::<String>()),
        cty in prop::option::of("[a-z/+]{1,20}"),
    ) {
        for (s, v) in signers().iter().zip(verifiers()) {
            let header = Header { typ: typ.clone(), cty: cty.clone(), kid: None };
            let token = sign_jws(s.key(), &header, &payload).expect("sign");
            let verified = v
                .verify_jws(&token)
                .map_err(|e| TestCaseError::fail(format!("{}: {e}", s.key().alg())))?;
            prop_assert_eq!(&verified.payload, &payload);
            prop_assert_eq!(&verified.typ, &typ);
        }
    }
}

#[test]
fn flipping_any_bit_of_a_token_makes_it_fail() {
    // Exhaustive over every byte and bit of one token per algorithm. Flipping the top bit of
    // an ASCII byte gives invalid UTF-8, which cannot even be passed as a &str.
    for ((s, v), token) in signers().iter().zip(verifiers()).zip(tokens()) {
        let alg = s.key().alg();
        v.verify::<Value>(token, NOW).expect("control");
        let mut tried = 0;
        for i in 0..token.len() {
            for bit in 0..8 {
                let mut bytes = token.as_bytes().to_vec();
                bytes[i] ^= 1 << bit;
                let Ok(flipped) = String::from_utf8(bytes) else {
                    continue;
                };
                tried += 1;
                let err = v
                    .verify::<Value>(&flipped, NOW)
                    .expect_err(&format!("{alg}: byte {i} bit {bit} still verifies"));
                assert!(err.kind().is_token_rejection(), "{alg}: {err}");
            }
        }
        assert_eq!(tried, token.len() * 7, "{alg}");
    }
}

/// Applies edits (insert, delete or replace a character at a position) to `token`.
fn mutate(token: &str, edits: &[(Index, u8, char)]) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    for (at, op, c) in edits {
        match op % 3 {
            0 => chars.insert(at.index(chars.len() + 1), *c),
            1 if !chars.is_empty() => {
                chars.remove(at.index(chars.len()));
            }
            _ if !chars.is_empty() => {
                let i = at.index(chars.len());
                chars[i] = *c;
            }
            _ => chars.push(*c),
        }
    }
    chars.into_iter().collect()
}

/// Token-shaped text: base64url segments whose contents are random JSON-ish text, a header
/// naming one of our algorithms or kids, and signatures of plausible lengths.
fn tokenish() -> impl Strategy<Value = String> {
    let alg = prop_oneof![
        prop::sample::select(Algorithm::ALL.to_vec()).prop_map(|a| a.as_str().to_owned()),
        Just("none".to_owned()),
        any::<String>(),
    ];
    let kid = prop::option::of(prop_oneof![
        (0usize..12).prop_map(|i| signers()[i].key().kid().unwrap_or_default().to_owned()),
        any::<String>(),
    ]);
    let header =
        (alg, kid, btree_map("[a-z]{1,5}", json_value(), 0..3)).prop_map(|(alg, kid, extra)| {
            let mut h: Map<String, Value> = extra.into_iter().collect();
            h.insert("alg".into(), alg.into());
            if let Some(kid) = kid {
                h.insert("kid".into(), kid.into());
            }
            Value::Object(h).to_string()
        });
    let jsonish = "([{}\\[\\],:. 0-9a-z\"-]|\\\\u[0-9a-fA-F]{0,4}|\\\\.|true|null|\"exp\"){0,60}";
    let text = prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        jsonish,
        Just(valid_claims().to_string()),
    ];
    let sig = prop_oneof![
        vec(any::<u8>(), 0..80),
        prop::sample::select(vec![32usize, 48, 64, 96, 256, 1024])
            .prop_flat_map(|n| vec(any::<u8>(), n)),
    ];
    (prop_oneof![header, text.clone()], text, sig)
        .prop_map(|(h, p, s)| format!("{}.{}.{}", b64(h), b64(p), b64(s)))
}

/// Checks that every entry point refuses `input` cleanly: an error of a token kind, never a
/// panic, never a key or crypto error.
fn refuse_cleanly(input: &str) -> Result<(), TestCaseError> {
    let token_error = |e: Error| {
        if e.kind().is_token_rejection() {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!("{input:?}: {e}")))
        }
    };
    for v in all_verifiers() {
        if let Err(e) = v.verify::<Value>(input, NOW) {
            token_error(e)?;
        }
        if let Err(e) = v.verify_jws(input) {
            token_error(e)?;
        }
        if let Err(e) = v.verify_detached(input, b"detached") {
            token_error(e)?;
        }
    }
    if let Err(e) = dangerous::decode_unverified(input) {
        token_error(e)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn replacing_any_character_makes_a_token_fail(
        which in 0usize..12,
        at in any::<Index>(),
        c in any::<char>(),
    ) {
        let token = &tokens()[which];
        let i = at.index(token.len());
        prop_assume!(!(c.is_ascii() && token.as_bytes()[i] == c as u8));
        let mut changed = token[..i].to_owned();
        changed.push(c);
        changed.push_str(&token[i + 1..]);
        prop_assert!(verifiers()[which].verify::<Value>(&changed, NOW).is_err());
    }

    #[test]
    fn mutated_tokens_never_verify(
        which in 0usize..12,
        edits in vec((any::<Index>(), any::<u8>(), any::<char>()), 1..5),
    ) {
        let token = &tokens()[which];
        let mutated = mutate(token, &edits);
        prop_assume!(&mutated != token);
        prop_assert!(verifiers()[which].verify::<Value>(&mutated, NOW).is_err());
        refuse_cleanly(&mutated)?;
    }

    #[test]
    fn verify_never_panics_on_arbitrary_input(
        input in prop_oneof![
            any::<String>(),
            vec(any::<u8>(), 0..400).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            "[A-Za-z0-9_.=+/-]{0,400}",
            tokenish(),
        ],
    ) {
        refuse_cleanly(&input)?;
    }
}

/// JWK-shaped JSON with members of random content and plausible sizes, so that random key
/// material reaches the crypto library's import.
fn jwk_like() -> impl Strategy<Value = String> {
    let b64_member = prop_oneof![
        vec(any::<u8>(), 0..70).prop_map(b64),
        prop::sample::select(vec![32usize, 48, 64, 128, 256, 512])
            .prop_flat_map(|n| vec(any::<u8>(), n))
            .prop_map(b64),
        any::<String>(),
    ];
    let pick = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        prop::option::of(prop::sample::select(names))
    };
    (
        pick(&["oct", "RSA", "EC", "OKP", "AKP", ""]),
        pick(&[
            "HS256", "HS512", "RS256", "PS384", "ES256", "ES384", "EdDSA", "none",
        ]),
        pick(&["P-256", "P-384", "Ed25519", "X25519"]),
        pick(&["sig", "enc"]),
        btree_map(
            prop::sample::select(vec![
                "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "k",
            ]),
            b64_member,
            0..8,
        ),
    )
        .prop_map(|(kty, alg, crv, use_, members)| {
            let mut j = Map::new();
            for (name, value) in [("kty", kty), ("alg", alg), ("crv", crv), ("use", use_)] {
                if let Some(v) = value {
                    j.insert(name.into(), v.into());
                }
            }
            for (name, value) in members {
                j.insert(name.into(), value.into());
            }
            Value::Object(j).to_string()
        })
}

/// A real JWK of a shared key with one member's decoded bytes changed.
fn damaged_jwk() -> impl Strategy<Value = String> {
    (0usize..12, any::<Index>(), any::<Index>(), any::<u8>()).prop_map(
        |(which, member, byte, xor)| {
            let jwk: Value =
                serde_json::from_str(&signers()[which].key().to_jwk().to_json()).expect("JWK JSON");
            let mut jwk = jwk.as_object().expect("object").clone();
            let names: Vec<String> = ["x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "k"]
                .iter()
                .filter(|n| jwk.contains_key(**n))
                .map(|n| n.to_string())
                .collect();
            let name = &names[member.index(names.len())];
            let text = jwk[name].as_str().expect("member").to_owned();
            let mut bytes = base64url::decode(text.as_bytes()).expect("b64");
            let i = byte.index(bytes.len());
            bytes[i] ^= xor.max(1);
            jwk.insert(name.clone(), b64(bytes).into());
            Value::Object(jwk).to_string()
        },
    )
}

/// Imports `text` every way a JWK or JWKS can be imported; errors are fine, panics are not.
fn import_everything(text: &str) -> Result<(), TestCaseError> {
    let algs = std::iter::once(None).chain(Algorithm::ALL.into_iter().map(Some));
    match Jwk::from_json(text) {
        Ok(jwk) => {
            for alg in algs {
                let _ = VerifyingKey::from_jwk(&jwk, alg);
                if let Ok(key) = SigningKey::from_jwk(&jwk, alg) {
                    // A key that imports must work.
                    let token = sign_jws(&key, &Header::default(), b"{}").expect("sign");
                    let v = Verifier::new(key.verifying_key().expect("vk"));
                    prop_assert!(v.verify_jws(&token).is_ok(), "{}", text);
                }
            }
            let _ = jwk.thumbprint();
            let _ = jwk.to_public();
            prop_assert!(Jwk::from_json(&jwk.to_json()).is_ok());
        }
        Err(e) => prop_assert_eq!(e.code(), "invalid_key"),
    }
    match JwkSet::from_json(text) {
        Ok(set) => {
            let _ = Verifier::from_jwks(&set, None);
            let _ = Verifier::from_jwks(&set, Some(Algorithm::RS256));
        }
        Err(e) => prop_assert_eq!(e.code(), "invalid_key"),
    }
    for alg in [None, Some(Algorithm::ES256), Some(Algorithm::RS256)] {
        let _ = verifying_key_from_text(text.as_bytes(), alg);
        let _ = signing_key_from_text(text.as_bytes(), alg);
    }
    Ok(())
}

/// `der` as a PEM document with `label`.
fn pem(label: &str, der: &[u8]) -> String {
    let mut body = b64(der).replace('-', "+").replace('_', "/");
    while !body.len().is_multiple_of(4) {
        body.push('=');
    }
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn key_fixtures() -> &'static [(String, Vec<u8>)] {
    static FIXTURES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        [
            ("PRIVATE KEY", "rsa2048-pkcs8.pem"),
            ("RSA PRIVATE KEY", "rsa2048-pkcs1.pem"),
            ("RSA PUBLIC KEY", "rsa2048-pkcs1-public.pem"),
            ("PUBLIC KEY", "rsa2048-spki.pem"),
            ("PRIVATE KEY", "p256-pkcs8.pem"),
            ("EC PRIVATE KEY", "p256-sec1.pem"),
            ("PUBLIC KEY", "p384-spki.pem"),
            ("EC PRIVATE KEY", "p384-sec1.pem"),
            ("PRIVATE KEY", "ed25519-pkcs8.pem"),
            ("PUBLIC KEY", "ed25519-spki.pem"),
        ]
        .into_iter()
        .map(|(label, file)| {
            let der = pem_to_der(&data_file(&format!("keys/{file}")));
            (label.to_owned(), der)
        })
        .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn jwk_parsers_never_panic(
        text in prop_oneof![any::<String>(), jwk_like(), damaged_jwk()],
    ) {
        import_everything(&text)?;
    }

    #[test]
    fn pem_and_der_parsers_never_panic(
        which in any::<Index>(),
        edits in vec((any::<Index>(), any::<u8>()), 0..4),
        cut in prop::option::of(any::<Index>()),
        alg in prop::sample::select(Algorithm::ALL.to_vec()),
    ) {
        let fixtures = key_fixtures();
        let (label, der) = &fixtures[which.index(fixtures.len())];
        let mut der = der.clone();
        for (at, xor) in &edits {
            let i = at.index(der.len());
            der[i] ^= xor;
        }
        if let Some(cut) = cut {
            der.truncate(cut.index(der.len()));
        }
        let _ = SigningKey::from_pkcs8_der(&der, alg);
        let _ = VerifyingKey::from_spki_der(&der, alg);
        let text = pem(label, &der);
        let _ = SigningKey::from_pem(text.as_bytes(), alg);
        let _ = VerifyingKey::from_pem(text.as_bytes(), alg);
        let _ = signing_key_from_text(text.as_bytes(), Some(alg));
    }

    #[test]
    fn base64url_has_exactly_one_encoding(
        bytes in vec(any::<u8>(), 0..100),
        text in "[A-Za-z0-9_-]{0,64}",
    ) {
        let encoded = base64url::encode(&bytes);
        prop_assert_eq!(base64url::decode(encoded.as_bytes()).expect("round trip"), bytes);
        // Whatever decodes re-encodes to the very same text.
        if let Ok(decoded) = base64url::decode(text.as_bytes()) {
            prop_assert_eq!(base64url::encode(&decoded), text);
        }
    }
}

#[test]
fn verify_refuses_the_empty_and_the_tiny() {
    // Edge inputs the random strategies may miss.
    for input in [
        "", ".", "..", "...", "a.b.c", "=.=.=", "\0.\0.\0", "e30.e30.", "e30..AA",
    ] {
        refuse_cleanly(input).expect(input);
        assert!(
            all_verifiers()[0].verify::<Value>(input, NOW).is_err(),
            "{input:?}"
        );
    }
}
