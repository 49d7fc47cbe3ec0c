//! # tessera-tokens
//!
//! The domain of Tessera: users, sessions, access-token issuance, refresh-token rotation
//! with reuse detection, revocation, the signing key ring, the [`Store`] trait and the
//! [`Clock`]. No HTTP and no SQL: the server calls [`Auth`], which signs with
//! `tessera-jose` and persists through a [`Store`].

mod access;
mod clock;
mod common_passwords;
mod error;
mod feed;
mod ids;
mod issued;
mod keyring;
mod master;
mod password;
mod refresh;
mod revocation;
mod service;
mod settings;
mod store;
mod username;
mod users;

pub use access::{AccessClaims, AccessError};
pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use error::{Failure, LoginError, RefreshError, SessionError, SignupError, Weakness};
pub use feed::{decode_cursor, encode_cursor, FeedAnswer, FeedError};
pub use ids::{new_id, SessionId, UserId};
pub use issued::{ClientInfo, Introspection, Issued};
pub use keyring::{
    key_phases, rotate_keys, rotation_due, seal_key_record, KeyPhase, KeyRing, KeyRingConfig,
    KeyRingError, Maintenance,
};
pub use master::{MasterKey, MasterKeyError};
pub use password::{PasswordError, PasswordHasher, PasswordParams};
pub use refresh::{RefreshToken, REFRESH_TOKEN_LEN};
pub use revocation::RevocationCache;
pub use service::Auth;
pub use settings::Settings;
pub use store::{
    FeedPosition, KeyRotation, Revocation, RevocationPage, RevokeReason, RotateOutcome, Rotation,
    SessionCap, SessionRecord, Store, StoreError, StoredKey, TokenHash, UserRecord,
};
pub use username::{Username, UsernameError, MAX_USERNAME_CHARS};
pub use users::{
    check_password, create_user, normalize_usernames, NormalizeReport, MAX_PASSWORD_BYTES,
};
