//! Claim rules (docs/security.md): `exp`, `nbf`, `iat` with leeway and decimal dates, `iss`, `aud` as a
//! string or an array, `typ`, required claims, registered claims of the wrong JSON type, and
//! the caller's own claims type.

use serde::Deserialize;
use serde_json::{json, Value};
use tessera_jose::{Algorithm, Error, Header, Signer, Verifier, DEFAULT_LEEWAY};

use crate::{forge, hs256, signer, valid_claims, verifier_for, NOW};

fn sign(claims: Value) -> String {
    Signer::new(hs256()).sign(&claims).expect("sign")
}

/// A token whose payload is exactly `payload` (for numbers serde_json would re-spell).
fn sign_text(payload: &str) -> String {
    forge(&hs256(), r#"{"alg":"HS256"}"#, payload)
}

fn verifier() -> Verifier {
    verifier_for(&hs256())
}

fn check(verifier: &Verifier, token: &str, now: u64) -> Result<Value, Error> {
    verifier
        .verify::<Value>(token, now)
        .map(|v| v.into_claims())
}

fn code(verifier: &Verifier, token: &str, now: u64) -> &'static str {
    check(verifier, token, now)
        .expect_err("the token must be refused")
        .code()
}

#[test]
fn exp_is_checked_with_the_leeway() {
    assert_eq!(DEFAULT_LEEWAY, 60);
    let exp = NOW;
    let token = sign(json!({"sub": "u_1", "exp": exp}));
    // RFC 7519 §4.1.4: valid strictly before exp (+ leeway).
    check(&verifier(), &token, exp + DEFAULT_LEEWAY - 1).expect("inside the leeway");
    assert_eq!(
        code(&verifier(), &token, exp + DEFAULT_LEEWAY),
        "token_expired"
    );
    let strict = verifier().with_leeway(0);
    check(&strict, &token, exp - 1).expect("one second before exp");
    assert_eq!(code(&strict, &token, exp), "token_expired");
    let generous = verifier().with_leeway(3600);
    check(&generous, &token, exp + 3599).expect("inside an hour of leeway");
    assert_eq!(code(&generous, &token, exp + 3600), "token_expired");
}

