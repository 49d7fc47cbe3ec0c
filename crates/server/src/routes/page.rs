//! The browser page at `/` (issue 5): sign-up and login, the decoded access token, a
//! protected call, the session list. Plain HTML, CSS and JavaScript embedded in the binary
//! (`crates/server/assets/`), no build step.
//!
//! The page holds an access token in memory, so it is served with a strict
//! Content-Security-Policy: no inline script or style, scripts and fetches from this origin
//! only, no framing. An injected `<script>` or a clickjacking frame is then refused by the
//! browser rather than trusted to the page's own care (it also renders data with
//! `textContent` only). The assets are answered with an `ETag` and `Cache-Control:
//! no-cache`: browsers revalidate, and a new binary is never hidden behind a stale cache.

use std::sync::OnceLock;

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tessera_jose::base64url;
use tessera_jose::primitives::sha256;

/// The page's policy. `img-src data:` is for the inline blank favicon.
const CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");

/// One embedded file.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    /// The HTML document gets the document-only headers (CSP, framing, opener).
    document: bool,
    etag: OnceLock<HeaderValue>,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str, document: bool) -> Asset {
        Asset {
            body,
            content_type,
            document,
            etag: OnceLock::new(),
        }
    }

    /// A strong validator: a digest of the content, computed once.
    fn etag(&self) -> &HeaderValue {
        self.etag.get_or_init(|| {
            let digest = sha256(self.body.as_bytes());
            let tag = format!("\"{}\"", base64url::encode(&digest[..12]));
            HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
        })
    }

    fn respond(&self, request: &HeaderMap) -> Response {
        let etag = self.etag();
        let mut res = if matches(request, etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut res = self.body.into_response();
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
            res
        };
        let h = res.headers_mut();
        h.insert(ETAG, etag.clone());
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        if self.document {
            h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            // For browsers that predate `frame-ancestors`.
            h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(
                CROSS_ORIGIN_OPENER_POLICY,
                HeaderValue::from_static("same-origin"),
            );
        }
        res
    }
}

/// True when `If-None-Match` names `etag` (or is `*`); weak comparison, RFC 9110 §13.1.2.
fn matches(request: &HeaderMap, etag: &HeaderValue) -> bool {
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/").as_bytes() == etag.as_bytes())
}

static INDEX: Asset = Asset::new(
    include_str!("../../assets/index.html"),
    "text/html; charset=utf-8",
    true,
);
static SCRIPT: Asset = Asset::new(
    include_str!("../../assets/app.js"),
    "text/javascript; charset=utf-8",
    false,
);
static STYLE: Asset = Asset::new(
    include_str!("../../assets/app.css"),
    "text/css; charset=utf-8",
    false,
);

/// `GET /`: the page.
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    operation_id = "page",
    summary = "The browser page",
    description = "The demo page: sign-up, login, the decoded access token, a protected call, \
        the session list. Served with a strict Content-Security-Policy, `X-Frame-Options: \
        DENY`, `Cross-Origin-Opener-Policy: same-origin`, `Referrer-Policy: no-referrer`.",
    params(("If-None-Match" = Option<String>, Header, nullable = false, description = "An `ETag` from an earlier answer.")),
    responses(
        (status = 200, description = "The page.", body = String, content_type = "text/html; charset=utf-8",
            headers(
                ("ETag" = String, description = "Digest of the content."),
                ("Cache-Control" = String, description = "`no-cache`: revalidate with `If-None-Match`."),
                ("Content-Security-Policy" = String, description = "Scripts, styles and fetches from this origin only; no framing."),
            )),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`.",
            headers(("ETag" = String, description = "Digest of the content."))),
    ),
)]
pub async fn index(headers: HeaderMap) -> Response {
    INDEX.respond(&headers)
}

/// `GET /assets/app.js`.
#[utoipa::path(
    get,
    path = "/assets/app.js",
    tag = "page",
    operation_id = "page_script",
    summary = "The page's script",
    params(("If-None-Match" = Option<String>, Header, nullable = false, description = "An `ETag` from an earlier answer.")),
    responses(
        (status = 200, description = "The script.", body = String, content_type = "text/javascript; charset=utf-8",
            headers(
                ("ETag" = String, description = "Digest of the content."),
                ("Cache-Control" = String, description = "`no-cache`: revalidate with `If-None-Match`."),
            )),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`.",
            headers(("ETag" = String, description = "Digest of the content."))),
    ),
)]
pub async fn script(headers: HeaderMap) -> Response {
    SCRIPT.respond(&headers)
}

/// `GET /assets/app.css`.
#[utoipa::path(
    get,
    path = "/assets/app.css",
    tag = "page",
    operation_id = "page_style",
    summary = "The page's style sheet",
    params(("If-None-Match" = Option<String>, Header, nullable = false, description = "An `ETag` from an earlier answer.")),
    responses(
        (status = 200, description = "The style sheet.", body = String, content_type = "text/css; charset=utf-8",
            headers(
                ("ETag" = String, description = "Digest of the content."),
                ("Cache-Control" = String, description = "`no-cache`: revalidate with `If-None-Match`."),
            )),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`.",
            headers(("ETag" = String, description = "Digest of the content."))),
    ),
)]
pub async fn style(headers: HeaderMap) -> Response {
    STYLE.respond(&headers)
}
