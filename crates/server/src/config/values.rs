//! Parsing of durations, URLs and origins.

use std::time::Duration;

/// Parses a duration as the configuration and the command line write it: a whole number
/// and one unit, `s`, `m`, `h` or `d` (`0s`, `90s`, `15m`, `2h`, `14d`).
///
/// One unit only (`1h30m` is refused: write `90m`); no sign, no fraction, no space inside.
/// Surrounding whitespace is ignored, as for every configuration value. At most 100 years
/// (`36500d`). The error names the text and says what is expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    // Bound at 100 years so the domain's i64 seconds (a time plus a duration) never overflow.
    const MAX_SECS: u64 = 100 * 365 * 86_400;
    let t = text.trim();
    let unit_at = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} needs a unit: s, m, h or d (e.g. 15m)"))?;
    let (digits, unit) = t.split_at(unit_at);
    if digits.is_empty() {
        return Err(format!(
            "duration {text:?} must start with a whole number (e.g. 15m)"
        ));
    }
    let per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "duration {text:?} has an unknown unit {unit:?} (use s, m, h or d)"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .filter(|secs| *secs <= MAX_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration {text:?} is too long (at most 36500d, 100 years)"))
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
        assert_eq!(parse_duration("007m"), Ok(Duration::from_secs(420)));
        // Configuration values are trimmed; the inside of a duration is not.
        assert_eq!(parse_duration(" 15m\n"), Ok(Duration::from_secs(900)));
        for bad in [
            "",
            "15",
            "m",
            "1.5m",
            "1.5h",
            "-1s",
            "-5m",
            "+5m",
            "1h30m",
            "15 m",
            "15M",
            "15min",
            "5w",
            "\u{661}\u{665}m", // Arabic-Indic digits are not ASCII digits
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
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
    fn durations_are_bounded_at_100_years() {
        let max = Ok(Duration::from_secs(3_153_600_000));
        assert_eq!(parse_duration("3153600000s"), max);
        assert_eq!(parse_duration("36500d"), max);
        for over in [
            "3153600001s",
            "36501d",
            "18446744073709551615s",
            "18446744073709551615m",
            "18446744073709551616s",
        ] {
            let err = parse_duration(over).expect_err(over);
            assert!(err.contains("too long"), "{over}: {err}");
        }
    }

    #[test]
    fn duration_errors_name_the_text_and_the_fix() {
        let message = |text: &str| parse_duration(text).expect_err(text);
        assert!(message("15").contains("needs a unit"), "{}", message("15"));
        assert!(message("m").contains("whole number"), "{}", message("m"));
        let unit = message("15w");
        assert!(
            unit.contains(r#""15w""#) && unit.contains(r#"unknown unit "w""#),
            "{unit}"
        );
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
