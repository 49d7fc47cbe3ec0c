//! The bundled list of common and breached passwords that signup refuses (NIST SP 800-63B
//! §3.1.1.2: compare new passwords against values known to be commonly used or compromised).
//!
//! `data/common-passwords.txt` holds the 19,640 most common passwords of breach corpora,
//! lower-cased and deduplicated, one per line, sorted; it comes from Django's password
//! validation (see `data/README.md` for its origin and licence). It is compiled into the
//! binary: checking a password needs no network and no file.

use std::collections::HashSet;
use std::sync::LazyLock;

use tessera_jose::SecretString;
use zeroize::Zeroizing;

static LIST: &str = include_str!("../data/common-passwords.txt");

static SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| LIST.lines().collect());

/// At least the longest entry of the list, in bytes (66): longer passwords are not looked
/// up.
const LONGEST: usize = 128;

/// Whether `password`, compared without regard to case, is on the list.
pub(crate) fn is_common(password: &SecretString) -> bool {
    let pw = password.expose_secret();
    if pw.len() > LONGEST {
        return false;
    }
    // The lowered copy is as secret as the password.
    let lowered = Zeroizing::new(pw.to_lowercase());
    SET.contains(lowered.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_lowercase_and_within_the_bound() {
        assert!(SET.len() > 19_000, "{}", SET.len());
        assert!(LIST.lines().all(|l| l.len() <= LONGEST && !l.is_empty()));
        assert!(LIST.lines().all(|l| l.to_lowercase() == l));
        assert!(LIST.lines().zip(LIST.lines().skip(1)).all(|(a, b)| a < b));
    }

    #[test]
    fn lookups_ignore_case() {
        for pw in ["password123", "PASSWORD123", "qwertyuiop", "Iloveyou1"] {
            assert!(is_common(&SecretString::from(pw.to_owned())), "{pw}");
        }
        for pw in ["correct horse battery staple", "tq8#Lm2!vw", ""] {
            assert!(!is_common(&SecretString::from(pw.to_owned())), "{pw}");
        }
    }
}
