//! Newtypes for secret material: zeroized on drop, `[redacted]` in `Debug`, bytes only
//! through an explicitly named method.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// A secret text value (a base64url private JWK member, a password, a token).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps `s`.
    pub fn new(s: String) -> Self {
        SecretString(s)
    }

    /// The secret text. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(s)
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Secret bytes (an HMAC secret, a master key).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps `b`.
    pub fn new(b: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(b))
    }

    /// The secret bytes. Named so that every use is visible in review.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(b: Vec<u8>) -> Self {
        SecretBytes::new(b)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::new("hunter2-very-secret".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(
            format!("{:?}", SecretBytes::new(b"abc".to_vec())),
            "[redacted]"
        );
        assert_eq!(s.expose_secret(), "hunter2-very-secret");
    }
}
