//! A serde `Deserializer` over the strict scanner: one pass over a token's payload that
//! enforces every rule of the scanner (grammar, UTF-8, duplicate names at every level, depth)
//! while it fills the caller's type, and hands each top-level member to a visitor on the way
//! (the registered-claim checks), as [`scan_object`](super::scan_object) does.
//!
//! For what it accepts it makes the visitor calls serde_json's `from_slice` makes for the same
//! text: borrowed strings when unescaped, `u64`/`i64` for integers that fit, serde_json itself
//! for every other number. What it does not reproduce exactly (enum values that are objects,
//! map keys read as numbers or booleans, serde_json's `RawValue`, escaped strings read as
//! bytes) is an error, and any error sends the caller back to the two-pass path (scan, then
//! serde_json), which gives the refusal it always gave: one pass on the path tokens take, the
//! old behaviour everywhere else.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;

use super::{JsonStr, Names, Scanner, MAX_DEPTH};
use crate::error::Error;

/// The one error: "take the two-pass path" (which says what was wrong, if anything).
#[derive(Debug)]
pub(crate) struct Fallback;

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not decoded in one pass")
    }
}

impl std::error::Error for Fallback {}

impl de::Error for Fallback {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Fallback
    }
}

impl From<Error> for Fallback {
    fn from(_: Error) -> Self {
        Fallback
    }
}

/// The visitor of top-level members: name and raw value.
pub(crate) type Members<'v, 'a> = &'v mut dyn FnMut(JsonStr<'a>, &'a [u8]) -> Result<(), Error>;

/// Deserializes `input`, which must be one JSON object under the scanner's rules, into `C`,
/// calling `members` with each top-level member in order.
pub(crate) fn from_object<'a, C: DeserializeOwned>(
    input: &'a [u8],
    members: Members<'_, 'a>,
) -> Result<C, Fallback> {
    // UTF-8 checked once for the whole payload, so strings are sliced from it as they are.
    let text = std::str::from_utf8(input).map_err(|_| Fallback)?;
    let mut de = Deserializer {
        text,
        s: Scanner { b: input, pos: 0 },
        depth: 0,
        members,
        top_seen: false,
    };
    de.s.ws();
    if de.s.peek() != Some(b'{') {
        return Err(Fallback);
    }
    let value = C::deserialize(&mut de)?;
    de.s.ws();
    // The caller's type must have read the top-level object as one (not, say, through a
    // path that skipped the member visitor), and nothing may follow it.
    if !de.top_seen || de.s.pos != input.len() {
        return Err(Fallback);
    }
    Ok(value)
}

struct Deserializer<'v, 'a> {
    /// The input, as text (the scanner reads its bytes).
    text: &'a str,
    s: Scanner<'a>,
    /// Nesting of the container being read (the top-level object is 1).
    depth: usize,
    members: Members<'v, 'a>,
    top_seen: bool,
}

/// How serde_json reads a number: `u64` when non-negative and integral and it fits, `i64`
/// when negative and integral and it fits (not `-0`), anything else goes to serde_json.
#[cfg_attr(test, derive(Debug, PartialEq))]
enum Num {
    U(u64),
    I(i64),
    Other,
}

fn classify(raw: &[u8]) -> Num {
    let (neg, digits) = match raw.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, raw),
    };
    // 19 digits always fit a u64; a fraction or exponent is not a digit.
    if digits.len() > 19 {
        return Num::Other;
    }
    let mut v = 0u64;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return Num::Other;
        }
        v = v * 10 + u64::from(d);
    }
    if !neg {
        Num::U(v)
    } else if v == 0 || v > 1 << 63 {
        Num::Other
    } else {
        Num::I((v as i64).wrapping_neg())
    }
}

type JsonDe<'a> = serde_json::Deserializer<serde_json::de::SliceRead<'a>>;

/// A scanned string: its raw text between the quotes, and whether it has escapes.
#[derive(Clone, Copy)]
struct Text<'a> {
    json: JsonStr<'a>,
    raw: &'a str,
}

fn visit_str<'a, V: Visitor<'a>>(s: Text<'a>, visitor: V) -> Result<V::Value, Fallback> {
    if s.json.plain().is_some() {
        visitor.visit_borrowed_str(s.raw)
    } else {
        visitor.visit_str(&s.json.unescape().ok_or(Fallback)?)
    }
}

