//! Opaque identifiers: a short type prefix and 128 random bits.

use tessera_jose::{base64url, random_bytes, Error};

/// A new id such as `usr_3q2-7wEJ8k1mX9aZ0bC4dQ` (prefix, underscore, 22 base64url chars).
pub fn new_id(prefix: &str) -> Result<String, Error> {
    let mut b = [0u8; 16];
    random_bytes(&mut b)?;
    Ok(format!("{prefix}_{}", base64url::encode(&b)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = super::new_id("usr").expect("id");
        let b = super::new_id("usr").expect("id");
        assert!(a.starts_with("usr_") && a.len() == 26, "{a}");
        assert_ne!(a, b);
    }
}
