//! The refresh cookie (docs/http-api.md): one constructor sets every attribute, one clears it, one
//! finds it in a request.
//!
//! `__Host-tessera_refresh=<token>; Path=/; Max-Age=<secs>; HttpOnly; Secure; SameSite=Strict`
//!
//! The `__Host-` prefix makes browsers refuse the cookie unless it is `Secure`, host-only
//! (no `Domain`) and `Path=/`, so a sibling subdomain cannot plant or overwrite it. With
//! `cookie.secure = false` (plain-http development hosts) the prefix and `Secure` go.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};

use crate::config::{CookieConfig, SameSite};

/// The cookie name with `cookie.secure = true`.
pub const SECURE_NAME: &str = "__Host-tessera_refresh";
/// The cookie name with `cookie.secure = false`.
pub const DEV_NAME: &str = "tessera_refresh";

/// Builds and reads the refresh cookie of one configuration.
#[derive(Debug, Clone)]
pub struct RefreshCookie {
    name: &'static str,
    /// Everything after `Max-Age=N`: `; HttpOnly; Secure; SameSite=Strict`.
    tail: &'static str,
    clear: HeaderValue,
}

impl RefreshCookie {
    /// The cookie of `config`.
    pub fn new(config: &CookieConfig) -> RefreshCookie {
        let (name, tail) = match (config.secure, config.same_site) {
            (true, SameSite::Strict) => (SECURE_NAME, "; HttpOnly; Secure; SameSite=Strict"),
            (true, SameSite::Lax) => (SECURE_NAME, "; HttpOnly; Secure; SameSite=Lax"),
            (false, SameSite::Strict) => (DEV_NAME, "; HttpOnly; SameSite=Strict"),
            (false, SameSite::Lax) => (DEV_NAME, "; HttpOnly; SameSite=Lax"),
        };
        let clear = HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0{tail}"))
            .unwrap_or_else(|_| HeaderValue::from_static("tessera_refresh=; Path=/; Max-Age=0"));
        RefreshCookie { name, tail, clear }
    }

    /// The cookie name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// `Set-Cookie` carrying `token` for `max_age` seconds. The value is marked sensitive so
    /// that nothing that prints headers shows it.
    pub fn set(&self, token: &str, max_age: i64) -> HeaderValue {
        let v = format!(
            "{}={token}; Path=/; Max-Age={}{}",
            self.name,
            max_age.max(0),
            self.tail
        );
        let mut v = HeaderValue::from_str(&v).unwrap_or_else(|_| self.clear.clone());
        v.set_sensitive(true);
        v
    }

    /// `Set-Cookie` that deletes the cookie (`Max-Age=0`).
    pub fn clear(&self) -> HeaderValue {
        self.clear.clone()
    }

    /// The cookie's value in the request's `Cookie` header(s), if present and non-empty.
    /// The first occurrence wins (browsers send the most specific cookie first).
    pub fn find<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k.trim() == self.name).then(|| v.trim().trim_matches('"'))
            })
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secure() -> RefreshCookie {
        RefreshCookie::new(&CookieConfig {
            same_site: SameSite::Strict,
            secure: true,
        })
    }

    #[test]
    fn attributes() {
        let c = secure();
        assert_eq!(
            c.set("abc", 60).to_str().unwrap(),
            "__Host-tessera_refresh=abc; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict"
        );
        assert_eq!(
            c.clear().to_str().unwrap(),
            "__Host-tessera_refresh=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
        );
        let dev = RefreshCookie::new(&CookieConfig {
            same_site: SameSite::Lax,
            secure: false,
        });
        assert_eq!(
            dev.set("abc", 5).to_str().unwrap(),
            "tessera_refresh=abc; Path=/; Max-Age=5; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn parsing() {
        let c = secure();
        let mut h = HeaderMap::new();
        assert_eq!(c.find(&h), None);
        h.append(COOKIE, HeaderValue::from_static("a=1; tessera_refresh=dev"));
        assert_eq!(c.find(&h), None, "the unprefixed name is another cookie");
        h.append(
            COOKIE,
            HeaderValue::from_static("b=2;__Host-tessera_refresh=tok; c=3"),
        );
        assert_eq!(c.find(&h), Some("tok"));
        let mut empty = HeaderMap::new();
        empty.append(COOKIE, HeaderValue::from_static("__Host-tessera_refresh="));
        assert_eq!(c.find(&empty), None);
    }
}
