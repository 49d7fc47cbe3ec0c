//! JWS compact serialization (RFC 7515 §7.1): strict parsing, signing, and the raw API for
//! payloads that are not JSON claims.

use std::sync::Arc;

use crate::alg::Algorithm;
use crate::b64;
use crate::crypto::MAX_SIGNATURE_LEN;
use crate::error::{invalid_token, malformed, Error, ErrorKind};
use crate::json::{self, JsonStr, Kind};
use crate::key::{SigningKey, VerifyingKey};

/// Default cap on a compact token's length, checked before any decoding (docs/security.md).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

/// Decoded headers and payloads up to this size stay on the stack (an access token's
/// payload is about 300 bytes; zeroing a bigger buffer on every verify costs measurable time).
const STACK_BUF: usize = 768;
/// A protected header (about 80 bytes) fits this one.
const SMALL_BUF: usize = 192;

/// Optional header members for signing. `alg` always comes from the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `typ` (e.g. `at+jwt`, RFC 9068).
    pub typ: Option<String>,
    /// `cty`.
    pub cty: Option<String>,
    /// `kid`.
    pub kid: Option<String>,
}

impl Header {
    /// The header JSON for `alg`, members in the order `alg`, `typ`, `cty`, `kid`.
    pub(crate) fn to_json(&self, alg: Algorithm) -> String {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            alg: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            typ: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            cty: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
        }
        serde_json::to_string(&Out {
            alg: alg.as_str(),
            typ: self.typ.as_deref(),
            cty: self.cty.as_deref(),
            kid: self.kid.as_deref(),
        })
        .unwrap_or_default()
    }
}

/// Signs `payload` (any bytes) as a compact JWS with `header` (plus the key's `alg`).
pub fn sign(key: &SigningKey, header: &Header, payload: &[u8]) -> Result<String, Error> {
    let header_b64 = b64::encode(header.to_json(key.alg()).as_bytes());
    sign_with_encoded_header(key, &header_b64, payload)
}

pub(crate) fn sign_with_encoded_header(
    key: &SigningKey,
    header_b64: &str,
    payload: &[u8],
) -> Result<String, Error> {
    // 4/3 of the payload plus room for the largest signature we make.
    let mut out = String::with_capacity(header_b64.len() + payload.len() * 4 / 3 + 700);
    out.push_str(header_b64);
    out.push('.');
    b64::encode_into(payload, &mut out);
    let mut sig = [0u8; MAX_SIGNATURE_LEN];
    let n = key.signer.sign(out.as_bytes(), |s| {
        sig[..s.len()].copy_from_slice(s);
        s.len()
    })?;
    out.push('.');
    b64::encode_into(&sig[..n], &mut out);
    Ok(out)
}

/// The three segments of a compact token.
pub(crate) struct Parts<'t> {
    pub header: &'t [u8],
    pub payload: &'t [u8],
    pub signature: &'t [u8],
    pub signing_input: &'t [u8],
}

/// Splits a compact token: length cap first, then exactly three segments.
pub(crate) fn split(token: &str, max_len: usize) -> Result<Parts<'_>, Error> {
    let t = token.as_bytes();
    if t.len() > max_len {
        return Err(malformed("token exceeds the size limit"));
    }
    const SEGMENTS: Error = malformed("a compact JWS has exactly three segments");
    let a = memchr::memchr(b'.', t).ok_or(SEGMENTS)?;
    let b = a + 1 + memchr::memchr(b'.', &t[a + 1..]).ok_or(SEGMENTS)?;
    if memchr::memchr(b'.', &t[b + 1..]).is_some() {
        return Err(SEGMENTS);
    }
    if a == 0 {
        return Err(malformed("empty header segment"));
    }
    Ok(Parts {
        header: &t[..a],
        payload: &t[a + 1..b],
        signature: &t[b + 1..],
        signing_input: &t[..b],
    })
}

