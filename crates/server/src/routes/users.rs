//! `POST /v1/users`: open signup (docs/http-api.md), off with `signup.enabled = false`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tessera_jose::SecretString;
use tessera_tokens::{SignupError, Username};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::metrics::SignupResult;
use crate::openapi::error_answers;
use crate::rate_limit::{Bucket, RetryAfter};
use crate::state::AppState;

/// A new user's credentials.
#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    /// Compared after RFC 8265 (`UsernameCaseMapped`: width mapping, NFKC, case folding);
    /// control, invisible and bidirectional formatting characters are refused, and a name
    /// that looks like an existing one (UTS #39 skeleton) is taken. 1–64 characters.
    #[schema(examples("alice"))]
    username: String,
    /// At least `password.min_length` (default 8) characters, at most 1024 bytes, any
    /// characters; not only white space, not a common or breached password.
    #[schema(value_type = String, format = Password, examples("correct horse battery staple"))]
    password: SecretString,
}

/// The created user.
#[derive(Serialize, ToSchema)]
pub struct UserCreated {
    /// The user's opaque id: the `sub` of their access tokens.
    id: String,
}

error_answers!(
    SignupErrors = [
        InvalidRequest,
        BodyTooLarge,
        SignupDisabled,
        UsernameTaken,
        WeakPassword,
        RateLimited,
        Internal,
        Unavailable,
    ]
);

/// 201 `{"id"}`; 403 `forbidden` when signup is off; 429 over the per-IP limit; then the
/// domain's answers (400, 409 `username_taken`, 422 `weak_password`).
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "auth",
    operation_id = "signup",
    summary = "Sign up",
    description = "Creates a user (open sign-up; `signup.enabled = false` answers `403 \
        forbidden`). Limited per client IP (`429`). Does not log in: call `/v1/login` next.",
    request_body(content = SignupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = UserCreated),
        SignupErrors,
    ),
)]
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
            Ok((
                StatusCode::CREATED,
                Json(UserCreated {
                    id: id.into_string(),
                }),
            )
                .into_response())
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
