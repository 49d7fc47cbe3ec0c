//! Tokens through the layer and the extractors: the answers of docs/http-api.md "Error codes".

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_jose::{Algorithm, SigningKey};
use tessera_verifier::{
    AccessClaims, Claims, Issuer, OptionalClaims, RejectionKind, Verifier, VerifierBuilder,
};

use crate::support::{call, sign, TestClock, TestIssuer, AUD, NOW};

fn app(v: &Verifier) -> Router {
    let protected = Router::new()
        .route(
            "/me",
            get(|Claims(c): Claims<Value>| async move { Json(c) }),
        )
        .route(
            "/typed",
            get(|Claims(c): Claims<Typed>| async move { c.sub }),
        )
        .route(
            "/notes",
            get(|c: AccessClaims| async move { c.subject().unwrap_or("").to_owned() })
                .route_layer(v.require_scope("notes:read")),
        )
        .route(
            "/delete",
            get(|c: AccessClaims| async move {
                c.require_scope("notes:write")?;
                Ok::<_, tessera_verifier::Rejection>("deleted")
            }),
        )
        .layer(v.layer());
    let open = Router::new()
        .route(
            "/maybe",
            get(|OptionalClaims(c): OptionalClaims<Value>| async move {
                Json(c.map_or(json!("anonymous"), |c| c["sub"].clone()))
            }),
        )
        .layer(v.optional_layer());
    let unwired = Router::new().route(
        "/unwired",
        get(|Claims(c): Claims<Value>| async move { Json(c) }),
    );
    protected.merge(open).merge(unwired)
}

#[derive(Deserialize)]
struct Typed {
    sub: String,
    #[allow(dead_code)]
    needs_this: u64,
}

pub async fn ready_verifier(
    issuer: &TestIssuer,
    clock: &TestClock,
    tune: impl FnOnce(VerifierBuilder) -> VerifierBuilder,
) -> Verifier {
    let v = tune(
        Verifier::builder()
            .issuer_url(&issuer.url)
            .audience(AUD)
            .clock(clock.as_clock()),
    )
    .build()
    .unwrap();
    assert!(
        v.wait_ready(Duration::from_secs(5)).await,
        "{:?}",
        v.health()
    );
    v
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let a = call(&app, "/me", Some(&issuer.token("ses_1", json!({})))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["sub"], "usr_1");
    assert_eq!(a.body["sid"], "ses_1");
    assert_eq!(a.body["iss"], issuer.url.as_str());
    // Scheme case and spacing do not matter (RFC 6750 §2.1, RFC 9110 §11.1).
    let res = tower::ServiceExt::oneshot(
        app.clone(),
        axum::http::Request::get("/me")
            .header(
                "authorization",
                format!("bearer   {}  ", issuer.token("ses_2", json!({}))),
            )
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["sid"], "ses_2");
    // Discovery was used once, the JWKS once.
    assert_eq!(issuer.state.hits(&issuer.state.metadata_hits), 1);
    assert_eq!(issuer.state.hits(&issuer.state.jwks_hits), 1);
}

#[tokio::test]
async fn refusals_carry_the_spec_codes_and_rfc6750_challenges() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let foreign_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("k1");
    let cases: Vec<(&str, String, &str)> = vec![
        ("garbage", "not.a.jwt".to_owned(), "invalid_token"),
        ("garbage2", "abc".to_owned(), "invalid_token"),
        (
            "expired",
            issuer.token(
                "s",
                json!({"exp": NOW - 3600, "iat": NOW - 4500, "nbf": NOW - 4500}),
            ),
            "token_expired",
        ),
        (
            "foreign issuer (same key)",
            sign(
                &issuer.key,
                "https://evil.example",
                "s",
                json!({}),
                Some("at+jwt"),
            ),
            "invalid_token",
        ),
        (
            "foreign key with our kid",
            sign(&foreign_key, &issuer.url, "s", json!({}), Some("at+jwt")),
            "invalid_token",
        ),
        (
            "wrong audience",
            issuer.token("s", json!({"aud": "other-api"})),
            "invalid_token",
        ),
        (
            "wrong typ",
            sign(&issuer.key, &issuer.url, "s", json!({}), Some("JWT")),
            "invalid_token",
        ),
        (
            "no typ",
            sign(&issuer.key, &issuer.url, "s", json!({}), None),
            "invalid_token",
        ),
        (
            "not yet valid",
            issuer.token("s", json!({"nbf": NOW + 3600})),
            "invalid_token",
        ),
    ];
    for (what, token, code) in cases {
        let a = call(&app, "/me", Some(&token)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{what}: {:?}", a.body);
        assert_eq!(a.code(), code, "{what}");
        assert!(
            a.body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}"
        );
        let challenge = a.challenge().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{what}: {challenge}"
        );
        assert_eq!(a.headers["content-type"], "application/json", "{what}");
        assert_eq!(a.headers["cache-control"], "no-store", "{what}");
    }
    let m = v.metrics();
    assert_eq!(m.refused_token_expired, 1);
    assert_eq!(m.refused_invalid_token, 8);
    assert_eq!(m.accepted, 0);
}

