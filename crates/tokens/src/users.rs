//! Creating users: the username and password rules, then the hash and the row. Used by
//! [`crate::Auth::signup`] and, without a running server, by `tessera users add`.

use tessera_jose::SecretString;

use crate::clock::UnixTime;
use crate::common_passwords;
use crate::error::{Failure, SignupError, Weakness};
use crate::ids::UserId;
use crate::password::PasswordHasher;
use crate::store::{Store, StoreError, UserRecord};
use crate::username::Username;

/// Longest accepted password, in bytes (Argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password the NIST SP 800-63B way: at most [`MAX_PASSWORD_BYTES`], at least
/// `min_len` characters, not only white space, not on the bundled list of common and
/// breached passwords. No composition rules: any character is allowed, spaces included, so
/// long passphrases are welcome.
pub fn check_password(password: &SecretString, min_len: usize) -> Result<(), SignupError> {
    let pw = password.expose_secret();
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(SignupError::PasswordTooLong);
    }
    if pw.chars().count() < min_len {
        return Err(Weakness::TooShort(min_len).into());
    }
    if pw.chars().all(char::is_whitespace) {
        return Err(Weakness::Blank.into());
    }
    if common_passwords::is_common(password) {
        return Err(Weakness::Common.into());
    }
    Ok(())
}

/// Creates a user: checks the password rules, hashes, stores. `UsernameTaken` when the
/// username's key, or its confusable skeleton, exists.
pub async fn create_user(
    store: &dyn Store,
    passwords: &PasswordHasher,
    min_password_len: usize,
    username: &Username,
    password: SecretString,
    now: UnixTime,
) -> Result<UserId, SignupError> {
    check_password(&password, min_password_len)?;
    let password_hash = passwords.hash(password).await.map_err(Failure::from)?;
    let id = UserId::generate().map_err(Failure::from)?;
    let user = UserRecord {
        id: id.to_string(),
        username: username.as_str().to_owned(),
        username_key: username.key().to_owned(),
        username_skeleton: Some(username.skeleton().to_owned()),
        password_hash,
        created_at: now,
    };
    match store.create_user(&user).await {
        Ok(()) => Ok(id),
        Err(StoreError::Conflict(_)) => Err(SignupError::UsernameTaken),
        Err(e) => Err(Failure::from(e).into()),
    }
}

/// What [`normalize_usernames`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NormalizeReport {
    /// Accounts given their RFC 8265 key and skeleton.
    pub normalized: usize,
    /// Accounts left as they were: their name breaks the rules, or its key or skeleton is
    /// another account's. They keep logging in with their old key (the name lowercased).
    pub kept: usize,
}

/// Gives every account created before the RFC 8265 username rules its new lookup key and
/// confusable skeleton, computed from its stored name; the stores run it on every start,
/// after their migrations (rows already done are not read again).
///
/// An account whose name breaks the new rules, or whose new key or skeleton another
/// account already has (older accounts win), is left as it was and counted in `kept`, with
/// one warning naming the count (never the names): start-up goes on, and those owners keep
/// logging in as before (see [`crate::Auth::login`]).
pub async fn normalize_usernames(store: &dyn Store) -> Result<NormalizeReport, StoreError> {
    let mut report = NormalizeReport::default();
    for user in store.users_without_skeleton().await? {
        let Ok(name) = Username::parse(&user.username) else {
            report.kept += 1;
            continue;
        };
        match store
            .set_username_key(&user.id, name.key(), name.skeleton())
            .await
        {
            Ok(true) => report.normalized += 1,
            // Another process did it first.
            Ok(false) => {}
            Err(StoreError::Conflict(_)) => report.kept += 1,
            Err(e) => return Err(e),
        }
    }
    if report.normalized > 0 {
        tracing::info!(
            count = report.normalized,
            "usernames given their RFC 8265 key and confusable skeleton"
        );
    }
    if report.kept > 0 {
        tracing::warn!(
            count = report.kept,
            "accounts keep their old username key: their names break the RFC 8265 rules or \
             look like another account's; they log in as before, and new accounts cannot \
             take a name that normalizes to theirs"
        );
    }
    Ok(report)
}
