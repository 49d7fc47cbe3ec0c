//! The HTTP client seam: a small [`Fetch`] trait the verifier calls for discovery, the JWKS
//! and the revocation feed, and the rules every fetch obeys whatever client runs it
//! (timeout, body cap, https-only, redirects).

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, LOCATION};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, StatusCode, Uri};

/// A GET request the verifier wants made.
///
/// Header values that are secrets (the revocation feed's `Authorization`) are marked
/// sensitive, so `Debug` prints them as `Sensitive`.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The absolute `http` or `https` URL.
    pub url: Uri,
    /// Headers to send (`Accept`, and `Authorization` for the revocation feed).
    pub headers: HeaderMap,
    /// Stop reading and fail once the body exceeds this many bytes.
    pub max_body: usize,
}

/// The answer to a [`FetchRequest`]: any status (redirects included; the verifier follows
/// them itself), headers, and the whole body.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// The status code.
    pub status: StatusCode,
    /// The response headers (the verifier reads `Cache-Control` and `Location`).
    pub headers: HeaderMap,
    /// The body, at most `max_body` bytes.
    pub body: Bytes,
}

/// Why a fetch failed, in words safe to log and to show in [`health`](crate::Verifier::health)
/// (never a token or a response body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(Arc<str>);

impl FetchError {
    /// A failure described by `reason`.
    pub fn new(reason: impl fmt::Display) -> Self {
        FetchError(Arc::from(reason.to_string()))
    }

    /// The description.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

/// The future a [`Fetch`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<FetchResponse, FetchError>> + Send + 'a>>;

/// Makes one HTTP GET. Implement it to bring your own client (a custom CA, a proxy, a
/// client your service already configures); the default is
/// [`HttpFetch`](crate::HttpFetch) (feature `http-client`).
///
/// An implementation makes exactly one request: it must not follow redirects (return the
/// 3xx answer; the verifier follows at most 3 itself, never from https to http, and drops
/// `Authorization` when the host changes), and it should stop reading a body past
/// `max_body` bytes (the verifier also refuses a longer one). The verifier wraps every
/// call in its fetch timeout (default 10 s) and checks every URL (https unless the host is
/// loopback or explicitly allowed) before calling.
///
/// ```
/// use tessera_verifier::{Fetch, FetchError, FetchFuture, FetchRequest, FetchResponse};
///
/// /// Answers every request from memory (a test double).
/// #[derive(Debug)]
/// struct Canned(bytes::Bytes);
///
/// impl Fetch for Canned {
///     fn get(&self, _request: FetchRequest) -> FetchFuture<'_> {
///         let body = self.0.clone();
///         Box::pin(async move {
///             Ok(FetchResponse { status: http::StatusCode::OK, headers: Default::default(), body })
///         })
///     }
/// }
/// ```
pub trait Fetch: Send + Sync + fmt::Debug + 'static {
    /// GETs `request.url` with `request.headers`.
    fn get(&self, request: FetchRequest) -> FetchFuture<'_>;
}

/// Which URLs may be fetched: https always; plain http only to a loopback host or to a
/// host named with [`allow_http_host`](crate::VerifierBuilder::allow_http_host).
#[derive(Debug, Clone, Default)]
pub(crate) struct UrlPolicy {
    pub http_hosts: Vec<String>,
}

impl UrlPolicy {
    /// Parses `url` and checks it against the policy.
    pub fn parse(&self, url: &str) -> Result<Uri, String> {
        let uri: Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
        self.check(&uri)?;
        Ok(uri)
    }

    /// Checks an absolute URL against the policy.
    pub fn check(&self, uri: &Uri) -> Result<(), String> {
        let host = uri
            .host()
            .ok_or_else(|| format!("`{uri}` is not an absolute URL"))?;
        match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => Ok(()),
            Some(s) if *s == Scheme::HTTP => {
                if is_loopback(host) || self.http_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
                {
                    Ok(())
                } else {
                    Err(format!(
                        "`{uri}` is plain http to a host that is not loopback; use https or allow the host explicitly"
                    ))
                }
            }
            _ => Err(format!("`{uri}` is neither https nor http")),
        }
    }
}

/// `localhost` and loopback IP literals (`127.0.0.0/8`, `::1`).
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The bounds of every fetch.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub timeout: Duration,
    pub max_body: usize,
}

/// Redirects followed per fetch.
const MAX_REDIRECTS: usize = 3;

/// GETs `url` through `fetch` with the verifier's rules: the whole exchange (redirects
/// included) within the timeout, at most 3 redirects, each target checked by the policy,
/// never from https to http, `Authorization` dropped when the origin changes, the body
/// capped. Answers only a final non-redirect response.
pub(crate) async fn get(
    fetch: &dyn Fetch,
    policy: &UrlPolicy,
    limits: &Limits,
    url: Uri,
    headers: HeaderMap,
) -> Result<FetchResponse, FetchError> {
    let timeout = limits.timeout;
    tokio::time::timeout(timeout, follow(fetch, policy, limits, url, headers))
        .await
        .unwrap_or_else(|_| {
            Err(FetchError::new(format!(
                "no complete answer within {} s",
                timeout.as_secs_f64()
            )))
        })
}

