//! Configuration layering (defaults < file < environment) and its refusals.

use std::io::Write;
use std::time::Duration;

use tessera_server::config::{Delivery, SameSite};
use tessera_server::{Config, ConfigError};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_are_the_spec_table() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.server.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.public_url, "http://127.0.0.1:8080");
    assert!(!c.server.trust_forwarded_for);
    assert_eq!(c.database.url, "sqlite://tessera.db");
    assert_eq!(c.tokens.algorithm.as_str(), "ES256");
    assert_eq!(c.tokens.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.tokens.audience, "api");
    assert_eq!(c.tokens.typ, "at+jwt");
    assert_eq!(c.tokens.access_ttl, Duration::from_secs(15 * 60));
    assert_eq!(c.tokens.refresh_ttl, Duration::from_secs(14 * 86_400));
    assert_eq!(c.tokens.idle_timeout, Duration::from_secs(7 * 86_400));
    assert_eq!(c.tokens.reuse_grace, Duration::from_secs(10));
    assert_eq!(c.tokens.leeway, Duration::from_secs(60));
    assert_eq!(c.tokens.delivery, Delivery::Cookie);
    assert_eq!(c.cookie.same_site, SameSite::Strict);
    assert!(c.cookie.secure);
    assert_eq!(
        c.cors.allowed_origins,
        ["http://127.0.0.1:8080", "http://localhost:8080"]
    );
    assert!(c.signup.enabled);
    assert_eq!(c.password.min_length, 8);
    assert_eq!(c.sessions.max_per_user, 100);
    assert_eq!(c.rate_limit.login_per_minute, 10);
    assert_eq!(c.rate_limit.signup_per_minute, 10);
    assert_eq!(c.rate_limit.refresh_per_minute, 600);
    assert_eq!(c.redis.url, None);
    assert_eq!(c.redis.key_prefix, "tessera:rl");
    assert_eq!(c.keys.rotation_period, Duration::from_secs(30 * 86_400));
    assert_eq!(c.keys.jwks_max_age, Duration::from_secs(300));
    assert_eq!(c.keys.master_key_file.to_str(), Some("tessera.master.key"));
    assert_eq!(c.log.level, "info");
}

