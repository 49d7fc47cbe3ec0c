//! `GET /healthz` (the process answers), `GET /readyz` (the database answers; where rate
//! limits are counted) and
//! `GET /metrics` (Prometheus text format 0.0.4).

use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::extract::MetricsReader;
use crate::openapi::error_answers;
use crate::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;

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

// This type only describes the literal `healthz` answers.
/// The process is alive.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Health {
    /// `ok`.
    #[schema(examples("ok"))]
    status: String,
}

/// Always 200 `{"status":"ok"}` while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "Liveness",
    description = "`200` while the process serves; checks nothing else.",
    responses(
        (status = 200, description = "Alive.", body = Health,
            headers(("Cache-Control" = String, description = "`no-store`"))),
    ),
)]
pub async fn healthz() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

// Fields in name order, so the bytes are those of the `json!` map this replaced.
/// Whether this replica can serve, and what was checked.
#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    checks: Checks,
    /// `ready` (200) or `unavailable` (503).
    #[schema(value_type = String, examples("ready", "unavailable"))]
    status: &'static str,
}

/// What `/readyz` checked.
#[derive(Serialize, ToSchema)]
pub(crate) struct Checks {
    /// `ok`, or `unavailable` when the database did not answer a ping within 2 s.
    #[schema(value_type = String, examples("ok", "unavailable"))]
    database: &'static str,
    /// Where rate limits are counted: `local` (no `redis.url`), `redis`, or `local (redis
    /// unavailable)` (Redis configured but not answering: limits fall back to this
    /// process's counters, which alone does not make the server unready).
    #[schema(value_type = String, examples("local", "redis", "local (redis unavailable)"))]
    rate_limit: &'static str,
}

/// 200 when the database answers a ping within 2 s, else 503. `checks.rate_limit` says
/// where the limits are counted: `local` (no `redis.url`), `redis`, or
/// `local (redis unavailable)` — which alone does not make the server unready, since it
/// keeps limiting with this process's counters.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    summary = "Readiness",
    description = "`200` when the database answers a ping within 2 s, else `503` with the same \
        body shape (not the `Error` schema): take the replica out of rotation.",
    responses(
        (status = 200, description = "Ready.", body = Readiness,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 503, description = "Not ready: the database did not answer.", body = Readiness,
            headers(("Cache-Control" = String, description = "`no-store`"))),
    ),
)]
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
    let body = Readiness {
        checks: Checks {
            database,
            rate_limit,
        },
        status: word,
    };
    json(status, serde_json::to_string(&body).unwrap_or_default())
}

error_answers!(MetricsErrors = [InvalidMetricsToken]);

/// The metrics in Prometheus text format; with `metrics.token` set, only for that Bearer
/// token (401 `invalid_token` otherwise).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    description = "Text exposition format 0.0.4: requests by route (the path templates of \
        this document, `unmatched` for none), method and status; latency histograms by \
        route; logins, signups and refreshes by outcome; refresh-token reuse detections. \
        Open unless `metrics.token` is set; then only that Bearer token reads them.",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "The metrics.", body = String,
            content_type = "text/plain; version=0.0.4; charset=utf-8",
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MetricsErrors,
    ),
)]
pub async fn metrics(State(state): State<AppState>, _reader: MetricsReader) -> Response {
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
