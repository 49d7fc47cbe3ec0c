//! Durations as the CLI and the configuration write them: `0s`, `90s`, `15m`, `2h`, `14d`.

use std::time::Duration;

/// Parses a whole number followed by one unit: `s`, `m`, `h` or `d`.
///
/// One unit only (`1h30m` is refused: write `90m`); no sign, no fraction, no spaces.
pub fn parse(text: &str) -> Result<Duration, String> {
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} needs a unit: s, m, h or d (e.g. 15m)"))?;
    let (digits, unit) = text.split_at(unit_at);
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
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration {text:?} is too large"))
}

/// Seconds for `--leeway`: a bare number of seconds (`60`) or a duration (`2m`).
pub fn parse_seconds(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) => Ok(n),
        Err(_) => parse(text).map(|d| d.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit() {
        for (text, secs) in [
            ("0s", 0),
            ("90s", 90),
            ("15m", 900),
            ("2h", 7200),
            ("14d", 1_209_600),
            ("007m", 420),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_secs(secs)), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_one_number_and_one_unit() {
        for text in [
            "", "15", "m", "-5m", "+5m", "1.5h", "1h30m", "15 m", " 15m", "15M", "15min", "5w",
            "١٥m",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn refuses_overflow() {
        assert!(parse("18446744073709551615s").is_ok());
        assert!(parse("18446744073709551615m").is_err());
        assert!(parse("18446744073709551616s").is_err());
    }

    #[test]
    fn leeway_takes_bare_seconds_or_a_duration() {
        assert_eq!(parse_seconds("60"), Ok(60));
        assert_eq!(parse_seconds("0"), Ok(0));
        assert_eq!(parse_seconds("2m"), Ok(120));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
