//! Bearer routes of the signed-in user: `GET /v1/me`, `GET /v1/sessions`,
//! `DELETE /v1/sessions/{id}`, `POST /v1/logout/all`.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tessera_tokens::{AccessClaims, RevokeReason, SessionId};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{Bearer, PathId};
use crate::openapi::error_answers;
use crate::routes::no_content;
use crate::state::AppState;

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

error_answers!(MeErrors = [InvalidToken, TokenExpired]);

/// The verified claims of the access token: the reference protected endpoint. No database.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "account",
    operation_id = "me",
    summary = "The access token's claims",
    description = "The verified claims of the access token: the reference protected route. \
        Answered without a database read (signature, claims, then the in-memory list of \
        revoked sessions, refreshed every 2 s).",
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The claims.", body = AccessClaims,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MeErrors,
    ),
)]
pub async fn me(Bearer(claims): Bearer) -> Response {
    ([(CACHE_CONTROL, NO_STORE)], Json(claims)).into_response()
}

/// One session in the user's list; times are Unix seconds.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
struct SessionView<'a> {
    /// The session id (`sid`, `session_id`).
    id: &'a str,
    /// Login time.
    created_at: i64,
    /// The last login or refresh.
    last_used_at: i64,
    /// The earlier of the absolute and the idle expiry.
    expires_at: i64,
    /// The `User-Agent` of the login.
    user_agent: Option<&'a str>,
    /// The client IP of the login.
    ip: Option<&'a str>,
    /// True for the session of the access token making this request.
    current: bool,
}

error_answers!(SessionsErrors = [InvalidToken, TokenExpired, Internal, Unavailable]);

/// The user's live sessions, most recently used first.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "account",
    operation_id = "sessions",
    summary = "List the user's sessions",
    description = "The signed-in user's live sessions (one per login and device), most \
        recently used first; `current` marks the session of this access token.",
    security(("access_token" = [])),
    responses(
        (status = 200, description = "The sessions.", body = Vec<SessionView>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        SessionsErrors,
    ),
)]
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

error_answers!(
    RevokeSessionErrors = [
        InvalidPath,
        InvalidToken,
        TokenExpired,
        NotFound,
        Internal,
        Unavailable,
    ]
);

/// Revokes one of the user's own live sessions: 204, or 404 `not_found` (also for another
/// user's session, so ids of others cannot be probed).
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    tag = "account",
    operation_id = "revoke_session",
    summary = "Revoke one of the user's sessions",
    description = "Revokes one of the signed-in user's live sessions (another device, or this \
        one): its refresh token stops working at once, its access tokens within about 2 s. \
        Another user's session answers `404`, like an unknown one.",
    params(("id" = String, Path, description = "A session id from `GET /v1/sessions`.")),
    security(("access_token" = [])),
    responses(
        (status = 204, description = "Revoked."),
        RevokeSessionErrors,
    ),
)]
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

error_answers!(LogoutAllErrors = [InvalidToken, TokenExpired, Internal, Unavailable]);

/// Revokes every session of the user (logout everywhere); clears this browser's cookie.
#[utoipa::path(
    post,
    path = "/v1/logout/all",
    tag = "account",
    operation_id = "logout_all",
    summary = "Log out everywhere",
    description = "Revokes every session of the signed-in user, on every device, and clears \
        this browser's refresh cookie. No request body.",
    security(("access_token" = [])),
    responses(
        (status = 204, description = "Every session revoked.",
            headers(("Set-Cookie" = String, description = "Deletes the refresh cookie (`Max-Age=0`)."))),
        LogoutAllErrors,
    ),
)]
pub async fn logout_all(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Bearer(claims): Bearer,
) -> Result<Response, ApiError> {
    let n = state
        .auth()
        .revoke_user(&claims.user_id(), RevokeReason::User)
        .await?;
    tracing::info!(user_id = %claims.sub, sessions = n, "logged out everywhere");
    Ok(no_content(&state, state.cookie().find(&headers).is_some()))
}
