//! Creating users: the username and password rules, then the hash and the row. Used by
//! [`crate::Auth::signup`] and, without a running server, by `tessera users add`.

use tessera_jose::SecretString;

use crate::clock::UnixTime;
use crate::error::{Failure, SignupError};
use crate::ids::UserId;
use crate::password::PasswordHasher;
use crate::store::{Store, StoreError, UserRecord};
use crate::username::Username;

/// Longest accepted password, in bytes (Argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password: at most [`MAX_PASSWORD_BYTES`], at least `min_len` characters.
pub fn check_password(password: &SecretString, min_len: usize) -> Result<(), SignupError> {
    let pw = password.expose_secret();
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(SignupError::PasswordTooLong);
    }
    if pw.chars().count() < min_len {
        return Err(SignupError::WeakPassword(min_len));
    }
    Ok(())
}

/// Creates a user: checks the password rules, hashes, stores. `UsernameTaken` when the
/// username's key exists.
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
        username_key: username.key(),
        password_hash,
        created_at: now,
    };
    match store.create_user(&user).await {
        Ok(()) => Ok(id),
        Err(StoreError::Conflict(_)) => Err(SignupError::UsernameTaken),
        Err(e) => Err(Failure::from(e).into()),
    }
}
