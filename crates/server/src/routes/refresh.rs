//! `POST /v1/token/refresh` and `POST /v1/logout`: the refresh token comes from the cookie
//! (CSRF-checked) or a JSON body, and the answer delivers the same way it came.

use axum::extract::State;
use axum::response::Response;
use tessera_tokens::{Failure, RefreshError};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{Client, RefreshInput};
use crate::metrics::RefreshOutcome;
use crate::openapi::error_answers;
use crate::rate_limit::{Bucket, RetryAfter};
use crate::routes::{no_content, token_response, TokenResponse};
use crate::state::AppState;

const NO_TOKEN: &str =
    "no refresh token: send the refresh cookie or a JSON body {\"refresh_token\"}";

fn outcome(e: &RefreshError) -> RefreshOutcome {
    match e {
        RefreshError::Expired => RefreshOutcome::Expired,
        RefreshError::Revoked => RefreshOutcome::Revoked,
        RefreshError::Reused => RefreshOutcome::Reused,
        RefreshError::Unknown => RefreshOutcome::Unknown,
        RefreshError::Failure(Failure::Unavailable(_) | Failure::Overloaded(_)) => {
            RefreshOutcome::Unavailable
        }
        RefreshError::Failure(Failure::Internal(_)) => RefreshOutcome::Error,
    }
}

// Read by `extract::RefreshInput`; this type only describes it.
/// The refresh token, when it is not sent in the cookie (native clients).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RefreshRequest {
    /// A refresh token received with body delivery.
    refresh_token: String,
}

error_answers!(
    RefreshErrors = [
        InvalidRequest,
        BodyTooLarge,
        RefreshTokenExpired,
        RefreshTokenRevoked,
        RefreshTokenReused,
        InvalidRefreshToken,
        CsrfFailed,
        RateLimited,
        Internal,
        Unavailable,
    ]
);

error_answers!(
    LogoutErrors = [
        InvalidRequest,
        BodyTooLarge,
        InvalidRefreshToken,
        CsrfFailed,
        Internal,
        Unavailable,
    ]
);

/// 200 TokenResponse (rotated); 401 with `login_required` (and the cookie cleared) for an
/// expired, revoked, reused, unknown or missing token; 403 `csrf_failed`; 429 per IP.
#[utoipa::path(
    post,
    path = "/v1/token/refresh",
    tag = "auth",
    operation_id = "refresh",
    summary = "Refresh the tokens",
    description = "Spends the refresh token and answers a new access token and a new refresh \
        token (rotation), delivered the way the old one came: from the cookie → in the \
        cookie (the request may have no body at all), from the body → in the body. The same \
        spent token presented again within `tokens.reuse_grace` (10 s) gets the same \
        successor (concurrent tabs, network retries); after it, the whole session is \
        revoked (`refresh_token_reused`). Every `login_required` answer clears the cookie. \
        Limited per client IP.",
    request_body(content = RefreshRequest, content_type = "application/json",
        description = "Only when the refresh token is not sent in the cookie."),
    security((), ("refresh_cookie" = [])),
    responses(
        (status = 200, description = "Rotated.", body = TokenResponse,
            headers(
                ("Set-Cookie" = String, description = "When the token came from the cookie: the new \
                    refresh token, `__Host-tessera_refresh=<token>; Path=/; Max-Age=<refresh_expires_in>; \
                    HttpOnly; Secure; SameSite=Strict`."),
                ("Cache-Control" = String, description = "`no-store`"),
                ("Pragma" = String, description = "`no-cache`"),
            )),
        RefreshErrors,
    ),
)]
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
        return Err(ApiError::invalid_refresh_token(NO_TOKEN));
    };
    match state.auth().refresh(token.expose_secret(), &client.0).await {
        Ok(issued) => {
            metrics.refresh(RefreshOutcome::Rotated);
            tracing::debug!(session_id = %issued.session_id, "refresh");
            Ok(token_response(&state, &issued, input.from_cookie))
        }
        Err(e) => {
            metrics.refresh(outcome(&e));
            let e = ApiError::from(e);
            // Only the cookie the request carried is cleared (see `no_content`).
            Err(if input.from_cookie {
                e.clearing(state.cookie())
            } else {
                e
            })
        }
    }
}

/// 204 and the cookie cleared, also for an unknown or already revoked token (logging out
/// twice is not an error); 401 `invalid_refresh_token` without any token.
#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = "auth",
    operation_id = "logout",
    summary = "Log out",
    description = "Revokes the session of the refresh token (from the cookie, or the body) \
        and clears the cookie. An unknown, expired or already revoked token also answers \
        `204`: logging out twice is not an error. Access tokens of the session are refused \
        from then on (`invalid_token`).",
    request_body(content = RefreshRequest, content_type = "application/json",
        description = "Only when the refresh token is not sent in the cookie."),
    security((), ("refresh_cookie" = [])),
    responses(
        (status = 204, description = "Logged out.",
            headers(("Set-Cookie" = String, description = "Deletes the refresh cookie (`Max-Age=0`)."))),
        LogoutErrors,
    ),
)]
pub async fn logout(
    State(state): State<AppState>,
    input: RefreshInput,
) -> Result<Response, ApiError> {
    let Some(token) = input.token else {
        return Err(ApiError::invalid_refresh_token(NO_TOKEN));
    };
    state.auth().logout(token.expose_secret()).await?;
    Ok(no_content(&state, input.from_cookie))
}
