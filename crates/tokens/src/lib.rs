//! # tessera-tokens
//!
//! The domain of Tessera: users, sessions, access-token issuance, refresh-token rotation
//! with reuse detection, revocation, the signing key ring, the [`Store`] trait and the
//! [`Clock`]. No HTTP and no SQL: the server calls [`Auth`], which signs with
//! `tessera-jose` and persists through a [`Store`].

mod access;
mod clock;
mod ids;
mod keyring;
mod master;
mod password;
mod refresh;
mod revocation;
mod service;
mod store;

pub use access::{AccessClaims, AccessError};
pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use ids::new_id;
pub use keyring::{
    key_phases, rotate_keys, rotation_due, seal_key_record, KeyPhase, KeyRing, KeyRingConfig,
    KeyRingError, Maintenance,
};
pub use master::{MasterKey, MasterKeyError};
pub use password::{PasswordError, PasswordHasher, PasswordParams};
pub use refresh::{RefreshToken, REFRESH_TOKEN_LEN};
pub use revocation::RevocationCache;
pub use service::{
    check_username, create_user, username_key, Auth, ClientInfo, Failure, Introspection, Issued,
    LoginError, RefreshError, SessionError, Settings, SignupError, MAX_PASSWORD_BYTES,
    MAX_USERNAME_CHARS,
};
pub use store::{
    KeyRotation, Revocation, RevokeReason, RotateOutcome, Rotation, SessionRecord, Store,
    StoreError, StoredKey, TokenHash, UserRecord,
};
