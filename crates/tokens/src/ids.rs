//! Opaque identifiers: a short type prefix and 128 random bits. Users and sessions get
//! their own types, so a user id can never be passed where a session id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};
use tessera_jose::{base64url, random_bytes, Error};

use crate::access::AccessClaims;

/// A new id such as `usr_3q2-7wEJ8k1mX9aZ0bC4dQ` (prefix, underscore, 22 base64url chars).
pub fn new_id(prefix: &str) -> Result<String, Error> {
    let mut b = [0u8; 16];
    random_bytes(&mut b)?;
    Ok(format!("{prefix}_{}", base64url::encode(&b)))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix of new ids of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Result<Self, Error> {
                new_id($prefix).map($name)
            }

            /// An id as received (a path parameter, a stored row, a verified claim). Ids are
            /// opaque: an unknown one simply matches nothing.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// A user's opaque id (`usr_…`): the `sub` of its access tokens.
    UserId,
    "usr"
);
id_type!(
    /// A session's opaque id (`ses_…`): the `sid` of its access tokens.
    SessionId,
    "ses"
);

impl AccessClaims {
    /// The user this token was issued to (`sub`).
    pub fn user_id(&self) -> UserId {
        UserId::new(self.sub.as_str())
    }

    /// The session this token belongs to (`sid`).
    pub fn session_id(&self) -> SessionId {
        SessionId::new(self.sid.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("usr").expect("id");
        let b = new_id("usr").expect("id");
        assert!(a.starts_with("usr_") && a.len() == 26, "{a}");
        assert_ne!(a, b);
        let s = SessionId::generate().expect("id");
        assert!(s.as_str().starts_with("ses_"), "{s}");
        assert!(UserId::generate().expect("id").as_str().starts_with("usr_"));
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = UserId::new("usr_x");
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"usr_x\"");
        assert_eq!(String::from(id), "usr_x");
    }
}
