//! `POST /v1/login`: credentials in, TokenResponse out (SPEC §4).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use tessera_jose::SecretString;
use tessera_tokens::{LoginError, MAX_USERNAME_CHARS};

use crate::config::Delivery;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::metrics::LoginResult;
use crate::rate_limit::{Bucket, RetryAfter};
use crate::routes::token_response;
use crate::state::AppState;

/// `{"username","password","delivery"?: "cookie"|"body"}`.
#[derive(Deserialize)]
pub struct LoginRequest {
    username: String,
    password: SecretString,
    #[serde(default)]
    delivery: Option<Delivery>,
}

/// The per-username rate-limit key: case-insensitive like usernames, and bounded so that
/// junk usernames cannot grow the limiter's memory.
fn username_limit_key(username: &str) -> String {
    username
        .chars()
        .take(MAX_USERNAME_CHARS + 1)
        .collect::<String>()
        .to_lowercase()
}

/// 200 TokenResponse; 401 `invalid_credentials` (the same answer for an unknown user and a
/// wrong password); 429 while the username or the IP has too many recent failures —
/// checked before any password hashing.
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let metrics = state.metrics();
    let limiter = state.limiter();
    let ip = client.ip_key().to_owned();
    let user_key = username_limit_key(&req.username);
    // Every attempt is counted before hashing, so concurrent guesses cannot all pass the
    // check before any is counted; an attempt that turns out not to be a failure is taken
    // back (a success clears the username's count and refunds the IP's, so logins from a
    // shared address do not use up its quota).
    let limited = match limiter.acquire(Bucket::LoginIp, &ip).await {
        Ok(()) => match limiter.acquire(Bucket::LoginUser, &user_key).await {
            Ok(()) => Ok(()),
            Err(r) => {
                limiter.refund(Bucket::LoginIp, &ip).await;
                Err(r)
            }
        },
        Err(r) => Err(r),
    };
    if let Err(RetryAfter(secs)) = limited {
        metrics.login(LoginResult::RateLimited);
        tracing::info!(ip = %ip, "login refused: rate limited");
        return Err(ApiError::rate_limited(secs));
    }
    let by_cookie = req.delivery.unwrap_or(state.config().tokens.delivery) == Delivery::Cookie;
    match state
        .auth()
        .login(&req.username, req.password, client.0)
        .await
    {
        Ok(issued) => {
            limiter.reset(Bucket::LoginUser, &user_key).await;
            limiter.refund(Bucket::LoginIp, &ip).await;
            metrics.login(LoginResult::Success);
            tracing::info!(user_id = %issued.user_id, session_id = %issued.session_id, "login");
            Ok(token_response(&state, &issued, by_cookie))
        }
        Err(e) => {
            if e == LoginError::InvalidCredentials {
                metrics.login(LoginResult::InvalidCredentials);
                tracing::info!(ip = %ip, "login failed: invalid credentials");
            } else {
                // Not a failed guess (the database was down, say): take the counts back.
                limiter.refund(Bucket::LoginIp, &ip).await;
                limiter.refund(Bucket::LoginUser, &user_key).await;
                metrics.login(LoginResult::Error);
            }
            Err(e.into())
        }
    }
}
