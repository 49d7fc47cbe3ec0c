//! `tessera token encode`.

use serde_json::json;

use crate::{now, Dir};

/// The header and payload of a token, read back with `token decode`.
fn decoded(dir: &Dir, token: &str) -> serde_json::Value {
    dir.run(&["token", "decode", token]).json()
}

#[test]
fn exp_sets_exp_and_iat_from_now() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let before = now();
    let token = dir.encode(&["--key", "k.jwk", "--exp", "15m"]);
    let after = now();
    let claims = &decoded(&dir, &token)["payload"];
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=after).contains(&iat), "{claims}");
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 900);
}

#[test]
fn durations_take_each_unit() {
    let dir = Dir::new();
    dir.generate("k.jwk", "EdDSA", &[]);
    for (exp, secs) in [
        ("0s", 0),
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("14d", 1_209_600),
    ] {
        let token = dir.encode(&["--key", "k.jwk", "--exp", exp]);
        let claims = &decoded(&dir, &token)["payload"];
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        assert_eq!(lifetime, secs, "{exp}");
    }
    for bad in ["15", "1.5h", "-1m", "1h30m", "15min", "soon"] {
        dir.run(&["token", "encode", "--key", "k.jwk", "--exp", bad])
            .fails(2, "invalid_request");
    }
}

#[test]
fn nbf_defaults_to_now_and_takes_a_duration() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let token = dir.encode(&["--key", "k.jwk", "--exp", "1h", "--nbf"]);
    let claims = &decoded(&dir, &token)["payload"];
    assert_eq!(claims["nbf"], claims["iat"]);
    let token = dir.encode(&["--key", "k.jwk", "--nbf", "10m", "--exp", "1h"]);
    let claims = &decoded(&dir, &token)["payload"];
    assert_eq!(
        claims["nbf"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 600
    );
}

#[test]
fn claim_values_are_json_when_they_parse_else_strings() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let token = dir.encode(&[
        "--key",
        "k.jwk",
        "--exp",
        "5m",
        "--claim",
        "sub=u1",
        "--claim",
        "n=5",
        "--claim",
        "a=[1,2]",
        "--claim",
        "ok=true",
        "--claim",
        "o={\"k\":\"v\"}",
        "--claim",
        "digits=\"123\"",
        "--claim",
        "scope=read write",
    ]);
    let claims = dir.verify(&token, &["--key", "k.jwk"]).json();
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["n"], 5);
    assert_eq!(claims["a"], json!([1, 2]));
    assert_eq!(claims["ok"], true);
    assert_eq!(claims["o"], json!({"k": "v"}));
    assert_eq!(claims["digits"], "123");
    assert_eq!(claims["scope"], "read write");
}

#[test]
fn claim_overrides_claims_and_exp_overrides_both() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let token = dir.encode(&[
        "--key",
        "k.jwk",
        "--claims",
        r#"{"sub":"base","iss":"https://issuer.example","exp":1}"#,
        "--claim",
        "sub=override",
        "--exp",
        "5m",
    ]);
    let claims = dir.verify(&token, &["--key", "k.jwk"]).json();
    assert_eq!(claims["sub"], "override");
    assert_eq!(claims["iss"], "https://issuer.example");
    assert!(claims["exp"].as_u64().unwrap() > now());
}

#[test]
fn bad_claims_are_usage_errors() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    for args in [
        &["--claims", "[1,2]"][..],
        &["--claims", "{\"sub\":"],
        &["--claim", "novalue"],
        &["--claim", "=5"],
    ] {
        let mut all = vec!["token", "encode", "--key", "k.jwk"];
        all.extend_from_slice(args);
        dir.run(&all).fails(2, "invalid_request");
    }
}

#[test]
fn header_carries_alg_kid_and_typ() {
    let dir = Dir::new();
    let jwk = dir.generate("k.jwk", "EdDSA", &[]);
    let token = dir.encode(&["--key", "k.jwk", "--exp", "5m"]);
    let header = &decoded(&dir, &token)["header"];
    assert_eq!(header, &json!({"alg": "EdDSA", "kid": jwk["kid"]}));

    let token = dir.encode(&[
        "--key", "k.jwk", "--exp", "5m", "--kid", "other", "--typ", "at+jwt",
    ]);
    let header = &decoded(&dir, &token)["header"];
    assert_eq!(
        header,
        &json!({"alg": "EdDSA", "kid": "other", "typ": "at+jwt"})
    );
}

