//! The HTTP contract as an OpenAPI 3.1 document (`GET /openapi.json`, committed as
//! `docs/openapi.json`).
//!
//! Nothing here lists routes: each handler carries its `#[utoipa::path]` (method, path,
//! bodies, answers) and `app::routes` registers it with `utoipa_axum::routes!`, so a route
//! cannot be served without being documented, nor documented without being served. This
//! module holds what operations share: the error answers (one `Error` schema, the codes each
//! status can carry and the headers that come with them), the security schemes, the
//! document's preamble, and the document itself, built once per process. It depends on no
//! configuration (no server URL), so every server serves the same bytes as the committed file.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, LicenseBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Ref,
    RefOr, Required, Type,
};
use utoipa::ToSchema;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::cookie::SECURE_NAME as COOKIE_NAME;
use crate::error;

/// Security scheme names (the keys of `components.securitySchemes`).
pub(crate) mod scheme {
    /// An access token: `Authorization: Bearer <JWT>`.
    pub const ACCESS_TOKEN: &str = "access_token";
    /// The refresh token in the `__Host-tessera_refresh` cookie.
    pub const REFRESH_COOKIE: &str = "refresh_cookie";
    /// `Authorization: Bearer <TESSERA_ADMIN_TOKEN>`.
    pub const ADMIN_TOKEN: &str = "admin_token";
    /// `Authorization: Bearer <revocations.token>`.
    pub const REVOCATIONS_TOKEN: &str = "revocations_token";
    /// `Authorization: Bearer <metrics.token>`.
    pub const METRICS_TOKEN: &str = "metrics_token";
}

/// One kind of error answer (docs/http-api.md "Error codes"): its status, its `error` code, and when it is given.
/// Operations list theirs with [`error_answers!`]; a status whose answers share it is one
/// OpenAPI response with one example per code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// 400 `invalid_request` of a JSON body.
    InvalidRequest,
    /// 400 `invalid_request` of a form body.
    InvalidForm,
    /// 400 `invalid_request` of a path parameter.
    InvalidPath,
    /// 400 `invalid_request`: `since` is not a cursor of this feed.
    InvalidCursor,
    /// 413 `invalid_request`: the body is over 64 KiB.
    BodyTooLarge,
    /// 401 `invalid_credentials`.
    InvalidCredentials,
    /// 401 `invalid_token`, with `WWW-Authenticate`.
    InvalidToken,
    /// 401 `invalid_token` of the admin token, with `WWW-Authenticate`.
    InvalidAdminToken,
    /// 401 `invalid_token` of the revocations (or admin) token, with `WWW-Authenticate`.
    InvalidRevocationsToken,
    /// 401 `invalid_token` of the metrics token, with `WWW-Authenticate`.
    InvalidMetricsToken,
    /// 401 `token_expired`, with `WWW-Authenticate`.
    TokenExpired,
    /// 401 `refresh_token_expired`, `login_required`.
    RefreshTokenExpired,
    /// 401 `refresh_token_revoked`, `login_required`.
    RefreshTokenRevoked,
    /// 401 `refresh_token_reused`, `login_required`.
    RefreshTokenReused,
    /// 401 `invalid_refresh_token`, `login_required`.
    InvalidRefreshToken,
    /// 403 `csrf_failed`.
    CsrfFailed,
    /// 403 `forbidden`: signup is turned off.
    SignupDisabled,
    /// 403 `forbidden`: no admin token is configured.
    AdminDisabled,
    /// 403 `forbidden`: neither `revocations.token` nor an admin token is configured.
    FeedDisabled,
    /// 404 `not_found`.
    NotFound,
    /// 409 `username_taken`.
    UsernameTaken,
    /// 422 `weak_password`.
    WeakPassword,
    /// 429 `rate_limited`, with `Retry-After`.
    RateLimited,
    /// 500 `internal_error`.
    Internal,
    /// 503 `unavailable`.
    Unavailable,
}

