//! The errors of the domain operations: one enum per operation, each with a `Failure` arm
//! for what is not the caller's fault. Conversions only convert: whoever handles an error
//! (the server's access log, the CLI, a background task) decides whether and how to log
//! it, with the cause each [`Failure`] carries.

use crate::password::PasswordError;
use crate::store::StoreError;
use crate::username::UsernameError;

/// A failure that is not the caller's fault. The cause is for logs and operators, never
/// for the client (it can name tables or hosts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The database is unreachable; nothing was written (`unavailable`, 503).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data (500).
    #[error("internal error: {0}")]
    Internal(String),
    /// Too much work at once (every password-hashing slot busy past its queue wait);
    /// nothing was written (`unavailable`, 503 with `Retry-After`).
    #[error("overloaded: {0}")]
    Overloaded(String),
}

impl Failure {
    /// True for [`Failure::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Failure::Unavailable(_))
    }

    /// What went wrong, for the logs.
    pub fn cause(&self) -> &str {
        match self {
            Failure::Unavailable(c) | Failure::Internal(c) | Failure::Overloaded(c) => c,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => Failure::Unavailable(msg),
            other => Failure::Internal(other.to_string()),
        }
    }
}

impl From<PasswordError> for Failure {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy(_) => Failure::Overloaded(e.to_string()),
            _ => Failure::Internal(e.to_string()),
        }
    }
}

impl From<tessera_jose::Error> for Failure {
    fn from(e: tessera_jose::Error) -> Self {
        Failure::Internal(format!("crypto: {e}"))
    }
}

/// Why signup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignupError {
    /// The username breaks a rule (see [`crate::Username`]).
    #[error(transparent)]
    InvalidUsername(#[from] UsernameError),
    /// Password over [`crate::MAX_PASSWORD_BYTES`].
    #[error("password is longer than 1024 bytes")]
    PasswordTooLong,
    /// The password is refused as too easy to guess (`weak_password`).
    #[error(transparent)]
    WeakPassword(#[from] Weakness),
    /// The username exists.
    #[error("username is taken")]
    UsernameTaken,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why a new password is too easy to guess (NIST SP 800-63B §3.1.1.2: length and a list
/// of common passwords, no composition rules). The text never echoes the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Weakness {
    /// Shorter than the configured minimum, in characters.
    #[error("password must be at least {0} characters")]
    TooShort(usize),
    /// Nothing but white space.
    #[error("password is only white space")]
    Blank,
    /// On the list of common and breached passwords (compared without regard to case).
    #[error("password is on a list of common or breached passwords; choose another, a few unrelated words make a good one")]
    Common,
}

/// Why login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password: the same answer and the same time for both.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why refresh failed. Every variant but `Failure` means: log in again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The session passed its absolute or idle expiry (`refresh_token_expired`).
    #[error("the refresh token has expired")]
    Expired,
    /// The session was revoked or logged out (`refresh_token_revoked`).
    #[error("the refresh token was revoked")]
    Revoked,
    /// A spent token came back after the grace window; the session is now revoked
    /// (`refresh_token_reused`).
    #[error("the refresh token was already used; the session is revoked")]
    Reused,
    /// Unknown or malformed (`invalid_refresh_token`).
    #[error("unknown refresh token")]
    Unknown,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// Why a session operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No such live session (of this user), or no such user.
    #[error("no such session")]
    NotFound,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}
