//! The one place where errors become HTTP answers (docs/http-api.md "Error codes"): status, `error` code,
//! `error_description`, `login_required`, and the headers that go with them
//! (`WWW-Authenticate` on Bearer routes per RFC 6750 §3, `Retry-After` on 429, the cleared
//! refresh cookie on every `login_required` answer).

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_tokens::{
    AccessError, Failure, FeedError, LoginError, RefreshError, SessionError, SignupError,
};

use crate::cookie::RefreshCookie;

/// An error answer. Build one with the constructors or `From` a domain error.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    login_required: bool,
    bearer: bool,
    /// The request carried no token at all: the challenge is a bare `Bearer` (RFC 6750
    /// §3.1: no error code when no credentials were sent).
    no_token: bool,
    retry_after: Option<u64>,
    set_cookie: Option<HeaderValue>,
    /// Why a 5xx happened, for the access log (never sent to the client).
    cause: Option<Arc<str>>,
}

/// The cause of a 5xx answer, attached to the response for the access log
/// (`crate::observe`), which is where failures are logged; never sent to the client.
#[derive(Debug, Clone)]
pub struct FailureCause(pub Arc<str>);

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            login_required: false,
            bearer: false,
            no_token: false,
            retry_after: None,
            set_cookie: None,
            cause: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 413 `invalid_request`: the body is over the limit.
    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is larger than 64 KiB",
        )
    }

    /// 408 `invalid_request`: the request body did not arrive within
    /// `server.request_timeout` (no code of its own: the request is incomplete, hence
    /// malformed).
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "the request body did not arrive in time",
        )
    }

    /// 401 `invalid_token` on a Bearer route.
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description).bearer()
    }

    /// 401 `invalid_token` for a request that sent no token at all: the JSON body says
    /// `invalid_token`, the challenge is a bare `Bearer` (RFC 6750 §3.1).
    pub fn missing_token(description: &'static str) -> Self {
        let mut e = Self::invalid_token(description);
        e.no_token = true;
        e
    }

    /// 401 `invalid_refresh_token`, `login_required`.
    pub fn invalid_refresh_token(description: &'static str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
            description,
        )
        .login_required()
    }

    /// 403 `csrf_failed`.
    pub fn csrf_failed(description: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "csrf_failed", description)
    }

    /// 403 `forbidden`.
    pub fn forbidden(description: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", description)
    }

    /// 404 `not_found`.
    pub fn not_found(description: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    /// 405 `method_not_allowed` (not in the error table of docs/http-api.md: the route exists, the method does not).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept this method",
        )
    }

    /// 429 `rate_limited` with `Retry-After: secs`.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 503 `unavailable`.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the database is unavailable; retry later",
        )
    }

    /// 503 `unavailable` with `Retry-After: 1`: every password-hashing slot stayed busy for
    /// `password.hash_queue_wait` (a burst of logins), nothing was done.
    pub fn overloaded() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "too many logins at once; retry shortly",
        );
        e.retry_after = Some(1);
        e
    }

    /// 500 `internal_error` (a bug; details are in the logs, not in the answer).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }

    /// Marks the answer as coming from a Bearer route: a 401 gets `WWW-Authenticate`.
    pub fn bearer(mut self) -> Self {
        self.bearer = true;
        self
    }

    fn login_required(mut self) -> Self {
        self.login_required = true;
        self
    }

    /// Attaches the cleared refresh cookie when the answer is `login_required` (docs/http-api.md: the
    /// cookie is cleared on any `login_required` answer).
    pub fn clearing(mut self, cookie: &RefreshCookie) -> Self {
        if self.login_required {
            self.set_cookie = Some(cookie.clear());
        }
        self
    }

    /// The `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The `error` code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// True when the client must log in again.
    pub fn is_login_required(&self) -> bool {
        self.login_required
    }
}

// Every error answer's body (docs/http-api.md "Error codes"), and the OpenAPI document's one `Error` schema.
/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct Body<'a> {
    /// The error code: what a client branches on. Each operation lists the codes it can
    /// answer, by status.
    error: &'a str,
    /// Human-readable text for logs and developers; not for parsing.
    error_description: &'a str,
    /// Present (and `true`) when the client must log in again: its refresh token or
    /// session is gone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    login_required: bool,
}

/// Text safe inside a quoted-string of `WWW-Authenticate` (RFC 6750 §3: no `"` or `\`,
/// printable ASCII only).
fn quoted_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body {
            error: self.code,
            error_description: &self.description,
            login_required: self.login_required,
        })
        .unwrap_or_default();
        let mut res = (self.status, body).into_response();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.bearer && self.status == StatusCode::UNAUTHORIZED && self.no_token {
            h.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        } else if self.bearer && self.status == StatusCode::UNAUTHORIZED {
            let v = format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                quoted_safe(&self.description)
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(WWW_AUTHENTICATE, v);
            }
        }
        if let Some(secs) = self.retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(c) = self.set_cookie {
            h.append(SET_COOKIE, c);
        }
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(FailureCause(cause));
        }
        res
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let mut e = match f {
            Failure::Unavailable(_) => ApiError::unavailable(),
            Failure::Internal(_) => ApiError::internal(),
            Failure::Overloaded(_) => ApiError::overloaded(),
        };
        e.cause = Some(Arc::from(f.cause()));
        e
    }
}

impl From<SignupError> for ApiError {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::InvalidUsername(why) => ApiError::invalid_request(why.to_string()),
            SignupError::PasswordTooLong => {
                ApiError::invalid_request("password is longer than 1024 bytes")
            }
            SignupError::WeakPassword(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                e.to_string(),
            ),
            SignupError::UsernameTaken => ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "this username is taken",
            ),
            SignupError::Failure(f) => f.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid username or password",
            ),
            LoginError::Failure(f) => f.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        let code = match e {
            RefreshError::Expired => "refresh_token_expired",
            RefreshError::Revoked => "refresh_token_revoked",
            RefreshError::Reused => "refresh_token_reused",
            RefreshError::Unknown => "invalid_refresh_token",
            RefreshError::Failure(f) => return f.into(),
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string()).login_required()
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound => ApiError::not_found("no such session"),
            SessionError::Failure(f) => f.into(),
        }
    }
}

impl From<FeedError> for ApiError {
    fn from(e: FeedError) -> Self {
        match e {
            FeedError::MalformedCursor => ApiError::invalid_request("malformed cursor"),
            FeedError::Failure(f) => f.into(),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Expired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "the access token has expired",
            )
            .bearer(),
            AccessError::Revoked => {
                ApiError::invalid_token("the session of this access token was revoked")
            }
            AccessError::Invalid(why) => ApiError::invalid_token(why),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn www_authenticate_text_is_quoted_safe() {
        assert_eq!(quoted_safe("bad \"sig\"\\\n"), "bad ?sig???");
    }

    /// A saturated password hasher is a 503 `unavailable` the client may retry in a
    /// second, not a 500; its cause reaches the log, not the body.
    #[test]
    fn an_overloaded_hasher_is_503_with_retry_after() {
        let res = ApiError::from(Failure::Overloaded("no slot within 2s".into())).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[RETRY_AFTER], "1");
        let cause = res
            .extensions()
            .get::<FailureCause>()
            .expect("cause for the log");
        assert_eq!(&*cause.0, "no slot within 2s");
    }
}