impl Answer {
    /// Status, code, an example `error_description`, and when the answer is given.
    fn parts(self) -> (u16, &'static str, &'static str, &'static str) {
        use Answer::*;
        match self {
            InvalidRequest => (
                400,
                "invalid_request",
                "the request body is not valid JSON",
                "malformed input: wrong `Content-Type`, a body that does not parse, a missing \
                 field or parameter, a value out of bounds",
            ),
            InvalidForm => (
                400,
                "invalid_request",
                "malformed form body or missing parameter",
                "`Content-Type` is not `application/x-www-form-urlencoded`, the body does not \
                 parse, or `token` is missing",
            ),
            InvalidPath => (
                400,
                "invalid_request",
                "malformed path parameter",
                "the path parameter is not valid percent-encoded UTF-8",
            ),
            InvalidCursor => (
                400,
                "invalid_request",
                "malformed cursor",
                "`since` is not a cursor this feed gave (a cursor of another deployment's \
                 database is not malformed: it answers the whole list with `reset`)",
            ),
            BodyTooLarge => (
                413,
                "invalid_request",
                "the request body is larger than 64 KiB",
                "the body is larger than 64 KiB",
            ),
            InvalidCredentials => (
                401,
                "invalid_credentials",
                "invalid username or password",
                "unknown user or wrong password (the same answer, in the same time, for both)",
            ),
            InvalidToken => (
                401,
                "invalid_token",
                "missing access token",
                "the token is missing, malformed, wrongly signed, for another issuer, audience \
                 or type, or its session was revoked",
            ),
            InvalidAdminToken => (
                401,
                "invalid_token",
                "invalid admin token",
                "the admin token is missing or wrong",
            ),
            InvalidRevocationsToken => (
                401,
                "invalid_token",
                "invalid revocations token",
                "the revocations token (or admin token) is missing or wrong",
            ),
            InvalidMetricsToken => (
                401,
                "invalid_token",
                "invalid metrics token",
                "`metrics.token` is set and the request's token is missing or wrong",
            ),
            TokenExpired => (
                401,
                "token_expired",
                "the access token has expired",
                "the access token is past `exp` (plus leeway): refresh, then retry",
            ),
            RefreshTokenExpired => (
                401,
                "refresh_token_expired",
                "the refresh token has expired",
                "the session is past its absolute or idle expiry: log in again",
            ),
            RefreshTokenRevoked => (
                401,
                "refresh_token_revoked",
                "the refresh token was revoked",
                "the session was revoked or logged out: log in again",
            ),
            RefreshTokenReused => (
                401,
                "refresh_token_reused",
                "the refresh token was already used; the session is revoked",
                "a spent refresh token was presented after the grace window, so its whole \
                 session was revoked: log in again",
            ),
            InvalidRefreshToken => (
                401,
                "invalid_refresh_token",
                "no refresh token: send the refresh cookie or a JSON body {\"refresh_token\"}",
                "no refresh token was sent, or it is unknown or malformed: log in again",
            ),
            CsrfFailed => (
                403,
                "csrf_failed",
                "request from a foreign origin refused",
                "the request carried the refresh cookie and came from a foreign `Origin` \
                 (`null` included) or said `Sec-Fetch-Site: cross-site`",
            ),
            SignupDisabled => (
                403,
                "forbidden",
                "signup is disabled",
                "sign-up is turned off (`signup.enabled = false`)",
            ),
            AdminDisabled => (
                403,
                "forbidden",
                "admin API disabled: TESSERA_ADMIN_TOKEN is not set",
                "the server has no admin token configured, so no admin route works",
            ),
            FeedDisabled => (
                403,
                "forbidden",
                "revocation feed disabled: set revocations.token (or TESSERA_ADMIN_TOKEN)",
                "the server has neither `revocations.token` nor an admin token configured",
            ),
            NotFound => (
                404,
                "not_found",
                "no such session",
                "the resource does not exist (or is not the caller's)",
            ),
            UsernameTaken => (
                409,
                "username_taken",
                "this username is taken",
                "the username, or one that looks the same (UTS #39 confusables), exists",
            ),
            WeakPassword => (
                422,
                "weak_password",
                "password must be at least 8 characters",
                "the password is shorter than `password.min_length`, only white space, or on \
                 the bundled list of common and breached passwords",
            ),
            RateLimited => (
                429,
                "rate_limited",
                "too many requests; retry later",
                "too many recent attempts: wait `Retry-After` seconds",
            ),
            Internal => (
                500,
                "internal_error",
                "internal error",
                "a bug; the details are in the server's logs, never in the answer",
            ),
            Unavailable => (
                503,
                "unavailable",
                "the database is unavailable; retry later",
                "the database is unreachable; nothing was half-written, retry later",
            ),
        }
    }

    /// True for the answers that tell the client to log in again (and clear the cookie).
    fn login_required(self) -> bool {
        use Answer::*;
        matches!(
            self,
            RefreshTokenExpired | RefreshTokenRevoked | RefreshTokenReused | InvalidRefreshToken
        )
    }

    /// True for the 401s of Bearer credentials, which carry an RFC 6750 challenge.
    fn bearer(self) -> bool {
        matches!(
            self,
            Answer::InvalidToken
                | Answer::InvalidAdminToken
                | Answer::InvalidRevocationsToken
                | Answer::InvalidMetricsToken
                | Answer::TokenExpired
        )
    }
}

