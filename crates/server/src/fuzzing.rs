//! Entry points for the fuzz targets (`crates/server/fuzz`) and their bounded runs in the
//! test suite: each feeds arbitrary bytes to one parser that sees request bytes, and panics
//! only when an invariant breaks (a panic in the parser itself is a finding too). Not an API.

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, HeaderValue};

use crate::config::Config;
use crate::cookie::RefreshCookie;
use crate::extract::{bearer_token, forwarded_ip, parse_json, RefreshBody};
use crate::routes::login::LoginRequest;
use crate::routes::oauth::TokenForm;
use crate::routes::users::SignupRequest;

/// The messages a JSON body error may carry: fixed texts, or a known field's name — never
/// a piece of the body (it could be a password).
fn safe_description(d: &str) -> bool {
    const FIXED: [&str; 2] = [
        "the request body is not valid JSON",
        "a field of the request body has the wrong type or value",
    ];
    const FIELDS: [&str; 5] = ["username", "password", "delivery", "refresh_token", "token"];
    FIXED.contains(&d)
        || d.strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
            .is_some_and(|f| FIELDS.contains(&f))
}

/// The JSON bodies of signup, login, refresh and logout, and the form of the OAuth routes.
pub fn json_bodies(data: &[u8]) {
    for result in [
        parse_json::<LoginRequest>(data).map(drop),
        parse_json::<SignupRequest>(data).map(drop),
        parse_json::<RefreshBody>(data).map(drop),
    ] {
        if let Err(e) = result {
            assert_eq!(e.code(), "invalid_request");
            assert_eq!(e.status().as_u16(), 400);
            assert!(safe_description(e.description()), "{:?}", e.description());
        }
    }
    let _ = serde_urlencoded::from_bytes::<TokenForm>(data);
}

/// `Cookie` headers: the refresh cookie found is a piece of what was sent.
pub fn cookie_header(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, value);
    let secure = Config::defaults().cookie;
    let mut dev = secure.clone();
    dev.secure = false;
    for cookie in [RefreshCookie::new(&secure), RefreshCookie::new(&dev)] {
        if let Some(found) = cookie.find(&headers) {
            let sent = String::from_utf8_lossy(data);
            assert!(sent.contains(found), "{found:?} not in {sent:?}");
        }
    }
}

/// `X-Forwarded-For` (split at `\n` into several headers) and `Authorization`.
pub fn forwarded_and_bearer(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", v.clone());
            headers.append(AUTHORIZATION, v);
        }
    }
    if let Some(ip) = forwarded_ip(&headers) {
        // The address chosen is one that was sent, in canonical form.
        assert!(ip.to_string().parse::<std::net::IpAddr>().is_ok());
    }
    if let Some(token) = bearer_token(&headers) {
        assert!(!token.is_empty() && token.trim() == token);
    }
}

/// The configuration: TOML text, then `NAME=VALUE` lines after a `\0` byte as the
/// environment. Errors name the key, the variable or the file; nothing panics.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (toml, env) = text.split_once('\0').unwrap_or((&text, ""));
    let env = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    if let Err(e) = Config::from_parts(None, Some(toml), env) {
        assert!(!e.to_string().is_empty());
    }
}

/// Revocation-feed cursors: whatever decodes names a position that survives a round trip.
pub fn feed_cursor(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(position) = tessera_tokens::decode_cursor(&text) {
        let again = tessera_tokens::encode_cursor(&position);
        assert_eq!(tessera_tokens::decode_cursor(&again), Ok(position));
    }
}
