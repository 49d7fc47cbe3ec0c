//! CSRF defence for requests authenticated by the refresh cookie (docs/http-api.md).
//!
//! `SameSite=Strict` already keeps the cookie off cross-site requests in current browsers;
//! this check is the second layer, for `SameSite=Lax`, for same-site-but-cross-origin
//! attackers (a sibling subdomain) and for older browsers. A request whose refresh token
//! comes from the cookie is refused when its `Origin` is present and not allowed
//! (`Origin: null`, sent by sandboxed frames and some redirects, is foreign), or when
//! Fetch Metadata says `Sec-Fetch-Site: cross-site`. Requests without either header
//! (native clients, old browsers on same-origin GET-like requests) pass: they cannot be
//! forged by a browser page without the browser sending `Origin` on a cross-origin POST.

use axum::http::header::ORIGIN;
use axum::http::HeaderMap;

use crate::error::ApiError;

/// Checks a cookie-authenticated request against the allowed origins.
pub fn check(headers: &HeaderMap, allowed_origins: &[String]) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes().eq_ignore_ascii_case(b"cross-site") {
            return Err(ApiError::csrf_failed("cross-site request refused"));
        }
    }
    for origin in headers.get_all(ORIGIN) {
        let o = origin.as_bytes();
        if !allowed_origins
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(o))
        {
            return Err(ApiError::csrf_failed(
                "request from a foreign origin refused",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn req(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origins_and_fetch_metadata() {
        let allowed = vec!["https://app.example".to_owned()];
        assert!(check(&req(&[]), &allowed).is_ok());
        assert!(check(&req(&[("origin", "https://app.example")]), &allowed).is_ok());
        assert!(check(&req(&[("sec-fetch-site", "same-origin")]), &allowed).is_ok());
        assert!(check(&req(&[("sec-fetch-site", "same-site")]), &allowed).is_ok());
        for bad in [
            req(&[("origin", "https://evil.example")]),
            req(&[("origin", "null")]),
            req(&[("origin", "https://app.example.evil")]),
            req(&[
                ("origin", "https://app.example"),
                ("sec-fetch-site", "cross-site"),
            ]),
            req(&[
                ("origin", "https://app.example"),
                ("origin", "https://evil.example"),
            ]),
        ] {
            assert_eq!(
                check(&bad, &allowed).map_err(|e| e.code()),
                Err("csrf_failed")
            );
        }
    }
}