/// Declares a type whose OpenAPI responses are the listed [`Answer`]s, for
/// `#[utoipa::path(responses(..., Type))]`.
macro_rules! error_answers {
    ($(#[$doc:meta])* $name:ident = [$($answer:ident),+ $(,)?]) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::openapi::error_responses(&[$($crate::openapi::Answer::$answer),+])
            }
        }
    };
}
pub(crate) use error_answers;

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

/// Marks the request bodies of `route` optional. Refresh and logout take their token from
/// the cookie or from a JSON body, and `#[utoipa::path]` can only say "optional" with an
/// `Option<T>` schema, which would claim that a JSON `null` body is accepted.
pub(crate) fn optional_body<S>(mut route: UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S> {
    for item in route.1.paths.values_mut() {
        for op in [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ] {
            if let Some(RefOr::T(body)) = op.as_mut().and_then(|op| op.request_body.as_mut()) {
                body.required = Some(Required::False);
            }
        }
    }
    route
}

/// `Set-Cookie` deleting the refresh cookie.
fn cleared_cookie_header() -> utoipa::openapi::header::Header {
    string_header(
        "Deletes the refresh cookie, when the request carried it (an answer to a request \
         without the cookie never sets or clears it, except a successful login or refresh): \
         `__Host-tessera_refresh=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict` \
         (`tessera_refresh` without `Secure` when `cookie.secure = false`; `SameSite=Lax` \
         with `cookie.same_site = lax`).",
    )
}

/// `Cache-Control` with a fixed value.
fn cache_control_header(value: &str) -> utoipa::openapi::header::Header {
    string_header(&format!("`{value}`"))
}

/// The OpenAPI responses of `answers`, one per status.
pub(crate) fn error_responses(
    answers: &[Answer],
) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    let mut by_status: BTreeMap<u16, Vec<Answer>> = BTreeMap::new();
    for a in answers {
        by_status.entry(a.parts().0).or_default().push(*a);
    }
    by_status
        .into_iter()
        .map(|(status, answers)| {
            let lines: Vec<String> = answers
                .iter()
                .map(|a| {
                    let (_, code, _, when) = a.parts();
                    format!("`{code}`: {when}.")
                })
                .collect();
            let examples = answers.iter().map(|a| {
                let (_, code, description, _) = a.parts();
                let mut value = json!({"error": code, "error_description": description});
                if a.login_required() {
                    value["login_required"] = json!(true);
                }
                (code, ExampleBuilder::new().value(Some(value)).build())
            });
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(error::Body::name())))
                .examples_from_iter(examples)
                .build();
            let mut response = ResponseBuilder::new()
                .description(lines.join("\n\n"))
                .content("application/json", content)
                .header("Cache-Control", cache_control_header("no-store"));
            if answers.iter().any(|a| a.bearer()) {
                response = response.header(
                    "WWW-Authenticate",
                    string_header(
                        "RFC 6750 §3 challenge: `Bearer error=\"invalid_token\", \
                         error_description=\"…\"`; a bare `Bearer` when the request sent no \
                         `Authorization` header at all (§3.1).",
                    ),
                );
            }
            if answers.iter().any(|a| a.login_required()) {
                response = response.header("Set-Cookie", cleared_cookie_header());
            }
            if answers.contains(&Answer::RateLimited) {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Some(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1)),
                        ))
                        .description(Some("Seconds to wait before trying again."))
                        .build(),
                );
            }
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

const DESCRIPTION: &str = "\
Tessera's HTTP API: sign-up, login, short-lived JWT access tokens and rotating refresh \
tokens. The flows, with curl and browser `fetch` examples, are in `docs/http-api.md`.

**Errors.** Every error answer is JSON, `{\"error\", \"error_description\", \
\"login_required\"?}` (the `Error` schema), with `Cache-Control: no-store`. Branch on \
`error`; each operation lists the codes each status can carry. Beyond them, any path \
that exists answers `405` `method_not_allowed` to a method it does not list, and a path \
that does not exist answers `404` `not_found`.

**Tokens.** Send the access token as `Authorization: Bearer`. When an answer is `401` \
`token_expired`, refresh (`POST /v1/token/refresh`) and retry once; when an answer carries \
`\"login_required\": true`, log in again. Browsers get the refresh token only in the \
`__Host-tessera_refresh` cookie (`HttpOnly`); native clients ask for `\"delivery\": \"body\"` \
at login and send `{\"refresh_token\"}`.

**Browsers.** Cross-origin calls with credentials are allowed from `server.public_url` and \
`cors.allowed_origins` only. A request that carries the refresh cookie from any other \
`Origin` (or with `Sec-Fetch-Site: cross-site`) is refused with `403` `csrf_failed`.

