//! Usernames: parsed once, at the boundary, into a [`Username`] that is known to follow the
//! rules and knows its lookup key.

use std::fmt;

/// Longest accepted username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Why a username was refused (the text is safe to show to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Empty.
    #[error("username is empty")]
    Empty,
    /// Over [`MAX_USERNAME_CHARS`] characters.
    #[error("username is longer than 64 characters")]
    TooLong,
    /// Holds control characters (they hide in logs and terminals).
    #[error("username contains control characters")]
    Control,
    /// Starts or ends with white space (two names that look the same).
    #[error("username starts or ends with spaces")]
    Spaces,
}

/// A username that follows the rules: 1–64 characters, no control characters, no
/// surrounding white space. Compared case-insensitively through [`Username::key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Checks `text` against the rules.
    pub fn parse(text: &str) -> Result<Username, UsernameError> {
        let n = text.chars().count();
        if n == 0 {
            return Err(UsernameError::Empty);
        }
        if n > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(UsernameError::Control);
        }
        if text.trim() != text {
            return Err(UsernameError::Spaces);
        }
        Ok(Username(text.to_owned()))
    }

    /// The name as given at signup (shown back to its owner and to admins).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup key, unique per user: the name lowercased, so `Alice` and `alice` are
    /// one account.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(
            Username::parse("Alice").map(|u| u.key()),
            Ok("alice".into())
        );
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse(&"a".repeat(65)),
            Err(UsernameError::TooLong)
        );
        assert!(
            Username::parse(&"é".repeat(64)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(Username::parse("a\u{7}b"), Err(UsernameError::Control));
        assert_eq!(Username::parse(" alice"), Err(UsernameError::Spaces));
        assert_eq!(Username::parse("alice\t"), Err(UsernameError::Control));
        assert_eq!(Username::parse("alice "), Err(UsernameError::Spaces));
    }
}
