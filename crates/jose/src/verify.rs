//! The verifier: signature first, claims after, into a caller's serde type.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::alg::Algorithm;
use crate::error::{invalid_token, Error, ErrorKind};
use crate::json::{self, JsonStr, Kind};
use crate::jwk::JwkSet;
use crate::jws::{self, HeaderInfo, KeyChoice, KnownHeader, VerifiedJws, DEFAULT_MAX_TOKEN_LEN};
use crate::key::VerifyingKey;

pub(crate) mod raw;

/// Default clock leeway in seconds (the server's `tokens.leeway` default too).
pub const DEFAULT_LEEWAY: u64 = 60;

/// Required claim names tracked in one pass (a bit set); more are checked by extra passes.
const MAX_REQUIRED: usize = 64;

/// Verifies compact JWTs against a fixed set of keys and validation rules.
///
/// Built once, used for every token: keys are parsed up front, and `verify` allocates
/// nothing beyond what serde needs for the caller's claims type.
///
/// ```
/// use tessera_jose::{Algorithm, Signer, SigningKey, Verifier};
///
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let verifier = Verifier::new(key.verifying_key()?)
///     .with_issuer("https://auth.example")
///     .with_audience("api");
/// let signer = Signer::new(key).with_typ("at+jwt");
/// let now = 1_700_000_000;
/// let token = signer.sign(&serde_json::json!({
///     "iss": "https://auth.example", "aud": "api", "sub": "u1", "exp": now + 900,
/// }))?;
/// let verified = verifier.verify::<serde_json::Value>(&token, now)?;
/// assert_eq!(verified.claims()["sub"], "u1");
/// // The same token an hour later:
/// let err = verifier.verify::<serde_json::Value>(&token, now + 3600).unwrap_err();
/// assert_eq!(err.code(), "token_expired");
/// # Ok::<(), tessera_jose::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<VerifyingKey>,
    choice: KeyChoice,
    /// Headers this verifier's keys are known to come with (rebuilt when `choice` or `typ`
    /// changes).
    known: Vec<KnownHeader>,
    leeway: u64,
    require_exp: bool,
    issuers: Vec<String>,
    audiences: Vec<String>,
    typ: Option<String>,
    required: Vec<String>,
    max_len: usize,
}

/// Claims that passed verification, with the algorithm and key id that verified them.
#[derive(Debug, Clone)]
pub struct Verified<C> {
    claims: C,
    alg: Algorithm,
    kid: Option<Arc<str>>,
}

impl<C> Verified<C> {
    /// The verified claims.
    pub fn claims(&self) -> &C {
        &self.claims
    }

    /// The verified claims, by value.
    pub fn into_claims(self) -> C {
        self.claims
    }

    /// The algorithm of the key that verified the token.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The id of the key that verified the token.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

impl Verifier {
    /// A verifier with one key and the default rules: `exp` required, 60 s leeway,
    /// 16 KiB size cap, no issuer/audience/typ check until configured.
    ///
    /// The key is a one-key set: when it has a `kid`, a token naming another `kid` is
    /// refused (`unknown_key`). See [`explicit`](Self::explicit) for a key that is the key
    /// whatever the token names.
    pub fn new(key: VerifyingKey) -> Self {
        Verifier::with_keys(vec![key])
    }

    /// A verifier with one key given explicitly (say, by a person on a command line): the
    /// token's `kid` is not consulted, so a token naming any `kid`, or none, is checked
    /// against this key and the signature decides. The algorithm rule is unchanged: a token
    /// whose `alg` differs from the key's is refused (`algorithm_mismatch`). Default rules
    /// as in [`new`](Self::new).
    ///
    /// ```
    /// use tessera_jose::{Algorithm, Signer, SigningKey, Verifier};
    ///
    /// let key = SigningKey::generate(Algorithm::ES256)?;
    /// let public = key.verifying_key()?.with_kid("2024-1");
    /// let token = Signer::new(key.with_kid("renamed")).sign(&serde_json::json!({"exp": 2000}))?;
    /// assert!(Verifier::explicit(public.clone()).verify::<serde_json::Value>(&token, 1000).is_ok());
    /// let err = Verifier::new(public).verify::<serde_json::Value>(&token, 1000).unwrap_err();
    /// assert_eq!(err.code(), "unknown_key");
    /// # Ok::<(), tessera_jose::Error>(())
    /// ```
    pub fn explicit(key: VerifyingKey) -> Self {
        Verifier {
            choice: KeyChoice::Explicit,
            ..Verifier::new(key)
        }
        .with_known_headers()
    }

