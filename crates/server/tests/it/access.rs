//! Access tokens on Bearer routes: `/v1/me` and every `invalid_token` / `token_expired` case.

use reqwest::StatusCode;
use serde_json::Value;
use tessera_jose::{Algorithm, Signer, SigningKey};
use tessera_tokens::AccessClaims;

use crate::common::*;

#[tokio::test]
async fn me_answers_the_verified_claims() {
    let app = TestApp::start().await;
    let (id, t) = app.user("alice").await;
    let res = app.me(&t.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["iss"], PUBLIC_URL);
    assert_eq!(me["aud"], "api");
    assert_eq!(me["sub"], id);
    assert_eq!(me["sid"], t.sid);
    assert_eq!(me["iat"], T0);
    assert_eq!(me["nbf"], T0);
    assert_eq!(me["exp"], T0 + 900);
    assert!(me["jti"].as_str().is_some());
}

#[tokio::test]
async fn access_token_header_is_rfc9068() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    let header = t.access.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&tessera_jose::base64url::decode(header.as_bytes()).unwrap())
            .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].as_str().is_some());
}

#[tokio::test]
async fn missing_token_is_invalid_token_with_www_authenticate() {
    let app = TestApp::start().await;
    // No credential at all: a bare challenge (RFC 6750 §3.1), the body still invalid_token.
    let res = app.get("/v1/me").send().await.unwrap();
    assert_no_token_error(res).await;
    // Another scheme is a credential, not a Bearer token: an invalid_token challenge.
    let res = app
        .get("/v1/me")
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_bearer_error(res, "invalid_token").await;
}

#[tokio::test]
async fn garbage_token_is_invalid_token() {
    let app = TestApp::start().await;
    for garbage in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        &"x".repeat(20_000),
    ] {
        assert_bearer_error(app.me(garbage).await, "invalid_token").await;
    }
}

#[tokio::test]
async fn expired_token_is_token_expired_at_ttl_plus_leeway() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    app.clock.advance(900 + 59);
    assert_eq!(
        app.me(&t.access).await.status(),
        StatusCode::OK,
        "within leeway"
    );
    app.clock.advance(1);
    let body = assert_bearer_error(app.me(&t.access).await, "token_expired").await;
    assert!(body.get("login_required").is_none());
}

fn claims_like(app: &TestApp, sub: &str, sid: &str) -> AccessClaims {
    let _ = app;
    AccessClaims {
        iss: PUBLIC_URL.into(),
        sub: sub.into(),
        aud: "api".into(),
        exp: T0 + 900,
        iat: T0,
        nbf: T0,
        jti: "at_test".into(),
        sid: sid.into(),
        scope: None,
        client_id: None,
    }
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_invalid_token() {
    let app = TestApp::start().await;
    let (id, t) = app.user("alice").await;
    let keys = app.state.auth().keys();
    let mut c = claims_like(&app, &id, &t.sid);
    assert_eq!(
        app.me(&keys.sign(&c).unwrap()).await.status(),
        StatusCode::OK,
        "control"
    );
    c.aud = "other-api".into();
    assert_bearer_error(app.me(&keys.sign(&c).unwrap()).await, "invalid_token").await;
    let mut c = claims_like(&app, &id, &t.sid);
    c.iss = "https://evil.example".into();
    assert_bearer_error(app.me(&keys.sign(&c).unwrap()).await, "invalid_token").await;
}

#[tokio::test]
async fn token_signed_by_another_key_is_invalid_token() {
    let app = TestApp::start().await;
    let (id, t) = app.user("alice").await;
    let c = claims_like(&app, &id, &t.sid);
    let kid = app.state.auth().keys().current_kid().unwrap();
    // Same kid, same algorithm, another key: the signature does not verify.
    let other = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid(kid);
    let forged = Signer::new(other).with_typ("at+jwt").sign(&c).unwrap();
    assert_bearer_error(app.me(&forged).await, "invalid_token").await;
    // HS256 with the public key as secret (algorithm confusion).
    let jwks = app.state.auth().keys().jwks_json();
    let hs = SigningKey::from_secret(Algorithm::HS256, jwks.as_bytes()).unwrap();
    let forged = Signer::new(hs).with_typ("at+jwt").sign(&c).unwrap();
    assert_bearer_error(app.me(&forged).await, "invalid_token").await;
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    // A refresh token is not an access token.
    assert_bearer_error(app.me(&t.refresh).await, "invalid_token").await;
}