**Limits.** Request bodies are at most 64 KiB. `GET` routes also answer `HEAD`.";

/// The document's preamble: info, tags, security schemes and the shared `Error` schema.
/// The operations are added by `app::routes`.
pub(crate) fn preamble() -> OpenApi {
    let tag = |name: &str, description: &str| {
        TagBuilder::new()
            .name(name)
            .description(Some(description))
            .build()
    };
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Tessera")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION))
                .license(Some(
                    LicenseBuilder::new()
                        .name("MIT")
                        .identifier(Some("MIT"))
                        .build(),
                ))
                .build(),
        )
        .tags(Some([
            tag("auth", "Sign-up, login, refresh, logout."),
            tag(
                "account",
                "The signed-in user: claims, sessions, logout everywhere.",
            ),
            tag(
                "admin",
                "Operator routes, authorised by `TESSERA_ADMIN_TOKEN`.",
            ),
            tag(
                "resource servers",
                "For APIs that verify Tessera's tokens themselves: the revocation feed.",
            ),
            tag(
                "oauth",
                "OAuth-standard endpoints: RFC 7009 revocation, RFC 7662 introspection.",
            ),
            tag(
                "discovery",
                "Public keys, RFC 8414 metadata, this document.",
            ),
            tag("operations", "Liveness, readiness, metrics."),
            tag(
                "page",
                "The browser page (HTML, CSS, JavaScript embedded in the binary).",
            ),
        ]))
        .components(Some(
            ComponentsBuilder::new()
                .schema_from::<error::Body>()
                .security_scheme(
                    scheme::ACCESS_TOKEN,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("JWT")
                            .description(Some(
                                "An access token (`access_token` of a TokenResponse): a JWT \
                                 (RFC 9068, `typ: at+jwt`) valid for `expires_in` seconds.",
                            ))
                            .build(),
                    ),
                )
                .security_scheme(
                    scheme::REFRESH_COOKIE,
                    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                        COOKIE_NAME,
                        "The refresh token in the HttpOnly cookie set by login and refresh \
                         with cookie delivery (`tessera_refresh` when `cookie.secure = false`). \
                         CSRF-checked: a foreign `Origin` is refused with `403 csrf_failed`.",
                    ))),
                )
                .security_scheme(
                    scheme::ADMIN_TOKEN,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .description(Some(
                                "The operator's token, `TESSERA_ADMIN_TOKEN` on the server. \
                                 Without one configured, admin routes answer `403 forbidden`.",
                            ))
                            .build(),
                    ),
                )
                .security_scheme(
                    scheme::METRICS_TOKEN,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .description(Some(
                                "`metrics.token` on the server, when set: then only it reads \
                                 `/metrics`.",
                            ))
                            .build(),
                    ),
                )
                .security_scheme(
                    scheme::REVOCATIONS_TOKEN,
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .description(Some(
                                "The credential of resource servers, `revocations.token` \
                                 (`TESSERA_REVOCATIONS__TOKEN`) on the server. The admin \
                                 token is accepted too.",
                            ))
                            .build(),
                    ),
                )
                .build(),
        ))
        .build()
}

/// The document and what is derived from it, built once per process.
struct Document {
    /// Pretty JSON with a final newline: the bytes of `GET /openapi.json` and of
    /// `docs/openapi.json`.
    json: Bytes,
    /// Every path the router serves, sorted.
    paths: Vec<String>,
}

static DOCUMENT: LazyLock<Document> = LazyLock::new(|| {
    let doc = crate::app::routes().into_openapi();
    let mut paths: Vec<String> = doc.paths.paths.keys().cloned().collect();
    paths.sort();
    // The document is plain data: serializing it cannot fail. Struct fields serialize in
    // declaration order and maps are sorted, so the bytes are the same on every build.
    let mut json = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    json.push(b'\n');
    Document {
        json: Bytes::from(json),
        paths,
    }
});

/// The document as served.
pub fn document() -> Bytes {
    DOCUMENT.json.clone()
}

/// Every path the router serves (the templates, e.g. `/v1/sessions/{id}`), sorted.
pub fn paths() -> &'static [String] {
    &DOCUMENT.paths
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "discovery",
    operation_id = "openapi",
    summary = "This document",
    description = "The OpenAPI 3.1 document of every route, the same bytes on every server \
        (it names no server URL) and equal to `docs/openapi.json` in the repository.",
    responses(
        (status = 200, description = "The document.", body = Object,
            content_type = "application/json"),
    ),
)]
pub(crate) async fn openapi() -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        document(),
    )
        .into_response()
}
