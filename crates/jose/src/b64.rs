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
    let mut out = vec![0u8; decoded_len(text.len()).ok_or(BAD)?];
    decode_to_slice(text, &mut out)?;
    Ok(out)
}

/// Decoded length of `len` base64 characters, or `None` for an impossible length.
pub(crate) const fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + if r == 0 { 0 } else { r - 1 }),
    }
}

const BAD: Error = malformed("invalid base64url");

/// Bit 31 marks a byte outside the alphabet in the tables below.
const INVALID: u32 = 1 << 31;

/// The 6-bit value of each base64url character shifted to its place in a group of four
/// (`SHIFT` 18, 12, 6 or 0); [`INVALID`] for every other byte.
const fn table(shift: u32) -> [u32; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i];
        t[c as usize] = (i as u32) << shift;
        i += 1;
    }
    t
}

const T0: [u32; 256] = table(18);
const T1: [u32; 256] = table(12);
const T2: [u32; 256] = table(6);
const T3: [u32; 256] = table(0);

/// The 24 bits of a group of four characters, with [`INVALID`] set if any of them is
/// outside the alphabet.
#[inline(always)]
fn group(a: u8, b: u8, c: u8, d: u8) -> u32 {
    T0[usize::from(a)] | T1[usize::from(b)] | T2[usize::from(c)] | T3[usize::from(d)]
}

/// Decodes into `buf` (which must hold `decoded_len`) and returns the filled prefix.
///
/// Tokens are decoded on every request, so this is a tight table decoder rather than the
/// general engine (four lookups and three ORs per group of four, one validity check at the
/// end); its rules are the engine's (`tests::agrees_with_the_base64_crate`).
pub(crate) fn decode_to_slice<'b>(text: &[u8], buf: &'b mut [u8]) -> Result<&'b [u8], Error> {
    let n = decoded_len(text.len()).ok_or(BAD)?;
    let out = buf.get_mut(..n).ok_or(BAD)?;
    let mut seen = 0u32;
    // Eight characters (six bytes) per step while they last: half the loop overhead of
    // four at a time, which is most of the cost besides the lookups.
    let mut wide_in = text.chunks_exact(8);
    let mut wide_out = out.chunks_exact_mut(6);
    for (i, o) in wide_in.by_ref().zip(wide_out.by_ref()) {
        let (hi, lo) = (group(i[0], i[1], i[2], i[3]), group(i[4], i[5], i[6], i[7]));
        seen |= hi | lo;
        let v = (u64::from(hi) << 24 | u64::from(lo)).to_be_bytes();
        o.copy_from_slice(&v[2..]);
    }
    // At most seven characters are left: one group of four, then the tail.
    let mut ins = wide_in.remainder().chunks_exact(4);
    let mut outs = wide_out.into_remainder().chunks_exact_mut(3);
    for (i, o) in ins.by_ref().zip(outs.by_ref()) {
        let v = group(i[0], i[1], i[2], i[3]);
        seen |= v;
        let [_, a, b, c] = v.to_be_bytes();
        o[0] = a;
        o[1] = b;
        o[2] = c;
    }
    let tail = outs.into_remainder();
    let v = match *ins.remainder() {
        [] => 0,
        [a, b] => T0[usize::from(a)] | T1[usize::from(b)],
        [a, b, c] => T0[usize::from(a)] | T1[usize::from(b)] | T2[usize::from(c)],
        _ => return Err(BAD),
    };
    seen |= v;
    // Canonical: the bits past the last whole byte are zero.
    let [_, a, b, c] = v.to_be_bytes();
    let last = match tail.len() {
        0 => 0,
        1 => {
            tail[0] = a;
            b
        }
        _ => {
            tail[0] = a;
            tail[1] = b;
            c
        }
    };
    if seen & INVALID != 0 || last != 0 {
        return Err(BAD);
    }
    Ok(out)
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

    /// Two characters outside the alphabet anywhere in a token of any length, in the same
    /// group of four or eight or not, are refused: each lookup's invalid flag must survive
    /// the others (an exclusive or in place of an or would let a pair cancel out).
    #[test]
    fn refuses_every_pair_of_bad_characters() {
        // Encodings 2, 3, 4, 6, 7, 8, 10, 11, 12 and 16 characters long.
        for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 12] {
            let good = encode(&vec![0x5a; n]);
            assert!(decode(good.as_bytes()).is_ok(), "{good}");
            let len = good.len();
            for i in 0..len {
                for j in i + 1..len {
                    for bad in [b'=', b'.', b'+', 0xff] {
                        let mut text = good.as_bytes().to_vec();
                        text[i] = bad;
                        text[j] = bad;
                        assert!(decode(&text).is_err(), "{text:?}");
                    }
                }
            }
        }
    }

    /// The table decoder accepts and refuses exactly what the base64 crate's strict
    /// URL-safe, unpadded engine does, with the same bytes.
    #[test]
    fn agrees_with_the_base64_crate() {
        use proptest::prelude::*;
        let alphabet = "[A-Za-z0-9_=+/. -]{0,40}|[A-Za-z0-9_-]{0,64}";
        proptest!(ProptestConfig::with_cases(4000), |(text in alphabet)| {
            let ours = decode(text.as_bytes()).ok();
            let theirs = URL_SAFE_NO_PAD.decode(text.as_bytes()).ok();
            prop_assert_eq!(ours, theirs, "{}", text);
        });
        proptest!(ProptestConfig::with_cases(2000), |(bytes in proptest::collection::vec(any::<u8>(), 0..80))| {
            let text = encode(&bytes);
            prop_assert_eq!(decode(text.as_bytes()).ok(), Some(bytes.clone()));
            // Arbitrary bytes as text, too.
            prop_assert_eq!(decode(&bytes).ok(), URL_SAFE_NO_PAD.decode(&bytes).ok());
        });
    }
}