    /// A verifier over several keys, chosen by the token's `kid`.
    pub fn with_keys(keys: Vec<VerifyingKey>) -> Self {
        Verifier {
            keys,
            choice: KeyChoice::ByKid,
            known: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            require_exp: true,
            issuers: Vec::new(),
            audiences: Vec::new(),
            typ: None,
            required: Vec::new(),
            max_len: DEFAULT_MAX_TOKEN_LEN,
        }
        .with_known_headers()
    }

    fn with_known_headers(mut self) -> Self {
        self.known = jws::known_headers(&self.keys, self.choice, self.typ.as_deref());
        self
    }

    /// A verifier over the usable keys of a JWKS. Keys that cannot be used (unknown `kty`,
    /// no `alg` and none decidable, `use` other than `sig`) are skipped, as RFC 7517 §5
    /// allows; `default_alg` binds keys that carry no `alg`. Fails if no key is usable.
    pub fn from_jwks(set: &JwkSet, default_alg: Option<Algorithm>) -> Result<Self, Error> {
        let keys: Vec<VerifyingKey> = set
            .keys
            .iter()
            .filter_map(|j| {
                VerifyingKey::from_jwk(j, j.alg.is_none().then_some(default_alg).flatten()).ok()
            })
            .collect();
        if keys.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                "the JWKS holds no usable key",
            ));
        }
        Ok(Verifier::with_keys(keys))
    }

    /// The keys of this verifier.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// Accepts tokens whose `iss` equals `iss` (call again to accept several).
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuers.push(iss.into());
        self
    }

    /// Accepts tokens whose `aud` (string or array) contains `aud` (call again to accept
    /// several).
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Requires the header `typ` to be `typ` (compared case-insensitively, with or without
    /// the `application/` prefix, RFC 7515 §4.1.9).
    pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self.with_known_headers()
    }

    /// Clock leeway in seconds for `exp`, `nbf` and `iat`.
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Requires a top-level claim to be present (any JSON type unless registered).
    pub fn require(mut self, claim: impl Into<String>) -> Self {
        self.required.push(claim.into());
        self
    }

    /// Makes `exp` optional (it is still checked when present). Use with care: a token
    /// without `exp` never expires.
    pub fn allow_missing_exp(mut self) -> Self {
        self.require_exp = false;
        self
    }

    /// Changes the size cap (default 16 KiB), checked before any decoding.
    pub fn with_max_token_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Verifies a compact JWT at time `now` (Unix seconds) and deserializes its claims.
    ///
    /// Order: size cap, three segments, header (strict JSON, `crit`, `alg` against the key
    /// chosen by `kid` or given explicitly), signature, then claims (`typ`, `iss`, `aud`, `exp`, `nbf`, `iat`,
    /// required names), then the caller's type. Registered claims of the wrong JSON type
    /// are rejected, never skipped.
    pub fn verify<C: DeserializeOwned>(&self, token: &str, now: u64) -> Result<Verified<C>, Error> {
        jws::verify_compact(
            &self.keys,
            self.choice,
            &self.known,
            token,
            self.max_len,
            None,
            |key, header, payload| {
                self.check_typ(header)?;
                // One pass: the strict scan, the registered-claim reads and serde together.
                let mut c = Scanned::default();
                let one_pass = json::de::from_object::<C>(payload, &mut |name, value| {
                    c.member(name, value, &self.required)
                });
                let claims = match one_pass {
                    Ok(claims) => {
                        self.check_scanned(&c, payload, now)?;
                        claims
                    }
                    // Refused or left to serde_json: the two passes give the exact answer
                    // (a claim rule's refusal before a type mismatch, as always).
                    Err(_) => {
                        self.check_payload(payload, now)?;
                        serde_json::from_slice::<C>(payload)
                            .map_err(|_| invalid_token("claims do not match the expected type"))?
                    }
                };
                Ok(Verified {
                    claims,
                    alg: key.alg(),
                    kid: key.kid_arc(),
                })
            },
        )
    }

    /// Verifies only the signature (and header rules) of a compact JWS and returns its raw
    /// payload, which need not be JSON. No claim is checked.
    pub fn verify_jws(&self, token: &str) -> Result<VerifiedJws, Error> {
        jws::verify_compact(
            &self.keys,
            self.choice,
            &self.known,
            token,
            self.max_len,
            None,
            jws::to_verified_jws,
        )
    }

    /// Like [`verify_jws`](Self::verify_jws) for a JWS with a detached payload
    /// (RFC 7515 Appendix F): the token's payload segment is empty and `payload` is given.
    pub fn verify_detached(&self, token: &str, payload: &[u8]) -> Result<VerifiedJws, Error> {
        jws::verify_compact(
            &self.keys,
            self.choice,
            &self.known,
            token,
            self.max_len,
            Some(payload),
            jws::to_verified_jws,
        )
    }

    /// The header and claim rules (the two-pass path: scan, then check).
    pub(crate) fn check_claims(
        &self,
        header: &HeaderInfo<'_>,
        payload: &[u8],
        now: u64,
    ) -> Result<(), Error> {
        self.check_typ(header)?;
        self.check_payload(payload, now)
    }

    fn check_typ(&self, header: &HeaderInfo<'_>) -> Result<(), Error> {
        if let Some(want) = &self.typ {
            let ok = header.typ_expected
                || header
                    .typ
                    .and_then(|t| t.unescape())
                    .is_some_and(|t| typ_matches(&t, want));
            if !ok {
                return Err(invalid_token("typ header is not the expected type"));
            }
        }
        Ok(())
    }

    fn check_payload(&self, payload: &[u8], now: u64) -> Result<(), Error> {
        let mut c = Scanned::default();
        json::scan_object(payload, |name, value| c.member(name, value, &self.required))?;
        self.check_scanned(&c, payload, now)
    }

    /// The claim rules over the registered claims of a payload that passed the strict scan.
    fn check_scanned(&self, c: &Scanned<'_>, payload: &[u8], now: u64) -> Result<(), Error> {
        if !self.issuers.is_empty() {
            let iss = c
                .iss
                .and_then(json::as_str)
                .ok_or(Error::new(ErrorKind::InvalidIssuer, "token has no iss"))?;
            if !self.issuers.iter().any(|i| iss.eq_str(i)) {
                return Err(Error::new(
                    ErrorKind::InvalidIssuer,
                    "iss is not the expected issuer",
                ));
            }
        }
        if !self.audiences.is_empty() {
            let aud = c
                .aud
                .ok_or(Error::new(ErrorKind::InvalidAudience, "token has no aud"))?;
            if !audience_matches(aud, &self.audiences)? {
                return Err(Error::new(
                    ErrorKind::InvalidAudience,
                    "aud does not name this audience",
                ));
            }
        }
        let now = now as f64;
        let leeway = self.leeway as f64;
        match c.exp {
            // RFC 7519 §4.1.4: the current time must be before exp.
            Some(exp) if now >= exp + leeway => {
                return Err(Error::new(ErrorKind::Expired, "token has expired"))
            }
            None if self.require_exp => return Err(invalid_token("token has no exp")),
            _ => {}
        }
        if c.nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(Error::new(
                ErrorKind::NotYetValid,
                "token is not valid yet (nbf)",
            ));
        }
        if c.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(Error::new(
                ErrorKind::NotYetValid,
                "token was issued in the future (iat)",
            ));
        }
        let n = self.required.len().min(MAX_REQUIRED);
        let all = if n == MAX_REQUIRED {
            u64::MAX
        } else {
            (1u64 << n) - 1
        };
        if c.required & all != all {
            return Err(invalid_token("a required claim is missing"));
        }
        // Past the names tracked in the bit set (rare): one more pass per extra name.
        for extra in self.required.iter().skip(MAX_REQUIRED) {
            let mut found = false;
            json::scan_object(payload, |name, _| {
                found |= name.eq_str(extra);
                Ok(())
            })?;
            if !found {
                return Err(invalid_token("a required claim is missing"));
            }
        }
        Ok(())
    }
}

