//! `tessera`: the Tessera command line (README "The JOSE command line", `tessera man`).
//!
//! Exit codes: 0 success; 1 the token or input was rejected; 2 a usage or configuration
//! error. Errors go to stderr as `code: description`; output for programs goes to stdout.

mod error;
mod fetch;
mod gate;
mod input;
mod keys;
mod manual;
mod server_cmd;
mod token;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::CliError;

/// `0.1.0 (5f6482a 2026-12-02)`: the version and the commit it was built from (`build.rs`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("TESSERA_BUILD_INFO"),
    ")"
);

/// Tessera: JWT authentication server and JOSE tool.
#[derive(Debug, Parser)]
#[command(name = "tessera", version = VERSION, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate keys, print public keys and thumbprints.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Sign, decode and verify JWTs.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Run the authentication server (docs/http-api.md); zero-config on SQLite.
    Serve(server_cmd::ConfigArg),
    /// Manage users in the configured database.
    #[command(subcommand)]
    Users(server_cmd::UsersCommand),
    /// List and revoke sessions in the configured database.
    #[command(subcommand)]
    Sessions(server_cmd::SessionsCommand),
    /// Forward authentication for services behind a proxy (nginx auth_request, Traefik
    /// forwardAuth, Caddy forward_auth, Envoy ext_authz): verifies Tessera access tokens.
    Gate(gate::GateArgs),
    Completions(manual::CompletionsArgs),
    Man(manual::ManArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: wanted output, on stdout, exit 0.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return exit(Err(usage_error(&e))),
    };
    let mut stdout = io::stdout().lock();
    let result = match cli.command {
        Command::Keys(cmd) => keys::run(cmd, &mut stdout),
        Command::Token(cmd) => token::run(cmd, now(), &mut stdout),
        Command::Serve(arg) => server_cmd::serve(arg),
        Command::Gate(args) => gate::run(args),
        Command::Users(cmd) => server_cmd::users(cmd, &mut stdout),
        Command::Sessions(cmd) => server_cmd::sessions(cmd, &mut stdout),
        Command::Completions(args) => manual::completions(args, Cli::command(), &mut stdout),
        Command::Man(args) => manual::man(args, Cli::command(), &mut stdout),
    };
    exit(result.and_then(|()| stdout.flush().map_err(CliError::Output)))
}

/// The one place errors become exit codes: 0 success, 1 rejected, 2 usage or configuration.
fn exit(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`tessera ... | head`): nothing left to say to anyone.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            match e {
                CliError::Rejected { .. } => ExitCode::from(1),
                CliError::Usage { .. } | CliError::Output(_) => ExitCode::from(2),
            }
        }
    }
}

/// clap's own message, with the `invalid_request` code in front like every other error.
fn usage_error(e: &clap::Error) -> CliError {
    let text = e.render().to_string();
    let text = text.trim_end();
    let message = match text.strip_prefix("error: ") {
        Some(rest) => rest.to_owned(),
        None => format!("a subcommand is required\n\n{text}"),
    };
    CliError::request(message)
}

/// The current time in Unix seconds: the one place the CLI reads the clock, so every other
/// function takes time as a parameter.
#[allow(clippy::disallowed_methods)]
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
