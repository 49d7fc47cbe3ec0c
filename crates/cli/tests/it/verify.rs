//! `tessera token verify`: exit 0 and the claims, or exit 1 and `code: description`.

use serde_json::json;
use tessera_jose::base64url;

use crate::{data, Dir};

/// A directory with an ES256 key `k.jwk` (kid `k1`) and a token it signed.
fn signed(extra: &[&str]) -> (Dir, String) {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &["--kid", "k1"]);
    let mut args = vec!["--key", "k.jwk", "--exp", "15m", "--claim", "sub=u1"];
    args.extend_from_slice(extra);
    let token = dir.encode(&args);
    (dir, token)
}

#[test]
fn valid_token_prints_its_claims() {
    let (dir, token) = signed(&["--claim", "sid=s1"]);
    let run = dir.verify(&token, &["--key", "k.jwk"]);
    let claims = run.json();
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["sid"], "s1");
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stderr.is_empty(), "{run:#?}");
}

#[test]
fn token_from_standard_input() {
    let (dir, token) = signed(&[]);
    let run = dir.run_with_stdin(
        &["token", "verify", "-", "--key", "k.jwk"],
        &format!("{token}\n"),
    );
    assert_eq!(run.json()["sub"], "u1");
}

#[test]
fn public_key_and_public_pem_verify() {
    let (dir, token) = signed(&[]);
    dir.write("pub.jwk", dir.run(&["keys", "public", "k.jwk"]).stdout);
    dir.write(
        "pub.pem",
        dir.run(&["keys", "public", "k.jwk", "--pem"]).stdout,
    );
    dir.verify(&token, &["--key", "pub.jwk"]).ok();
    dir.verify(&token, &["--key", "pub.pem", "--alg", "ES256"])
        .ok();
    // A P-256 key is for ES256: the curve names the algorithm.
    dir.verify(&token, &["--key", "pub.pem"]).ok();
}

/// An RSA key fits six algorithms: verifying with an RSA PEM key needs --alg.
#[test]
fn rsa_pem_needs_alg_to_verify() {
    let dir = Dir::new();
    let private = data("openssl-rsa2048-pkcs1.pem");
    let public = data("openssl-rsa2048-public.pem");
    let token = dir.encode(&["--key", &private, "--alg", "PS256", "--exp", "5m"]);
    for key in [&private, &public] {
        let run = dir.verify(&token, &["--key", key]);
        run.fails(2, "invalid_key");
        assert!(run.stderr.contains("pass --alg"), "{run:#?}");
        dir.verify(&token, &["--key", key, "--alg", "PS256"]).ok();
        dir.verify(&token, &["--key", key, "--alg", "RS256"])
            .fails(1, "algorithm_mismatch");
    }
}