#[test]
fn environment_overrides_the_file_which_overrides_defaults() {
    let f = file(
        r#"
        [server]
        bind = "0.0.0.0:9000"
        public_url = "https://auth.example/"

        [tokens]
        access_ttl = "5m"
        audience = "file-api"

        [cors]
        allowed_origins = ["https://app.example"]
        "#,
    );
    let c = Config::load(
        Some(f.path()),
        env(&[
            ("TESSERA_TOKENS__ACCESS_TTL", "2m"),
            ("TESSERA_COOKIE__SAME_SITE", "lax"),
            ("TESSERA_SIGNUP__ENABLED", "false"),
            ("TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE", "5"),
            ("TESSERA_ADMIN_TOKEN", "not a setting"),
            ("TESSERA_MASTER_KEY", "not a setting"),
            ("TESSERA_SOMETHING", "ignored: no double underscore"),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.bind.port(), 9000, "file");
    assert_eq!(
        c.server.public_url, "https://auth.example",
        "file, trailing slash dropped"
    );
    assert_eq!(
        c.tokens.issuer, "https://auth.example",
        "issuer defaults to public_url"
    );
    assert_eq!(
        c.tokens.access_ttl,
        Duration::from_secs(120),
        "env wins over file"
    );
    assert_eq!(c.tokens.audience, "file-api");
    assert_eq!(c.cookie.same_site, SameSite::Lax);
    assert!(!c.signup.enabled);
    assert_eq!(c.rate_limit.login_per_minute, 5);
    assert_eq!(
        c.cors.allowed_origins,
        ["https://auth.example", "https://app.example"]
    );

    let c = Config::load(
        Some(f.path()),
        env(&[(
            "TESSERA_CORS__ALLOWED_ORIGINS",
            r#"["https://a.example", "https://b.example:8443"]"#,
        )]),
    )
    .unwrap();
    assert_eq!(
        c.cors.allowed_origins,
        [
            "https://auth.example",
            "https://a.example",
            "https://b.example:8443"
        ]
    );
}

fn message(e: ConfigError) -> String {
    e.to_string()
}

#[test]
fn an_unknown_key_in_the_file_stops_start_up_naming_it() {
    let f = file("[tokens]\naccess_tll = \"5m\"\n");
    let m = message(Config::load(Some(f.path()), env(&[])).unwrap_err());
    assert!(m.contains("access_tll"), "{m}");
    let f = file("[tokenz]\naccess_ttl = \"5m\"\n");
    let m = message(Config::load(Some(f.path()), env(&[])).unwrap_err());
    assert!(m.contains("tokenz"), "{m}");
    let f = file("[signup]\nenabled = \"yes\"\n");
    let m = message(Config::load(Some(f.path()), env(&[])).unwrap_err());
    assert!(m.contains("enabled"), "{m}");
}

#[test]
fn an_unknown_environment_variable_stops_start_up_naming_it() {
    for var in [
        "TESSERA_TOKENS__ACCESS_TLL",
        "TESSERA_NOPE__URL",
        "TESSERA_DATABASE__URL__X",
    ] {
        let m = message(Config::load(None, env(&[(var, "x")])).unwrap_err());
        assert!(m.contains(var), "{m}");
    }
}

#[test]
fn an_invalid_value_stops_start_up_naming_the_key_and_its_source() {
    let m = message(
        Config::load(None, env(&[("TESSERA_TOKENS__ACCESS_TTL", "15 minutes")])).unwrap_err(),
    );
    assert!(
        m.contains("tokens.access_ttl") && m.contains("TESSERA_TOKENS__ACCESS_TTL"),
        "{m}"
    );
    let f = file("[tokens]\nrefresh_ttl = \"14x\"\n");
    let m = message(Config::load(Some(f.path()), env(&[])).unwrap_err());
    assert!(m.contains("tokens.refresh_ttl"), "{m}");
    for (var, value, key) in [
        ("TESSERA_SERVER__BIND", "localhost", "server.bind"),
        ("TESSERA_SERVER__PUBLIC_URL", "ftp://x", "server.public_url"),
        ("TESSERA_TOKENS__ALGORITHM", "none", "tokens.algorithm"),
        ("TESSERA_TOKENS__ACCESS_TTL", "0s", "tokens.access_ttl"),
        ("TESSERA_TOKENS__DELIVERY", "both", "tokens.delivery"),
        ("TESSERA_COOKIE__SAME_SITE", "none", "cookie.same_site"),
        ("TESSERA_COOKIE__SECURE", "yes", "cookie.secure"),
        ("TESSERA_CORS__ALLOWED_ORIGINS", "*", "cors.allowed_origins"),
        (
            "TESSERA_CORS__ALLOWED_ORIGINS",
            "https://a.example/path",
            "cors.allowed_origins",
        ),
        ("TESSERA_PASSWORD__MIN_LENGTH", "-1", "password.min_length"),
        (
            "TESSERA_RATE_LIMIT__LOGIN_PER_MINUTE",
            "many",
            "rate_limit.login_per_minute",
        ),
        (
            "TESSERA_DATABASE__SYNCHRONOUS",
            "off",
            "database.synchronous",
        ),
        ("TESSERA_DATABASE__URL", "mysql://x", "database.url"),
        ("TESSERA_LOG__FORMAT", "xml", "log.format"),
        ("TESSERA_KEYS__JWKS_MAX_AGE", "5", "keys.jwks_max_age"),
        ("TESSERA_REDIS__KEY_PREFIX", "", "redis.key_prefix"),
        ("TESSERA_REDIS__KEY_PREFIX", "two words", "redis.key_prefix"),
        (
            "TESSERA_SESSIONS__MAX_PER_USER",
            "0",
            "sessions.max_per_user",
        ),
        (
            "TESSERA_SESSIONS__MAX_PER_USER",
            "-1",
            "sessions.max_per_user",
        ),
    ] {
        let m = message(Config::load(None, env(&[(var, value)])).unwrap_err());
        assert!(m.contains(key) && m.contains(var), "{var}={value}: {m}");
    }
}

#[test]
fn extras_are_accepted() {
    let c = Config::load(
        None,
        env(&[
            ("TESSERA_REDIS__URL", "redis://cache:6379"),
            ("TESSERA_REDIS__KEY_PREFIX", "staging:rl"),
            ("TESSERA_KEYS__ROTATION_PERIOD", "7d"),
            ("TESSERA_KEYS__MASTER_KEY_FILE", "/etc/tessera/master.key"),
            ("TESSERA_DATABASE__SYNCHRONOUS", "full"),
            ("TESSERA_LOG__FORMAT", "json"),
            ("TESSERA_LOG__LEVEL", "debug,sqlx=warn"),
            ("TESSERA_TOKENS__ALGORITHM", "EdDSA"),
        ]),
    )
    .unwrap();
    assert_eq!(c.redis.url.as_deref(), Some("redis://cache:6379"));
    assert_eq!(c.redis.key_prefix, "staging:rl");
    assert_eq!(c.keys.rotation_period, Duration::from_secs(7 * 86_400));
    assert_eq!(c.tokens.algorithm.as_str(), "EdDSA");
}

/// White space before a directive once shifted tracing-subscriber's slices of it: the
/// filter meant something else, and a multi-byte character after the space panicked at
/// start (found by the `config` fuzz target). Each directive is now trimmed first.
#[test]
fn log_level_directives_are_trimmed_and_may_hold_any_characters() {
    for (level, kept) in [
        (" info , sqlx=warn,", "info,sqlx=warn"),
        (" info\u{0229}[x]", "info\u{0229}[x]"),
        ("info, \u{e9}[x]=debug", "info,\u{e9}[x]=debug"),
        ("info,\u{3000}\u{fc}=warn", "info,\u{fc}=warn"),
    ] {
        let c = Config::load(None, env(&[("TESSERA_LOG__LEVEL", level)])).unwrap();
        assert_eq!(c.log.level, kept, "{level:?}");
        let c = Config::from_parts(None, Some(&format!("[log]\nlevel = '{level}'\n")), env(&[]))
            .unwrap();
        assert_eq!(c.log.level, kept, "{level:?}");
    }
    let m = message(Config::load(None, env(&[("TESSERA_LOG__LEVEL", " info=nope")])).unwrap_err());
    assert!(m.contains("log.level"), "{m}");
}

/// A field value in the filter is literal text, never a regular expression: tracing-subscriber
/// would build a full DFA of it, exponential in the pattern (this one, 2^20 states, held
/// start-up for minutes; found by the `config` fuzz target).
#[test]
fn log_level_field_values_are_not_compiled_as_regular_expressions() {
    let level = format!("info,[span{{field=(a|b)*a{}}}]", "(a|b)".repeat(20));
    let c = Config::load(None, env(&[("TESSERA_LOG__LEVEL", &level)])).unwrap();
    assert_eq!(c.log.level, level);
}

/// Zero-config browser origin: with the default public URL and a loopback bind, the page
/// may be opened as `localhost` too; never when the operator named the public URL or the
/// listener is reachable from other hosts.
#[test]
fn a_loopback_default_public_url_also_allows_localhost() {
    let c = Config::load(None, env(&[("TESSERA_SERVER__BIND", "[::1]:9000")])).unwrap();
    assert_eq!(c.server.public_url, "http://[::1]:9000");
    assert_eq!(
        c.cors.allowed_origins,
        ["http://[::1]:9000", "http://localhost:9000"]
    );
    for pairs in [
        &[
            ("TESSERA_SERVER__BIND", "127.0.0.1:9000"),
            ("TESSERA_SERVER__PUBLIC_URL", "http://127.0.0.1:9000"),
        ][..],
        &[("TESSERA_SERVER__BIND", "0.0.0.0:9000")][..],
    ] {
        let c = Config::load(None, env(pairs)).unwrap();
        assert_eq!(c.cors.allowed_origins, [c.server.public_url.as_str()]);
    }
    // Listed explicitly, it is not repeated.
    let c = Config::load(
        None,
        env(&[("TESSERA_CORS__ALLOWED_ORIGINS", "http://localhost:8080")]),
    )
    .unwrap();
    assert_eq!(
        c.cors.allowed_origins,
        ["http://127.0.0.1:8080", "http://localhost:8080"]
    );
}

/// `docs/configuration.md` lists exactly the keys of the one table in code
/// (`tessera_server::config::KEYS`), each with that table's default: nothing missing,
/// nothing extra, no default that drifted.
#[test]
fn the_documentation_lists_every_key_with_its_default() {
    use std::collections::BTreeMap;
    use tessera_server::config::KEYS;

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("## Settings").expect("a `## Settings` section");
    let section = &text[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let documented: BTreeMap<String, String> = section[..end]
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | `key` | default | meaning |
            let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            key.contains('.').then(|| {
                (
                    key.to_owned(),
                    cells.get(2).copied().unwrap_or("").to_owned(),
                )
            })
        })
        .collect();
    let in_code: BTreeMap<String, String> = KEYS
        .iter()
        .map(|k| (k.name.to_owned(), k.default.doc()))
        .collect();
    let differences: Vec<String> = documented
        .keys()
        .chain(in_code.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| documented.get(*k) != in_code.get(*k))
        .map(|k| {
            format!(
                "{k}: docs say {:?}, code says {:?}",
                documented.get(k),
                in_code.get(k)
            )
        })
        .collect();
    assert!(
        differences.is_empty(),
        "docs/configuration.md's settings table differs from config::KEYS:\n{}",
        differences.join("\n")
    );
    for k in KEYS {
        assert!(!k.description.is_empty(), "{} has no description", k.name);
    }
}
