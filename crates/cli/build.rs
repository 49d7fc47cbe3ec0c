//! Puts the git commit the binary was built from into `tessera --version`, as
//! `TESSERA_BUILD_INFO` (e.g. `5f6482a 2026-12-02`, or `unknown commit`).
//!
//! Never fails the build: without git, or outside this repository's work tree (a source
//! tarball, a vendored copy), the commit is simply unknown. Packagers who build from such a
//! copy set `TESSERA_BUILD_COMMIT` to what `--version` should show instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=TESSERA_BUILD_COMMIT");
    let info = match std::env::var("TESSERA_BUILD_COMMIT") {
        Ok(given) if !printable(&given).is_empty() => printable(&given),
        _ => git_commit().unwrap_or_else(|| "unknown commit".to_owned()),
    };
    println!("cargo:rustc-env=TESSERA_BUILD_INFO={info}");
}

/// `<short hash> <commit date>` of HEAD, and the rerun triggers that keep it current.
fn git_commit() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // A copy of this crate vendored into another repository would otherwise report that
    // repository's commit.
    if git(&dir, &["rev-parse", "--show-prefix"])? != "crates/cli/" {
        return None;
    }
    watch(&dir);
    let hash = git(&dir, &["rev-parse", "--short", "HEAD"])?;
    let date = git(
        &dir,
        &["show", "-s", "--format=%cd", "--date=short", "HEAD"],
    )?;
    Some(printable(&format!("{hash} {date}")))
}

/// Reruns this script when HEAD moves: a checkout changes the HEAD file, a commit changes
/// the branch's ref (a loose file, or `packed-refs` once packed). Worktrees keep HEAD apart
/// from the shared refs, which `--git-path` resolves.
fn watch(dir: &Path) {
    let mut paths = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for path in paths {
        let Some(file) = git(dir, &["rev-parse", "--git-path", &path]) else {
            continue;
        };
        let file = dir.join(file);
        // Cargo reruns a script on every build while a watched file is missing.
        if file.exists() {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
}

/// The trimmed output of a successful `git ARGS` run in `dir`, or None.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_owned())
}

/// `text` on one line of visible characters (a `cargo:` directive ends at a newline).
fn printable(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}
