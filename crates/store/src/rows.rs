//! Decoding rows into the records of `tessera-tokens`, for every backend: each backend's
//! statements list the columns in the order of its `*_columns!` macros, and these functions
//! read them by position.

use sqlx::{ColumnIndex, Decode, Row, Type};
use tessera_tokens::{Revocation, RevokeReason, SessionRecord, StoreError, StoredKey, UserRecord};

/// A column that does not decode is a bug or corrupt data, never a bound value: the
/// message names the column and the expected type.
fn get<'r, R, T>(row: &'r R, i: usize) -> Result<T, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(i)
        .map_err(|e| StoreError::Other(format!("decoding a row: {e}")))
}

/// `id, username, username_key, password_hash, created_at, username_skeleton`.
pub(crate) fn user<'r, R>(row: &'r R) -> Result<UserRecord, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(UserRecord {
        id: get(row, 0)?,
        username: get(row, 1)?,
        username_key: get(row, 2)?,
        password_hash: get(row, 3)?,
        created_at: get(row, 4)?,
        username_skeleton: get(row, 5)?,
    })
}

/// `id, user_id, created_at, last_used_at, expires_at, idle_expires_at, revoked_at,
/// revoke_reason, generation, user_agent, ip`, starting at column `at`.
pub(crate) fn session<'r, R>(row: &'r R, at: usize) -> Result<SessionRecord, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let reason: Option<String> = get(row, at + 7)?;
    let revoke_reason = match reason {
        None => None,
        Some(s) => Some(RevokeReason::parse(&s).ok_or_else(|| {
            StoreError::Other(format!("unknown revoke reason {s:?} in sessions"))
        })?),
    };
    Ok(SessionRecord {
        id: get(row, at)?,
        user_id: get(row, at + 1)?,
        created_at: get(row, at + 2)?,
        last_used_at: get(row, at + 3)?,
        expires_at: get(row, at + 4)?,
        idle_expires_at: get(row, at + 5)?,
        revoked_at: get(row, at + 6)?,
        revoke_reason,
        generation: get(row, at + 8)?,
        user_agent: get(row, at + 9)?,
        ip: get(row, at + 10)?,
    })
}

/// `kid, alg, public_jwk, private_sealed, created_at, activates_at, retired_at`.
pub(crate) fn key<'r, R>(row: &'r R) -> Result<StoredKey, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(StoredKey {
        kid: get(row, 0)?,
        alg: get(row, 1)?,
        public_jwk: get(row, 2)?,
        private_sealed: get(row, 3)?,
        created_at: get(row, 4)?,
        activates_at: get(row, 5)?,
        retired_at: get(row, 6)?,
    })
}

/// `session_id, revoked_at, until` of a revocation record at `offset`, where the columns are
/// NULL when the feed's outer join found no record.
pub(crate) fn revocation<'r, R>(row: &'r R, offset: usize) -> Result<Option<Revocation>, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
{
    let session_id: Option<String> = get(row, offset)?;
    let (Some(session_id), Some(revoked_at), Some(until)) = (
        session_id,
        get::<_, Option<i64>>(row, offset + 1)?,
        get::<_, Option<i64>>(row, offset + 2)?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Revocation {
        session_id,
        revoked_at,
        until,
    }))
}