#[test]
fn numeric_dates_may_be_decimals() {
    let strict = verifier().with_leeway(0);
    let token = sign_text(&format!(r#"{{"exp":{NOW}.5}}"#));
    check(&strict, &token, NOW).expect("before exp");
    assert_eq!(code(&strict, &token, NOW + 1), "token_expired");

    let token = sign_text(&format!(r#"{{"exp":{},"nbf":{NOW}.5}}"#, NOW + 900));
    assert_eq!(code(&strict, &token, NOW), "token_not_yet_valid");
    check(&strict, &token, NOW + 1).expect("after nbf");

    // Exponent notation is a number too: 1.7000009e9 is NOW + 900.
    let token = sign_text(r#"{"exp":1.7000009e9,"iat":17e8}"#);
    check(&strict, &token, NOW).expect("before exp");
    assert_eq!(code(&strict, &token, NOW + 900), "token_expired");
}

#[test]
fn out_of_range_dates() {
    // Past the f64 range: not a usable date.
    let token = sign_text(r#"{"exp":1e400}"#);
    assert_eq!(code(&verifier(), &token, NOW), "invalid_token");
    // Negative and zero are dates long past.
    for exp in ["-1", "0", "-1e300"] {
        let token = sign_text(&format!(r#"{{"exp":{exp}}}"#));
        assert_eq!(code(&verifier(), &token, NOW), "token_expired", "{exp}");
    }
    let token = sign_text(r#"{"exp":1e300}"#);
    check(&verifier(), &token, u64::MAX).expect("far future");
}

#[test]
fn exp_is_required_unless_allowed_missing() {
    let token = sign(json!({"sub": "u_1"}));
    assert_eq!(code(&verifier(), &token, NOW), "invalid_token");
    let lenient = verifier().allow_missing_exp();
    check(&lenient, &token, NOW).expect("exp optional");
    // Optional does not mean ignored.
    let expired = sign(json!({"sub": "u_1", "exp": NOW - 3600}));
    assert_eq!(code(&lenient, &expired, NOW), "token_expired");
}

#[test]
fn nbf_is_checked_with_the_leeway() {
    let token = sign(json!({"exp": NOW + 3600, "nbf": NOW + DEFAULT_LEEWAY}));
    check(&verifier(), &token, NOW).expect("nbf within the leeway");
    let token = sign(json!({"exp": NOW + 3600, "nbf": NOW + DEFAULT_LEEWAY + 1}));
    assert_eq!(code(&verifier(), &token, NOW), "token_not_yet_valid");
    check(&verifier(), &token, NOW + 1).expect("a second later");
    let token = sign(json!({"exp": NOW + 3600, "nbf": NOW - 3600}));
    check(&verifier().with_leeway(0), &token, NOW).expect("nbf in the past");
}

#[test]
fn iat_in_the_future_is_refused() {
    let token = sign(json!({"exp": NOW + 3600, "iat": NOW + DEFAULT_LEEWAY + 1}));
    assert_eq!(code(&verifier(), &token, NOW), "token_not_yet_valid");
    let token = sign(json!({"exp": NOW + 3600, "iat": NOW + DEFAULT_LEEWAY}));
    check(&verifier(), &token, NOW).expect("iat within the leeway");
    let token = sign(json!({"exp": NOW + 3600, "iat": 0}));
    check(&verifier(), &token, NOW).expect("iat long ago");
}

#[test]
fn issuer_is_checked_when_configured() {
    let verifier = verifier()
        .with_issuer("https://a.example")
        .with_issuer("https://b.example");
    for iss in ["https://a.example", "https://b.example"] {
        let token = sign(json!({"exp": NOW + 900, "iss": iss}));
        check(&verifier, &token, NOW).expect(iss);
    }
    // JSON escapes are decoded before comparing.
    let token = sign_text(&format!(
        r#"{{"exp":{},"iss":"https:\/\/a.example"}}"#,
        NOW + 900
    ));
    check(&verifier, &token, NOW).expect("escaped slashes");
    let token = sign(json!({"exp": NOW + 900, "iss": "https://c.example"}));
    assert_eq!(code(&verifier, &token, NOW), "invalid_issuer");
    // Unconfigured: any issuer.
    check(&crate::claims::verifier(), &token, NOW).expect("no issuer rule");
}

#[test]
fn audience_may_be_a_string_or_an_array() {
    let verifier = verifier().with_audience("api").with_audience("admin");
    for aud in [
        json!("api"),
        json!("admin"),
        json!(["api"]),
        json!(["other", "admin"]),
    ] {
        let token = sign(json!({"exp": NOW + 900, "aud": aud}));
        check(&verifier, &token, NOW).unwrap_or_else(|e| panic!("{aud}: {e}"));
    }
    for aud in [json!("apis"), json!(["other"]), json!([])] {
        let token = sign(json!({"exp": NOW + 900, "aud": aud}));
        assert_eq!(code(&verifier, &token, NOW), "invalid_audience", "{aud}");
    }
    // Unconfigured: any audience, but still of the right type.
    let token = sign(json!({"exp": NOW + 900, "aud": ["x", "y"]}));
    check(&crate::claims::verifier(), &token, NOW).expect("no audience rule");
}

#[test]
fn registered_claims_of_the_wrong_type_are_refused() {
    // Type errors are reported whether or not the verifier checks the claim's value.
    let plain = verifier();
    let configured = verifier().with_issuer("i").with_audience("a");
    // Every registered claim of the right type is accepted, by both.
    let right = json!({
        "sub": "u_1", "jti": "t_1", "iss": "i", "aud": ["b", "a"],
        "exp": NOW + 900, "nbf": NOW, "iat": NOW,
    });
    check(&plain, &sign(right.clone()), NOW).expect("right types");
    check(&configured, &sign(right), NOW).expect("right types");
    for (name, value) in [
        ("exp", json!("1700000900")),
        ("exp", json!(null)),
        ("exp", json!(true)),
        ("exp", json!([1_700_000_900])),
        ("exp", json!({"t": 1_700_000_900})),
        ("nbf", json!("0")),
        ("nbf", json!(null)),
        ("iat", json!("0")),
        ("iat", json!(false)),
        ("iss", json!(1)),
        ("iss", json!(["i"])),
        ("iss", json!(null)),
        ("sub", json!(1)),
        ("sub", json!(null)),
        ("jti", json!(7)),
        ("aud", json!(1)),
        ("aud", json!(["a", 1])),
        ("aud", json!({"a": true})),
        ("aud", json!(null)),
    ] {
        let mut claims = json!({"sub": "u_1", "exp": NOW + 900, "iss": "i", "aud": "a"});
        claims[name] = value.clone();
        let token = sign(claims);
        assert_eq!(
            code(&plain, &token, NOW),
            "invalid_token",
            "{name}: {value}"
        );
        assert_eq!(
            code(&configured, &token, NOW),
            "invalid_token",
            "{name}: {value}"
        );
    }
    // Only top-level members are registered claims.
    let token = sign(json!({"exp": NOW + 900, "ctx": {"exp": "x", "iss": 5, "aud": 1}}));
    assert_eq!(
        code(&configured, &token, NOW),
        "invalid_issuer",
        "no iss at the top"
    );
    check(&plain, &token, NOW).expect("nested names are not claims");
}

#[test]
fn typ_is_checked_when_configured() {
    let key = hs256();
    let at_jwt = Signer::new(hs256()).with_typ("at+jwt");
    let token = at_jwt.sign(&valid_claims()).expect("sign");
    for want in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        check(&verifier().with_typ(want), &token, NOW).expect(want);
    }
    let verifier = verifier().with_typ("at+jwt");
    let id_token = Signer::new(hs256()).with_typ("JWT").sign(&valid_claims());
    assert_eq!(
        code(&verifier, &id_token.expect("sign"), NOW),
        "invalid_token"
    );
    let untyped = Signer::new(hs256()).sign(&valid_claims()).expect("sign");
    assert_eq!(code(&verifier, &untyped, NOW), "invalid_token");
    // typ must be a string even when nobody asks for it.
    let token = forge(
        &key,
        r#"{"alg":"HS256","typ":1}"#,
        &valid_claims().to_string(),
    );
    assert_eq!(
        code(&crate::claims::verifier(), &token, NOW),
        "malformed_token"
    );
}

#[test]
fn required_claims_must_be_present() {
    let verifier = verifier().require("sid").require("scope");
    let token = sign(json!({"exp": NOW + 900, "sid": "s_1"}));
    assert_eq!(code(&verifier, &token, NOW), "invalid_token");
    // Any JSON type counts as present for a custom claim, null included.
    let token = sign(json!({"exp": NOW + 900, "sid": "s_1", "scope": null}));
    check(&verifier, &token, NOW).expect("both present");
    // The most a verifier can require is 64 names (a bit set): all of them are checked.
    let mut verifier = crate::claims::verifier();
    let mut claims = json!({"exp": NOW + 900});
    for i in 0..64 {
        verifier = verifier.require(format!("c{i}"));
        claims[format!("c{i}")] = json!(i);
    }
    check(&verifier, &sign(claims.clone()), NOW).expect("all 64 present");
    claims
        .as_object_mut()
        .expect("object")
        .remove("c63")
        .expect("c63");
    assert_eq!(code(&verifier, &sign(claims), NOW), "invalid_token");
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // read through Debug only
struct AccessClaims {
    sub: String,
    sid: String,
    exp: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Closed {
    sub: String,
    exp: u64,
}

#[test]
fn claims_must_fit_the_callers_type() {
    let verifier = verifier();
    let token = sign(json!({"sub": "u_1", "sid": "s_1", "exp": NOW + 900}));
    let verified = verifier
        .verify::<AccessClaims>(&token, NOW)
        .expect("fits the type");
    assert_eq!(verified.claims().sid, "s_1");
    assert_eq!(verified.alg(), Algorithm::HS256);

    for claims in [
        json!({"sub": "u_1", "exp": NOW + 900}),
        json!({"sub": "u_1", "sid": 5, "exp": NOW + 900}),
        // A decimal exp is valid JWT but not a u64: the caller's type decides.
        json!({"sub": "u_1", "sid": "s", "exp": (NOW + 900) as f64 + 0.5}),
    ] {
        let token = sign(claims.clone());
        let err = verifier
            .verify::<AccessClaims>(&token, NOW)
            .expect_err("does not fit");
        assert_eq!(err.code(), "invalid_token", "{claims}");
    }
    let token = sign(json!({"sub": "u_1", "exp": NOW + 900, "extra": 1}));
    let err = verifier
        .verify::<Closed>(&token, NOW)
        .expect_err("unknown field");
    assert_eq!(err.code(), "invalid_token");
}

#[test]
fn verified_reports_the_key_that_verified() {
    let es = signer(Algorithm::ES256);
    let verifier = verifier_for(es.key());
    let token = es.sign(&valid_claims()).expect("sign");
    let verified = verifier.verify::<Value>(&token, NOW).expect("verifies");
    assert_eq!(verified.alg(), Algorithm::ES256);
    assert_eq!(verified.kid(), es.key().kid());
    assert!(verified.kid().is_some());
    // The raw API reports the header's typ.
    let signed = tessera_jose::sign_jws(
        &hs256(),
        &Header {
            typ: Some("at+jwt".into()),
            ..Header::default()
        },
        b"{}",
    )
    .expect("sign");
    let raw = crate::claims::verifier()
        .verify_jws(&signed)
        .expect("raw verifies");
    assert_eq!(raw.typ.as_deref(), Some("at+jwt"));
}
