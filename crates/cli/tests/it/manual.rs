//! `tessera completions SHELL` and `tessera man`, generated from the clap definitions.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::Dir;

/// The top-level subcommands every generated description must know.
const SUBCOMMANDS: [&str; 7] = [
    "keys",
    "token",
    "serve",
    "users",
    "sessions",
    "completions",
    "man",
];

#[test]
fn completions_name_the_subcommands() {
    let dir = Dir::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = dir.run(&["completions", shell]);
        let script = run.ok();
        assert!(!script.is_empty(), "{shell}");
        assert!(run.stderr.is_empty(), "{shell}: {run:#?}");
        for word in SUBCOMMANDS.iter().chain(&["verify", "--jwks", "--alg"]) {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn bash_completion_is_valid_bash() {
    let script = Dir::new().run(&["completions", "bash"]).stdout;
    let Some(checked) = pipe("bash", &["-n"], &script) else {
        eprintln!("note: bash is not installed; syntax check skipped");
        return;
    };
    assert!(checked.status.success(), "bash -n: {checked:#?}");
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let dir = Dir::new();
    let run = dir.run(&["completions", "tcsh"]);
    run.fails(2, "invalid_request");
    assert!(
        run.stderr.contains("bash"),
        "the shells are listed: {run:#?}"
    );
    dir.run(&["completions"]).fails(2, "invalid_request");
}

#[test]
fn man_page_lists_every_subcommand() {
    let run = Dir::new().run(&["man"]);
    let page = run.ok();
    assert!(page.contains("\n.TH tessera 1 "), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in SUBCOMMANDS {
        // roff writes a hyphen as `\-`.
        assert!(page.contains(&format!("tessera\\-{sub}(1)")), "{sub}");
    }
    assert!(!page.contains("tessera\\-help"), "clap's help is no page");
    // The version line of the page carries the commit, as --version does.
    let version = Dir::new().run(&["--version"]).stdout;
    let version = version.trim().trim_start_matches("tessera ");
    assert!(page.contains(&version.replace('-', "\\-")), "{page}");
}

#[test]
fn man_page_renders_without_warnings() {
    let page = Dir::new().run(&["man"]).stdout;
    // -P -cbou: plain text, without the overstrikes a terminal would show as bold.
    let args = ["-K", "utf8", "-man", "-Tutf8", "-ww", "-P", "-cbou"];
    let Some(out) = pipe("groff", &args, &page) else {
        eprintln!("note: groff is not installed; the page's structure is checked elsewhere");
        return;
    };
    assert!(out.status.success(), "{out:#?}");
    assert!(out.stderr.is_empty(), "groff warnings: {out:#?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in ["NAME", "SYNOPSIS", "SUBCOMMANDS"] {
        assert!(text.contains(heading), "{text}");
    }
}

#[test]
fn man_out_writes_one_page_per_command() {
    let dir = Dir::new();
    let run = dir.run(&["man", "--out", "pages/man1"]);
    let listed: Vec<&str> = run.ok().lines().collect();
    for page in [
        "tessera.1",
        "tessera-token-verify.1",
        "tessera-keys-public.1",
        "tessera-completions.1",
    ] {
        let path = dir.file("pages/man1").join(page);
        assert!(path.is_file(), "{page} missing");
        assert!(
            listed.iter().any(|l| l.ends_with(&format!("/{page}"))),
            "{page} not listed: {listed:?}"
        );
    }
    assert_eq!(
        listed.len(),
        std::fs::read_dir(dir.file("pages/man1")).unwrap().count()
    );
    let verify = dir.read("pages/man1/tessera-token-verify.1");
    assert!(verify.contains(".TH tessera-token-verify 1"), "{verify}");
    // Every page names the program and its version as its source.
    let version = dir.run(&["--version"]).stdout;
    assert!(
        verify.contains(&format!("\"{}\"", version.trim())),
        "{verify}"
    );
    assert!(
        verify.contains("\\-\\-jwks"),
        "options are in the page: {verify}"
    );
    // The directory is the same as `tessera man` prints.
    assert_eq!(dir.read("pages/man1/tessera.1"), dir.run(&["man"]).stdout);
}

#[test]
fn man_out_into_an_unwritable_place_exits_2() {
    let dir = Dir::new();
    dir.write("file", "not a directory");
    dir.run(&["man", "--out", "file/man1"])
        .fails(2, "invalid_request");
}

/// Runs `program ARGS` with `input` on its standard input; None when it is not installed.
fn pipe(program: &str, args: &[&str], input: &str) -> Option<std::process::Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}
