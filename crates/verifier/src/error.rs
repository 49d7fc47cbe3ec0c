//! Refusals and configuration errors. The one place a refusal becomes an HTTP answer
//! (docs/http-api.md "Error codes"): status, `{"error","error_description"}` body and the RFC 6750 challenge.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// Why a request was refused. Each kind has a stable [`code`](Rejection::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No access token in the request (401 `invalid_token`, bare `Bearer` challenge, RFC
    /// 6750 §3.1).
    MissingToken,
    /// Malformed, bad signature, wrong `alg`/`iss`/`aud`/`typ`, unknown key, not yet valid,
    /// revoked session (401 `invalid_token`).
    InvalidToken,
    /// Past `exp` plus leeway (401 `token_expired`): the client should refresh.
    TokenExpired,
    /// Valid token without the scope the route needs (403 `insufficient_scope`).
    InsufficientScope,
    /// No keys known yet, or the revocation feed is stale in fail-closed mode
    /// (503 `unavailable`).
    Unavailable,
    /// The route reads claims but the verifier layer is not installed (500
    /// `internal_error`: a wiring bug in the service, not the client's fault).
    NotConfigured,
}

impl RejectionKind {
    /// The `error` code of the answer's body.
    pub const fn code(self) -> &'static str {
        match self {
            RejectionKind::MissingToken | RejectionKind::InvalidToken => "invalid_token",
            RejectionKind::TokenExpired => "token_expired",
            RejectionKind::InsufficientScope => "insufficient_scope",
            RejectionKind::Unavailable => "unavailable",
            RejectionKind::NotConfigured => "internal_error",
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            RejectionKind::MissingToken
            | RejectionKind::InvalidToken
            | RejectionKind::TokenExpired => StatusCode::UNAUTHORIZED,
            RejectionKind::InsufficientScope => StatusCode::FORBIDDEN,
            RejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectionKind::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refused request, ready to become an answer with
/// [`into_http_response`](Rejection::into_http_response) (or `IntoResponse` with the `axum`
/// feature).
///
/// Its description never contains the token or its claims, so it is safe to log.
#[derive(Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    description: Cow<'static, str>,
    realm: Option<Arc<str>>,
    scope: Option<Arc<str>>,
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rejection({}: {})", self.code(), self.description)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.description)
    }
}

impl std::error::Error for Rejection {}

/// Seconds a client is told to wait after a 503 (the verifier retries its fetches at least
/// this often).
const RETRY_AFTER_SECS: u64 = 5;

