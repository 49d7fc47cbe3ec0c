//! RFC 8414 discovery: the issuer's metadata names its `jwks_uri` and (Tessera's extension)
//! its `revocation_feed_endpoint`.

use std::sync::{Arc, Mutex};

use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Deserialize;

use crate::fetch::{self, FetchError, UrlPolicy};
use crate::issuer::Ctx;

/// What the verifier uses from the metadata.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub jwks_uri: Uri,
    pub revocation_feed_endpoint: Option<Uri>,
}

#[derive(Deserialize)]
struct Raw {
    issuer: String,
    jwks_uri: Option<String>,
    revocation_feed_endpoint: Option<String>,
}

/// The metadata of one issuer, fetched when first needed and kept until a key fetch fails.
#[derive(Debug)]
pub(crate) struct Discovery {
    issuer: String,
    /// Where to look, in order.
    urls: Vec<Uri>,
    cached: Mutex<Option<Arc<Metadata>>>,
}

const WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";

impl Discovery {
    /// For `issuer` (checked against the URL policy). An issuer without a path has one
    /// metadata URL; with a path, RFC 8414 §3.1's (the well-known segment inserted before
    /// the path) is tried first, then the path-appended one that a Tessera behind a
    /// path-routing proxy answers.
    pub fn new(issuer: &str, policy: &UrlPolicy) -> Result<Self, String> {
        let uri = policy.parse(issuer)?;
        if uri.query().is_some() || issuer.contains('#') {
            return Err(format!(
                "issuer `{issuer}` has a query or fragment (RFC 8414 §2)"
            ));
        }
        let origin = fetch::origin(&uri);
        let path = uri.path().trim_end_matches('/');
        let mut texts = Vec::new();
        if path.is_empty() {
            texts.push(format!("{origin}{WELL_KNOWN}"));
        } else {
            texts.push(format!("{origin}{WELL_KNOWN}{path}"));
            texts.push(format!("{origin}{path}{WELL_KNOWN}"));
        }
        let urls = texts
            .iter()
            .map(|t| t.parse().map_err(|_| format!("`{t}` is not a URL")))
            .collect::<Result<_, _>>()?;
        Ok(Discovery {
            issuer: issuer.to_owned(),
            urls,
            cached: Mutex::new(None),
        })
    }

    /// The metadata, from the cache or fetched now.
    pub async fn metadata(&self, ctx: &Ctx) -> Result<Arc<Metadata>, FetchError> {
        if let Some(m) = self.cached.lock().ok().and_then(|c| c.clone()) {
            return Ok(m);
        }
        let mut last = None;
        for url in &self.urls {
            match self.fetch(ctx, url).await {
                Ok(m) => {
                    let m = Arc::new(m);
                    if let Ok(mut c) = self.cached.lock() {
                        *c = Some(m.clone());
                    }
                    return Ok(m);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| FetchError::new("no metadata URL")))
    }

    /// The cached metadata, if any (for health).
    pub fn cached(&self) -> Option<Arc<Metadata>> {
        self.cached.lock().ok().and_then(|c| c.clone())
    }

    /// Forgets the metadata, so the next fetch reads it again (after a key fetch failed:
    /// the issuer may have moved its JWKS).
    pub fn forget(&self) {
        if let Ok(mut c) = self.cached.lock() {
            *c = None;
        }
    }

    async fn fetch(&self, ctx: &Ctx, url: &Uri) -> Result<Metadata, FetchError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let res = fetch::get(
            ctx.fetcher()?,
            &ctx.policy,
            &ctx.limits,
            url.clone(),
            headers,
        )
        .await?;
        if res.status != StatusCode::OK {
            return Err(FetchError::new(format!(
                "issuer metadata {url} answered {}",
                res.status.as_u16()
            )));
        }
        let raw: Raw = serde_json::from_slice(&res.body)
            .map_err(|_| FetchError::new(format!("issuer metadata {url} is not RFC 8414 JSON")))?;
        // RFC 8414 §3.3: the metadata must name exactly the issuer we asked about, or an
        // attacker's metadata could hand us its own keys.
        if raw.issuer != self.issuer {
            return Err(FetchError::new(format!(
                "issuer metadata {url} names another issuer (`{}`, not `{}`)",
                raw.issuer.chars().take(200).collect::<String>(),
                self.issuer
            )));
        }
        let jwks_uri = raw
            .jwks_uri
            .ok_or_else(|| FetchError::new(format!("issuer metadata {url} has no jwks_uri")))?;
        let jwks_uri = ctx.policy.parse(&jwks_uri).map_err(FetchError::new)?;
        let revocation_feed_endpoint = raw
            .revocation_feed_endpoint
            .map(|u| ctx.policy.parse(&u).map_err(FetchError::new))
            .transpose()?;
        Ok(Metadata {
            jwks_uri,
            revocation_feed_endpoint,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        Discovery::new(issuer, &UrlPolicy::default())
            .unwrap()
            .urls
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn metadata_urls_follow_rfc8414() {
        assert_eq!(
            urls("https://auth.example.com"),
            ["https://auth.example.com/.well-known/oauth-authorization-server"]
        );
        assert_eq!(
            urls("https://auth.example.com/"),
            ["https://auth.example.com/.well-known/oauth-authorization-server"]
        );
        assert_eq!(
            urls("https://example.com/auth"),
            [
                "https://example.com/.well-known/oauth-authorization-server/auth",
                "https://example.com/auth/.well-known/oauth-authorization-server"
            ]
        );
        assert!(Discovery::new("https://a.example?x=1", &UrlPolicy::default()).is_err());
        assert!(Discovery::new("http://a.example", &UrlPolicy::default()).is_err());
    }
}
