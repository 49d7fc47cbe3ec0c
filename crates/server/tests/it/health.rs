//! `/healthz`, `/readyz`, `/metrics`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn healthz_and_readyz() {
    let app = TestApp::start().await;
    let res = app.get("/healthz").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let res = app.get("/readyz").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"status": "ready", "checks": {"database": "ok", "rate_limit": "local"}})
    );
}

#[tokio::test]
async fn metrics_count_requests_latencies_logins_and_signups() {
    let app = TestApp::start().await;
    app.user("alice").await;
    app.post_json(
        "/v1/login",
        json!({"username": "alice", "password": "wrong password"}),
    )
    .send()
    .await
    .unwrap();
    app.get("/nope").send().await.unwrap();
    app.http
        .delete(app.url("/v1/sessions/abc"))
        .send()
        .await
        .unwrap();
    let res = app.get("/metrics").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let m = res.text().await.unwrap();
    for line in [
        "# TYPE tessera_http_requests_total counter",
        "tessera_http_requests_total{route=\"/v1/users\",method=\"POST\",status=\"201\"} 1",
        "tessera_http_requests_total{route=\"/v1/login\",method=\"POST\",status=\"200\"} 1",
        "tessera_http_requests_total{route=\"/v1/login\",method=\"POST\",status=\"401\"} 1",
        "tessera_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1",
        "tessera_http_requests_total{route=\"/v1/sessions/{id}\",method=\"DELETE\",status=\"401\"} 1",
        "# TYPE tessera_http_request_duration_seconds histogram",
        "tessera_http_request_duration_seconds_count{route=\"/v1/login\"} 2",
        "tessera_http_request_duration_seconds_bucket{route=\"/v1/login\",le=\"+Inf\"} 2",
        "tessera_logins_total{result=\"success\"} 1",
        "tessera_logins_total{result=\"invalid_credentials\"} 1",
        "tessera_signups_total{result=\"created\"} 1",
        "tessera_refresh_reuse_detected_total 0",
        "tessera_build_info{version=",
    ] {
        assert!(m.contains(line), "missing {line}\n{m}");
    }
    assert!(
        !m.contains("/v1/sessions/abc"),
        "raw paths never become labels"
    );
}

#[tokio::test]
async fn a_database_outage_answers_503_unavailable_but_access_tokens_still_verify() {
    let app = TestApp::start().await;
    let (_, t) = app.user("alice").await;
    app.store.close().await;
    let res = app.get("/readyz").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"status": "unavailable", "checks": {"database": "unavailable", "rate_limit": "local"}})
    );
    assert_eq!(
        app.get("/healthz").send().await.unwrap().status(),
        StatusCode::OK
    );
    let res = app
        .post_json(
            "/v1/login",
            json!({"username": "alice", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let res = app
        .post_json(
            "/v1/users",
            json!({"username": "bob", "password": PASSWORD}),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // Not the client's fault: no login_required, the cookie is kept.
    let (headers, _) = assert_error(
        app.refresh_body(&t.refresh).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert!(headers.get("set-cookie").is_none());
    let res = app
        .get("/v1/sessions")
        .bearer_auth(&t.access)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    // Stateless verification needs no database.
    assert_eq!(app.me(&t.access).await.status(), StatusCode::OK);
    let m = app.metrics().await;
    assert!(
        m.contains("tessera_refresh_total{outcome=\"unavailable\"} 1"),
        "{m}"
    );
}

/// `/metrics` is open by default; with `metrics.token` set, only that Bearer token reads it
/// (a bare challenge without a token, `invalid_token` with another one).
#[tokio::test]
async fn metrics_token_guards_the_metrics() {
    let open = TestApp::start().await;
    assert_eq!(open.get("/metrics").send().await.unwrap().status(), 200);
    let token = "metrics-token-of-this-test-0123456789abc";
    let app = TestApp::setup()
        .env("TESSERA_METRICS__TOKEN", token)
        .start()
        .await;
    assert_no_token_error(app.get("/metrics").send().await.unwrap()).await;
    for wrong in [&format!("{token}x")[..], ADMIN] {
        let res = app.get("/metrics").bearer_auth(wrong).send().await.unwrap();
        assert_bearer_error(res, "invalid_token").await;
    }
    let res = app.get("/metrics").bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("tessera_http_requests_total"));
}

/// Short credentials are refused at start: `metrics.token` and `TESSERA_ADMIN_TOKEN` must
/// be at least 32 characters.
#[tokio::test]
async fn short_credentials_stop_start_up() {
    let env = [(
        "TESSERA_METRICS__TOKEN".to_owned(),
        "short-metrics-token".to_owned(),
    )];
    let err = tessera_server::Config::load(None, env).unwrap_err();
    assert!(err.to_string().contains("metrics.token"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = tessera_server::AppState::new(
        tessera_server::Config::defaults(),
        std::sync::Arc::new(
            tessera_store::SqliteStore::connect(
                &format!("sqlite://{}", dir.path().join("t.db").display()),
                tessera_store::SqliteOptions::default(),
            )
            .await
            .unwrap(),
        ),
        std::sync::Arc::new(tessera_tokens::ManualClock::new(T0)),
        tessera_tokens::MasterKey::generate().unwrap(),
        tessera_tokens::PasswordParams::INSECURE_FOR_TESTS,
        Some(tessera_jose::SecretString::new(
            "only-twenty-chars...".to_owned(),
        )),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("TESSERA_ADMIN_TOKEN"), "{err}");
}
