//! `Verifier::verify` reads the payload in one pass (strict scan, claim reads and serde
//! together). Its answers must be those of the two passes it replaced: the claim checks of
//! `verify_raw`, then `serde_json::from_slice` into the caller's type. Every test here runs
//! both on the same token and compares value, error code and detail; the payloads are the
//! ones a parser gets wrong (duplicates, escapes, numbers at the edges, wrong claim types,
//! depth, bad UTF-8, trailing data).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::Value;
use tessera_jose::Verifier;

use crate::{b64, forge_segments, hs256, verifier_for, NOW};

/// A token whose payload is exactly these bytes.
fn token(payload: &[u8]) -> String {
    forge_segments(&hs256(), &b64(r#"{"alg":"HS256"}"#), &b64(payload))
}

/// What the two passes answered: `verify_raw`'s checks, then serde_json into `C`.
fn two_pass<C: DeserializeOwned>(
    v: &Verifier,
    token: &str,
) -> Result<C, (&'static str, &'static str)> {
    let read = v
        .verify_raw(token, NOW, |c| serde_json::from_slice::<C>(c.json()).ok())
        .map_err(|e| (e.code(), e.detail()))?;
    read.into_claims()
        .ok_or(("invalid_token", "claims do not match the expected type"))
}

fn same<C: DeserializeOwned + PartialEq + Debug>(v: &Verifier, payload: &[u8]) {
    let t = token(payload);
    let one = v
        .verify::<C>(&t, NOW)
        .map(|v| v.into_claims())
        .map_err(|e| (e.code(), e.detail()));
    let text = String::from_utf8_lossy(payload);
    assert_eq!(
        one,
        two_pass::<C>(v, &t),
        "{} <- {text}",
        std::any::type_name::<C>()
    );
}

const EXP: u64 = NOW + 900;

/// Payloads around the edges, each with a valid exp unless the case is about exp.
fn corpus() -> Vec<Vec<u8>> {
    let e = EXP;
    let mut docs: Vec<String> = vec![
        format!(r#"{{"exp":{e}}}"#),
        format!(r#"{{"sub":"u_1","sid":"s_1","exp":{e},"n":-5,"f":1.5,"b":true,"z":null}}"#),
        format!(r#" {{ "sub" : "u_1" , "exp" : {e} }} "#),
        format!("{{\n\t\"exp\":{e},\r\n\"sub\":\"x\"}}"),
        // Duplicates, plain and escaped, top-level and nested.
        format!(r#"{{"exp":{e},"exp":{e}}}"#),
        format!(r#"{{"exp":{e},"\u0065xp":{e}}}"#),
        format!(r#"{{"exp":{e},"sub":"a","s\u0075b":"b"}}"#),
        format!(r#"{{"exp":{e},"ctx":{{"a":1,"a":2}}}}"#),
        format!(r#"{{"exp":{e},"ctx":[{{"a":1}},{{"a":1,"a":1}}]}}"#),
        // Escaped names and values.
        format!(r#"{{"\u0065xp":{e},"s\u0069d":"s\"1","sub":"\u00e9\ud83d\ude00"}}"#),
        format!(r#"{{"exp":{e},"sub":"a\/b\\c\n"}}"#),
        format!(r#"{{"exp":{e},"sub":"\ud800"}}"#),
        format!(r#"{{"exp":{e},"sid":"\ud800"}}"#),
        format!(r#"{{"exp":{e},"\ud800":1}}"#),
        // Numbers at the edges of u64, i64 and f64.
        format!(r#"{{"exp":{e},"n":18446744073709551615}}"#),
        format!(r#"{{"exp":{e},"n":18446744073709551616}}"#),
        format!(r#"{{"exp":{e},"n":-9223372036854775808}}"#),
        format!(r#"{{"exp":{e},"n":-9223372036854775809}}"#),
        format!(r#"{{"exp":{e},"n":9999999999999999999}}"#),
        format!(r#"{{"exp":{e},"n":123456789012345678901234567890}}"#),
        format!(r#"{{"exp":{e},"n":-0}}"#),
        format!(r#"{{"exp":{e},"n":-0.0}}"#),
        format!(r#"{{"exp":{e},"n":1E2,"m":1e-2,"o":2.5e+3}}"#),
        // Nines beside a fraction or an exponent: a digit test that let '.' or 'e' through
        // would read these as integers.
        format!(r#"{{"exp":{e},"n":9e9,"m":-99.9,"o":9E-9}}"#),
        format!(r#"{{"exp":{e},"n":1e400}}"#),
        format!(r#"{{"exp":{e},"n":0.1000000000000000055511151231257827}}"#),
        r#"{"exp":1e400}"#.to_owned(),
        r#"{"exp":1.7000009e9}"#.to_owned(),
        r#"{"exp":1700000900.5}"#.to_owned(),
        r#"{"exp":17000009000000000000000}"#.to_owned(),
        r#"{"exp":-1}"#.to_owned(),
        // Registered claims of the wrong type, and claim rules.
        r#"{"exp":"1700000900"}"#.to_owned(),
        format!(r#"{{"exp":{e},"sub":1}}"#),
        format!(r#"{{"exp":{e},"iss":["i"]}}"#),
        format!(r#"{{"exp":{e},"aud":["a",1]}}"#),
        format!(r#"{{"exp":{e},"aud":["a","api"],"iss":"i"}}"#),
        format!(r#"{{"exp":{e},"aud":"api","iss":"i"}}"#),
        format!(r#"{{"exp":{e},"aud":"other","iss":"i"}}"#),
        format!(r#"{{"exp":{e},"nbf":{}}}"#, NOW + 3600),
        format!(r#"{{"exp":{e},"iat":{}}}"#, NOW + 3600),
        format!(r#"{{"exp":{},"sub":"u_1"}}"#, NOW - 3600),
        r#"{"sub":"u_1"}"#.to_owned(),
        // Shapes the caller's type may or may not take.
        format!(r#"{{"exp":{e},"role":"admin","roles":["admin","user"]}}"#),
        format!(r#"{{"exp":{e},"role":{{"Other":1}}}}"#),
        format!(r#"{{"exp":{e},"map":{{"1":true,"2":false}},"t":[1,"x"]}}"#),
        format!(r#"{{"exp":{e},"map":{{"x":true}}}}"#),
        format!(r#"{{"exp":{e},"c":"ab","u":null}}"#),
        format!(r#"{{"exp":{e},"sub":"u_1","sid":"s_1"}}"#),
        // Grammar.
        format!(r#"{{"exp":{e},}}"#),
        format!(r#"{{"exp":{e}}}x"#),
        format!(r#"{{"exp":{e}}} "#),
        format!(r#"{{"exp":{e},"a":[1,]}}"#),
        format!(r#"{{"exp":{e},"a":01}}"#),
        format!(r#"{{"exp":{e},"a":tru}}"#),
        format!(r#"[{{"exp":{e}}}]"#),
        "{}".to_owned(),
        String::new(),
        "null".to_owned(),
        format!(r#""{{\"exp\":{e}}}""#),
    ];
    // Depth: 32 levels are fine, 33 are not.
    for depth in [31usize, 32] {
        docs.push(format!(
            r#"{{"exp":{e},"d":{}1{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        ));
    }
    let mut docs: Vec<Vec<u8>> = docs.into_iter().map(String::into_bytes).collect();
    // Bytes that are not UTF-8, in a value and in a name.
    docs.push(format!("{{\"exp\":{e},\"sub\":\"\u{e9}\"}}").into_bytes());
    docs.push(b"{\"exp\":1700000900,\"sub\":\"\xff\"}".to_vec());
    docs.push(b"{\"exp\":1700000900,\"\xc3\x28\":1}".to_vec());
    docs.push(b"{\"exp\":1700000900,\"sub\":\"a\x01\"}".to_vec());
    docs
}

#[derive(Debug, PartialEq, Deserialize)]
struct Access {
    sub: String,
    sid: String,
    exp: u64,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Loose {
    exp: f64,
    sub: Option<String>,
    n: Option<i64>,
    f: Option<f32>,
    b: Option<bool>,
    z: Option<()>,
    c: Option<char>,
    u: Option<Option<u8>>,
    big: Option<u128>,
    #[serde(default)]
    aud: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    Admin,
    User,
    Other(u8),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Roles {
    role: Role,
    #[serde(default)]
    roles: Vec<Role>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Closed {
    exp: u64,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Flattened {
    exp: u64,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Either {
    Access(Access),
    Any(Value),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Keys {
    map: BTreeMap<u32, bool>,
    t: (u8, String),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Wrapped(Access);

/// A unit struct can only read `null`; a payload is never that.
#[derive(Debug, PartialEq, Deserialize)]
struct Unit;

#[derive(Debug, PartialEq)]
struct Ignored;

impl<'de> Deserialize<'de> for Ignored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Ignored)
    }
}

#[test]
fn one_pass_answers_as_the_two_passes_did() {
    let verifiers = [
        verifier_for(&hs256()),
        verifier_for(&hs256())
            .with_issuer("i")
            .with_audience("api")
            .require("sub"),
        verifier_for(&hs256()).allow_missing_exp().with_leeway(0),
    ];
    for v in &verifiers {
        for doc in corpus() {
            same::<Value>(v, &doc);
            same::<HashMap<String, Value>>(v, &doc);
            same::<Access>(v, &doc);
            same::<Option<Access>>(v, &doc);
            same::<Loose>(v, &doc);
            same::<Roles>(v, &doc);
            same::<Closed>(v, &doc);
            same::<Flattened>(v, &doc);
            same::<Either>(v, &doc);
            same::<Keys>(v, &doc);
            same::<Wrapped>(v, &doc);
            same::<Unit>(v, &doc);
            same::<Ignored>(v, &doc);
            same::<String>(v, &doc);
            same::<Vec<Value>>(v, &doc);
        }
    }
}

#[test]
fn one_pass_keeps_every_strict_refusal() {
    let v = verifier_for(&hs256());
    let e = EXP;
    let refused = |payload: &str| {
        v.verify::<Value>(&token(payload.as_bytes()), NOW)
            .expect_err(payload)
            .detail()
    };
    assert_eq!(
        refused(&format!(r#"{{"exp":{e},"\u0065xp":{e}}}"#)),
        "duplicate JSON member name"
    );
    assert_eq!(
        refused(&format!(r#"{{"exp":{e},"a":{{"b":[{{"c":1,"c":2}}]}}}}"#)),
        "duplicate JSON member name"
    );
    assert_eq!(
        refused(&format!(
            r#"{{"exp":{e},"d":{}{}}}"#,
            "[".repeat(32),
            "]".repeat(32)
        )),
        "JSON nested too deeply"
    );
    assert_eq!(
        refused(&format!(r#"{{"exp":{e},"sub":1}}"#)),
        "sub must be a string"
    );
    assert_eq!(refused(r#"{"exp":1e400}"#), "exp must be a number");
    assert_eq!(
        refused(&format!(r#"{{"exp":{e}}} x"#)),
        "trailing data after JSON"
    );
    // A claim rule is reported before a mismatch with the caller's type.
    let late = token(format!(r#"{{"exp":{}}}"#, NOW - 3600).as_bytes());
    let err = v.verify::<Access>(&late, NOW).expect_err("expired");
    assert_eq!(err.code(), "token_expired");
    // Ignoring the whole payload still scans it.
    let dup = token(format!(r#"{{"exp":{e},"a":{{"b":1,"b":1}}}}"#).as_bytes());
    let err = v.verify::<IgnoredAny>(&dup, NOW).expect_err("duplicate");
    assert_eq!(err.detail(), "duplicate JSON member name");
}

/// JSON text from a small vocabulary, so duplicate names, escaped names, claims of every
/// type and numbers at the edges meet often; written by hand (not by serde_json) so the
/// text can be anything the vocabulary spells.
fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    const NAMES: [&str; 9] = [
        r#""exp""#,
        r#""\u0065xp""#,
        r#""sub""#,
        r#""sid""#,
        r#""aud""#,
        r#""iss""#,
        r#""nbf""#,
        r#""a""#,
        r#""\u00e9""#,
    ];
    const LEAVES: [&str; 18] = [
        "1700000900",
        "1700000000",
        "0",
        "-0",
        "1.5",
        "1e400",
        "-9223372036854775809",
        "18446744073709551616",
        "true",
        "null",
        r#""x""#,
        r#""api""#,
        r#""i""#,
        r#""\u00e9""#,
        r#""\ud800""#,
        r#""a\"b""#,
        "[]",
        "{}",
    ];
    let leaf = proptest::sample::select(&LEAVES[..]).prop_map(str::to_owned);
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((proptest::sample::select(&NAMES[..]), inner), 0..4)
                .prop_map(|m| object(&m)),
        ]
    });
    (
        any::<bool>(),
        proptest::collection::vec((proptest::sample::select(&NAMES[..]), value), 0..6),
    )
        .prop_map(|(with_exp, mut members)| {
            if with_exp {
                members.insert(0, (r#""exp""#, EXP.to_string()));
            }
            object(&members)
        })
}

fn object(members: &[(&str, String)]) -> String {
    let inner: Vec<String> = members.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{{{}}}", inner.join(","))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn one_pass_matches_the_two_passes_on_generated_payloads(text in json_text()) {
        let v = verifier_for(&hs256()).with_audience("api");
        same::<Value>(&v, text.as_bytes());
        same::<Access>(&v, text.as_bytes());
        same::<Loose>(&v, text.as_bytes());
        same::<Flattened>(&v, text.as_bytes());
    }
}

/// The verifier knows the exact header its keys' own signer writes and skips reading it
/// again; the same header spelled another way (members reordered, spaces) must get the same
/// answer, for every rule the header takes part in: kid choice, alg, typ, signature.
#[test]
fn a_header_known_in_advance_is_answered_as_any_other() {
    use tessera_jose::{Algorithm, Signer, SigningKey};

    let a = SigningKey::generate(Algorithm::HS256)
        .expect("key")
        .with_kid("a");
    let b = SigningKey::generate(Algorithm::HS256)
        .expect("key")
        .with_kid("b");
    let vk = |k: &SigningKey| k.verifying_key().expect("vk");
    let verifiers = [
        Verifier::new(vk(&a)),
        Verifier::new(vk(&a)).with_typ("at+jwt"),
        Verifier::explicit(vk(&a)).with_typ("at+jwt"),
        Verifier::with_keys(vec![vk(&a), vk(&b)]).with_typ("at+jwt"),
        Verifier::with_keys(vec![vk(&b)]),
    ];
    let claims = format!(r#"{{"sub":"u_1","exp":{EXP}}}"#);
    for key in [&a, &b] {
        for typ in [None, Some("at+jwt"), Some("JWT")] {
            let copy = SigningKey::from_jwk(&key.to_jwk(), Some(Algorithm::HS256))
                .expect("re-import")
                .with_kid(key.kid().expect("kid"));
            let signer = match typ {
                Some(t) => Signer::new(copy).with_typ(t),
                None => Signer::new(copy),
            };
            let ours = signer
                .sign(&serde_json::from_str::<Value>(&claims).expect("json"))
                .expect("sign");
            // The same header, respelled: kid first, then typ, then alg, with spaces.
            let kid = key.kid().expect("kid");
            let header = match typ {
                Some(t) => format!(r#"{{ "kid":"{kid}", "typ":"{t}", "alg":"HS256" }}"#),
                None => format!(r#"{{ "kid":"{kid}", "alg":"HS256" }}"#),
            };
            let respelled = crate::forge(key, &header, &claims);
            // And our header with another key's signature (same kid, wrong secret).
            let other = SigningKey::generate(Algorithm::HS256)
                .expect("key")
                .with_kid(kid);
            let (input, _) = ours.rsplit_once('.').expect("three segments");
            let forged = format!("{input}.{}", crate::raw_signature(&other, input.as_bytes()));
            let forged_respelled = crate::forge(&other, &header, &claims);
            for (i, v) in verifiers.iter().enumerate() {
                let answer = |t: &str| {
                    v.verify::<Value>(t, NOW)
                        .map(|ok| (ok.kid().map(str::to_owned), ok.into_claims()))
                        .map_err(|e| (e.code(), e.detail()))
                };
                assert_eq!(
                    answer(&ours),
                    answer(&respelled),
                    "{kid} {typ:?} verifier {i}"
                );
                // Signed with the wrong secret: refused alike, known header or not.
                let code = |t: &str| answer(t).map(|_| ()).map_err(|e| e.0);
                assert_eq!(code(&forged), code(&forged_respelled), "{kid} {typ:?} {i}");
                assert!(code(&forged).is_err());
                // The raw API too (payload compared as JSON: the signer writes its own order).
                let raw = |t: &str| {
                    v.verify_jws(t)
                        .map(|j| {
                            (
                                j.kid,
                                j.typ,
                                serde_json::from_slice::<Value>(&j.payload).ok(),
                            )
                        })
                        .map_err(|e| e.code())
                };
                assert_eq!(raw(&ours), raw(&respelled), "{kid} {typ:?}");
            }
        }
    }
}
