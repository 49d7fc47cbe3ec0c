//! Usernames: parsed once, at the boundary, into a [`Username`] that is known to follow the
//! rules and knows its lookup key and its confusable skeleton.
//!
//! The rules are RFC 8265's (PRECIS): the name is compared in the `UsernameCaseMapped` form
//! (full-width and half-width forms mapped to their ordinary forms, case mapped to lower
//! case, Unicode normalization), and characters the PRECIS `IdentifierClass` disallows are
//! refused: control characters, invisible (default-ignorable) characters such as U+200B,
//! bidirectional formatting characters such as U+202E, symbols and compatibility characters.
//! `IdentifierClass` refuses every character that has a compatibility decomposition, so
//! the key is the same under NFC and NFKC.
//!
//! On top of that, two names that *look* alike must not name two accounts: each key has a
//! UTS #39 confusable skeleton (`аlice` with a Cyrillic `а` and `alice` share one), and the
//! store keeps skeletons unique.

use std::borrow::Cow;
use std::fmt;

use precis_core::profile::{PrecisFastInvocation, Rules};
use precis_core::Error as PrecisError;
use precis_profiles::{UsernameCaseMapped, UsernameCasePreserved};

/// Longest accepted username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Why a username was refused (the text is safe to show to the client: it never echoes the
/// name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Empty.
    #[error("username is empty")]
    Empty,
    /// Over [`MAX_USERNAME_CHARS`] characters.
    #[error("username is longer than 64 characters")]
    TooLong,
    /// Holds control characters (they hide in logs and terminals).
    #[error("username contains control characters")]
    Control,
    /// Holds invisible characters (zero-width spaces and joiners, other default-ignorable
    /// code points): two names that look the same.
    #[error("username contains invisible characters")]
    Invisible,
    /// Holds bidirectional formatting characters (U+202A–U+202E, U+2066–U+2069, U+200E,
    /// U+200F, U+061C): they reorder how the name and text after it are shown.
    #[error("username contains bidirectional formatting characters")]
    Bidi,
    /// Starts or ends with white space, holds two spaces in a row, or a space other than
    /// U+0020.
    #[error("username starts or ends with spaces, or holds consecutive or unusual spaces")]
    Spaces,
    /// Holds a character the PRECIS username profile refuses (symbols, punctuation beyond
    /// ASCII, compatibility characters, unassigned code points), or mixes directions in a
    /// way RFC 5893 refuses.
    #[error("username contains characters that are not allowed in usernames")]
    Disallowed,
}

/// A username that follows the rules: 1–64 characters; words of PRECIS `IdentifierClass`
/// characters separated by single spaces (RFC 8265 §3.1 lets an application allow spaces
/// between the parts it checks); no control, invisible or bidirectional formatting
/// characters.
///
/// It carries three forms:
/// - [`as_str`](Username::as_str): the display name, the name in RFC 8265's
///   `UsernameCasePreserved` form (widths mapped, normalized, case kept as typed);
/// - [`key`](Username::key): the `UsernameCaseMapped` form, what logins look up, so `ALICE`
///   and full-width `ａｌｉｃｅ` name the account `alice`;
/// - [`skeleton`](Username::skeleton): the UTS #39 skeleton of the key, unique per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    key: String,
    skeleton: String,
}

impl Username {
    /// Checks `text` against the rules and computes its forms.
    pub fn parse(text: &str) -> Result<Username, UsernameError> {
        let n = text.chars().count();
        if n == 0 {
            return Err(UsernameError::Empty);
        }
        if n > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        // Named refusals first, so the answer says which kind of character is at fault
        // (the profile below would refuse all of them, with a less helpful reason).
        if let Some(why) = text.chars().find_map(refused_kind) {
            return Err(why);
        }
        let mut display = String::with_capacity(text.len());
        let mut key = String::with_capacity(text.len());
        for (i, part) in text.split(' ').enumerate() {
            if part.is_empty() {
                return Err(UsernameError::Spaces);
            }
            if i > 0 {
                display.push(' ');
                key.push(' ');
            }
            display.push_str(&enforce::<UsernameCasePreserved>(part)?);
            key.push_str(&enforce::<UsernameCaseMapped>(part)?);
        }
        let skeleton = unicode_security::skeleton(&key).collect();
        Ok(Username {
            display,
            key,
            skeleton,
        })
    }

    /// The display name: as typed, with full-width forms mapped and normalized (shown back
    /// to its owner and to admins).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The lookup key, unique per user: the RFC 8265 `UsernameCaseMapped` form.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The UTS #39 confusable skeleton of [`key`](Username::key): two names with one
    /// skeleton look alike, and only one of them may exist.
    pub fn skeleton(&self) -> &str {
        &self.skeleton
    }