#[tokio::test]
async fn no_token_gets_a_bare_challenge_with_the_realm_when_configured() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let plain = ready_verifier(&issuer, &clock, |b| b).await;
    let a = call(&app(&plain), "/me", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.challenge(), Some("Bearer"));
    assert_eq!(a.code(), "invalid_token");

    let realm = ready_verifier(&issuer, &clock, |b| b.realm("notes")).await;
    let app = app(&realm);
    let a = call(&app, "/me", None).await;
    assert_eq!(a.challenge(), Some("Bearer realm=\"notes\""));
    assert_eq!(a.code(), "invalid_token");
    // Another scheme is no Bearer token at all.
    let res = tower::ServiceExt::oneshot(
        app.clone(),
        axum::http::Request::get("/me")
            .header("authorization", "Basic dXNlcjpwYXNz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"notes\"");
    // An invalid token's challenge names the realm and the error.
    let a = call(&app, "/me", Some("x.y.z")).await;
    assert!(a
        .challenge()
        .unwrap()
        .starts_with("Bearer realm=\"notes\", error=\"invalid_token\", error_description="));
}

#[tokio::test]
async fn scopes_are_checked_with_403_insufficient_scope() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let reader = issuer.token("s", json!({"scope": "profile notes:read"}));
    let nobody = issuer.token("s", json!({"scope": "profile"}));
    assert_eq!(
        call(&app, "/notes", Some(&reader)).await.status,
        StatusCode::OK
    );
    let a = call(&app, "/notes", Some(&nobody)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.code(), "insufficient_scope");
    let c = a.challenge().unwrap();
    assert!(c.starts_with("Bearer error=\"insufficient_scope\""), "{c}");
    assert!(c.ends_with("scope=\"notes:read\""), "{c}");
    // The same check from a handler.
    let a = call(&app, "/delete", Some(&reader)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.challenge().unwrap().ends_with("scope=\"notes:write\""));
    let writer = issuer.token("s", json!({"scope": "notes:write"}));
    assert_eq!(
        call(&app, "/delete", Some(&writer)).await.status,
        StatusCode::OK
    );
    // Without a token the scope layer is never reached: the verifier answers 401.
    assert_eq!(
        call(&app, "/notes", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(v.metrics().refused_insufficient_scope, 2);
}

#[tokio::test]
async fn optional_claims_let_anonymous_requests_through_but_not_bad_tokens() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let a = call(&app, "/maybe", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, json!("anonymous"));
    let a = call(&app, "/maybe", Some(&issuer.token("s", json!({})))).await;
    assert_eq!(a.body, json!("usr_1"));
    let a = call(&app, "/maybe", Some("garbage")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "invalid_token");
}

#[tokio::test]
async fn claims_that_do_not_fit_the_type_are_invalid_and_a_missing_layer_is_a_500() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let app = app(&v);
    let token = issuer.token("s", json!({}));
    let a = call(&app, "/typed", Some(&token)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.code(), "invalid_token");
    let fits = issuer.token("s", json!({"needs_this": 7}));
    assert_eq!(
        call(&app, "/typed", Some(&fits)).await.status,
        StatusCode::OK
    );
    let a = call(&app, "/unwired", Some(&token)).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.code(), "internal_error");
}

#[tokio::test]
async fn several_issuers_are_picked_by_iss_and_verified_by_their_own_keys() {
    let a_iss = TestIssuer::start().await;
    let b_iss = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = Verifier::builder()
        .issuer(Issuer::discover(&a_iss.url))
        .issuer(
            Issuer::jwks_url(format!("{}/.well-known/jwks.json", b_iss.url))
                .expect_issuer(&b_iss.url),
        )
        .audience(AUD)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    assert!(v.wait_ready(Duration::from_secs(5)).await);
    let app = app(&v);
    assert_eq!(
        call(&app, "/me", Some(&a_iss.token("s", json!({}))))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "/me", Some(&b_iss.token("s", json!({}))))
            .await
            .status,
        StatusCode::OK
    );
    // B's key claiming to be A: A's keys decide, and refuse it.
    let forged = sign(&b_iss.key, &a_iss.url, "s", json!({}), Some("at+jwt"));
    let a = call(&app, "/me", Some(&forged)).await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    // An issuer nobody configured, and a token without iss.
    let stranger = sign(
        &a_iss.key,
        "https://stranger.example",
        "s",
        json!({}),
        Some("at+jwt"),
    );
    let a = call(&app, "/me", Some(&stranger)).await;
    assert_eq!(
        a.body["error_description"],
        "the token's issuer is not trusted here"
    );
    let anonymous = sign(
        &a_iss.key,
        &a_iss.url,
        "s",
        json!({"iss": null}),
        Some("at+jwt"),
    );
    assert_eq!(
        call(&app, "/me", Some(&anonymous)).await.code(),
        "invalid_token"
    );
    assert_eq!(v.health().issuers.len(), 2);
}

