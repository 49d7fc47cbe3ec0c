//! The CLI's one error type. `main` turns it into an exit code; its `Display` is
//! the `code: description` line printed on stderr.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// Why a command failed. Messages name files and flags, never key or token contents.
#[derive(Debug)]
pub enum CliError {
    /// The token or input was rejected: invalid, expired, bad signature (exit 1).
    Rejected {
        code: &'static str,
        message: Cow<'static, str>,
    },
    /// A usage or configuration error: bad flag, unreadable file, unusable key (exit 2).
    Usage {
        code: &'static str,
        message: Cow<'static, str>,
    },
    /// Writing to standard output failed (a closed pipe is not reported).
    Output(io::Error),
}

impl CliError {
    /// `invalid_request`: the command line asks for something that cannot be done.
    pub fn request(message: impl Into<Cow<'static, str>>) -> Self {
        CliError::Usage {
            code: "invalid_request",
            message: message.into(),
        }
    }

    /// `invalid_key`: a key or secret cannot be used as given.
    pub fn key(message: impl Into<Cow<'static, str>>) -> Self {
        CliError::Usage {
            code: "invalid_key",
            message: message.into(),
        }
    }

    /// `malformed_token`: the token given cannot even be read.
    pub fn malformed(message: impl Into<Cow<'static, str>>) -> Self {
        CliError::Rejected {
            code: "malformed_token",
            message: message.into(),
        }
    }
}

impl From<tessera_jose::Error> for CliError {
    /// Token rejections (expired, bad signature, ...) are the input's fault; key and
    /// algorithm problems are the caller's configuration.
    fn from(e: tessera_jose::Error) -> Self {
        let (code, message) = (e.code(), Cow::Borrowed(e.detail()));
        if e.kind().is_token_rejection() {
            CliError::Rejected { code, message }
        } else {
            CliError::Usage { code, message }
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Rejected { code, message } | CliError::Usage { code, message } => {
                write!(f, "{code}: {message}")
            }
            CliError::Output(e) => write!(f, "invalid_request: cannot write the output: {e}"),
        }
    }
}

impl std::error::Error for CliError {}
