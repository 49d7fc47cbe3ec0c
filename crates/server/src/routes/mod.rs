//! Thin handlers: each extracts, calls one `Auth` function, and returns. Rate limits and
//! metrics are counted here because they are HTTP concerns, not domain ones.

pub mod admin;
pub mod health;
pub mod login;
pub mod me;
pub mod oauth;
pub mod page;
pub mod refresh;
pub mod revocations;
pub mod users;
pub mod well_known;

use axum::http::header::{CACHE_CONTROL, PRAGMA, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tessera_tokens::Issued;
use utoipa::ToSchema;

use crate::state::AppState;

// The TokenResponse of docs/http-api.md, "Log in".
/// The answer of login and refresh.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenResponse<'a> {
    /// The access token (a JWT): send it as `Authorization: Bearer`.
    access_token: &'a str,
    token_type: TokenType,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// The new refresh token, only with body delivery (with cookie delivery it is in the
    /// `Set-Cookie` of this answer). Keep it secret; it is spent by the next refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    refresh_token: Option<&'a str>,
    /// Seconds until the refresh token expires (the session's absolute or idle expiry,
    /// whichever comes first).
    refresh_expires_in: i64,
    /// The session's id: the `sid` claim of the access token.
    session_id: &'a str,
}

/// RFC 6750: the access token is a Bearer token.
#[derive(Serialize, ToSchema)]
enum TokenType {
    Bearer,
}

/// The answer of login and refresh: the refresh token goes in the cookie or in the body,
/// never both. Token answers are never cached (RFC 6749 §5.1).
pub(crate) fn token_response(state: &AppState, issued: &Issued, by_cookie: bool) -> Response {
    let secret = issued.refresh_token.expose_secret();
    let body = TokenResponse {
        access_token: &issued.access_token,
        token_type: TokenType::Bearer,
        expires_in: issued.expires_in,
        refresh_token: (!by_cookie).then_some(secret),
        refresh_expires_in: issued.refresh_expires_in,
        session_id: issued.session_id.as_str(),
    };
    let mut res = (StatusCode::OK, Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    if by_cookie {
        h.insert(
            SET_COOKIE,
            state.cookie().set(secret, issued.refresh_expires_in),
        );
    }
    res
}

/// A 204; it also clears the refresh cookie when the request carried it. An answer to a
/// request without the cookie never touches it: otherwise any page could log a browser out
/// with a cross-site POST (which `SameSite=Strict` sends without the cookie).
pub(crate) fn no_content(state: &AppState, carried_cookie: bool) -> Response {
    if carried_cookie {
        (
            StatusCode::NO_CONTENT,
            [(SET_COOKIE, state.cookie().clear())],
        )
            .into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}
