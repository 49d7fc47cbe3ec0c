//! `tessera token decode`: reads without verifying, and says so.

use serde_json::json;
use tessera_jose::base64url;

use crate::Dir;

fn compact(header: &str, payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        base64url::encode(header.as_bytes()),
        base64url::encode(payload),
        base64url::encode(signature)
    )
}

#[test]
fn prints_header_and_payload_with_a_warning() {
    let dir = Dir::new();
    let jwk = dir.generate("k.jwk", "ES256", &[]);
    let token = dir.encode(&["--key", "k.jwk", "--exp", "5m", "--claim", "sub=u1"]);
    let run = dir.run(&["token", "decode", &token]);
    let out = run.json();
    assert_eq!(out["header"], json!({"alg": "ES256", "kid": jwk["kid"]}));
    assert_eq!(out["payload"]["sub"], "u1");
    assert_eq!(out.as_object().unwrap().len(), 2);
    assert!(run.stderr.contains("NOT verified"), "{run:#?}");
}

#[test]
fn reads_standard_input() {
    let dir = Dir::new();
    dir.generate("k.jwk", "EdDSA", &[]);
    let token = dir.encode(&["--key", "k.jwk", "--exp", "5m", "--claim", "sub=u1"]);
    let run = dir.run_with_stdin(&["token", "decode", "-"], &format!("\n {token}\n\n"));
    assert_eq!(run.json()["payload"]["sub"], "u1");
}

#[test]
fn does_not_verify_anything() {
    let dir = Dir::new();
    // Expired, and signed with a key nobody has: decode still shows it.
    let token = compact(
        r#"{"alg":"HS256","kid":"who-knows"}"#,
        br#"{"sub":"u1","exp":1}"#,
        &[1; 32],
    );
    let out = dir.run(&["token", "decode", &token]).json();
    assert_eq!(out["payload"], json!({"sub": "u1", "exp": 1}));
}

#[test]
fn non_json_payload_is_shown_as_a_string() {
    let dir = Dir::new();
    let token = compact(r#"{"alg":"HS256"}"#, b"hello, world", &[1; 32]);
    let out = dir.run(&["token", "decode", &token]).json();
    assert_eq!(out["payload"], "hello, world");
}

#[test]
fn malformed_tokens_exit_1() {
    let dir = Dir::new();
    let valid_header = base64url::encode(br#"{"alg":"HS256"}"#);
    for token in [
        "not-a-token".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{valid_header}.e30=.AAAA"),
        compact("[1]", b"{}", b"x"),
        compact(r#"{"alg":"HS256","alg":"none"}"#, b"{}", b"x"),
        "x".repeat(17 * 1024),
    ] {
        dir.run(&["token", "decode", &token])
            .fails(1, "malformed_token");
    }
    dir.run_with_stdin(&["token", "decode", "-"], "")
        .fails(1, "malformed_token");
}