/// Decodes base64url `text` and hands the bytes to `f`, on the stack when small (a header
/// in a buffer of its size: zeroing the buffer is part of the cost of every verify).
pub(crate) fn with_decoded<R>(
    text: &[u8],
    f: impl FnOnce(&[u8]) -> Result<R, Error>,
) -> Result<R, Error> {
    let len = b64::decoded_len(text.len()).ok_or(malformed("invalid base64url"))?;
    if len <= SMALL_BUF {
        let mut buf = [0u8; SMALL_BUF];
        f(b64::decode_to_slice(text, &mut buf)?)
    } else if len <= STACK_BUF {
        let mut buf = [0u8; STACK_BUF];
        f(b64::decode_to_slice(text, &mut buf)?)
    } else {
        f(&b64::decode(text)?)
    }
}

/// What the verifier reads from a protected header.
pub(crate) struct HeaderInfo<'h> {
    pub alg: JsonStr<'h>,
    pub kid: Option<JsonStr<'h>>,
    pub typ: Option<JsonStr<'h>>,
    /// The header is a [`KnownHeader`] whose `typ` is the verifier's own expected `typ`
    /// (so the `typ` rule holds without comparing again).
    pub typ_expected: bool,
}

/// Reads `alg`, `kid` and `typ`, refusing `crit` (we understand no extension, RFC 7515
/// §4.1.11) and unencoded payloads (`b64`, RFC 7797). `jwk`, `jku`, `x5u` and `x5c` are
/// never read: keys come only from the verifier's own key set.
pub(crate) fn inspect_header(json: &[u8]) -> Result<HeaderInfo<'_>, Error> {
    let mut alg = None;
    let mut kid = None;
    let mut typ = None;
    json::scan_object(json, |name, value| {
        // Plain names (the norm) are matched as bytes; only escaped ones are unescaped.
        let unescaped;
        let name: &[u8] = match name.plain() {
            Some(raw) => raw,
            None => {
                unescaped = name
                    .unescape()
                    .ok_or(malformed("invalid header member name"))?;
                unescaped.as_bytes()
            }
        };
        match name {
            b"alg" => alg = Some(json::as_str(value).ok_or(malformed("alg must be a string"))?),
            b"kid" => kid = Some(json::as_str(value).ok_or(malformed("kid must be a string"))?),
            b"typ" => typ = Some(json::as_str(value).ok_or(malformed("typ must be a string"))?),
            b"crit" => {
                return Err(invalid_token(
                    "crit names an extension this verifier does not understand",
                ))
            }
            b"b64" if value != b"true" => {
                return Err(invalid_token("unencoded payloads (b64) are not supported"))
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(HeaderInfo {
        alg: alg.ok_or(malformed("header has no alg"))?,
        kid,
        typ,
        typ_expected: false,
    })
}

/// How a verifier finds the key for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyChoice {
    /// By the token's `kid`, or the single key when there is one (unless its own `kid`
    /// differs from the token's).
    ByKid,
    /// The one key the caller gave; the token's `kid` is not consulted: the signature
    /// decides.
    Explicit,
}

/// Picks the key for a token: by `kid`, or the single key when there is one. A single key
/// with a `kid` still refuses a token naming a different `kid`, unless the key was given
/// explicitly.
pub(crate) fn select_key<'k>(
    keys: &'k [VerifyingKey],
    choice: KeyChoice,
    kid: Option<&JsonStr<'_>>,
) -> Result<&'k VerifyingKey, Error> {
    const UNKNOWN: Error = Error::new(ErrorKind::UnknownKey, "no key matches the token's kid");
    match (keys, kid) {
        ([only], _) if choice == KeyChoice::Explicit => Ok(only),
        ([only], None) => Ok(only),
        ([only], Some(kid)) => match only.kid() {
            Some(k) if !kid.eq_str(k) => Err(UNKNOWN),
            _ => Ok(only),
        },
        (_, Some(kid)) => keys
            .iter()
            .find(|k| k.kid().is_some_and(|id| kid.eq_str(id)))
            .ok_or(UNKNOWN),
        (_, None) => Err(Error::new(
            ErrorKind::UnknownKey,
            "token has no kid and the key set has several keys",
        )),
    }
}