impl<'a> Deserializer<'_, 'a> {
    /// The string at the cursor (which is at its opening quote).
    #[inline(always)]
    fn string(&mut self) -> Result<Text<'a>, Fallback> {
        let start = self.s.pos + 1;
        let json = self.s.string()?;
        let raw = self.text.get(start..self.s.pos - 1).ok_or(Fallback)?;
        Ok(Text { json, raw })
    }

    /// The first byte of the next value, past whitespace.
    #[inline]
    fn peek_value(&mut self) -> Result<u8, Fallback> {
        self.s.ws();
        self.s.peek().ok_or(Fallback)
    }

    fn number<V, F>(&mut self, visitor: V, other: F) -> Result<V::Value, Fallback>
    where
        V: Visitor<'a>,
        F: FnOnce(&mut JsonDe<'a>, V) -> Result<V::Value, serde_json::Error>,
    {
        let start = self.s.pos;
        self.s.number()?;
        let raw = &self.s.b[start..self.s.pos];
        match classify(raw) {
            Num::U(v) => visitor.visit_u64(v),
            Num::I(v) => visitor.visit_i64(v),
            Num::Other => {
                other(&mut serde_json::Deserializer::from_slice(raw), visitor).map_err(|_| Fallback)
            }
        }
    }

    fn enter(&mut self) -> Result<(), Fallback> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Fallback);
        }
        self.s.pos += 1;
        Ok(())
    }

    fn leave(&mut self, close: u8) -> Result<(), Fallback> {
        self.s.ws();
        if !self.s.eat(close) {
            return Err(Fallback);
        }
        self.depth -= 1;
        Ok(())
    }

    /// An object, at its `{`.
    fn map<V: Visitor<'a>>(&mut self, visitor: V) -> Result<V::Value, Fallback> {
        self.enter()?;
        let top = self.depth == 1;
        let value = visitor.visit_map(Map {
            de: &mut *self,
            names: Names::new(),
            first: true,
            top,
            key: None,
        })?;
        self.leave(b'}')?;
        self.top_seen |= top;
        Ok(value)
    }

    /// An array, at its `[`.
    fn seq<V: Visitor<'a>>(&mut self, visitor: V) -> Result<V::Value, Fallback> {
        self.enter()?;
        let value = visitor.visit_seq(Seq {
            de: &mut *self,
            first: true,
        })?;
        self.leave(b']')?;
        Ok(value)
    }
}

macro_rules! number {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
            match self.peek_value()? {
                b'-' | b'0'..=b'9' => self.number(visitor, |d, v| d.$method(v)),
                _ => Err(Fallback),
            }
        }
    )*};
}

/// 128-bit integers: always serde_json (it visits them as `i128`/`u128`).
macro_rules! wide {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
            match self.peek_value()? {
                b'-' | b'0'..=b'9' => {
                    let start = self.s.pos;
                    self.s.number()?;
                    serde_json::Deserializer::from_slice(&self.s.b[start..self.s.pos])
                        .$method(visitor)
                        .map_err(|_| Fallback)
                }
                _ => Err(Fallback),
            }
        }
    )*};
}

