//! `POST /v1/token/refresh` and `POST /v1/logout`: the refresh token comes from the cookie
//! (CSRF-checked) or a JSON body, and the answer delivers the same way it came.

use axum::extract::State;
use axum::response::Response;
use tessera_tokens::{Failure, RefreshError};

use crate::error::ApiError;
use crate::extract::{Client, RefreshInput};
use crate::metrics::RefreshOutcome;
use crate::rate_limit::{Bucket, RetryAfter};
use crate::routes::{no_content_clearing_cookie, token_response};
use crate::state::AppState;

const NO_TOKEN: &str =
    "no refresh token: send the refresh cookie or a JSON body {\"refresh_token\"}";

fn outcome(e: &RefreshError) -> RefreshOutcome {
    match e {
        RefreshError::Expired => RefreshOutcome::Expired,
        RefreshError::Revoked => RefreshOutcome::Revoked,
        RefreshError::Reused => RefreshOutcome::Reused,
        RefreshError::Unknown => RefreshOutcome::Unknown,
        RefreshError::Failure(Failure::Unavailable(_)) => RefreshOutcome::Unavailable,
        RefreshError::Failure(Failure::Internal(_)) => RefreshOutcome::Error,
    }
}

/// 200 TokenResponse (rotated); 401 with `login_required` (and the cookie cleared) for an
/// expired, revoked, reused, unknown or missing token; 403 `csrf_failed`; 429 per IP.
pub async fn refresh(
    State(state): State<AppState>,
    client: Client,
    input: RefreshInput,
) -> Result<Response, ApiError> {
    let metrics = state.metrics();
    if let Err(RetryAfter(secs)) = state
        .limiter()
        .acquire(Bucket::Refresh, client.ip_key())
        .await
    {
        metrics.refresh(RefreshOutcome::RateLimited);
        return Err(ApiError::rate_limited(secs));
    }
    let Some(token) = input.token else {
        metrics.refresh(RefreshOutcome::Unknown);
        return Err(ApiError::invalid_refresh_token(NO_TOKEN).clearing(state.cookie()));
    };
    match state.auth().refresh(token.expose_secret()).await {
        Ok(issued) => {
            metrics.refresh(RefreshOutcome::Rotated);
            tracing::debug!(session_id = %issued.session_id, "refresh");
            Ok(token_response(&state, &issued, input.from_cookie))
        }
        Err(e) => {
            metrics.refresh(outcome(&e));
            Err(ApiError::from(e).clearing(state.cookie()))
        }
    }
}

/// 204 and the cookie cleared, also for an unknown or already revoked token (logging out
/// twice is not an error); 401 `invalid_refresh_token` without any token.
pub async fn logout(
    State(state): State<AppState>,
    input: RefreshInput,
) -> Result<Response, ApiError> {
    let Some(token) = input.token else {
        return Err(ApiError::invalid_refresh_token(NO_TOKEN).clearing(state.cookie()));
    };
    state.auth().logout(token.expose_secret()).await?;
    Ok(no_content_clearing_cookie(&state))
}
