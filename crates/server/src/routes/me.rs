//! Bearer routes of the signed-in user: `GET /v1/me`, `GET /v1/sessions`,
//! `DELETE /v1/sessions/{id}`, `POST /v1/logout/all`.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tessera_tokens::{RevokeReason, SessionId};

use crate::error::ApiError;
use crate::extract::{Bearer, PathId};
use crate::routes::no_content_clearing_cookie;
use crate::state::AppState;

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// The verified claims of the access token: the reference protected endpoint. No database.
pub async fn me(Bearer(claims): Bearer) -> Response {
    ([(CACHE_CONTROL, NO_STORE)], Json(claims)).into_response()
}

/// One session in the user's list; times are Unix seconds.
#[derive(Serialize)]
struct SessionView<'a> {
    id: &'a str,
    created_at: i64,
    last_used_at: i64,
    /// The earlier of the absolute and the idle expiry.
    expires_at: i64,
    user_agent: Option<&'a str>,
    ip: Option<&'a str>,
    /// True for the session of the access token making this request.
    current: bool,
}

/// The user's live sessions, most recently used first.
pub async fn sessions(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Response, ApiError> {
    let list = state
        .auth()
        .sessions(&claims.user_id())
        .await
        .map_err(|e| ApiError::from(e).bearer())?;
    let views: Vec<SessionView<'_>> = list
        .iter()
        .map(|s| SessionView {
            id: &s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at.min(s.idle_expires_at),
            user_agent: s.user_agent.as_deref(),
            ip: s.ip.as_deref(),
            current: s.id == claims.sid,
        })
        .collect();
    Ok(([(CACHE_CONTROL, NO_STORE)], Json(views)).into_response())
}

/// Revokes one of the user's own live sessions: 204, or 404 `not_found` (also for another
/// user's session, so ids of others cannot be probed).
pub async fn revoke_session(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    let id = SessionId::new(id);
    state
        .auth()
        .revoke_own_session(&claims.user_id(), &id)
        .await?;
    tracing::info!(user_id = %claims.sub, session_id = %id, "session revoked by its user");
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every session of the user (logout everywhere); clears this browser's cookie.
pub async fn logout_all(
    State(state): State<AppState>,
    Bearer(claims): Bearer,
) -> Result<Response, ApiError> {
    let n = state
        .auth()
        .revoke_user(&claims.user_id(), RevokeReason::User)
        .await?;
    tracing::info!(user_id = %claims.sub, sessions = n, "logged out everywhere");
    Ok(no_content_clearing_cookie(&state))
}