impl<'a> de::Deserializer<'a> for &mut Deserializer<'_, 'a> {
    type Error = Fallback;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            b'n' => {
                self.s.literal(b"null")?;
                visitor.visit_unit()
            }
            b't' => {
                self.s.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.s.literal(b"false")?;
                visitor.visit_bool(false)
            }
            b'-' | b'0'..=b'9' => self.number(visitor, |d, v| d.deserialize_any(v)),
            b'"' => visit_str(self.string()?, visitor),
            b'[' => self.seq(visitor),
            b'{' => self.map(visitor),
            _ => Err(Fallback),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            b't' => {
                self.s.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.s.literal(b"false")?;
                visitor.visit_bool(false)
            }
            _ => Err(Fallback),
        }
    }

    number! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_f32 deserialize_f64
    }

    wide! { deserialize_i128 deserialize_u128 }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            b'"' => visit_str(self.string()?, visitor),
            _ => Err(Fallback),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            // serde_json hands escaped strings over as their unescaped bytes, lone
            // surrogates and all: the two-pass path does that.
            b'"' => match self.s.string()?.plain() {
                Some(raw) => visitor.visit_borrowed_bytes(raw),
                None => Err(Fallback),
            },
            b'[' => self.seq(visitor),
            _ => Err(Fallback),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        if self.peek_value()? == b'n' {
            self.s.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            b'n' => {
                self.s.literal(b"null")?;
                visitor.visit_unit()
            }
            _ => Err(Fallback),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Fallback> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Fallback> {
        if name == RAW_VALUE {
            return Err(Fallback);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            b'[' => self.seq(visitor),
            _ => Err(Fallback),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Fallback> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Fallback> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            b'{' => self.map(visitor),
            _ => Err(Fallback),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fallback> {
        match self.peek_value()? {
            b'{' => self.map(visitor),
            b'[' => self.seq(visitor),
            _ => Err(Fallback),
        }
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Fallback> {
        // A unit variant written as a plain string; everything else takes the two-pass path.
        if self.peek_value()? != b'"' {
            return Err(Fallback);
        }
        let name = self.string()?;
        if name.json.plain().is_none() {
            return Err(Fallback);
        }
        visitor.visit_enum(BorrowedStrDeserializer::new(name.raw))
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        self.s.ws();
        if self.depth == 0 {
            // The whole payload ignored: the scanner still checks it and visits its members.
            self.s.object(1, Some(&mut *self.members))?;
            self.top_seen = true;
        } else {
            self.s.value(self.depth + 1)?;
        }
        visitor.visit_unit()
    }
}

/// serde_json's private name for its `RawValue` newtype.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

struct Map<'d, 'v, 'a> {
    de: &'d mut Deserializer<'v, 'a>,
    names: Names<'a>,
    first: bool,
    /// The top-level object, whose members go to the member visitor.
    top: bool,
    key: Option<JsonStr<'a>>,
}

impl<'a> de::MapAccess<'a> for Map<'_, '_, 'a> {
    type Error = Fallback;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Fallback> {
        let s = &mut self.de.s;
        if !s.next_item(b'}', &mut self.first)? {
            return Ok(None);
        }
        if s.peek() != Some(b'"') {
            return Err(Fallback);
        }
        let key = self.de.string()?;
        self.names.insert(key.json)?;
        let s = &mut self.de.s;
        s.ws();
        s.expect(b':')?;
        self.key = Some(key.json);
        seed.deserialize(Key(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, Fallback> {
        let key = self.key.take().ok_or(Fallback)?;
        self.de.s.ws();
        let start = self.de.s.pos;
        let value = seed.deserialize(&mut *self.de)?;
        if self.top {
            let b = self.de.s.b;
            (self.de.members)(key, &b[start..self.de.s.pos])?;
        }
        Ok(value)
    }
}

struct Seq<'d, 'v, 'a> {
    de: &'d mut Deserializer<'v, 'a>,
    first: bool,
}

impl<'a> de::SeqAccess<'a> for Seq<'_, '_, 'a> {
    type Error = Fallback;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Fallback> {
        if !self.de.s.next_item(b']', &mut self.first)? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

/// A member name, read as serde_json's map keys are read when they are strings. Keys that
/// serde_json would parse as numbers or booleans, or read as bytes or enums, fall back.
struct Key<'a>(Text<'a>);

macro_rules! refuse {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'a>>(self, _visitor: V) -> Result<V::Value, Fallback> {
            Err(Fallback)
        }
    )*};
}