#[tokio::test]
async fn static_keys_need_no_network() {
    let key = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid("static");
    let clock = TestClock::new();
    let v = Verifier::builder()
        .issuer(
            Issuer::static_keys(vec![key.verifying_key().unwrap()])
                .expect_issuer("https://auth.example"),
        )
        .audience(AUD)
        .clock(clock.as_clock())
        .build()
        .unwrap();
    assert!(v.is_ready());
    let ok = sign(&key, "https://auth.example", "s", json!({}), Some("at+jwt"));
    let claims = v.verify(&ok).await.unwrap();
    assert_eq!(claims.session_id(), Some("s"));
    assert_eq!(claims.subject(), Some("usr_1"));
    // An unknown kid is refused at once: there is nothing to refetch.
    let other = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .with_kid("other");
    let err = v
        .verify(&sign(
            &other,
            "https://auth.example",
            "s",
            json!({}),
            Some("at+jwt"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), RejectionKind::InvalidToken);
    assert_eq!(v.metrics().jwks_fetches, 0);
}

#[tokio::test]
async fn configuration_mistakes_are_refused_at_build() {
    let no_aud = Verifier::builder()
        .issuer_url("https://auth.example.com")
        .build();
    assert!(no_aud.unwrap_err().to_string().contains("audience"));
    let http = Verifier::builder()
        .issuer_url("http://auth.example.com")
        .audience(AUD)
        .build();
    assert!(http.unwrap_err().to_string().contains("plain http"));
    let allowed = Verifier::builder()
        .issuer_url("http://auth.internal")
        .allow_http_host("auth.internal")
        .audience(AUD)
        .build();
    assert!(allowed.is_ok());
    let unnamed = Verifier::builder()
        .jwks_url("https://a.example/jwks")
        .jwks_url("https://b.example/jwks")
        .audience(AUD)
        .build();
    assert!(unnamed.unwrap_err().to_string().contains("expect_issuer"));
    let no_feed_url = Verifier::builder()
        .issuer(Issuer::jwks_url("https://a.example/jwks").revocations_token("t".to_owned()))
        .audience(AUD)
        .build();
    assert!(no_feed_url
        .unwrap_err()
        .to_string()
        .contains("revocation_feed"));
}

#[test]
fn remote_keys_need_a_tokio_runtime() {
    let e = Verifier::builder()
        .issuer_url("https://auth.example.com")
        .audience(AUD)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("tokio runtime"), "{e}");
}

#[tokio::test]
async fn health_and_metrics_describe_the_keys() {
    let issuer = TestIssuer::start().await;
    let clock = TestClock::new();
    let v = ready_verifier(&issuer, &clock, |b| b).await;
    let h = v.health();
    assert!(h.ready);
    let i = &h.issuers[0];
    assert_eq!(i.issuer.as_deref(), Some(issuer.url.as_str()));
    assert_eq!(
        i.jwks_uri.as_deref(),
        Some(format!("{}/.well-known/jwks.json", issuer.url).as_str())
    );
    assert!(i.keys_known);
    assert_eq!(i.key_count, 1);
    assert!(i.keys_age.unwrap() < Duration::from_secs(5));
    assert_eq!(i.keys_max_age, Some(Duration::from_secs(300)));
    assert_eq!(i.last_fetch_error, None);
    assert!(i.feed.is_none());
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["issuers"][0]["keys_max_age"], 300.0);
    let app = app(&v);
    call(&app, "/me", Some(&issuer.token("s", json!({})))).await;
    call(&app, "/me", None).await;
    let m = v.metrics();
    assert_eq!(
        (m.jwks_fetches, m.jwks_fetch_failures, m.accepted, m.keys),
        (1, 0, 1, 1)
    );
    assert_eq!(m.refused_invalid_token, 1);
    let text = m.to_prometheus();
    assert!(
        text.contains("tessera_verifier_jwks_fetches_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("tessera_verifier_accepted_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("tessera_verifier_refusals_total{code=\"invalid_token\"} 1\n"),
        "{text}"
    );
}
