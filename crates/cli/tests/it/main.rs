//! Integration tests: the built `tessera` binary, run the way a user runs it.
#![allow(clippy::unwrap_used)]

mod cli;
mod crash;
mod decode;
mod encode;
mod gate;
mod jwks_url;
mod key_lifecycle;
mod keys;
mod manual;
mod pg_fault;
mod replicas;
mod serve;
mod slow_clients;
mod users;
mod verify;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tessera");

/// Taken by the tests that put servers under load or wait on timing bounds (the crash,
/// PostgreSQL-fault, replica and key-rotation tests): one at a time, so that on a 2-core
/// machine none of them measures another's load instead of its own.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for [`HEAVY`]; a test that panicked holding it leaves it usable.
pub fn heavy_turn() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The proxy variables HTTP clients read.
const PROXY_VARS: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout without its final newline.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self.stdout.trim_end()
    }

    /// Asserts the exit code and that stderr starts with `code: `, and that nothing went
    /// to stdout.
    #[track_caller]
    pub fn fails(&self, exit: i32, code: &str) {
        assert_eq!(self.code, exit, "exit code: {self:#?}");
        assert!(
            self.stderr.starts_with(&format!("{code}: ")),
            "stderr should start with {code:?}: {self:#?}"
        );
        assert!(self.stdout.is_empty(), "nothing on stdout: {self:#?}");
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
}

/// A scratch directory, removed on drop, in which the binary runs.
#[derive(Debug)]
pub struct Dir(tempfile::TempDir);

impl Default for Dir {
    fn default() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
}

impl Dir {
    pub fn new() -> Dir {
        Dir::default()
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        fs::write(self.file(name), contents).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).unwrap()
    }

    /// Runs `tessera ARGS` in this directory with empty standard input.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    /// Runs `tessera ARGS` in this directory, feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.spawn(args, stdin, &[])
    }

    /// Runs `tessera ARGS` in this directory with environment variables set (`Some`) or
    /// removed (`None`).
    pub fn run_env(&self, args: &[&str], env: &[(&str, Option<&str>)]) -> Run {
        self.spawn(args, "", env)
    }

    fn spawn(&self, args: &[&str], stdin: &str, env: &[(&str, Option<&str>)]) -> Run {
        let mut command = Command::new(BIN);
        // Loopback test servers are reached directly, whatever proxy the host configures.
        for proxy in PROXY_VARS {
            command.env_remove(proxy);
        }
        for (name, value) in env {
            match value {
                Some(v) => command.env(name, v),
                None => command.env_remove(name),
            };
        }
        let mut child = command
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        // The binary may exit before reading (e.g. on a usage error): ignore a closed pipe.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// `tessera keys generate --alg ALG [EXTRA]... > NAME`, returning the JWK.
    pub fn generate(&self, name: &str, alg: &str, extra: &[&str]) -> Value {
        let mut args = vec!["keys", "generate", "--alg", alg];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        self.write(name, &run.stdout);
        run.json()
    }

    /// `tessera token encode ARGS`, returning the token.
    pub fn encode(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "encode"];
        all.extend_from_slice(args);
        self.run(&all).ok().to_owned()
    }

    /// `tessera token verify TOKEN ARGS`.
    pub fn verify(&self, token: &str, args: &[&str]) -> Run {
        let mut all = vec!["token", "verify", token];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// A test data file under `tests/data`.
pub fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// Unix seconds now, to compare with the `iat` and `exp` the binary writes from its clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