async fn follow(
    fetch: &dyn Fetch,
    policy: &UrlPolicy,
    limits: &Limits,
    mut url: Uri,
    mut headers: HeaderMap,
) -> Result<FetchResponse, FetchError> {
    for _ in 0..=MAX_REDIRECTS {
        policy.check(&url).map_err(FetchError::new)?;
        let response = fetch
            .get(FetchRequest {
                url: url.clone(),
                headers: headers.clone(),
                max_body: limits.max_body,
            })
            .await?;
        if response.body.len() > limits.max_body {
            return Err(FetchError::new(format!(
                "the answer of {url} is larger than {} bytes",
                limits.max_body
            )));
        }
        if !response.status.is_redirection() || response.status == StatusCode::NOT_MODIFIED {
            return Ok(response);
        }
        let next = response
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| FetchError::new(format!("{url} redirects without a Location")))
            .and_then(|loc| resolve(&url, loc))?;
        if url.scheme() == Some(&Scheme::HTTPS) && next.scheme() != Some(&Scheme::HTTPS) {
            return Err(FetchError::new(format!(
                "{url} redirects from https to plain http"
            )));
        }
        // Credentials go only to the origin they were meant for (as browsers and curl do).
        if url.scheme() != next.scheme() || url.authority() != next.authority() {
            headers.remove(AUTHORIZATION);
        }
        url = next;
    }
    Err(FetchError::new(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// Resolves a `Location` against the URL that answered it: absolute URLs and absolute
/// paths (what servers send in practice); anything else is refused.
fn resolve(base: &Uri, location: &str) -> Result<Uri, FetchError> {
    let bad = || FetchError::new(format!("{base} redirects to an unusable Location"));
    let loc: Uri = location.parse().map_err(|_| bad())?;
    if loc.scheme().is_some() {
        return Ok(loc);
    }
    if !location.starts_with('/') || location.starts_with("//") {
        return Err(bad());
    }
    let mut parts = http::uri::Parts::default();
    parts.scheme = base.scheme().cloned();
    parts.authority = base.authority().cloned();
    parts.path_and_query = loc.path_and_query().cloned();
    Uri::from_parts(parts).map_err(|_| bad())
}

/// `url` with `?name=value` appended (`value` percent-encoded: the feed cursor is opaque).
pub(crate) fn with_query(url: &Uri, name: &str, value: &str) -> Result<Uri, FetchError> {
    let mut s = url.to_string();
    s.push(if url.query().is_some() { '&' } else { '?' });
    s.push_str(name);
    s.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.parse()
        .map_err(|_| FetchError::new("the feed cursor does not fit in a URL"))
}

/// The origin (`scheme://authority`) of a URL, for messages.
pub(crate) fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("");
    let authority = uri.authority().map(Authority::as_str).unwrap_or("");
    format!("{scheme}://{authority}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_https_and_loopback_http_only() {
        let p = UrlPolicy::default();
        assert!(p.parse("https://auth.example.com").is_ok());
        assert!(p.parse("http://127.0.0.1:8080").is_ok());
        assert!(p.parse("http://127.5.0.1").is_ok());
        assert!(p.parse("http://localhost:8080/x").is_ok());
        assert!(p.parse("http://[::1]:8080/x").is_ok());
        assert!(p.parse("http://auth.example.com").is_err());
        assert!(p.parse("http://10.0.0.1").is_err());
        assert!(p.parse("ftp://auth.example.com").is_err());
        assert!(p.parse("/relative").is_err());
        let allowed = UrlPolicy {
            http_hosts: vec!["auth.internal".into()],
        };
        assert!(allowed.parse("http://AUTH.internal:8080").is_ok());
    }

    #[test]
    fn relative_locations_resolve_against_the_origin() {
        let base: Uri = "https://a.example/x/y?z".parse().unwrap();
        assert_eq!(
            resolve(&base, "/jwks").unwrap().to_string(),
            "https://a.example/jwks"
        );
        assert_eq!(
            resolve(&base, "http://b.example/k").unwrap().to_string(),
            "http://b.example/k"
        );
        assert!(resolve(&base, "jwks").is_err());
        assert!(resolve(&base, "//evil.example/k").is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        let u: Uri = "https://a.example/v1/revocations".parse().unwrap();
        assert_eq!(
            with_query(&u, "since", "a b+c/=~").unwrap().to_string(),
            "https://a.example/v1/revocations?since=a%20b%2Bc%2F%3D~"
        );
        let q: Uri = "https://a.example/f?x=1".parse().unwrap();
        assert_eq!(
            with_query(&q, "since", "k").unwrap().to_string(),
            "https://a.example/f?x=1&since=k"
        );
    }
}