/// A protected header a verifier knows before any token arrives: the exact base64url text
/// this crate's [`Signer`](crate::Signer) writes for one of the verifier's keys (`alg`, then
/// `typ` if any, then the key's `kid`). A header segment equal to it byte for byte decodes
/// to that JSON, so reading it again would give the same `alg`, `kid`, `typ` and key: the
/// verifier skips the decoding and the scan for its own tokens, and reads any other header.
#[derive(Debug, Clone)]
pub(crate) struct KnownHeader {
    b64: String,
    key: usize,
    alg: &'static str,
    kid: Option<String>,
    typ: Option<String>,
}

impl KnownHeader {
    fn info(&self) -> HeaderInfo<'_> {
        HeaderInfo {
            alg: JsonStr::verbatim(self.alg),
            kid: self.kid.as_deref().map(JsonStr::verbatim),
            typ: self.typ.as_deref().map(JsonStr::verbatim),
            typ_expected: self.typ.is_some(),
        }
    }
}

/// The headers known in advance for `keys` (see [`KnownHeader`]): per key, without `typ`
/// and with `typ` when given. Only headers whose members need no JSON escape, and whose
/// key is the one the `kid` rule picks, so that the shortcut answers as the full read does.
pub(crate) fn known_headers(
    keys: &[VerifyingKey],
    choice: KeyChoice,
    typ: Option<&str>,
) -> Vec<KnownHeader> {
    let verbatim = |s: &str| !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
    let mut known = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let kid = key.kid();
        if !kid.is_none_or(verbatim) {
            continue;
        }
        let picked = select_key(keys, choice, kid.map(JsonStr::verbatim).as_ref());
        if !picked.is_ok_and(|k| std::ptr::eq(k, key)) {
            continue;
        }
        let typed = typ.filter(|t| verbatim(t));
        for typ in std::iter::once(None).chain(typed.map(Some)) {
            let header = Header {
                typ: typ.map(str::to_owned),
                cty: None,
                kid: kid.map(str::to_owned),
            };
            known.push(KnownHeader {
                b64: b64::encode(header.to_json(key.alg()).as_bytes()),
                key: i,
                alg: key.alg().as_str(),
                kid: header.kid,
                typ: header.typ,
            });
        }
    }
    known
}

