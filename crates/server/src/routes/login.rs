//! `POST /v1/login`: credentials in, TokenResponse out (docs/http-api.md).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use tessera_jose::SecretString;
use tessera_tokens::{LoginError, Username, MAX_USERNAME_CHARS};
use utoipa::ToSchema;

use crate::config::Delivery;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::metrics::LoginResult;
use crate::openapi::error_answers;
use crate::rate_limit::{Bucket, RetryAfter};
use crate::routes::{token_response, TokenResponse};
use crate::state::AppState;

/// Credentials, and where the refresh token should go.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(examples("alice"))]
    username: String,
    #[schema(value_type = String, format = Password, examples("correct horse battery staple"))]
    password: SecretString,
    #[serde(default)]
    #[schema(schema_with = delivery_schema)]
    delivery: Option<Delivery>,
}

/// `config::Delivery` as its wire values.
fn delivery_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["cookie", "body"]))
        .description(Some(
            "Where the refresh token goes: `cookie` (browsers: only in the HttpOnly cookie) \
             or `body` (native clients: `refresh_token` in the answer). Default: the server's \
             `tokens.delivery`, itself `cookie` by default.",
        ))
        .build()
}

error_answers!(
    LoginErrors = [
        InvalidRequest,
        BodyTooLarge,
        InvalidCredentials,
        RateLimited,
        Internal,
        Unavailable,
    ]
);

/// The per-username rate-limit key: the account's lookup key when the name follows the
/// username rules, so that width and case variants of one name (`ａｌｉｃｅ`, `ALICE`) share
/// one budget; otherwise lower-cased and bounded so that junk usernames cannot grow the
/// limiter's memory.
fn username_limit_key(username: &str) -> String {
    match Username::parse(username) {
        Ok(name) => name.key().to_owned(),
        Err(_) => username
            .chars()
            .take(MAX_USERNAME_CHARS + 1)
            .collect::<String>()
            .to_lowercase(),
    }
}

/// 200 TokenResponse; 401 `invalid_credentials` (the same answer for an unknown user and a
/// wrong password); 429 while the username (from this IP, or from every IP), the IP, or
/// the recent successful logins are over their limits — checked before any password
/// hashing; 503 with `Retry-After` when every hashing slot stays busy.
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "auth",
    operation_id = "login",
    summary = "Log in",
    description = "Opens a session: an access token in the body and a refresh token in the \
        `__Host-tessera_refresh` cookie (`delivery: cookie`, the default) or in the body \
        (`delivery: body`), never both. Failed attempts are limited per username and per \
        client IP (`429` with `Retry-After`), checked before any password hashing: per username \
        from one IP (`rate_limit.login_per_minute`), per IP (3×), per username from every IP \
        (10× a minute, 30× an hour); successful logins per user and per IP too. A burst \
        beyond the password-hashing capacity answers `503` with `Retry-After`. A login that \
        would give the user more than `sessions.max_per_user` live sessions revokes their \
        least recently used ones.",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in.", body = TokenResponse,
            headers(
                ("Set-Cookie" = String, description = "With cookie delivery only: the refresh token, \
                    `__Host-tessera_refresh=<token>; Path=/; Max-Age=<refresh_expires_in>; HttpOnly; \
                    Secure; SameSite=Strict`."),
                ("Cache-Control" = String, description = "`no-store`"),
                ("Pragma" = String, description = "`no-cache`"),
            )),
        LoginErrors,
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, ApiError> {
    let metrics = state.metrics();
    let limiter = state.limiter();
    let ip = client.ip_key().to_owned();
    let user_key = username_limit_key(&req.username);
    let pair_key = format!("{user_key}\n{ip}");
    // Every attempt counts as a failure before hashing, so concurrent guesses cannot all
    // pass the check before any is counted; an attempt that turns out not to be a failure
    // is taken back. Successful logins are limited too (checked here, counted on success),
    // so one client cannot open sessions by the hundred.
    let failures = [
        (Bucket::LoginIp, ip.as_str()),
        (Bucket::LoginPair, pair_key.as_str()),
        (Bucket::LoginUser, user_key.as_str()),
        (Bucket::LoginUserHour, user_key.as_str()),
    ];
    let successes = [
        (Bucket::LoginSuccessIp, ip.as_str()),
        (Bucket::LoginSuccessUser, user_key.as_str()),
    ];
    let limited = match limiter.check_all(&successes).await {
        Ok(()) => limiter.acquire_all(&failures).await,
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
            // Not a failure: take the attempt back everywhere; this address knows the
            // password, so its own count for the username starts again.
            for (bucket, key) in &failures {
                limiter.refund(*bucket, key).await;
            }
            limiter.reset(Bucket::LoginPair, &pair_key).await;
            for (bucket, key) in &successes {
                limiter.hit(*bucket, key).await;
            }
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
                for (bucket, key) in &failures {
                    limiter.refund(*bucket, key).await;
                }
                metrics.login(LoginResult::Error);
            }
            Err(e.into())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn documented_delivery_values_are_the_accepted_ones() {
        let schema = serde_json::to_value(delivery_schema()).unwrap();
        let values: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(values, ["cookie", "body"]);
        for (text, want) in [("cookie", Delivery::Cookie), ("body", Delivery::Body)] {
            let got: Delivery = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(got, want);
        }
    }
}
