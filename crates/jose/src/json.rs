//! A strict JSON scanner (RFC 8259) used before serde sees any token part.
//!
//! serde_json keeps the last of duplicate members and accepts deep nesting up to its own
//! recursion limit; docs/security.md lists both as refused. This scanner validates the grammar, refuses
//! duplicate member names at every level (comparing names after unescaping, so `"exp"` and
//! `"\u0065xp"` are the same name) and nesting deeper than [`MAX_DEPTH`], and hands the
//! top-level members to a visitor as raw slices. It allocates only for objects with more than
//! [`INLINE_KEYS`] members or for member names that contain escapes.

use std::borrow::Cow;

use crate::error::{malformed, Error};

pub(crate) mod de;

/// Deepest nesting accepted; the top-level object is depth 1.
pub const MAX_DEPTH: usize = 32;

/// Member names per object kept on the stack for the duplicate check.
const INLINE_KEYS: usize = 16;

/// A JSON string as it appears in the input, without its quotes.
#[derive(Clone, Copy)]
pub(crate) struct JsonStr<'a> {
    raw: &'a [u8],
    /// 1 when the string has escapes, else 0. A whole word rather than a `bool`: with a
    /// `bool`, each copy of a `JsonStr` read the flag and its seven bytes of padding as one
    /// word just after the flag was stored as a byte, a load the CPU cannot forward from its
    /// store buffer (a stall per member, about a tenth of an HS256 verify's time).
    escaped: usize,
}

impl<'a> JsonStr<'a> {
    /// A string that JSON writes without escapes (no quote, backslash or control
    /// character), as the scanner would read it.
    pub(crate) fn verbatim(s: &'a str) -> Self {
        JsonStr {
            raw: s.as_bytes(),
            escaped: 0,
        }
    }

    /// True when the string equals `s` after unescaping.
    pub(crate) fn eq_str(&self, s: &str) -> bool {
        if self.is_escaped() {
            self.unescape().as_deref() == Some(s)
        } else {
            self.raw == s.as_bytes()
        }
    }

    fn same_name(&self, other: &JsonStr<'_>) -> bool {
        if !self.is_escaped() && !other.is_escaped() {
            return self.raw == other.raw;
        }
        match (self.unescape(), other.unescape()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    #[inline]
    fn is_escaped(&self) -> bool {
        self.escaped != 0
    }

    /// The raw bytes when the string has no escapes (then they are its text).
    #[inline]
    pub(crate) fn plain(&self) -> Option<&'a [u8]> {
        (!self.is_escaped()).then_some(self.raw)
    }

    /// A cheap fingerprint of a plain name for the duplicate check's filter.
    #[inline]
    fn fingerprint(&self) -> u64 {
        let r = self.raw;
        let h = r
            .len()
            .wrapping_mul(31)
            .wrapping_add(usize::from(*r.first().unwrap_or(&0)))
            .wrapping_add(usize::from(*r.last().unwrap_or(&0)).wrapping_mul(7));
        1u64 << (h % 64)
    }

    /// The unescaped text (borrowed when there was nothing to unescape).
    pub(crate) fn unescape(&self) -> Option<Cow<'a, str>> {
        if !self.is_escaped() {
            return std::str::from_utf8(self.raw).ok().map(Cow::Borrowed);
        }
        // Rare path: let serde_json do the unescaping of the already validated string.
        let mut quoted = Vec::with_capacity(self.raw.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(self.raw);
        quoted.push(b'"');
        serde_json::from_slice::<String>(&quoted)
            .ok()
            .map(Cow::Owned)
    }
}

/// The JSON type of a raw, already validated value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

pub(crate) fn kind(raw: &[u8]) -> Kind {
    match raw.first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b't' | b'f') => Kind::Bool,
        Some(b'n') => Kind::Null,
        _ => Kind::Number,
    }
}

/// The string inside a raw string value (which must be of kind `String`).
pub(crate) fn as_str(raw: &[u8]) -> Option<JsonStr<'_>> {
    if kind(raw) != Kind::String || raw.len() < 2 {
        return None;
    }
    let inner = &raw[1..raw.len() - 1];
    Some(JsonStr {
        raw: inner,
        escaped: usize::from(inner.contains(&b'\\')),
    })
}

