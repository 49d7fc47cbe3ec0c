//! Strict base64url (RFC 7515 §2): no padding, canonical (no trailing bits set).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{malformed, Error};

/// Encodes without padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Decodes canonical unpadded base64url; padding, other alphabets, whitespace and
/// non-zero trailing bits are refused (so every value has exactly one encoding).
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| malformed("invalid base64url"))
}

/// Decoded length of `len` base64 characters, or `None` for an impossible length.
pub(crate) const fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + if r == 0 { 0 } else { r - 1 }),
    }
}

/// Decodes into `buf` (which must hold `decoded_len`) and returns the filled prefix.
pub(crate) fn decode_to_slice<'b>(text: &[u8], buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
    let n = URL_SAFE_NO_PAD
        .decode_slice(text, buf)
        .map_err(|_| malformed("invalid base64url"))?;
    Ok(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_padding_and_trailing_bits() {
        assert_eq!(decode(b"YQ").expect("canonical"), b"a");
        assert!(decode(b"YQ==").is_err(), "padding");
        assert!(decode(b"YR").is_err(), "trailing bits set");
        assert!(decode(b"Y").is_err(), "impossible length");
        assert!(decode(b"a+/b").is_err(), "standard alphabet");
        assert!(decode(b"YQ\n").is_err(), "whitespace");
    }

    #[test]
    fn decoded_len_matches() {
        for n in 0..40usize {
            let e = encode(&vec![7u8; n]);
            assert_eq!(decoded_len(e.len()), Some(n));
        }
        assert_eq!(decoded_len(5), None);
    }
}
