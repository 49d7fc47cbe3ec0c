//! `POST /v1/admin/users/{id}/revoke`: force-expire all of a user's refresh tokens.

use axum::extract::State;
use axum::http::StatusCode;

use tessera_tokens::UserId;

use crate::error::ApiError;
use crate::extract::{Admin, PathId};
use crate::state::AppState;

/// 204; 404 `not_found` for an unknown user; 403 when no admin token is configured; 401
/// `invalid_token` for a missing or wrong one.
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