impl Rejection {
    pub(crate) fn new(kind: RejectionKind, description: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            kind,
            description: description.into(),
            realm: None,
            scope: None,
        }
    }

    pub(crate) fn missing() -> Self {
        Rejection::new(RejectionKind::MissingToken, "missing access token")
    }

    pub(crate) fn invalid(description: impl Into<Cow<'static, str>>) -> Self {
        Rejection::new(RejectionKind::InvalidToken, description)
    }

    /// A 401 `invalid_token` refusal of your own, for a check the verifier does not make (a
    /// claim your service requires): the same body and challenge as the layer's.
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Rejection::invalid(description)
    }

    pub(crate) fn unavailable(description: impl Into<Cow<'static, str>>) -> Self {
        Rejection::new(RejectionKind::Unavailable, description)
    }

    pub(crate) fn insufficient_scope(scope: Arc<str>) -> Self {
        let mut r = Rejection::new(
            RejectionKind::InsufficientScope,
            "the access token does not grant the scope this route needs",
        );
        r.scope = Some(scope);
        r
    }

    pub(crate) fn not_configured() -> Self {
        Rejection::new(
            RejectionKind::NotConfigured,
            "the route reads claims but the verifier layer is not installed",
        )
    }

    /// Maps a `tessera_jose` refusal to the API's codes: `token_expired` stays distinct so the
    /// client refreshes; every other token problem is `invalid_token`.
    pub(crate) fn from_jose(e: &tessera_jose::Error) -> Self {
        match e.kind() {
            tessera_jose::ErrorKind::Expired => {
                Rejection::new(RejectionKind::TokenExpired, "the access token has expired")
            }
            _ => Rejection::invalid(e.detail()),
        }
    }

    pub(crate) fn with_realm(mut self, realm: Option<&Arc<str>>) -> Self {
        self.realm = realm.cloned();
        self
    }

    /// The kind of refusal.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The `error` code of the answer (`invalid_token`, `token_expired`, …).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The human description (`error_description`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The `WWW-Authenticate` challenge of this refusal, if it has one (RFC 6750 §3).
    pub fn challenge(&self) -> Option<String> {
        let mut params = Vec::with_capacity(3);
        if let Some(realm) = &self.realm {
            params.push(format!("realm=\"{}\"", quoted_safe(realm)));
        }
        match self.kind {
            // §3.1: a request without credentials gets no error code.
            RejectionKind::MissingToken => {}
            // `token_expired` is our body code; the RFC 6750 challenge code is invalid_token.
            RejectionKind::InvalidToken | RejectionKind::TokenExpired => {
                params.push("error=\"invalid_token\"".to_owned());
                params.push(format!(
                    "error_description=\"{}\"",
                    quoted_safe(&self.description)
                ));
            }
            RejectionKind::InsufficientScope => {
                params.push("error=\"insufficient_scope\"".to_owned());
                params.push(format!(
                    "error_description=\"{}\"",
                    quoted_safe(&self.description)
                ));
                if let Some(scope) = &self.scope {
                    params.push(format!("scope=\"{}\"", quoted_safe(scope)));
                }
            }
            RejectionKind::Unavailable | RejectionKind::NotConfigured => return None,
        }
        Some(if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
        })
    }

    /// The JSON body `{"error","error_description"}`.
    pub fn body(&self) -> Bytes {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'a str,
            error_description: &'a str,
        }
        serde_json::to_vec(&Body {
            error: self.code(),
            error_description: &self.description,
        })
        .map(Bytes::from)
        .unwrap_or_default()
    }

    /// The whole answer: status, JSON body, `Content-Type`, `Cache-Control: no-store`, the
    /// challenge when there is one, `Retry-After` on 503.
    pub fn into_http_response(self) -> Response<Full<Bytes>> {
        let mut res = Response::new(Full::new(self.body()));
        *res.status_mut() = self.status();
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(v) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            h.insert(WWW_AUTHENTICATE, v);
        }
        if self.kind == RejectionKind::Unavailable {
            h.insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        res
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Rejection {
    fn into_response(self) -> axum_core::response::Response {
        self.into_http_response().map(axum_core::body::Body::new)
    }
}

/// Text safe inside a quoted-string of `WWW-Authenticate` (RFC 6750 §3: no `"` or `\`,
/// printable ASCII only).
fn quoted_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\') {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// A verifier that cannot be built: the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub(crate) String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc6750() {
        let realm: Arc<str> = Arc::from("api");
        assert_eq!(Rejection::missing().challenge().as_deref(), Some("Bearer"));
        assert_eq!(
            Rejection::missing()
                .with_realm(Some(&realm))
                .challenge()
                .as_deref(),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(
            Rejection::invalid("bad \"sig\"").challenge().as_deref(),
            Some("Bearer error=\"invalid_token\", error_description=\"bad ?sig?\"")
        );
        assert_eq!(
            Rejection::insufficient_scope(Arc::from("notes:write"))
                .challenge()
                .as_deref(),
            Some(
                "Bearer error=\"insufficient_scope\", error_description=\"the access token does not grant the scope this route needs\", scope=\"notes:write\""
            )
        );
        assert_eq!(Rejection::unavailable("x").challenge(), None);
    }

    #[test]
    fn missing_token_body_still_says_invalid_token() {
        let r = Rejection::missing();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            &r.body()[..],
            br#"{"error":"invalid_token","error_description":"missing access token"}"#
        );
    }
}
