//! The OAuth-standard endpoints: RFC 8414 metadata, RFC 7009 revocation and RFC 7662
//! introspection (authorised by the admin token until registered clients exist).

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tessera_jose::SecretString;
use tessera_tokens::Introspection;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{Admin, FormBody};
use crate::openapi::error_answers;
use crate::state::AppState;

// `state.rs` writes the document; this type only describes it.
/// RFC 8414 authorization server metadata.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuthorizationServerMetadata {
    /// The `iss` of access tokens (`tokens.issuer`).
    issuer: String,
    /// `<server.public_url>/.well-known/jwks.json`.
    jwks_uri: String,
    /// `<server.public_url>/oauth/revoke` (RFC 7009).
    revocation_endpoint: String,
    /// `["none"]`.
    revocation_endpoint_auth_methods_supported: Vec<String>,
    /// `<server.public_url>/oauth/introspect` (RFC 7662).
    introspection_endpoint: String,
    /// `["bearer"]`: the admin token.
    introspection_endpoint_auth_methods_supported: Vec<String>,
    /// `<server.public_url>/v1/revocations`: the revocation feed resource servers poll
    /// (a Tessera extension; see `GET /v1/revocations`).
    revocation_feed_endpoint: String,
    /// `[]`: no authorization endpoint (tokens come from `/v1/login`).
    response_types_supported: Vec<String>,
    /// `[]`: no OAuth token endpoint yet (refresh is `/v1/token/refresh`).
    grant_types_supported: Vec<String>,
}

/// `GET /.well-known/oauth-authorization-server`.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    operation_id = "authorization_server_metadata",
    summary = "RFC 8414 metadata",
    description = "Where the keys and the OAuth endpoints are. The URLs are built from \
        `server.public_url`.",
    responses(
        (status = 200, description = "The metadata.", body = AuthorizationServerMetadata,
            headers(("Cache-Control" = String, description = "`public, max-age=<keys.jwks_max_age in seconds>`"))),
    ),
)]
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
#[derive(Deserialize, ToSchema)]
pub struct TokenForm {
    /// A refresh token or an access token.
    #[schema(value_type = String)]
    token: SecretString,
    /// Accepted and ignored: both kinds are recognised by shape (RFC 7009 §2.1 allows it).
    #[serde(default)]
    #[allow(dead_code)]
    #[schema(nullable = false, examples("refresh_token", "access_token"))]
    token_type_hint: Option<String>,
}

error_answers!(RevokeErrors = [InvalidForm, BodyTooLarge, Internal, Unavailable]);

/// `POST /oauth/revoke`: revokes the session of a refresh or access token. 200 also for
/// unknown tokens (RFC 7009 §2.2); 400 `invalid_request` without `token` or with another
/// content type.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "oauth",
    operation_id = "oauth_revoke",
    summary = "Revoke a token (RFC 7009)",
    description = "Revokes the session of a refresh token or of an access token: whoever \
        holds a token may revoke it, so no authentication. `200` with an empty body, also for \
        an unknown, expired or already revoked token (RFC 7009 §2.2).",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke. Empty body."),
        RevokeErrors,
    ),
)]
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

/// RFC 7662 §2.2 answer: `{"active": false}` alone for anything that is not a live token
/// of this server; the other members only for an active one.
#[derive(Serialize, Default, ToSchema)]
#[schema(as = Introspection)]
struct IntrospectionResponse<'a> {
    active: bool,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, examples("access_token", "refresh_token"))]
    token_type: Option<&'static str>,
    /// The user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sub: Option<&'a str>,
    /// The session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sid: Option<&'a str>,
    /// Expiry (Unix seconds); of a refresh token, its session's absolute or idle expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    exp: Option<i64>,
    /// Issued at; of a refresh token, the session's last rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iat: Option<i64>,
    /// Not before (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    nbf: Option<i64>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iss: Option<&'a str>,
    /// Audience (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    aud: Option<&'a str>,
    /// Token id (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    jti: Option<&'a str>,
    /// Scopes, when the token has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    scope: Option<&'a str>,
    /// The OAuth client, when issued to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_id: Option<&'a str>,
}

error_answers!(
    IntrospectErrors = [
        InvalidForm,
        BodyTooLarge,
        InvalidAdminToken,
        AdminDisabled,
        Internal,
        Unavailable,
    ]
);

/// `POST /oauth/introspect` (admin token): `{"active":false}` for anything that is not a
/// live token of ours; else its claims. A refresh token's `iat` is when it was issued
/// (the session's last rotation) and its `exp` the session's absolute or idle expiry.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "oauth",
    operation_id = "oauth_introspect",
    summary = "Introspect a token (RFC 7662)",
    description = "Whether a refresh or access token is live, and its claims. Authorised by \
        the admin token (registered clients come later). A spent refresh token is not \
        active, even inside the grace window.",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The token's state.", body = IntrospectionResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        IntrospectErrors,
    ),
)]
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