/// The registered claims found at the top level of a payload, already type-checked.
#[derive(Default)]
struct Scanned<'a> {
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
    /// The raw value (a string: checked on reading). Kept raw, not as a `JsonStr`: copying
    /// one into this struct cost a store-forwarding stall per token.
    iss: Option<&'a [u8]>,
    aud: Option<&'a [u8]>,
    required: u64,
}

fn numeric_date(raw: &[u8], err: &'static str) -> Result<f64, Error> {
    if json::kind(raw) != Kind::Number {
        return Err(invalid_token(err));
    }
    // Whole seconds (the norm) without the float parser: below 10^15 the value is exact,
    // as the parser's would be.
    if raw.len() <= 15 {
        let mut secs = 0u64;
        let whole = raw.iter().all(|&d| {
            let d = d.wrapping_sub(b'0');
            secs = secs * 10 + u64::from(d);
            d <= 9
        });
        if whole {
            return Ok(secs as f64);
        }
    }
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .ok_or(invalid_token(err))
}

impl<'a> Scanned<'a> {
    /// Reads one top-level member: type-checks the registered claims and notes required names.
    fn member(
        &mut self,
        name: JsonStr<'a>,
        value: &'a [u8],
        required: &[String],
    ) -> Result<(), Error> {
        // Plain names (the norm) are matched as bytes; only escaped ones are unescaped.
        let unescaped;
        let name: &[u8] = match name.plain() {
            Some(raw) => raw,
            None => {
                unescaped = name.unescape().ok_or(invalid_token("invalid claim name"))?;
                unescaped.as_bytes()
            }
        };
        match name {
            b"exp" => self.exp = Some(numeric_date(value, "exp must be a number")?),
            b"nbf" => self.nbf = Some(numeric_date(value, "nbf must be a number")?),
            b"iat" => self.iat = Some(numeric_date(value, "iat must be a number")?),
            b"iss" if !jws::is_string(value) => return Err(invalid_token("iss must be a string")),
            b"iss" => self.iss = Some(value),
            b"sub" if !jws::is_string(value) => return Err(invalid_token("sub must be a string")),
            b"jti" if !jws::is_string(value) => return Err(invalid_token("jti must be a string")),
            b"aud" => {
                match json::kind(value) {
                    Kind::String => {}
                    Kind::Array => json::for_each_element(value, |v| {
                        if jws::is_string(v) {
                            Ok(())
                        } else {
                            Err(invalid_token("aud must be a string or an array of strings"))
                        }
                    })?,
                    _ => return Err(invalid_token("aud must be a string or an array of strings")),
                }
                self.aud = Some(value);
            }
            _ => {}
        }
        if let Some(i) = required
            .iter()
            .take(MAX_REQUIRED)
            .position(|r| r.as_bytes() == name)
        {
            self.required |= 1 << i;
        }
        Ok(())
    }
}

