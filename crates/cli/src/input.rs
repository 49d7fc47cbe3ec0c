//! Reading key files, secrets and tokens from files or standard input (`-`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::error::CliError;

/// Largest key, JWKS or secret file read (they are a few KiB at most).
const MAX_FILE_LEN: u64 = 1024 * 1024;

/// Largest token read. Verification refuses anything over 16 KiB anyway; this only stops
/// the CLI from buffering an endless stream.
const MAX_TOKEN_INPUT_LEN: u64 = 64 * 1024;

/// Where an input comes from: a file, or standard input when written `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    /// `-` is standard input, anything else a path.
    pub fn parse(arg: &OsStr) -> Source {
        if arg == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(arg))
        }
    }
}

/// How clap reads a FILE argument.
impl From<OsString> for Source {
    fn from(arg: OsString) -> Source {
        Source::parse(&arg)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stdin => f.write_str("standard input"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Refuses a command line that would read standard input twice (e.g. `verify - --key -`).
pub fn at_most_one_stdin<'a>(
    sources: impl IntoIterator<Item = &'a Source>,
) -> Result<(), CliError> {
    if sources.into_iter().filter(|s| **s == Source::Stdin).count() > 1 {
        return Err(CliError::request(
            "only one input can come from standard input (-)",
        ));
    }
    Ok(())
}

/// Reads a whole key, JWKS or secret file. The buffer is wiped when dropped, since it
/// usually holds private key material.
pub fn read_file(source: &Source) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let unreadable = |e: io::Error| CliError::request(format!("cannot read {source}: {e}"));
    let mut buf = Zeroizing::new(Vec::new());
    let over = match source {
        Source::Stdin => read_capped(io::stdin().lock(), &mut buf, MAX_FILE_LEN),
        Source::File(path) => {
            let file = File::open(path).map_err(unreadable)?;
            // Reserve up front so the secret is not copied around by growing the buffer.
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            buf.reserve(usize::try_from(len.min(MAX_FILE_LEN) + 1).unwrap_or(0));
            read_capped(file, &mut buf, MAX_FILE_LEN)
        }
    }
    .map_err(unreadable)?;
    if over {
        return Err(CliError::request(format!(
            "{source} is larger than {MAX_FILE_LEN} bytes: not a key file"
        )));
    }
    Ok(buf)
}

/// The token named by a command-line argument: the argument itself, or standard input
/// when it is `-`. Surrounding whitespace (such as the newline `echo` adds) is removed.
pub fn read_token(arg: &str) -> Result<String, CliError> {
    let text = if arg == "-" {
        let mut buf = Vec::new();
        let over = read_capped(io::stdin().lock(), &mut buf, MAX_TOKEN_INPUT_LEN)
            .map_err(|e| CliError::request(format!("cannot read standard input: {e}")))?;
        if over {
            return Err(CliError::malformed("token exceeds the size limit"));
        }
        String::from_utf8(buf)
            .map_err(|_| CliError::malformed("the token on standard input is not UTF-8"))?
    } else {
        arg.to_owned()
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::malformed("no token given"));
    }
    Ok(token.to_owned())
}

/// Reads at most `limit` bytes into `buf`; true when the input had more.
fn read_capped(reader: impl Read, buf: &mut Vec<u8>, limit: u64) -> io::Result<bool> {
    let n = reader.take(limit + 1).read_to_end(buf)?;
    Ok(n as u64 > limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_is_stdin() {
        assert_eq!(Source::parse(OsStr::new("-")), Source::Stdin);
        assert_eq!(
            Source::parse(OsStr::new("./-")),
            Source::File(PathBuf::from("./-"))
        );
    }

    #[test]
    fn stdin_only_once() {
        let file = Source::File("k.jwk".into());
        assert!(at_most_one_stdin([&Source::Stdin, &file]).is_ok());
        assert!(at_most_one_stdin([&Source::Stdin, &Source::Stdin]).is_err());
    }

    #[test]
    fn token_argument_is_trimmed() {
        assert_eq!(read_token(" a.b.c\n").ok().as_deref(), Some("a.b.c"));
        assert!(matches!(
            read_token(" \n"),
            Err(CliError::Rejected {
                code: "malformed_token",
                ..
            })
        ));
    }

    #[test]
    fn capped_reads_say_when_input_is_longer() {
        let mut buf = Vec::new();
        assert!(!read_capped(&b"abcd"[..], &mut buf, 4).unwrap_or(true));
        let mut buf = Vec::new();
        assert!(read_capped(&b"abcde"[..], &mut buf, 4).unwrap_or(false));
    }

    #[test]
    fn missing_file_is_a_usage_error() {
        let err = read_file(&Source::File("/nonexistent/tessera/k.jwk".into()));
        assert!(matches!(
            err,
            Err(CliError::Usage {
                code: "invalid_request",
                ..
            })
        ));
    }
}
