//! `tessera completions SHELL` and `tessera man`: the command line described for shells and
//! for man(1), generated from the same clap definitions that parse it, so they never drift.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Command};
use clap_complete::Shell;
use clap_mangen::Man;

use crate::error::CliError;

/// Print a shell completion script on standard output.
///
/// Install it where your shell looks for completions, e.g.
/// `tessera completions bash > ~/.local/share/bash-completion/completions/tessera`,
/// `tessera completions zsh > ~/.zfunc/_tessera` (with ~/.zfunc in fpath), or
/// `tessera completions fish > ~/.config/fish/completions/tessera.fish`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Print the man page tessera(1) on standard output, or write one page per command.
///
/// Without --out, the page lists the subcommands; with --out DIR, DIR also gets
/// tessera-keys(1), tessera-token-verify(1) and the rest, one page per subcommand with its
/// options, and their paths are printed. E.g. `tessera man > ~/.local/share/man/man1/tessera.1`
/// or `tessera man --out ~/.local/share/man/man1`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write tessera.1 and a page for every subcommand into this directory (created if
    /// missing; existing pages are replaced) instead of printing tessera(1).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Writes the completion script for `args.shell` of the command line `cli` to `out`.
pub fn completions(
    args: CompletionsArgs,
    mut cli: Command,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // Generated into memory first: clap_complete panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "tessera", &mut script);
    out.write_all(&script).map_err(CliError::Output)
}

/// Writes tessera(1) to `out`, or every page into `args.out`.
pub fn man(args: ManArgs, cli: Command, out: &mut dyn Write) -> Result<(), CliError> {
    // `help` is clap's own subcommand: its page would say nothing `--help` does not.
    let mut cli = cli.disable_help_subcommand(true);
    // Names the subcommands `tessera-keys`, `tessera-token-verify`, ... for their pages.
    cli.build();
    // Every page's footer names the program, not the subcommand: `tessera 0.1.0 (5f6482a ...)`.
    let source = format!("tessera {}", cli.get_version().unwrap_or_default());
    match args.out {
        None => out
            .write_all(&render(&cli, &source)?)
            .map_err(CliError::Output),
        Some(dir) => {
            fs::create_dir_all(&dir).map_err(|e| cannot_write(&dir, &e))?;
            write_pages(&cli, &source, &dir, out)
        }
    }
}

/// One page for `cmd` and one for each of its subcommands, depth first; prints each path.
fn write_pages(
    cmd: &Command,
    source: &str,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let path = dir.join(Man::new(cmd.clone()).get_filename());
    fs::write(&path, render(cmd, source)?).map_err(|e| cannot_write(&path, &e))?;
    writeln!(out, "{}", path.display()).map_err(CliError::Output)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, source, dir, out)?;
    }
    Ok(())
}

/// The roff text of `cmd`'s page.
fn render(cmd: &Command, source: &str) -> Result<Vec<u8>, CliError> {
    let mut page = Vec::new();
    Man::new(cmd.clone())
        .source(source)
        .render(&mut page)
        .map_err(|e| CliError::request(format!("cannot render the man page: {e}")))?;
    Ok(page)
}

fn cannot_write(path: &Path, e: &std::io::Error) -> CliError {
    CliError::request(format!("cannot write {}: {e}", path.display()))
}
