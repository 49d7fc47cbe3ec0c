//! `Verifier::verify_raw`: the same checks as `verify`, the payload read without serde.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::json;
use tessera_jose::Algorithm;

use crate::{forge, hs256, signer, verifier_for, NOW};

#[test]
fn verify_raw_applies_every_check_of_verify() {
    let key = signer(Algorithm::ES256).key();
    let v = verifier_for(key).with_audience("api").with_typ("at+jwt");
    let sign = |claims: serde_json::Value, typ: &str| {
        tessera_jose::Signer::new(
            tessera_jose::SigningKey::from_jwk(&key.to_jwk(), None).expect("key"),
        )
        .with_typ(typ)
        .sign(&claims)
        .expect("sign")
    };
    let good = sign(json!({"aud": "api", "exp": NOW + 60, "sid": "s"}), "at+jwt");
    let cases = [
        (
            sign(json!({"aud": "api", "exp": NOW - 3600}), "at+jwt"),
            "token_expired",
        ),
        (
            sign(json!({"aud": "web", "exp": NOW + 60}), "at+jwt"),
            "invalid_audience",
        ),
        (
            sign(json!({"aud": "api", "exp": NOW + 60}), "JWT"),
            "invalid_token",
        ),
        (sign(json!({"aud": "api"}), "at+jwt"), "invalid_token"),
        (format!("{}x", &good[..good.len() - 1]), "invalid_signature"),
    ];
    for (token, code) in cases {
        let raw = v.verify_raw(&token, NOW, |_| ()).expect_err(code).code();
        let typed = v
            .verify::<serde_json::Value>(&token, NOW)
            .expect_err(code)
            .code();
        assert_eq!((raw, typed), (code, code));
    }
    let ok = v
        .verify_raw(&good, NOW, |c| c.json().to_vec())
        .expect("valid");
    assert_eq!(ok.alg(), Algorithm::ES256);
    let payload: serde_json::Value = serde_json::from_slice(ok.claims()).expect("JSON");
    assert_eq!(payload["sid"], "s");
}

#[test]
fn raw_claims_read_top_level_strings_only() {
    let key = hs256();
    let token = forge(
        &key,
        r#"{"alg":"HS256"}"#,
        &format!(
            r#"{{"exp":{},"sid":"ses_\u0031","n":5,"o":{{"sid":"inner"}},"plain":"a\"b"}}"#,
            NOW + 60
        ),
    );
    let v = verifier_for(&key);
    let read = |name: &'static str| {
        v.verify_raw(&token, NOW, |c| c.string(name).map(|s| s.into_owned()))
            .expect("valid")
            .into_claims()
    };
    assert_eq!(read("sid").as_deref(), Some("ses_1"));
    assert_eq!(read("plain").as_deref(), Some("a\"b"));
    assert_eq!(read("n"), None, "a number is not a string");
    assert_eq!(read("o"), None, "an object is not a string");
    assert_eq!(read("inner"), None);
    assert_eq!(read("missing"), None);
    let raw = |name: &'static str| {
        v.verify_raw(&token, NOW, |c| c.raw(name).map(<[u8]>::to_vec))
            .expect("valid")
            .into_claims()
    };
    assert_eq!(raw("o").as_deref(), Some(&br#"{"sid":"inner"}"#[..]));
    assert_eq!(raw("n").as_deref(), Some(&b"5"[..]));
    assert_eq!(raw("sid").as_deref(), Some(&br#""ses_\u0031""#[..]));
    assert_eq!(raw("missing"), None);
}

/// Arbitrary JSON, strings with any characters (escapes included).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[\"\\\\{}\\[\\],: ]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every top-level member reads as what serde_json reads, compact or pretty-printed.
    #[test]
    fn raw_claims_read_what_serde_reads(
        members in btree_map("[a-z]{1,6}|\\PC{1,6}|[\"\\\\]{1,3}", json_value(), 0..8),
        pretty in any::<bool>(),
    ) {
        let mut claims: serde_json::Map<String, serde_json::Value> = members.into_iter().collect();
        claims.insert("exp".into(), (NOW + 60).into());
        for registered in ["iss", "aud", "sub", "jti", "nbf", "iat"] {
            claims.remove(registered);
        }
        let payload = if pretty {
            serde_json::to_string_pretty(&claims).expect("JSON")
        } else {
            serde_json::to_string(&claims).expect("JSON")
        };
        let key = hs256();
        let token = forge(&key, r#"{"alg":"HS256"}"#, &payload);
        let v = verifier_for(&key);
        for (name, value) in &claims {
            let read = v
                .verify_raw(&token, NOW, |c| c.string(name).map(|s| s.into_owned()))
                .expect("valid")
                .into_claims();
            prop_assert_eq!(read.as_deref(), value.as_str(), "member {:?}", name);
        }
    }
}
