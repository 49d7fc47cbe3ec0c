//! # tessera-jose
//!
//! Strict JOSE for Tessera: JWS compact signing and verification, JWK/JWKS/PEM keys,
//! RFC 7638 thumbprints and JWT claim validation. No I/O, no async; the only crate of the
//! workspace that calls crypto (aws-lc-rs, behind the `crypto` module).
//!
//! ```
//! use tessera_jose::{Algorithm, Signer, SigningKey, Verifier};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Claims { sub: String, sid: String }
//!
//! let key = SigningKey::generate(Algorithm::EdDSA)?;
//! let verifier = Verifier::new(key.verifying_key()?).with_audience("api");
//! let signer = Signer::new(key).with_typ("at+jwt");
//!
//! let now = 1_700_000_000;
//! let token = signer.sign(&serde_json::json!({
//!     "sub": "u_1", "sid": "s_1", "aud": "api", "iat": now, "exp": now + 900,
//! }))?;
//! let verified = verifier.verify::<Claims>(&token, now)?;
//! assert_eq!(verified.claims().sub, "u_1");
//! # Ok::<(), tessera_jose::Error>(())
//! ```
//!
//! What it refuses, by design (docs/security.md): `alg` `none` in any casing and any `alg` other
//! than the key's; keys named by the token (`jwk`, `jku`, `x5u`, `x5c` are never read);
//! `crit`; tokens over 16 KiB (before decoding); anything but exactly three segments;
//! padded or non-canonical base64url; non-object or duplicate-member or over-deep JSON;
//! DER or zero ECDSA signatures; HMAC secrets shorter than the hash; RSA keys under
//! 2048 bits; registered claims of the wrong JSON type.

mod alg;
mod b64;
mod crypto;
mod error;
mod json;
mod jwk;
mod jws;
mod key;
mod pem;
/// Hashing, HMAC, sealing at rest and constant-time comparison for the rest of Tessera.
pub mod primitives;
mod secret;
mod sign;
mod verify;

#[cfg(feature = "dangerous")]
pub mod dangerous;

pub use alg::{Algorithm, Family};
pub use crypto::random_bytes;
pub use error::{Error, ErrorKind, Result};
pub use json::MAX_DEPTH;
pub use jwk::{Jwk, JwkSet};
pub use jws::{sign as sign_jws, Header, VerifiedJws, DEFAULT_MAX_TOKEN_LEN};
pub use key::{
    signing_key_from_text, verifying_key_from_text, PublicKey, SigningKey, VerifyingKey,
};
pub use secret::{SecretBytes, SecretString};
pub use sign::Signer;
pub use verify::raw::RawClaims;
pub use verify::{Verified, Verifier, DEFAULT_LEEWAY};

/// Base64url without padding, the encoding of every JOSE binary member.
pub mod base64url {
    pub use crate::b64::{decode, encode};
}
