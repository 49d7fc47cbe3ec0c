//! One error type for the whole library, with stable codes (docs/http-api.md "Error codes").

use std::fmt;

/// What went wrong. Each kind has a stable [`code`](ErrorKind::code) that the CLI and the
/// server print; new kinds may be added, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not a well-formed compact JWS: size, segments, base64url, JSON, duplicates, depth.
    Malformed,
    /// The header's `alg` differs from the key's algorithm (this includes `none`).
    AlgorithmMismatch,
    /// No key matches the token's `kid` (or several keys and no `kid`).
    UnknownKey,
    /// The signature does not verify (wrong length, DER-encoded, zero, or simply wrong).
    InvalidSignature,
    /// `exp` (plus leeway) is in the past.
    Expired,
    /// `nbf` (minus leeway) is in the future, or `iat` is in the future.
    NotYetValid,
    /// `aud` does not contain an accepted audience.
    InvalidAudience,
    /// `iss` is not the accepted issuer.
    InvalidIssuer,
    /// A claim is missing, has the wrong JSON type, `typ` is wrong, `crit` names something
    /// unknown, or the claims do not fit the caller's type.
    InvalidToken,
    /// A key could not be imported, generated or used for the requested algorithm.
    InvalidKey,
    /// Unknown algorithm name given by the caller (not by a token).
    UnsupportedAlgorithm,
    /// The crypto library failed where it should not (for example a random source failure).
    Crypto,
}

impl ErrorKind {
    /// The stable code of docs/http-api.md "Error codes" (e.g. `token_expired`).
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed_token",
            ErrorKind::AlgorithmMismatch => "algorithm_mismatch",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::InvalidSignature => "invalid_signature",
            ErrorKind::Expired => "token_expired",
            ErrorKind::NotYetValid => "token_not_yet_valid",
            ErrorKind::InvalidAudience => "invalid_audience",
            ErrorKind::InvalidIssuer => "invalid_issuer",
            ErrorKind::InvalidToken => "invalid_token",
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::UnsupportedAlgorithm => "unsupported_algorithm",
            ErrorKind::Crypto => "crypto_error",
        }
    }

    /// True when the kind is about the token (reject it), false when it is about the
    /// caller's keys or arguments (a configuration problem).
    pub const fn is_token_rejection(self) -> bool {
        !matches!(
            self,
            ErrorKind::InvalidKey | ErrorKind::UnsupportedAlgorithm | ErrorKind::Crypto
        )
    }
}

/// A rejection or failure, with a kind and a short static description.
///
/// The description never contains token, key or claim contents, so an `Error` is safe to log.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: &'static str,
}

impl Error {
    pub(crate) const fn new(kind: ErrorKind, detail: &'static str) -> Self {
        Error { kind, detail }
    }

    /// The kind of error.
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code of docs/http-api.md "Error codes", shorthand for `self.kind().code()`.
    pub const fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// A short human description (never contains secrets or token contents).
    pub const fn detail(&self) -> &'static str {
        self.detail
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {})", self.kind.code(), self.detail)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)
    }
}

impl std::error::Error for Error {}

pub(crate) const fn malformed(detail: &'static str) -> Error {
    Error::new(ErrorKind::Malformed, detail)
}

pub(crate) const fn invalid_key(detail: &'static str) -> Error {
    Error::new(ErrorKind::InvalidKey, detail)
}

pub(crate) const fn invalid_token(detail: &'static str) -> Error {
    Error::new(ErrorKind::InvalidToken, detail)
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
