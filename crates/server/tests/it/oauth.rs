//! RFC 8414 metadata, RFC 7009 revocation, RFC 7662 introspection, the JWKS.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tessera_jose::{JwkSet, Verifier};

use crate::common::*;

#[tokio::test]
async fn metadata_names_the_endpoints() {
    let app = TestApp::start().await;
    let res = app
        .get("/.well-known/oauth-authorization-server")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["issuer"], PUBLIC_URL);
    assert_eq!(m["jwks_uri"], format!("{PUBLIC_URL}/.well-known/jwks.json"));
    assert_eq!(
        m["revocation_endpoint"],
        format!("{PUBLIC_URL}/oauth/revoke")
    );
    assert_eq!(
        m["introspection_endpoint"],
        format!("{PUBLIC_URL}/oauth/introspect")
    );
    assert_eq!(m["response_types_supported"], json!([]));
    assert!(m["grant_types_supported"].is_array());
    assert_eq!(
        m["revocation_endpoint_auth_methods_supported"],
        json!(["none"])
    );
}

#[tokio::test]
async fn jwks_is_cacheable_and_verifies_issued_tokens() {
    let app = TestApp::setup()
        .env("TESSERA_KEYS__JWKS_MAX_AGE", "10m")
        .start()
        .await;
    let (id, t) = app.user("alice").await;
    let res = app.get("/.well-known/jwks.json").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "public, max-age=600");
    assert_eq!(res.headers()["content-type"], "application/json");
    let text = res.text().await.unwrap();
    assert!(!text.contains("\"d\""), "no private parts: {text}");
    let set = JwkSet::from_json(&text).unwrap();
    assert_eq!(set.keys.len(), 1);
    let verifier = Verifier::from_jwks(&set, None)
        .unwrap()
        .with_issuer(PUBLIC_URL)
        .with_audience("api")
        .with_typ("at+jwt");
    let verified = verifier.verify::<Value>(&t.access, T0 as u64).unwrap();
    assert_eq!(verified.claims()["sub"], id);
}

async fn revoke(app: &TestApp, token: &str) -> reqwest::Response {
    app.post("/oauth/revoke")
        .form(&[("token", token), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn oauth_revoke_of_a_refresh_token_revokes_its_session() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    let res = revoke(&app, &t.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.assert_session_revoked(&t).await;
}

#[tokio::test]
async fn oauth_revoke_of_an_access_token_revokes_its_session() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    assert_eq!(revoke(&app, &t.access).await.status(), StatusCode::OK);
    app.assert_session_revoked(&t).await;
}

#[tokio::test]
async fn oauth_revoke_answers_200_for_unknown_tokens_and_400_for_bad_requests() {
    let app = TestApp::start().await;
    assert_eq!(revoke(&app, "nonsense").await.status(), StatusCode::OK);
    assert_eq!(revoke(&app, &"A".repeat(43)).await.status(), StatusCode::OK);
    let res = app
        .post("/oauth/revoke")
        .form(&[("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let res = app
        .post_json("/oauth/revoke", json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let res = app.post("/oauth/revoke").send().await.unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let res = app
        .post("/oauth/introspect")
        .bearer_auth(ADMIN)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

#[tokio::test]
async fn introspection_of_access_tokens() {
    let app = TestApp::start().await;
    let (id, t) = app.user("alice").await;
    let r = introspect(&app, &t.access).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "access_token");
    assert_eq!(r["sub"], id);
    assert_eq!(r["sid"], t.sid);
    assert_eq!(r["exp"], T0 + 900);
    assert_eq!(r["iat"], T0);
    assert_eq!(r["iss"], PUBLIC_URL);
    assert_eq!(r["aud"], "api");
    assert!(r["jti"].as_str().is_some());
    app.clock.advance(900 + 61);
    assert_eq!(introspect(&app, &t.access).await, json!({"active": false}));
    assert_eq!(introspect(&app, "garbage").await, json!({"active": false}));
}

#[tokio::test]
async fn introspection_of_refresh_tokens() {
    let app = TestApp::start().await;
    let (id, t0) = app.user("alice").await;
    let r = introspect(&app, &t0.refresh).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "refresh_token");
    assert_eq!(r["sub"], id);
    assert_eq!(r["sid"], t0.sid);
    assert_eq!(r["exp"], T0 + 7 * 86_400);
    app.clock.advance(5);
    let t1 = tokens(&app.refresh_body(&t0.refresh).await.json().await.unwrap());
    assert_eq!(
        introspect(&app, &t0.refresh).await,
        json!({"active": false}),
        "spent"
    );
    let r = introspect(&app, &t1.refresh).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["iat"], T0 + 5);
    let res = app
        .post_json("/v1/logout", json!({"refresh_token": t1.refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        introspect(&app, &t1.refresh).await,
        json!({"active": false}),
        "revoked"
    );
}

#[tokio::test]
async fn introspection_requires_the_admin_token() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    let res = app
        .post("/oauth/introspect")
        .form(&[("token", &t.access)])
        .send()
        .await
        .unwrap();
    assert_no_token_error(res).await;
    let res = app
        .post("/oauth/introspect")
        .bearer_auth(&t.access)
        .form(&[("token", &t.access)])
        .send()
        .await
        .unwrap();
    assert_bearer_error(res, "invalid_token").await;
    let res = app
        .post("/oauth/introspect")
        .bearer_auth(ADMIN)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}