#[test]
fn expired_token_exits_1_with_token_expired() {
    let (dir, _) = signed(&[]);
    let token = dir.encode(&["--key", "k.jwk", "--exp", "0s"]);
    // Within the default 60 s leeway it still passes; without leeway it is expired.
    dir.verify(&token, &["--key", "k.jwk"]).ok();
    dir.verify(&token, &["--key", "k.jwk", "--leeway", "0"])
        .fails(1, "token_expired");
    dir.verify(&token, &["--key", "k.jwk", "--leeway", "0s"])
        .fails(1, "token_expired");

    let old = dir.encode(&["--key", "k.jwk", "--claims", r#"{"exp":1000000000}"#]);
    dir.verify(&old, &["--key", "k.jwk"])
        .fails(1, "token_expired");
}

#[test]
fn token_not_yet_valid_exits_1() {
    let (dir, token) = signed(&["--nbf", "1h"]);
    dir.verify(&token, &["--key", "k.jwk"])
        .fails(1, "token_not_yet_valid");
    dir.verify(&token, &["--key", "k.jwk", "--leeway", "2h"])
        .ok();
}

#[test]
fn wrong_key_is_refused() {
    let (dir, token) = signed(&[]);
    // Another key with another kid: the key given is the key, and its signature fails.
    dir.generate("other.jwk", "ES256", &[]);
    dir.verify(&token, &["--key", "other.jwk"])
        .fails(1, "invalid_signature");
    // Another key claiming the same kid: the signature does not verify either.
    dir.generate("impostor.jwk", "ES256", &["--kid", "k1"]);
    dir.verify(&token, &["--key", "impostor.jwk"])
        .fails(1, "invalid_signature");
}

/// A key given explicitly is the key; the token's kid need not match it.
#[test]
fn explicit_key_ignores_the_tokens_kid() {
    let (dir, _) = signed(&[]);
    // kid X in the token, kid k1 in the key file.
    let renamed = dir.encode(&["--key", "k.jwk", "--kid", "X", "--exp", "5m"]);
    assert_eq!(header(&dir, &renamed)["kid"], "X");
    let claims = dir.verify(&renamed, &["--key", "k.jwk"]).json();
    assert!(claims["exp"].is_u64(), "{claims}");
    // The public key, as JWK and as PEM, is the key just the same.
    dir.write("pub.jwk", dir.run(&["keys", "public", "k.jwk"]).stdout);
    dir.verify(&renamed, &["--key", "pub.jwk"]).ok();
    // A token without kid (a PEM key has none to give).
    dir.write(
        "k.pem",
        dir.run(&["keys", "generate", "--alg", "ES256", "--pem"])
            .stdout,
    );
    let no_kid = dir.encode(&["--key", "k.pem", "--alg", "ES256", "--exp", "5m"]);
    assert!(header(&dir, &no_kid).get("kid").is_none());
    dir.write(
        "k1.jwk",
        dir.run(&["keys", "public", "k.pem", "--kid", "k1"]).stdout,
    );
    dir.verify(&no_kid, &["--key", "k1.jwk"]).ok();
    dir.verify(&no_kid, &["--key", "k.pem"]).ok();
    // Still the algorithm rule: the key's alg must be the header's.
    dir.generate("h.jwk", "HS256", &["--kid", "X"]);
    dir.verify(&renamed, &["--key", "h.jwk"])
        .fails(1, "algorithm_mismatch");
}

/// The README's pipeline: `encode --key K --kid X | verify - --key K`.
#[test]
fn encode_with_another_kid_pipes_into_verify() {
    let (dir, _) = signed(&[]);
    let token = dir.encode(&[
        "--key", "k.jwk", "--kid", "X", "--exp", "15m", "--claim", "sub=u1",
    ]);
    let run = dir.run_with_stdin(&["token", "verify", "-", "--key", "k.jwk"], &token);
    assert_eq!(run.json()["sub"], "u1");
}

#[test]
fn secret_file_ignores_the_tokens_kid() {
    let dir = Dir::new();
    dir.write("s.bin", [42u8; 32]);
    let token = dir.encode(&["--secret-file", "s.bin", "--kid", "X", "--exp", "5m"]);
    dir.verify(&token, &["--secret-file", "s.bin"]).ok();
}

/// Only --jwks selects by kid: a kid the set does not hold is unknown, even when the set
/// holds a single key that would verify the signature.
#[test]
fn jwks_selects_by_kid() {
    let (dir, token) = signed(&[]);
    dir.write(
        "one.json",
        json!({"keys": [dir.run(&["keys", "public", "k.jwk"]).json()]}).to_string(),
    );
    dir.verify(&token, &["--jwks", "one.json"]).ok();
    let renamed = dir.encode(&["--key", "k.jwk", "--kid", "X", "--exp", "5m"]);
    dir.verify(&renamed, &["--jwks", "one.json"])
        .fails(1, "unknown_key");
    // A token without kid is tried against a one-key set.
    dir.write(
        "k.pem",
        dir.run(&["keys", "generate", "--alg", "ES256", "--pem"])
            .stdout,
    );
    let no_kid = dir.encode(&["--key", "k.pem", "--alg", "ES256", "--exp", "5m"]);
    dir.write(
        "pem.json",
        dir.run(&["keys", "public", "k.pem", "--jwks", "--kid", "k1"])
            .stdout,
    );
    dir.verify(&no_kid, &["--jwks", "pem.json"]).ok();
}

/// The decoded header of `token`.
fn header(dir: &Dir, token: &str) -> serde_json::Value {
    dir.run(&["token", "decode", token]).json()["header"].clone()
}

#[test]
fn tampered_payload_is_refused() {
    let (dir, token) = signed(&[]);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = base64url::encode(br#"{"sub":"admin","exp":9999999999}"#);
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    dir.verify(&tampered, &["--key", "k.jwk"])
        .fails(1, "invalid_signature");
}

#[test]
fn audience_and_issuer() {
    let (dir, token) = signed(&[
        "--claim",
        "iss=https://auth.example",
        "--claim",
        r#"aud=["api","billing"]"#,
    ]);
    let key = ["--key", "k.jwk"];
    let with = |extra: &[&str]| dir.verify(&token, &[&key[..], extra].concat());
    with(&["--aud", "billing", "--iss", "https://auth.example"]).ok();
    with(&["--aud", "other", "--aud", "api"]).ok();
    with(&["--aud", "other"]).fails(1, "invalid_audience");
    with(&["--iss", "https://evil.example"]).fails(1, "invalid_issuer");
    with(&["--iss", "https://auth.example", "--aud", "nope"]).fails(1, "invalid_audience");
}

#[test]
fn missing_aud_or_iss_when_asked_for() {
    let (dir, token) = signed(&[]);
    dir.verify(&token, &["--key", "k.jwk", "--aud", "api"])
        .fails(1, "invalid_audience");
    dir.verify(&token, &["--key", "k.jwk", "--iss", "https://auth.example"])
        .fails(1, "invalid_issuer");
}

#[test]
fn typ_and_required_claims() {
    let (dir, token) = signed(&["--typ", "at+jwt"]);
    dir.verify(&token, &["--key", "k.jwk", "--typ", "at+jwt"])
        .ok();
    dir.verify(&token, &["--key", "k.jwk", "--typ", "application/AT+JWT"])
        .ok();
    dir.verify(&token, &["--key", "k.jwk", "--typ", "dpop+jwt"])
        .fails(1, "invalid_token");
    dir.verify(&token, &["--key", "k.jwk", "--require", "sub"])
        .ok();
    dir.verify(
        &token,
        &["--key", "k.jwk", "--require", "sub", "--require", "sid"],
    )
    .fails(1, "invalid_token");
}

#[test]
fn malformed_token_exits_1() {
    let (dir, _) = signed(&[]);
    for token in ["garbage", "a.b.c", "a..c", "eyJhbGciOiJFUzI1NiJ9.e30"] {
        dir.verify(token, &["--key", "k.jwk"])
            .fails(1, "malformed_token");
    }
    dir.run_with_stdin(&["token", "verify", "-", "--key", "k.jwk"], "  \n")
        .fails(1, "malformed_token");
}

/// Algorithm confusion: an HS256 token must not verify against an ES256 key, even when it
/// names that key's kid.
#[test]
fn algorithm_mismatch_exits_1() {
    let (dir, _) = signed(&[]);
    dir.generate("h.jwk", "HS256", &["--kid", "k1"]);
    let hs = dir.encode(&["--key", "h.jwk", "--exp", "5m"]);
    dir.verify(&hs, &["--key", "k.jwk"])
        .fails(1, "algorithm_mismatch");
}

/// CVE-2015-9235 style: `alg: none` with an empty signature is never accepted.
#[test]
fn alg_none_is_refused() {
    let (dir, _) = signed(&[]);
    let header = base64url::encode(br#"{"alg":"none","kid":"k1"}"#);
    let payload = base64url::encode(br#"{"sub":"admin","exp":9999999999}"#);
    let run = dir.verify(&format!("{header}.{payload}."), &["--key", "k.jwk"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.is_empty());
}

#[test]
fn secret_file_verifies_hmac() {
    let dir = Dir::new();
    dir.write("s.bin", [42u8; 48]);
    dir.write("other.bin", [43u8; 48]);
    dir.write("short.bin", [42u8; 31]);
    let token = dir.encode(&["--secret-file", "s.bin", "--alg", "HS384", "--exp", "5m"]);
    dir.verify(&token, &["--secret-file", "s.bin", "--alg", "HS384"])
        .ok();
    dir.verify(&token, &["--secret-file", "other.bin", "--alg", "HS384"])
        .fails(1, "invalid_signature");
    // HS256 is the default; the token says HS384.
    dir.verify(&token, &["--secret-file", "s.bin"])
        .fails(1, "algorithm_mismatch");
    dir.verify(&token, &["--secret-file", "short.bin"])
        .fails(2, "invalid_key");
    dir.verify(&token, &["--secret-file", "nope.bin"])
        .fails(2, "invalid_request");
}

/// A JWK Set of two keys; each token is checked with the key its kid names.
#[test]
fn jwks_file_picks_the_key_by_kid() {
    let dir = Dir::new();
    dir.generate("a.jwk", "ES256", &["--kid", "a"]);
    dir.generate("b.jwk", "EdDSA", &["--kid", "b"]);
    dir.generate("c.jwk", "ES256", &["--kid", "c"]);
    let public = |name: &str| dir.run(&["keys", "public", name]).json();
    dir.write(
        "jwks.json",
        json!({"keys": [public("a.jwk"), public("b.jwk")]}).to_string(),
    );
    for (key, sub) in [("a.jwk", "from-a"), ("b.jwk", "from-b")] {
        let claim = format!("sub={sub}");
        let token = dir.encode(&["--key", key, "--exp", "5m", "--claim", &claim]);
        let claims = dir.verify(&token, &["--jwks", "jwks.json"]).json();
        assert_eq!(claims["sub"], sub);
    }
    let stranger = dir.encode(&["--key", "c.jwk", "--exp", "5m"]);
    dir.verify(&stranger, &["--jwks", "jwks.json"])
        .fails(1, "unknown_key");
    // --alg narrows the set: the EdDSA key is no candidate for an ES256-only verifier.
    let from_b = dir.encode(&["--key", "b.jwk", "--exp", "5m"]);
    dir.verify(&from_b, &["--jwks", "jwks.json", "--alg", "ES256"])
        .fails(1, "unknown_key");
}

#[test]
fn jwks_problems_exit_2() {
    // URLs: see `jwks_url.rs`.
    let (dir, token) = signed(&[]);
    dir.verify(&token, &["--jwks", "nope.json"])
        .fails(2, "invalid_request");
    dir.write("empty.json", r#"{"keys":[]}"#);
    dir.verify(&token, &["--jwks", "empty.json"])
        .fails(2, "invalid_key");
    // A single JWK is not a set, and a set is not a single key.
    dir.verify(&token, &["--jwks", "k.jwk"])
        .fails(2, "invalid_key");
    dir.write("set.json", r#"{"keys":[]}"#);
    let run = dir.verify(&token, &["--key", "set.json"]);
    run.fails(2, "invalid_key");
    assert!(run.stderr.contains("--jwks"), "{run:#?}");
}

#[test]
fn key_flags_are_exclusive_and_one_is_required() {
    let (dir, token) = signed(&[]);
    dir.verify(&token, &[]).fails(2, "invalid_request");
    dir.verify(&token, &["--key", "k.jwk", "--jwks", "k.jwk"])
        .fails(2, "invalid_request");
    dir.verify(&token, &["--key", "k.jwk", "--leeway", "soon"])
        .fails(2, "invalid_request");
    dir.run_with_stdin(&["token", "verify", "-", "--key", "-"], &token)
        .fails(2, "invalid_request");
}

#[test]
fn usage_errors_win_over_token_errors() {
    let dir = Dir::new();
    dir.verify("garbage", &["--key", "nope.jwk"])
        .fails(2, "invalid_request");
}

#[test]
fn openssl_keys_verify_our_tokens() {
    let dir = Dir::new();
    let private = data("openssl-p256-sec1.pem");
    let public = data("openssl-p256-public.pem");
    let token = dir.encode(&["--key", &private, "--alg", "ES256", "--exp", "5m"]);
    dir.verify(&token, &["--key", &public, "--alg", "ES256"])
        .ok();
    dir.verify(&token, &["--key", &public]).ok();
    let run = dir.verify(&token, &["--key", &public, "--alg", "ES384"]);
    run.fails(2, "invalid_key");
    assert!(
        run.stderr.contains("ES384") && run.stderr.contains("ES256"),
        "{run:#?}"
    );
}