#[test]
fn missing_exp_is_allowed_with_a_warning() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let run = dir.run(&["token", "encode", "--key", "k.jwk", "--claim", "sub=u1"]);
    let token = run.ok();
    assert!(run.stderr.contains("no exp"), "{run:#?}");
    assert_eq!(decoded(&dir, token)["payload"], json!({"sub": "u1"}));
    // ... and the verifier refuses it, as the warning said.
    dir.verify(token, &["--key", "k.jwk"])
        .fails(1, "invalid_token");
}

#[test]
fn key_must_be_private_and_fit_the_alg() {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &[]);
    let public = dir.run(&["keys", "public", "k.jwk"]);
    dir.write("pub.jwk", &public.stdout);
    dir.run(&["token", "encode", "--key", "pub.jwk", "--exp", "5m"])
        .fails(2, "invalid_key");
    dir.run(&[
        "token", "encode", "--key", "k.jwk", "--alg", "ES384", "--exp", "5m",
    ])
    .fails(2, "invalid_key");
    dir.run(&["token", "encode", "--key", "nope.jwk", "--exp", "5m"])
        .fails(2, "invalid_request");
    dir.run(&[
        "token",
        "encode",
        "--key",
        "k.jwk",
        "--secret-file",
        "s.bin",
        "--exp",
        "5m",
    ])
    .fails(2, "invalid_request");
}

#[test]
fn pem_keys_need_alg_and_have_no_kid() {
    let dir = Dir::new();
    let run = dir.run(&["keys", "generate", "--alg", "PS256", "--pem"]);
    dir.write("k.pem", &run.stdout);
    let no_alg = dir.run(&["token", "encode", "--key", "k.pem", "--exp", "5m"]);
    no_alg.fails(2, "invalid_key");
    assert!(no_alg.stderr.contains("--alg"), "{no_alg:#?}");

    let token = dir.encode(&["--key", "k.pem", "--alg", "PS256", "--exp", "5m"]);
    assert_eq!(decoded(&dir, &token)["header"], json!({"alg": "PS256"}));
    let token = dir.encode(&[
        "--key", "k.pem", "--alg", "PS256", "--exp", "5m", "--kid", "p1",
    ]);
    assert_eq!(
        decoded(&dir, &token)["header"],
        json!({"alg": "PS256", "kid": "p1"})
    );
}

#[test]
fn secret_file_signs_hs256_by_default() {
    let dir = Dir::new();
    dir.write("s.bin", [7u8; 32]);
    let token = dir.encode(&["--secret-file", "s.bin", "--exp", "5m"]);
    assert_eq!(decoded(&dir, &token)["header"], json!({"alg": "HS256"}));
    dir.write("s64.bin", [7u8; 64]);
    let token = dir.encode(&["--secret-file", "s64.bin", "--alg", "HS512", "--exp", "5m"]);
    assert_eq!(decoded(&dir, &token)["header"], json!({"alg": "HS512"}));
}

#[test]
fn short_or_misused_secrets_exit_2() {
    let dir = Dir::new();
    dir.write("short.bin", [7u8; 31]);
    dir.write("s.bin", [7u8; 32]);
    for args in [
        &["--secret-file", "short.bin"][..],
        &["--secret-file", "s.bin", "--alg", "HS384"],
        &["--secret-file", "s.bin", "--alg", "ES256"],
    ] {
        let mut all = vec!["token", "encode", "--exp", "5m"];
        all.extend_from_slice(args);
        dir.run(&all).fails(2, "invalid_key");
    }
    dir.run(&["token", "encode", "--secret-file", "nope.bin"])
        .fails(2, "invalid_request");
}

#[test]
fn secret_ending_in_newline_is_kept_but_warned_about() {
    let dir = Dir::new();
    dir.write("s.txt", format!("{}\n", "x".repeat(32)));
    let run = dir.run(&["token", "encode", "--secret-file", "s.txt", "--exp", "5m"]);
    assert!(run.stderr.contains("newline"), "{run:#?}");
    let token = run.ok();
    dir.write("trimmed.txt", "x".repeat(32));
    dir.verify(token, &["--secret-file", "s.txt"]).ok();
    dir.verify(token, &["--secret-file", "trimmed.txt"])
        .fails(1, "invalid_signature");
}
