//! `GET /healthz` (the process answers), `GET /readyz` (the database answers; where rate
//! limits are counted) and
//! `GET /metrics` (Prometheus text format 0.0.4).

use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// How long `/readyz` waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

fn json(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body.into(),
    )
        .into_response()
}

/// Always 200 `{"status":"ok"}` while the process serves.
pub async fn healthz() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// 200 when the database answers a ping within 2 s, else 503. `checks.rate_limit` says
/// where the limits are counted: `local` (no `redis.url`), `redis`, or
/// `local (redis unavailable)` — which alone does not make the server unready, since it
/// keeps limiting with this process's counters.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (database, rate_limit) = tokio::join!(
        tokio::time::timeout(PING_TIMEOUT, state.auth().store().ping()),
        state.limiter().status(),
    );
    let database_ok = match database {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            false
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            false
        }
    };
    let (status, word, database) = if database_ok {
        (StatusCode::OK, "ready", "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "unavailable",
        )
    };
    let body = serde_json::json!({
        "status": word,
        "checks": {"database": database, "rate_limit": rate_limit},
    });
    json(status, body.to_string())
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
