//! `POST /v1/admin/users/{id}/revoke`: force-expire all of a user's refresh tokens.

use axum::extract::State;
use axum::http::StatusCode;

use tessera_tokens::UserId;

use crate::error::ApiError;
use crate::extract::{Admin, PathId};
use crate::openapi::error_answers;
use crate::state::AppState;

error_answers!(
    RevokeUserErrors = [
        InvalidPath,
        InvalidAdminToken,
        AdminDisabled,
        NotFound,
        Internal,
        Unavailable,
    ]
);

/// 204; 404 `not_found` for an unknown user; 403 when no admin token is configured; 401
/// `invalid_token` for a missing or wrong one.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{id}/revoke",
    tag = "admin",
    operation_id = "admin_revoke_user",
    summary = "Revoke all of a user's sessions",
    description = "Force-expires every refresh token of the user (all sessions revoked); \
        their access tokens are refused within about 2 s. `403 forbidden` when the server \
        has no `TESSERA_ADMIN_TOKEN`; `401 invalid_token` for a missing or wrong one. No \
        request body.",
    params(("id" = String, Path, description = "The user's id (`sub`).")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Revoked (also when the user had no live session)."),
        RevokeUserErrors,
    ),
)]
pub async fn revoke_user(
    State(state): State<AppState>,
    _admin: Admin,
    PathId(user_id): PathId,
) -> Result<StatusCode, ApiError> {
    let user_id = UserId::new(user_id);
    let n = state.auth().admin_revoke_user(&user_id).await?;
    tracing::info!(user_id = %user_id, sessions = n, "admin revoked a user's sessions");
    Ok(StatusCode::NO_CONTENT)
}
