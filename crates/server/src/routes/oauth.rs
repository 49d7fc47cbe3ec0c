//! The OAuth-standard endpoints: RFC 8414 metadata, RFC 7009 revocation and RFC 7662
//! introspection (authorised by the admin token until registered clients exist, SPEC §7).

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tessera_jose::SecretString;
use tessera_tokens::Introspection;

use crate::error::ApiError;
use crate::extract::{Admin, FormBody};
use crate::state::AppState;

/// `GET /.well-known/oauth-authorization-server`.
pub async fn metadata(State(state): State<AppState>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, state.jwks_cache_control().clone()),
        ],
        state.metadata(),
    )
        .into_response()
}

/// RFC 7009 §2.1 and RFC 7662 §2.1 request: `token`, `token_type_hint`.
#[derive(Deserialize)]
pub struct TokenForm {
    token: SecretString,
    /// Accepted and ignored: both kinds are recognised by shape (RFC 7009 §2.1 allows it).
    #[serde(default)]
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// `POST /oauth/revoke`: revokes the session of a refresh or access token. 200 also for
/// unknown tokens (RFC 7009 §2.2); 400 `invalid_request` without `token` or with another
/// content type.
pub async fn revoke(
    State(state): State<AppState>,
    FormBody(form): FormBody<TokenForm>,
) -> Result<StatusCode, ApiError> {
    state
        .auth()
        .revoke_token(form.token.expose_secret())
        .await?;
    Ok(StatusCode::OK)
}

/// RFC 7662 §2.2 answer.
#[derive(Serialize, Default)]
struct IntrospectionResponse<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
}

/// `POST /oauth/introspect` (admin token): `{"active":false}` for anything that is not a
/// live token of ours; else its claims. A refresh token's `iat` is when it was issued
/// (the session's last rotation) and its `exp` the session's absolute or idle expiry.
pub async fn introspect(
    State(state): State<AppState>,
    _admin: Admin,
    FormBody(form): FormBody<TokenForm>,
) -> Result<Response, ApiError> {
    let result = state.auth().introspect(form.token.expose_secret()).await?;
    let issuer = &state.config().tokens.issuer;
    let body = match &result {
        Introspection::Inactive => IntrospectionResponse::default(),
        Introspection::Access(c) => IntrospectionResponse {
            active: true,
            token_type: Some("access_token"),
            sub: Some(&c.sub),
            sid: Some(&c.sid),
            exp: Some(c.exp),
            iat: Some(c.iat),
            nbf: Some(c.nbf),
            iss: Some(&c.iss),
            aud: Some(&c.aud),
            jti: Some(&c.jti),
            scope: c.scope.as_deref(),
            client_id: c.client_id.as_deref(),
        },
        Introspection::Refresh(s) => IntrospectionResponse {
            active: true,
            token_type: Some("refresh_token"),
            sub: Some(&s.user_id),
            sid: Some(&s.id),
            exp: Some(s.expires_at.min(s.idle_expires_at)),
            iat: Some(s.last_used_at),
            iss: Some(issuer),
            ..Default::default()
        },
    };
    Ok((
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response())
}
