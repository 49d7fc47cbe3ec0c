//! `GET /healthz` (the process answers), `GET /readyz` (the database answers) and
//! `GET /metrics` (Prometheus text format 0.0.4).

use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// How long `/readyz` waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

fn json(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// Always 200 `{"status":"ok"}` while the process serves.
pub async fn healthz() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// 200 when the database answers a ping within 2 s, else 503.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(PING_TIMEOUT, state.auth().store().ping()).await {
        Ok(Ok(())) => json(
            StatusCode::OK,
            r#"{"status":"ready","checks":{"database":"ok"}}"#,
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"unavailable","checks":{"database":"unavailable"}}"#,
            )
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"unavailable","checks":{"database":"unavailable"}}"#,
            )
        }
    }
}

/// The metrics in Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.metrics().render(),
    )
        .into_response()
}