impl<'a> de::Deserializer<'a> for Key<'a> {
    type Error = Fallback;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        visit_str(self.0, visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Fallback> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Fallback> {
        if name == RAW_VALUE {
            return Err(Fallback);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Fallback> {
        Err(Fallback)
    }

    refuse! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_bytes deserialize_byte_buf
    }

    forward_to_deserialize_any! {
        <W: Visitor<'a>>
        char str string unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::from_object;
    use serde::de::{DeserializeOwned, IgnoredAny};
    use serde::Deserialize;
    use serde_json::Value;
    use std::collections::BTreeMap;

    /// The one pass itself (not its fallback) reads `doc`, as serde_json would, and
    /// visits every top-level member in order.
    fn one_pass<C: DeserializeOwned + PartialEq + std::fmt::Debug>(doc: &str) -> C {
        let mut names = Vec::new();
        let got = from_object::<C>(doc.as_bytes(), &mut |name, _| {
            names.push(name.unescape().map(|n| n.into_owned()));
            Ok(())
        })
        .unwrap_or_else(|_| panic!("one pass refused {doc}"));
        assert_eq!(
            got,
            serde_json::from_str::<C>(doc).expect("serde_json"),
            "{doc}"
        );
        let want: Vec<_> = serde_json::from_str::<serde_json::Map<String, Value>>(doc)
            .expect("object")
            .keys()
            .map(|k| Some(k.clone()))
            .collect();
        let mut names_sorted = names.clone();
        names_sorted.sort();
        assert_eq!(names_sorted, want, "{doc}: members");
        got
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Access {
        sub: String,
        exp: u64,
        n: Option<i64>,
        f: Option<f64>,
        role: Option<Role>,
        tags: Option<Vec<String>>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        Admin,
    }

    #[derive(Debug, PartialEq)]
    struct Ignored;

    impl<'de> Deserialize<'de> for Ignored {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            IgnoredAny::deserialize(d).map(|_| Ignored)
        }
    }

    #[test]
    fn reads_what_tokens_carry_in_one_pass() {
        for doc in [
            r#"{"sub":"u_1","exp":1700000900}"#,
            r#" { "sub" : "a\"\u00e9" , "exp" : 0 , "n" : -9223372036854775808 } "#,
            r#"{"sub":"u","exp":1,"f":1.5e3,"role":"admin","tags":["a","b"],"x":{"y":[null]}}"#,
            r#"{"s\u0075b":"u","exp":18446744073709551615,"f":-0}"#,
        ] {
            one_pass::<Access>(doc);
            one_pass::<Value>(doc);
            one_pass::<Ignored>(doc);
        }
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Shapes {
        b: bool,
        c: bool,
        u: (),
        sid: Sid,
        m: BTreeMap<Name, u64>,
        p: Point,
        raw: Bytes,
        list: Bytes,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Sid(String);

    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
    struct Name(String);

    #[derive(Debug, PartialEq, Deserialize)]
    struct Point {
        x: u8,
        y: u8,
    }

    /// Read through `deserialize_bytes`, as serde_bytes-style fields are.
    #[derive(Debug, PartialEq)]
    struct Bytes(Vec<u8>);

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = a.next_element()? {
                        out.push(b);
                    }
                    Ok(Bytes(out))
                }
            }
            d.deserialize_bytes(V)
        }
    }

    /// Every shape serde asks for by name (not through `deserialize_any`) is read by the one
    /// pass itself; a missing arm would only show as a fallback, so these must not fall back.
    #[test]
    fn reads_every_shape_serde_asks_for_in_one_pass() {
        one_pass::<Shapes>(
            r#"{"b":true,"c":false,"u":null,"sid":"s_1","m":{"a":1,"b":2},"p":[1,2],"raw":"abc","list":[1,2,3]}"#,
        );
        // Literals through deserialize_any, 32 levels deep (the limit) and many siblings
        // (each container left gives its level back).
        let deep = format!("{}1{}", "[".repeat(31), "]".repeat(31));
        let wide = format!("[{}]", vec!["[{}]"; 40].join(","));
        let doc = format!(r#"{{"t":true,"f":false,"n":null,"deep":{deep},"wide":{wide}}}"#);
        one_pass::<Value>(&doc);
        one_pass::<Ignored>(&doc);
        let deeper = format!(r#"{{"deep":[{deep}]}}"#);
        assert!(from_object::<Value>(deeper.as_bytes(), &mut |_, _| Ok(())).is_err());
    }

    /// Integers that fit are read here without serde_json; the rest is serde_json's.
    #[test]
    fn classifies_numbers() {
        use super::{classify, Num};
        assert_eq!(classify(b"0"), Num::U(0));
        assert_eq!(classify(b"9"), Num::U(9));
        assert_eq!(
            classify(b"9999999999999999999"),
            Num::U(9_999_999_999_999_999_999)
        );
        assert_eq!(classify(b"-1"), Num::I(-1));
        assert_eq!(classify(b"-9"), Num::I(-9));
        assert_eq!(classify(b"-9223372036854775808"), Num::I(i64::MIN));
        for other in [
            &b"-0"[..],
            b"-9223372036854775809",
            b"18446744073709551616",
            b"10000000000000000000",
            b"1.5",
            b"9e9",
            b"-99.9",
        ] {
            assert_eq!(
                classify(other),
                Num::Other,
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn leaves_the_rest_to_the_two_passes() {
        let refused = |doc: &str| {
            from_object::<Value>(doc.as_bytes(), &mut |_, _| Ok(())).is_err()
                && from_object::<Ignored>(doc.as_bytes(), &mut |_, _| Ok(())).is_err()
        };
        assert!(refused(r#"{"a":1,"a":2}"#));
        assert!(refused(r#"{"a":{"b":1,"\u0062":2}}"#));
        assert!(refused(r#"{"a":1} x"#));
        assert!(refused(r#"[1]"#));
        assert!(refused(r#"{"a":1,}"#));
        assert!(from_object::<Access>(
            br#"{"sub":"u","exp":1,"role":{"admin":1}}"#,
            &mut |_, _| Ok(())
        )
        .is_err());
        // A member visitor's refusal stops the pass.
        assert!(
            from_object::<Value>(br#"{"exp":"x"}"#, &mut |_, _| Err(crate::error::malformed(
                "no"
            )))
            .is_err()
        );
    }
}