    /// The lookup key the rules before RFC 8265 gave `text` (lower case, nothing else): the
    /// key of rows created then that could not be given the new one (see
    /// [`crate::normalize_usernames`]).
    pub fn legacy_key(text: &str) -> String {
        text.to_lowercase()
    }
}

/// Applies one PRECIS profile to one space-free part; every refusal of the profile maps to
/// a [`UsernameError`] (the profile's own errors carry positions and code points, which
/// must not reach a client or a log).
fn enforce<P: PrecisFastInvocation + Rules + Default>(
    part: &str,
) -> Result<Cow<'_, str>, UsernameError> {
    P::enforce(part).map_err(|e| match e {
        PrecisError::BadCodepoint(info) => char::from_u32(info.cp)
            .and_then(refused_kind)
            .or_else(|| {
                // A space that width mapping produced (U+3000 ideographic space).
                (P::default().width_mapping_rule(part).ok()?.contains(' '))
                    .then_some(UsernameError::Spaces)
            })
            .unwrap_or(UsernameError::Disallowed),
        _ => UsernameError::Disallowed,
    })
}

/// The named reasons for refusing one character; `None` for characters the profile
/// decides on.
fn refused_kind(c: char) -> Option<UsernameError> {
    if c.is_control() {
        Some(UsernameError::Control)
    } else if is_bidi_format(c) {
        Some(UsernameError::Bidi)
    } else if is_invisible(c) {
        Some(UsernameError::Invisible)
    } else if c.is_whitespace() && c != ' ' {
        Some(UsernameError::Spaces)
    } else {
        None
    }
}

/// Bidirectional formatting characters (Unicode `Bidi_Control`).
fn is_bidi_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing (Unicode `Default_Ignorable_Code_Point`, the ranges
/// that matter for names, and the invisible word joiners and fillers). ZWJ and ZWNJ are
/// among them: PRECIS would allow them after a virama, but in a username they only make a
/// second name that looks like the first.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(
            Username::parse("Alice").map(|u| u.key().to_owned()),
            Ok("alice".into())
        );
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse(&"a".repeat(65)),
            Err(UsernameError::TooLong)
        );
        assert!(
            Username::parse(&"é".repeat(64)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(Username::parse("a\u{7}b"), Err(UsernameError::Control));
        assert_eq!(Username::parse(" alice"), Err(UsernameError::Spaces));
        assert_eq!(Username::parse("alice\t"), Err(UsernameError::Control));
        assert_eq!(Username::parse("alice "), Err(UsernameError::Spaces));
        assert_eq!(Username::parse("ali  ce"), Err(UsernameError::Spaces));
        assert_eq!(Username::parse("ali\u{3000}ce"), Err(UsernameError::Spaces));
        assert_eq!(Username::parse("ali\u{A0}ce"), Err(UsernameError::Spaces));
    }

    #[test]
    fn forms() {
        let u = Username::parse("ＡＬＩＣＥ Smith").unwrap();
        assert_eq!(u.as_str(), "ALICE Smith");
        assert_eq!(u.key(), "alice smith");
        // UTS #39 takes `m` for `rn`.
        assert_eq!(u.skeleton(), "alice srnith");
        // Decomposed and composed é are one name.
        assert_eq!(
            Username::parse("Jose\u{301}").unwrap().key(),
            Username::parse("José").unwrap().key()
        );
    }

    #[test]
    fn invisible_and_bidi_characters_are_named() {
        for (c, why) in [
            ('\u{200B}', UsernameError::Invisible),
            ('\u{200C}', UsernameError::Invisible),
            ('\u{200D}', UsernameError::Invisible),
            ('\u{2060}', UsernameError::Invisible),
            ('\u{FEFF}', UsernameError::Invisible),
            ('\u{00AD}', UsernameError::Invisible),
            ('\u{202E}', UsernameError::Bidi),
            ('\u{202A}', UsernameError::Bidi),
            ('\u{2066}', UsernameError::Bidi),
            ('\u{2069}', UsernameError::Bidi),
            ('\u{200E}', UsernameError::Bidi),
            ('\u{200F}', UsernameError::Bidi),
            ('\u{0085}', UsernameError::Control),
        ] {
            assert_eq!(
                Username::parse(&format!("ali{c}ce")),
                Err(why),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn symbols_and_compatibility_characters_are_disallowed() {
        for name in ["a☃b", "ﬁsh", "①two", "ℌello", "x\u{E000}"] {
            assert_eq!(
                Username::parse(name),
                Err(UsernameError::Disallowed),
                "{name}"
            );
        }
    }
}