/// Calls `f` with each element of a raw, already validated array.
pub(crate) fn for_each_element<'a>(
    raw: &'a [u8],
    mut f: impl FnMut(&'a [u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut s = Scanner { b: raw, pos: 0 };
    s.expect(b'[')?;
    s.ws();
    if s.eat(b']') {
        return Ok(());
    }
    loop {
        s.ws();
        let start = s.pos;
        s.value(1)?;
        f(&raw[start..s.pos])?;
        s.ws();
        if s.eat(b']') {
            return Ok(());
        }
        s.expect(b',')?;
    }
}

/// Validates `input` as one JSON object under the rules above and calls `visit` with each
/// top-level member name and raw value, in order.
pub(crate) fn scan_object<'a>(
    input: &'a [u8],
    mut visit: impl FnMut(JsonStr<'a>, &'a [u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    // UTF-8 is checked string by string (bytes >= 0x80 are invalid anywhere else).
    let mut s = Scanner { b: input, pos: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(malformed("JSON is not an object"));
    }
    s.object(1, Some(&mut visit))?;
    s.ws();
    if s.pos != input.len() {
        return Err(malformed("trailing data after JSON"));
    }
    Ok(())
}

/// Validates `input` as any JSON value under the same rules.
#[cfg(test)]
pub(crate) fn validate(input: &[u8]) -> Result<(), Error> {
    if std::str::from_utf8(input).is_err() {
        return Err(malformed("JSON is not UTF-8"));
    }
    let mut s = Scanner { b: input, pos: 0 };
    s.ws();
    s.value(1)?;
    s.ws();
    if s.pos != input.len() {
        return Err(malformed("trailing data after JSON"));
    }
    Ok(())
}

type Visitor<'v, 'a> = Option<&'v mut dyn FnMut(JsonStr<'a>, &'a [u8]) -> Result<(), Error>>;

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

const BAD: Error = malformed("invalid JSON");

/// The length of the run of plain string characters at the start of `b`: up to a quote, a
/// backslash, a control character or a non-ASCII byte; `None` when the input ends first.
/// Strings in tokens are short, so eight bytes at a time in one pass beat a vectorised
/// search followed by separate control-character and ASCII checks.
#[inline]
fn plain_run(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(word) = b.get(i..i + 8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        if let Some(n) = first_stop(word) {
            return Some(i + n);
        }
        i += 8;
    }
    // Fewer than 8 bytes left: pad with quotes, and a stop found in the padding means the
    // input ended first.
    let rest = &b[i..];
    let mut word = [b'"'; 8];
    word[..rest.len()].copy_from_slice(rest);
    first_stop(word).filter(|&n| n < rest.len()).map(|n| i + n)
}

/// The index of the first byte in `word` that ends a plain run, eight bytes at once.
#[inline(always)]
fn first_stop(word: [u8; 8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let w = u64::from_le_bytes(word);
    let quote = w ^ (LO * u64::from(b'"'));
    let slash = w ^ (LO * u64::from(b'\\'));
    // The classic "zero byte" and "byte below n" tests, plus the high bit for non-ASCII.
    // A borrow only starts at a byte that matches, so the lowest flag is the first match.
    let stop = (quote.wrapping_sub(LO) & !quote
        | slash.wrapping_sub(LO) & !slash
        | w.wrapping_sub(LO * 0x20) & !w
        | w)
        & HI;
    (stop != 0).then(|| stop.trailing_zeros() as usize / 8)
}

#[cfg(test)]
/// The bytes that end a run of plain string characters: quote, backslash, control
/// characters and every non-ASCII byte (whose UTF-8 is then checked once for the string).
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20 || i >= 0x80 || i == b'"' as usize || i == b'\\' as usize;
        i += 1;
    }
    t
};

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), Error> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(BAD)
        }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Between the items of an object or array: `false` at `close` (left unread), else
    /// past the `,` every item but the first must follow (and the whitespace after it).
    fn next_item(&mut self, close: u8, first: &mut bool) -> Result<bool, Error> {
        self.ws();
        if self.peek() == Some(close) {
            return Ok(false);
        }
        if !std::mem::replace(first, false) {
            self.expect(b',')?;
            self.ws();
        }
        Ok(true)
    }

    fn value(&mut self, depth: usize) -> Result<(), Error> {
        match self.peek() {
            Some(b'{') => self.object(depth, None),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(BAD),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(BAD)
        }
    }

    fn digits(&mut self) -> usize {
        let rest = &self.b[self.pos..];
        let n = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        self.pos += n;
        n
    }

    fn number(&mut self) -> Result<(), Error> {
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(BAD),
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(BAD);
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(BAD);
            }
        }
        Ok(())
    }

    /// Scans a string starting at its opening quote.
    #[inline(always)]
    fn string(&mut self) -> Result<JsonStr<'a>, Error> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            self.pos += plain_run(&self.b[self.pos..]).ok_or(BAD)?;
            match self.b[self.pos] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            let hex = self.b.get(self.pos..self.pos + 4).ok_or(BAD)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(BAD);
                            }
                            self.pos += 4;
                        }
                        _ => return Err(BAD),
                    }
                }
                // Control characters must be escaped (RFC 8259 §7).
                0x00..=0x1f => return Err(BAD),
                _ => {
                    ascii = false;
                    self.pos += 1;
                }
            }
        }
        let raw = &self.b[start..self.pos];
        if !ascii && std::str::from_utf8(raw).is_err() {
            return Err(malformed("JSON is not UTF-8"));
        }
        self.pos += 1;
        Ok(JsonStr {
            raw,
            escaped: usize::from(escaped),
        })
    }

    fn array(&mut self, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(malformed("JSON nested too deeply"));
        }
        self.expect(b'[')?;
        self.ws();
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            self.ws();
            self.value(depth + 1)?;
            self.ws();
            if self.eat(b']') {
                return Ok(());
            }
            self.expect(b',')?;
        }
    }

    fn object(&mut self, depth: usize, mut visit: Visitor<'_, 'a>) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Err(malformed("JSON nested too deeply"));
        }
        self.expect(b'{')?;
        self.ws();
        if self.eat(b'}') {
            return Ok(());
        }
        let mut names = Names::new();
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(BAD);
            }
            let key = self.string()?;
            names.insert(key)?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            let start = self.pos;
            self.value(depth + 1)?;
            if let Some(v) = visit.as_mut() {
                v(key, &self.b[start..self.pos])?;
            }
            self.ws();
            if self.eat(b'}') {
                return Ok(());
            }
            self.expect(b',')?;
        }
    }
}