fn audience_matches(aud: &[u8], accepted: &[String]) -> Result<bool, Error> {
    let one = |v: &[u8]| json::as_str(v).is_some_and(|s| accepted.iter().any(|a| s.eq_str(a)));
    if json::kind(aud) == Kind::String {
        return Ok(one(aud));
    }
    let mut found = false;
    json::for_each_element(aud, |v| {
        found |= one(v);
        Ok(())
    })?;
    Ok(found)
}

fn typ_matches(got: &str, want: &str) -> bool {
    fn strip(s: &str) -> &str {
        match s.get(..12) {
            Some(p) if p.eq_ignore_ascii_case("application/") => &s[12..],
            _ => s,
        }
    }
    strip(got).eq_ignore_ascii_case(strip(want))
}

#[cfg(test)]
mod tests {
    use super::typ_matches;
    use crate::{Algorithm, Signer, SigningKey, Verifier};

    #[test]
    fn more_than_64_required_claims_are_all_enforced() {
        let key = SigningKey::generate(Algorithm::HS256).expect("key");
        let mut verifier = Verifier::new(key.verifying_key().expect("vk"));
        let mut claims = serde_json::Map::new();
        claims.insert("exp".into(), 2000.into());
        for i in 0..70 {
            verifier = verifier.require(format!("c{i}"));
            claims.insert(format!("c{i}"), i.into());
        }
        let signer = Signer::new(key);
        let all = signer.sign(&claims).expect("sign");
        verifier
            .verify::<serde_json::Value>(&all, 1000)
            .expect("all present");
        claims.remove("c69");
        let missing_last = signer.sign(&claims).expect("sign");
        let err = verifier
            .verify::<serde_json::Value>(&missing_last, 1000)
            .expect_err("c69");
        assert_eq!(err.code(), "invalid_token");
    }

    #[test]
    fn typ_comparison_follows_rfc7515() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("application/at+JWT", "at+jwt"));
        assert!(typ_matches("JWT", "application/jwt"));
        assert!(!typ_matches("jwt", "at+jwt"));
        assert!(!typ_matches("", "at+jwt"));
    }
}
