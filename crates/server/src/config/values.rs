//! Parsing of durations, URLs and origins.

use std::time::Duration;

/// Parses `0s`, `90s`, `15m`, `2h`, `14d`: a non-negative integer and one unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "expected a duration such as 0s, 90s, 15m, 2h or 14d";
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or(EXPECTED)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| EXPECTED)?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(EXPECTED.into()),
    };
    // Bound at ~100 years so the domain's i64 seconds can never overflow.
    n.checked_mul(mult)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| "duration is too long".into())
}

/// Checks the scheme and syntax of `redis.url` (no connection is made): `redis://`,
/// `redis+unix://` or `unix://`; `rediss://` is refused (this build has no TLS to Redis).
pub fn parse_redis_url(url: &str) -> Result<(), String> {
    let scheme = url.split("://").next().unwrap_or_default();
    match scheme {
        "redis" | "redis+unix" | "unix" if url.contains("://") => {}
        "rediss" => {
            return Err(
                "rediss:// (TLS) is not supported by this build; use redis:// on a \
                 private network or a unix socket (redis+unix://)"
                    .into(),
            )
        }
        _ => return Err("expected a redis://host[:port][/db] or redis+unix:///path URL".into()),
    }
    ::redis::Client::open(url)
        .map(|_| ())
        .map_err(|e| format!("invalid Redis URL: {e}"))
}

/// `scheme://host[:port]` in the form browsers send in `Origin` (lowercase, default port
/// dropped), or an error. A path of `/` is tolerated; anything else is refused.
pub(super) fn parse_origin(text: &str) -> Result<String, String> {
    let url = parse_base_url(text)?;
    if url.matches('/').count() > 2 {
        return Err(format!(
            "`{text}` is not an origin (scheme://host[:port], no path)"
        ));
    }
    Ok(url)
}

/// An `http(s)://authority[/path]` URL without query, fragment or trailing slash; scheme
/// and host lowercased, default port dropped.
pub(super) fn parse_base_url(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not an http:// or https:// URL");
    let t = text.trim();
    let (scheme, rest) = t.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(bad()),
    };
    if rest.contains(['?', '#', '@', ' ']) {
        return Err(bad());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority == "*" {
        return Err(bad());
    }
    let mut authority = authority.to_ascii_lowercase();
    if let Some(stripped) = authority.strip_suffix(default_port) {
        authority = stripped.to_owned();
    }
    Ok(format!(
        "{scheme}://{authority}{}",
        path.trim_end_matches('/')
    ))
}

/// The origin part of a base URL.
pub(super) fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i].to_owned(),
        None => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in [
            "",
            "15",
            "m",
            "1.5m",
            "-1s",
            "15 m",
            "15min",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redis_urls_are_checked_by_scheme() {
        assert!(parse_redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(parse_redis_url("redis://:pw@cache:6380/2").is_ok());
        assert!(parse_redis_url("redis+unix:///run/redis.sock").is_ok());
        assert!(parse_redis_url("rediss://cache:6380")
            .unwrap_err()
            .contains("TLS"));
        assert!(parse_redis_url("http://cache:6379").is_err());
        assert!(parse_redis_url("cache:6379").is_err());
    }

    #[test]
    fn origins_are_canonical() {
        assert_eq!(
            parse_origin("HTTPS://App.Example:443/").as_deref(),
            Ok("https://app.example")
        );
        assert_eq!(
            parse_origin("http://localhost:3000").as_deref(),
            Ok("http://localhost:3000")
        );
        assert!(parse_origin("https://a.example/path").is_err());
        assert!(parse_origin("*").is_err());
        assert!(parse_origin("ftp://a").is_err());
        assert_eq!(
            origin_of("https://auth.example/base"),
            "https://auth.example"
        );
    }
}