/// The member names of one object, for the duplicate check.
struct Names<'a> {
    inline: [JsonStr<'a>; INLINE_KEYS],
    spill: Vec<JsonStr<'a>>,
    count: usize,
    /// Names seen so far, as fingerprints: a plain name whose bit is not set cannot be a
    /// duplicate, so most members skip the comparisons. Escaped names always compare.
    seen_bits: u64,
    any_escaped: bool,
}

impl<'a> Names<'a> {
    #[inline]
    fn new() -> Self {
        const EMPTY: JsonStr<'static> = JsonStr {
            raw: b"",
            escaped: 0,
        };
        Names {
            inline: [EMPTY; INLINE_KEYS],
            spill: Vec::new(),
            count: 0,
            seen_bits: 0,
            any_escaped: false,
        }
    }

    /// Records `key`, refusing it when the object already has a member of that name.
    #[inline]
    fn insert(&mut self, key: JsonStr<'a>) -> Result<(), Error> {
        let bit = key.fingerprint();
        let must_compare = key.is_escaped() || self.any_escaped || self.seen_bits & bit != 0;
        self.seen_bits |= bit;
        self.any_escaped |= key.is_escaped();
        if must_compare
            && self.inline[..self.count.min(INLINE_KEYS)]
                .iter()
                .chain(self.spill.iter())
                .any(|k| k.same_name(&key))
        {
            return Err(malformed("duplicate JSON member name"));
        }
        if self.count < INLINE_KEYS {
            self.inline[self.count] = key;
        } else {
            self.spill.push(key);
        }
        self.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        let mut s = String::new();
        for _ in 0..depth - 1 {
            s.push_str("{\"a\":");
        }
        s.push_str("{}");
        for _ in 0..depth - 1 {
            s.push('}');
        }
        s
    }

    #[test]
    fn accepts_valid_json() {
        for ok in [
            r#"{}"#,
            r#"{"a":1,"b":[1,2.5,-3e+4,true,false,null,"x\u00e9\n"],"c":{"d":{}}}"#,
            " {\r\n \"a\" : 0 } ",
            r#"{"a":"é","b":-0.0}"#,
        ] {
            scan_object(ok.as_bytes(), |_, _| Ok(())).expect(ok);
        }
    }

    #[test]
    fn refuses_invalid_json() {
        for bad in [
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{'a':1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":1}x"#,
            r#"{"a" 1}"#,
            r#"[1]"#,
            r#""str""#,
            r#"{"a":[1,]}"#,
            r#"{"a":+1}"#,
            r#"{"a":NaN}"#,
            "",
        ] {
            assert!(scan_object(bad.as_bytes(), |_, _| Ok(())).is_err(), "{bad}");
        }
        assert!(scan_object(b"{\"a\":\"\xff\"}", |_, _| Ok(())).is_err());
    }

    #[test]
    fn refuses_duplicates_at_any_level_even_escaped() {
        for bad in [
            r#"{"exp":1,"exp":2}"#,
            r#"{"exp":1,"\u0065xp":2}"#,
            r#"{"\u0065xp":1,"exp":2}"#,
            r#"{"\u0065xp":1,"e\u0078p":2}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"{"a":[{"b":1,"b":1}]}"#,
        ] {
            let e = scan_object(bad.as_bytes(), |_, _| Ok(())).expect_err(bad);
            assert_eq!(e.detail(), "duplicate JSON member name", "{bad}");
        }
        // Many members spill past the inline array and are still checked.
        let mut many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        scan_object(format!("{{{}}}", many.join(",")).as_bytes(), |_, _| Ok(())).expect("unique");
        many.push("\"k3\":0".into());
        assert!(scan_object(format!("{{{}}}", many.join(",")).as_bytes(), |_, _| Ok(())).is_err());
    }

    #[test]
    fn depth_limit_is_32() {
        scan_object(nested(MAX_DEPTH).as_bytes(), |_, _| Ok(())).expect("32 levels");
        let e = scan_object(nested(MAX_DEPTH + 1).as_bytes(), |_, _| Ok(())).expect_err("33");
        assert_eq!(e.detail(), "JSON nested too deeply");
        let arrays = format!("{{\"a\":{}{}}}", "[".repeat(40), "]".repeat(40));
        assert!(scan_object(arrays.as_bytes(), |_, _| Ok(())).is_err());
    }

    #[test]
    fn visits_top_level_members_only() {
        let mut seen = Vec::new();
        scan_object(br#"{"a":{"x":1},"b":[2],"c":"s"}"#, |k, v| {
            seen.push((k.unescape().expect("utf8").into_owned(), v.to_vec()));
            Ok(())
        })
        .expect("valid");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], ("a".to_string(), br#"{"x":1}"#.to_vec()));
        assert_eq!(kind(&seen[1].1), Kind::Array);
        assert!(as_str(&seen[2].1).expect("string").eq_str("s"));
    }

    /// The word-at-a-time run finder stops where a byte-by-byte one does.
    #[test]
    fn plain_run_stops_at_the_first_stop_byte() {
        use proptest::prelude::*;
        let simple = |b: &[u8]| b.iter().position(|&c| STOP[usize::from(c)]);
        proptest!(ProptestConfig::with_cases(3000), |(b in proptest::collection::vec(
            prop_oneof![8 => 0x20u8..0x7f, 1 => any::<u8>()], 0..40))| {
            prop_assert_eq!(plain_run(&b), simple(&b));
        });
        for stop in [0u8, 0x1f, b'"', b'\\', 0x80, 0xff] {
            for at in 0..20 {
                let mut b = vec![b'a'; 24];
                b[at] = stop;
                assert_eq!(plain_run(&b), Some(at), "{stop:#x} at {at}");
            }
        }
        assert_eq!(plain_run(b" !#[]~\x7f"), None);
    }

    #[test]
    fn validate_any_value() {
        validate(b"[1,2]").expect("array");
        validate(b" 3 ").expect("number");
        assert!(validate(b"[1,2").is_err());
    }
}