/// The full signature check of a compact token. Calls `f` with the key, header and decoded
/// payload only after the signature verified.
pub(crate) fn verify_compact<R>(
    keys: &[VerifyingKey],
    choice: KeyChoice,
    known: &[KnownHeader],
    token: &str,
    max_len: usize,
    detached: Option<&[u8]>,
    f: impl FnOnce(&VerifyingKey, &HeaderInfo<'_>, &[u8]) -> Result<R, Error>,
) -> Result<R, Error> {
    let parts = split(token, max_len)?;
    if let Some(k) = known.iter().find(|k| k.b64.as_bytes() == parts.header) {
        return verify_signed(&keys[k.key], &k.info(), &parts, detached, f);
    }
    with_decoded(parts.header, |header_json| {
        let header = inspect_header(header_json)?;
        let key = select_key(keys, choice, header.kid.as_ref())?;
        // The key decides the algorithm; `none` and every other name fail here.
        if !header.alg.eq_str(key.alg().as_str()) {
            return Err(Error::new(
                ErrorKind::AlgorithmMismatch,
                "token alg differs from the key's algorithm",
            ));
        }
        verify_signed(key, &header, &parts, detached, f)
    })
}

/// The signature check once the header chose `key`, then `f` on the payload.
fn verify_signed<R>(
    key: &VerifyingKey,
    header: &HeaderInfo<'_>,
    parts: &Parts<'_>,
    detached: Option<&[u8]>,
    f: impl FnOnce(&VerifyingKey, &HeaderInfo<'_>, &[u8]) -> Result<R, Error>,
) -> Result<R, Error> {
    let sig_len = b64::decoded_len(parts.signature.len()).ok_or(Error::new(
        ErrorKind::InvalidSignature,
        "invalid signature encoding",
    ))?;
    if sig_len == 0 || sig_len > MAX_SIGNATURE_LEN {
        return Err(Error::new(
            ErrorKind::InvalidSignature,
            "signature has an impossible length",
        ));
    }
    // HMAC and ECDSA/EdDSA signatures are at most 96 bytes: keep their buffer small.
    let mut small = [0u8; 96];
    let mut large;
    let sig_buf: &mut [u8] = if sig_len <= small.len() {
        &mut small
    } else {
        large = [0u8; MAX_SIGNATURE_LEN];
        &mut large
    };
    let sig = b64::decode_to_slice(parts.signature, sig_buf)
        .map_err(|_| Error::new(ErrorKind::InvalidSignature, "invalid signature encoding"))?;
    match detached {
        None => key.verifier.verify(key.alg(), parts.signing_input, sig)?,
        Some(payload) => {
            if !parts.payload.is_empty() {
                return Err(malformed("detached JWS must have an empty payload segment"));
            }
            let mut input = Vec::with_capacity(parts.header.len() + 1 + payload.len() * 2);
            input.extend_from_slice(parts.header);
            input.push(b'.');
            input.extend_from_slice(b64::encode(payload).as_bytes());
            key.verifier.verify(key.alg(), &input, sig)?;
            return f(key, header, payload);
        }
    }
    with_decoded(parts.payload, |payload| f(key, header, payload))
}

/// A JWS whose signature verified, with its raw payload (the raw API).
#[derive(Clone)]
pub struct VerifiedJws {
    /// The algorithm (always the key's).
    pub alg: Algorithm,
    /// The key id of the key that verified it.
    pub kid: Option<Arc<str>>,
    /// The header's `typ`, if any.
    pub typ: Option<String>,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for VerifiedJws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedJws")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

pub(crate) fn to_verified_jws(
    key: &VerifyingKey,
    header: &HeaderInfo<'_>,
    payload: &[u8],
) -> Result<VerifiedJws, Error> {
    Ok(VerifiedJws {
        alg: key.alg(),
        kid: key.kid_arc(),
        typ: header
            .typ
            .and_then(|t| t.unescape())
            .map(|t| t.into_owned()),
        payload: payload.to_vec(),
    })
}

/// True when a raw JSON value is a string (used for typed-claim checks).
pub(crate) fn is_string(raw: &[u8]) -> bool {
    json::kind(raw) == Kind::String
}

#[cfg(test)]
mod tests {
    use super::{known_headers, KeyChoice};
    use crate::{Algorithm, Signer, SigningKey};

    #[test]
    fn known_headers_are_what_the_signer_writes() {
        let key = SigningKey::generate(Algorithm::ES256)
            .expect("key")
            .with_kid("2024-1");
        let vk = key.verifying_key().expect("vk");
        let known = known_headers(std::slice::from_ref(&vk), KeyChoice::ByKid, Some("at+jwt"));
        let signer = Signer::new(key);
        for token in [
            signer.sign(&serde_json::json!({"exp": 1})),
            signer
                .with_typ("at+jwt")
                .sign(&serde_json::json!({"exp": 1})),
        ] {
            let token = token.expect("sign");
            let header = token.split('.').next().expect("header");
            assert!(known.iter().any(|k| k.b64 == header), "{header}");
        }
        // A kid JSON must escape is left to the full read.
        for kid in ["a\"b", "a\\b", "a\u{1}b", "a\u{1f}b"] {
            let odd = vk.clone().with_kid(kid);
            assert!(
                known_headers(&[odd], KeyChoice::ByKid, None).is_empty(),
                "{kid:?}"
            );
        }
        // One JSON writes as it is: a space.
        let spaced = vk.clone().with_kid("a b");
        assert_eq!(known_headers(&[spaced], KeyChoice::ByKid, None).len(), 1);
    }
}
