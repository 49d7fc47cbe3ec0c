//! The master key: 32 random bytes from which the key that seals signing keys at rest and
//! the key that derives refresh-token successors are derived. Replicas share it.

use tessera_jose::primitives::hmac_sha256;
use tessera_jose::{base64url, random_bytes, SecretBytes};

/// Errors reading a master key.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// Not base64url, or not 32 bytes.
    #[error("the master key must be 32 random bytes, base64url-encoded")]
    Invalid,
    /// The random source failed.
    #[error("random source failed")]
    Random,
}

/// 32 secret bytes; `Debug` prints `[redacted]`.
#[derive(Debug, Clone)]
pub struct MasterKey(SecretBytes);

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut b = vec![0u8; 32];
        random_bytes(&mut b).map_err(|_| MasterKeyError::Random)?;
        Ok(MasterKey(SecretBytes::new(b)))
    }

    /// Parses the base64url text form (surrounding whitespace ignored).
    pub fn from_base64url(text: &str) -> Result<Self, MasterKeyError> {
        let b = base64url::decode(text.trim().as_bytes()).map_err(|_| MasterKeyError::Invalid)?;
        if b.len() != 32 {
            return Err(MasterKeyError::Invalid);
        }
        Ok(MasterKey(SecretBytes::new(b)))
    }

    /// The base64url text form, for writing the key file.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.0.expose_secret())
    }

    /// A 32-byte key for one purpose, derived with HMAC-SHA256 (`label` names the purpose).
    pub(crate) fn derive(&self, label: &str) -> SecretBytes {
        SecretBytes::new(hmac_sha256(self.0.expose_secret(), label.as_bytes()).to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_32_bytes_and_derives_distinct_keys() {
        let k = MasterKey::generate().expect("gen");
        let back = MasterKey::from_base64url(&format!(" {}\n", k.to_base64url())).expect("parse");
        assert_eq!(back.derive("a"), k.derive("a"));
        assert_ne!(k.derive("a"), k.derive("b"));
        assert!(MasterKey::from_base64url("c2hvcnQ").is_err());
        assert!(MasterKey::from_base64url("not base64!").is_err());
        assert_eq!(format!("{k:?}"), "MasterKey([redacted])");
    }
}
