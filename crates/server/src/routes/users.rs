//! `POST /v1/users`: open signup (SPEC §4), off with `signup.enabled = false`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tessera_jose::SecretString;
use tessera_tokens::{SignupError, Username};

use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::metrics::SignupResult;
use crate::rate_limit::{Bucket, RetryAfter};
use crate::state::AppState;

/// `{"username","password"}`.
#[derive(Deserialize)]
pub struct SignupRequest {
    username: String,
    password: SecretString,
}

/// 201 `{"id"}`; 403 `forbidden` when signup is off; 429 over the per-IP limit; then the
/// domain's answers (400, 409 `username_taken`, 422 `weak_password`).
pub async fn signup(
    State(state): State<AppState>,
    client: Client,
    body: Result<JsonBody<SignupRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let metrics = state.metrics();
    if !state.config().signup.enabled {
        metrics.signup(SignupResult::Disabled);
        return Err(ApiError::forbidden("signup is disabled"));
    }
    if let Err(RetryAfter(secs)) = state
        .limiter()
        .acquire(Bucket::Signup, client.ip_key())
        .await
    {
        metrics.signup(SignupResult::RateLimited);
        return Err(ApiError::rate_limited(secs));
    }
    let JsonBody(req) = body?;
    let username = match Username::parse(&req.username) {
        Ok(name) => name,
        Err(e) => {
            metrics.signup(SignupResult::Rejected);
            return Err(SignupError::from(e).into());
        }
    };
    match state.auth().signup(&username, req.password).await {
        Ok(id) => {
            metrics.signup(SignupResult::Created);
            tracing::info!(user_id = %id, "user signed up");
            Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
        }
        Err(e) => {
            metrics.signup(match e {
                SignupError::UsernameTaken => SignupResult::UsernameTaken,
                SignupError::Failure(_) => SignupResult::Error,
                _ => SignupResult::Rejected,
            });
            Err(e.into())
        }
    }
}
