//! The token signer: a key held ready and its header encoded once.

use serde::Serialize;

use crate::b64;
use crate::error::{malformed, Error};
use crate::jws::{self, Header};
use crate::key::SigningKey;

/// Signs JWTs with one key. The protected header (`alg`, `typ`, `kid`) is encoded once at
/// construction, so each `sign` serializes the claims, encodes and signs — nothing else.
#[derive(Debug)]
pub struct Signer {
    key: SigningKey,
    header: Header,
    header_b64: String,
}

impl Signer {
    /// A signer whose header is `{"alg", "kid"}` (the key's `kid`, when it has one).
    pub fn new(key: SigningKey) -> Self {
        let header = Header {
            kid: key.kid().map(str::to_owned),
            ..Header::default()
        };
        Signer::with_header(key, header)
    }

    /// A signer with an explicit header (its `alg` always comes from the key).
    pub fn with_header(key: SigningKey, header: Header) -> Self {
        let header_b64 = b64::encode(header.to_json(key.alg()).as_bytes());
        Signer {
            key,
            header,
            header_b64,
        }
    }

    /// Sets the header `typ` (e.g. `at+jwt` for RFC 9068 access tokens).
    pub fn with_typ(self, typ: impl Into<String>) -> Self {
        let header = Header {
            typ: Some(typ.into()),
            ..self.header
        };
        Signer::with_header(self.key, header)
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Serializes `claims` (which must serialize to a JSON object) and signs them.
    pub fn sign<C: Serialize + ?Sized>(&self, claims: &C) -> Result<String, Error> {
        let payload =
            serde_json::to_vec(claims).map_err(|_| malformed("claims do not serialize"))?;
        if payload.first() != Some(&b'{') {
            return Err(malformed("JWT claims must be a JSON object"));
        }
        jws::sign_with_encoded_header(&self.key, &self.header_b64, &payload)
    }
}
