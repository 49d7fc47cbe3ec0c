//! Extractors that turn every malformed input into a docs/http-api.md "Error codes" answer (never a 415, never a
//! 500): JSON and form bodies, the Bearer access token, the admin token, the refresh token
//! of refresh and logout, the client's address and path ids.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tessera_jose::SecretString;
use tessera_tokens::{AccessClaims, ClientInfo};

use crate::app::BODY_LIMIT;
use crate::csrf;
use crate::error::ApiError;
use crate::rate_limit::{Bucket, RetryAfter};
use crate::state::AppState;

/// True when the `Content-Type` essence is `essence` (parameters such as `charset` allowed).
fn content_type_is(headers: &HeaderMap, essence: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(essence))
}

/// Reads the whole body within [`BODY_LIMIT`] (64 KiB); over it → 413.
async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    match Limited::new(req.into_body(), BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ApiError::body_too_large()),
        Err(_) => Err(ApiError::invalid_request(
            "the request body could not be read",
        )),
    }
}

/// Parses JSON; the error names a missing field but never echoes a value (it could be a
/// password sent with the wrong type).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::invalid_request("the request body is not valid JSON")
            }
            Category::Data => {
                let msg = e.to_string();
                match msg
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split_once('`'))
                {
                    Some((field, _)) => {
                        ApiError::invalid_request(format!("missing field `{field}`"))
                    }
                    None => ApiError::invalid_request(
                        "a field of the request body has the wrong type or value",
                    ),
                }
            }
        }
    })
}

/// A JSON body: `Content-Type: application/json` required (else 400, not 415).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        if !content_type_is(req.headers(), "application/json") {
            return Err(ApiError::invalid_request(
                "expected Content-Type: application/json",
            ));
        }
        let bytes = read_body(req).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// An `application/x-www-form-urlencoded` body (the OAuth endpoints, RFC 7009 and 7662).
#[derive(Debug)]
pub struct FormBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        if !content_type_is(req.headers(), "application/x-www-form-urlencoded") {
            return Err(ApiError::invalid_request(
                "expected Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let bytes = read_body(req).await?;
        serde_urlencoded::from_bytes(&bytes)
            .map(FormBody)
            .map_err(|_| ApiError::invalid_request("malformed form body or missing parameter"))
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The Bearer token of a request: `Ok(token)`, or the 401 to answer — with a bare
/// challenge when the request sent no `Authorization` at all (RFC 6750 §3.1), with
/// `error="invalid_token"` when it sent something that is not a Bearer token. `what`
/// names the credential in the description ("access token", "admin token").
fn require_bearer<'h>(headers: &'h HeaderMap, what: &'static str) -> Result<&'h str, ApiError> {
    match bearer_token(headers) {
        Some(token) => Ok(token),
        None if !headers.contains_key(AUTHORIZATION) => Err(ApiError::missing_token(what)),
        None => Err(ApiError::invalid_token(
            "the Authorization header is not `Bearer <token>`",
        )),
    }
}

/// The verified claims of the request's access token. No database: signature, claims and
/// the in-memory revocation cache only.
#[derive(Debug)]
pub struct Bearer(pub AccessClaims);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = require_bearer(&parts.headers, "missing access token")?;
        Ok(Bearer(state.auth().verify_access(token)?))
    }
}

/// Runs a credential check under the limit on wrong credentials per client IP
/// (`rate_limit.admin_failures_per_minute`): once an address is over it, even a right
/// token waits (429), so the admin, revocations and metrics tokens cannot be guessed at
/// request speed; each wrong one counts.
async fn limited_check(
    parts: &mut Parts,
    state: &AppState,
    check: impl FnOnce(&AppState) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let client = match Client::from_request_parts(parts, state).await {
        Ok(c) => c,
        Err(never) => match never {},
    };
    let limiter = state.limiter();
    if let Err(RetryAfter(secs)) = limiter.check(Bucket::AdminFailure, client.ip_key()).await {
        tracing::info!(ip = %client.ip_key(), "token refused: too many wrong tokens from this address");
        return Err(ApiError::rate_limited(secs));
    }
    let checked = check(state);
    if checked.is_err() {
        limiter.hit(Bucket::AdminFailure, client.ip_key()).await;
    }
    checked
}

/// A request authorised by the admin token (`TESSERA_ADMIN_TOKEN`).
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.admin_enabled()?;
        let token = require_bearer(&parts.headers, "missing admin token")?.to_owned();
        limited_check(parts, state, |s| s.check_admin(&token)).await?;
        Ok(Admin)
    }
}

/// A reader of the revocation feed: the `revocations.token` or the admin token.
#[derive(Debug)]
pub struct FeedReader;

