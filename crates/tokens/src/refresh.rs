//! Refresh tokens: 256 random bits, base64url; stored only as a SHA-256 hash. A token's
//! successor is derived from it with a server-side key (HMAC-SHA256), so a token presented
//! twice within the grace window gets the same successor back without any token ever being
//! stored in plaintext (docs/http-api.md).

use std::fmt;

use tessera_jose::primitives::{hmac_sha256, sha256};
use tessera_jose::{base64url, random_bytes, SecretBytes, SecretString};

use crate::store::TokenHash;

/// Length of a refresh token's text: 32 bytes in unpadded base64url.
pub const REFRESH_TOKEN_LEN: usize = 43;

/// An opaque refresh token. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(SecretString);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

/// The server-side key that derives successors.
#[derive(Debug, Clone)]
pub struct SuccessorKey(pub(crate) SecretBytes);

impl RefreshToken {
    /// A new random token.
    pub fn generate() -> Result<Self, tessera_jose::Error> {
        let mut b = [0u8; 32];
        random_bytes(&mut b)?;
        Ok(RefreshToken(SecretString::new(base64url::encode(&b))))
    }

    /// Accepts exactly the shape we issue (43 canonical base64url characters); anything
    /// else is not one of our tokens.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != REFRESH_TOKEN_LEN {
            return None;
        }
        let bytes = base64url::decode(text.as_bytes()).ok()?;
        (bytes.len() == 32).then(|| RefreshToken(SecretString::new(text.to_owned())))
    }

    /// The token text, for the cookie or the response body.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// The stored form: SHA-256 of the token text.
    pub fn hash(&self) -> TokenHash {
        sha256(self.0.expose_secret().as_bytes())
    }

    /// The successor: HMAC-SHA256 of this token under the server-side key.
    pub fn successor(&self, key: &SuccessorKey) -> RefreshToken {
        let mac = hmac_sha256(key.0.expose_secret(), self.0.expose_secret().as_bytes());
        RefreshToken(SecretString::new(base64url::encode(&mac)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_parse_and_successor() {
        let t = RefreshToken::generate().expect("gen");
        assert_eq!(t.expose_secret().len(), REFRESH_TOKEN_LEN);
        assert_eq!(RefreshToken::parse(t.expose_secret()), Some(t.clone()));
        assert_eq!(RefreshToken::parse("short"), None);
        assert_eq!(RefreshToken::parse(&"A".repeat(43)[..42]), None);
        assert_eq!(
            RefreshToken::parse(&format!("{}=", &t.expose_secret()[..42])),
            None
        );
        let k = SuccessorKey(SecretBytes::new(vec![1; 32]));
        let k2 = SuccessorKey(SecretBytes::new(vec![2; 32]));
        let s = t.successor(&k);
        assert_eq!(s, t.successor(&k), "deterministic");
        assert_ne!(s, t.successor(&k2), "keyed");
        assert_ne!(s, t);
        assert!(
            RefreshToken::parse(s.expose_secret()).is_some(),
            "same shape"
        );
        assert_ne!(t.hash(), s.hash());
        assert_eq!(format!("{t:?}"), "RefreshToken([redacted])");
    }
}
