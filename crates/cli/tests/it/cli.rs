//! The command line itself: help, version, usage errors, and the done-when pipeline.

use crate::{Dir, BIN};

#[test]
fn help_and_version_exit_0_on_stdout() {
    let dir = Dir::new();
    for args in [
        &["--help"][..],
        &["--version"],
        &["keys", "--help"],
        &["keys", "generate", "--help"],
        &["token", "encode", "-h"],
        &["token", "verify", "--help"],
        &["help", "token"],
    ] {
        let run = dir.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:#?}");
        assert!(!run.stdout.is_empty(), "{args:?}: {run:#?}");
        assert!(run.stderr.is_empty(), "{args:?}: {run:#?}");
    }
    assert!(dir.run(&["--version"]).stdout.starts_with("tessera "));
}

#[test]
fn usage_errors_exit_2_with_invalid_request() {
    let dir = Dir::new();
    for args in [
        &[][..],
        &["keys"],
        &["frobnicate"],
        &["keys", "generate"],
        &["keys", "generate", "--alg", "ES256", "--bogus"],
        &["token", "verify", "a.b.c"],
        &["token", "encode", "--exp", "15m"],
        &["token", "frobnicate"],
    ] {
        dir.run(args).fails(2, "invalid_request");
    }
}

#[test]
fn alg_none_and_unknown_names_are_usage_errors() {
    let dir = Dir::new();
    for alg in ["none", "NONE", "es256", "HS1", ""] {
        let run = dir.run(&["keys", "generate", "--alg", alg]);
        run.fails(2, "invalid_request");
        assert!(run.stderr.contains("--alg"), "{run:#?}");
    }
}

/// The done-when, verbatim, through a real shell:
/// `tessera keys generate --alg ES256 > k.jwk && tessera token encode --key k.jwk --exp 15m
/// --claim sub=u1 | tessera token verify - --key k.jwk` prints the claims.
#[cfg(unix)]
#[test]
fn done_when_pipeline_prints_the_claims() {
    let dir = Dir::new();
    let bin_dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            "set -e; tessera keys generate --alg ES256 > k.jwk && \
             tessera token encode --key k.jwk --exp 15m --claim sub=u1 | \
             tessera token verify - --key k.jwk",
        )
        .env("PATH", path)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:#?}");
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["sub"], "u1");
    let (exp, iat) = (
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 900);
    assert!(out.stderr.is_empty(), "{out:#?}");
}

/// `tessera --version` names the version and the commit it was built from (`build.rs`).
#[test]
fn version_names_the_commit() {
    let run = Dir::new().run(&["--version"]);
    let line = run.ok();
    let version = concat!("tessera ", env!("CARGO_PKG_VERSION"), " (");
    assert!(line.starts_with(version), "{line}");
    assert!(line.ends_with(')'), "{line}");
    let commit = match option_env!("TESSERA_BUILD_COMMIT") {
        // A packager's override, shown as given.
        Some(given) if !given.trim().is_empty() => Some(given.trim().to_owned()),
        _ => git_short_head(),
    };
    match commit {
        Some(commit) => assert!(line.contains(&format!("({commit}")), "{line} vs {commit}"),
        None => assert!(line.contains("(unknown commit)"), "{line}"),
    }
    // Subcommands print the same version.
    let sub = Dir::new().run(&["token", "--version"]);
    assert_eq!(sub.ok(), line.replacen("tessera", "tessera-token", 1));
}

/// `git rev-parse --short HEAD` of this repository, when git and the repository are there.
fn git_short_head() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let hash = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !hash.trim().is_empty()).then(|| hash.trim().to_owned())
}