impl FromRequestParts<AppState> for FeedReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.feed_enabled()?;
        let token = require_bearer(&parts.headers, "missing revocations token")?.to_owned();
        limited_check(parts, state, |s| s.check_feed_reader(&token)).await?;
        Ok(FeedReader)
    }
}

/// A reader of `/metrics`: anyone when `metrics.token` is unset, else that Bearer token.
#[derive(Debug)]
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !state.metrics_protected() {
            return Ok(MetricsReader);
        }
        let token = require_bearer(&parts.headers, "missing metrics token")?.to_owned();
        limited_check(parts, state, |s| s.check_metrics_reader(&token)).await?;
        Ok(MetricsReader)
    }
}

/// Who is calling: `User-Agent` and IP (the peer address, or the last `X-Forwarded-For`
/// hop when `server.trust_forwarded_for` is on).
#[derive(Debug)]
pub struct Client(pub ClientInfo, Option<String>);

impl Client {
    /// The IP as a rate-limit key: the address, or for IPv6 its network
    /// (`rate_limit.ipv6_prefix`, see [`crate::rate_limit::ip_key`]).
    pub fn ip_key(&self) -> &str {
        self.1
            .as_deref()
            .or(self.0.ip.as_deref())
            .unwrap_or("unknown")
    }
}

pub(crate) fn forwarded_ip(headers: &HeaderMap) -> Option<IpAddr> {
    // The last hop is the one our own proxy appended; earlier ones are client-controlled.
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    last.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = if state.config().server.trust_forwarded_for {
            forwarded_ip(&parts.headers).or(peer)
        } else {
            peer
        };
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Only an IPv6 address has a key of its own (its network); an IPv4 one is its key.
        let limit_key = ip
            .filter(|ip| ip.to_canonical().is_ipv6())
            .map(|ip| crate::rate_limit::ip_key(ip, state.config().rate_limit.ipv6_prefix));
        Ok(Client(
            ClientInfo {
                user_agent,
                ip: ip.map(|ip| ip.to_canonical().to_string()),
            },
            limit_key,
        ))
    }
}

/// One path parameter; a malformed one (bad percent-encoding) is a 400, not axum's text.
#[derive(Debug)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| PathId(id))
            .map_err(|_| ApiError::invalid_request("malformed path parameter"))
    }
}

/// The refresh token of refresh and logout: from the cookie when present (then the CSRF
/// check applies), else from a JSON body `{"refresh_token"}`. A request with no body (and
/// any or no content type) is accepted and yields no token.
#[derive(Debug)]
pub struct RefreshInput {
    /// The token, if the request carried one.
    pub token: Option<SecretString>,
    /// True when it came from the cookie: the answer then delivers by cookie too.
    pub from_cookie: bool,
}

#[derive(Deserialize)]
pub(crate) struct RefreshBody {
    refresh_token: Option<SecretString>,
}

impl FromRequest<AppState> for RefreshInput {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let cookie = state
            .cookie()
            .find(req.headers())
            .map(|t| SecretString::new(t.to_owned()));
        if cookie.is_some() {
            csrf::check(req.headers(), state.allowed_origins())?;
        }
        let json = content_type_is(req.headers(), "application/json");
        let bytes = read_body(req).await?;
        if let Some(token) = cookie {
            // The cookie wins over a body token, but a body that is there must still be
            // well-formed: a broken body is a broken client.
            if !bytes.is_empty() {
                if !json {
                    return Err(ApiError::invalid_request(
                        "expected Content-Type: application/json",
                    ));
                }
                parse_json::<RefreshBody>(&bytes)?;
            }
            return Ok(RefreshInput {
                token: Some(token),
                from_cookie: true,
            });
        }
        if bytes.is_empty() {
            return Ok(RefreshInput {
                token: None,
                from_cookie: false,
            });
        }
        if !json {
            return Err(ApiError::invalid_request(
                "expected Content-Type: application/json",
            ));
        }
        let body: RefreshBody = parse_json(&bytes)?;
        Ok(RefreshInput {
            token: body.refresh_token,
            from_cookie: false,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_errors_never_echo_values() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Login {
            username: String,
            password: String,
        }
        let e = parse_json::<Login>(br#"{"username":"a","password":12345678}"#).unwrap_err();
        assert!(!format!("{e:?}").contains("12345678"), "{e:?}");
        let e = parse_json::<Login>(br#"{"username":"a"}"#).unwrap_err();
        assert!(
            format!("{e:?}").contains("missing field `password`"),
            "{e:?}"
        );
        assert_eq!(
            parse_json::<Login>(b"{").unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(content_type_is(&h, "application/json"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer  abc "));
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 10.0.0.7"),
        );
        assert_eq!(forwarded_ip(&h), Some("10.0.0.7".parse().unwrap()));
    }
}
