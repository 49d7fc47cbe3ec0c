//! Verification without deserialization: after every check of [`Verifier::verify`], the
//! decoded payload goes to the caller as-is, with a reader for top-level string members
//! that uses this crate's strict scanner. For callers on a hot path that need a claim or
//! two (a middleware reading `sid`) and not a serde pass over the whole payload.

use std::borrow::Cow;
use std::fmt;

use super::{Verified, Verifier};
use crate::error::Error;
use crate::json;
use crate::jws;

/// The payload of a token that passed every check of its [`Verifier`]: a JSON object with
/// no duplicate member and registered claims of the right types.
#[derive(Clone, Copy)]
pub struct RawClaims<'a> {
    json: &'a [u8],
}

impl fmt::Debug for RawClaims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawClaims")
            .field("len", &self.json.len())
            .finish_non_exhaustive()
    }
}

impl<'a> RawClaims<'a> {
    /// The payload's JSON text.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }

    /// The JSON text of the top-level member `name` (e.g. `"ses_1"` with its quotes, or
    /// `{"jkt":"…"}`), `None` when absent.
    pub fn raw(&self, name: &str) -> Option<&'a [u8]> {
        member(self.json, name)
    }

    /// The top-level member `name` when it is a string (unescaped; borrowed unless it had
    /// escapes). `None` when absent or of another JSON type.
    pub fn string(&self, name: &str) -> Option<Cow<'a, str>> {
        member(self.json, name)
            .and_then(json::as_str)
            .and_then(|s| s.unescape())
    }
}

/// The raw value of the top-level member `name` of a JSON object that the strict scanner
/// has already validated (so this walk does not validate again: it only finds the ends of
/// strings, containers and scalars, which costs a fraction of a second full scan).
fn member<'a>(json: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut i = skip_ws(json, json.iter().position(|&b| b == b'{')? + 1);
    while json.get(i) == Some(&b'"') {
        let key_end = string_end(json, i)?;
        let key = &json[i..key_end];
        let start = skip_ws(json, skip_ws(json, key_end) + 1);
        let end = value_end(json, start)?;
        if json::as_str(key).is_some_and(|k| k.eq_str(name)) {
            return Some(&json[start..end]);
        }
        // Past the comma (or onto the closing brace).
        i = skip_ws(json, end);
        if json.get(i) == Some(&b',') {
            i = skip_ws(json, i + 1);
        }
    }
    None
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The index just past the string that opens at `i` (a `"`).
fn string_end(json: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', json.get(j..)?)?;
        if json[j] == b'"' {
            return Some(j + 1);
        }
        j += 2; // an escape and the character it escapes
    }
}

/// The index just past the value that starts at `i`.
fn value_end(json: &[u8], i: usize) -> Option<usize> {
    match json.get(i)? {
        b'"' => string_end(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match json.get(j)? {
                    b'"' => {
                        j = string_end(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        // Numbers and literals end at the next delimiter.
        _ => Some(
            i + json[i..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(json.len() - i),
        ),
    }
}

impl Verifier {
    /// Verifies like [`verify`](Verifier::verify) (the same checks, in the same order),
    /// then calls `read` with the payload instead of deserializing it.
    ///
    /// ```
    /// use tessera_jose::{Algorithm, Signer, SigningKey, Verifier};
    ///
    /// let key = SigningKey::generate(Algorithm::HS256)?;
    /// let verifier = Verifier::new(key.verifying_key()?).with_audience("api");
    /// let token = Signer::new(key).sign(&serde_json::json!({
    ///     "aud": "api", "sid": "ses_1", "exp": 1_700_000_900,
    /// }))?;
    /// let sid = verifier.verify_raw(&token, 1_700_000_000, |c| c.string("sid").map(|s| s.into_owned()))?;
    /// assert_eq!(sid.claims().as_deref(), Some("ses_1"));
    /// # Ok::<(), tessera_jose::Error>(())
    /// ```
    pub fn verify_raw<R>(
        &self,
        token: &str,
        now: u64,
        read: impl FnOnce(RawClaims<'_>) -> R,
    ) -> Result<Verified<R>, Error> {
        jws::verify_compact(
            &self.keys,
            self.choice,
            &self.known,
            token,
            self.max_len,
            None,
            |key, header, payload| {
                self.check_claims(header, payload, now)?;
                Ok(Verified {
                    claims: read(RawClaims { json: payload }),
                    alg: key.alg(),
                    kid: key.kid_arc(),
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::member;
    use crate::json;

    /// Every top-level member, found by the fast walk and by the strict scanner, agrees.
    #[test]
    fn the_fast_walk_finds_what_the_strict_scanner_finds() {
        let docs = [
            r#"{"a":1,"b":"x","c":{"a":"inner","d":[1,{"e":"}"}]},"f":[["]"],"{"],"g":true,"h":null}"#,
            r#" { "sid" : "ses_1" , "n" : -1.5e3 , "s\"q" : "a\"b\\" , "\u0073id2" : "x" } "#,
            "{\n\t\"k\":\r\n\"v\"\n}",
            r#"{"emoji":"\ud83d\ude00","nested":{"sid":"no"},"sid":"yes"}"#,
            r#"{}"#,
            r#"{"last":false}"#,
        ];
        for doc in docs {
            let mut all = Vec::new();
            json::scan_object(doc.as_bytes(), |name, value| {
                all.push((name.unescape().map(|n| n.into_owned()), value));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{doc}: {e}"));
            for (name, value) in &all {
                let name = name.as_deref().unwrap_or_default();
                assert_eq!(member(doc.as_bytes(), name), Some(*value), "{doc}: {name}");
            }
            assert_eq!(member(doc.as_bytes(), "absent"), None, "{doc}");
        }
        assert_eq!(
            member(br#"{"nested":{"sid":"no"},"sid":"yes"}"#, "sid"),
            Some(&b"\"yes\""[..])
        );
    }
}
