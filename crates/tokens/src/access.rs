//! Access tokens (RFC 9068 profile): the claims we issue and the errors of verifying one.

use serde::{Deserialize, Serialize};

/// The claims of a Tessera access token. Only opaque ids and times: the payload is
/// readable by anyone, so nothing personal goes in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The user's opaque id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Unique token id.
    pub jti: String,
    /// The session id.
    pub sid: String,
    /// Space-separated scopes, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The OAuth client, when issued to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Why an access token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Past `exp` plus leeway: the client should refresh (`token_expired`).
    #[error("the access token has expired")]
    Expired,
    /// Its session was revoked (`invalid_token`).
    #[error("the session of this access token was revoked")]
    Revoked,
    /// Missing, malformed, bad signature, wrong alg/iss/aud/typ (`invalid_token`); the
    /// detail is a static description, safe to show.
    #[error("{0}")]
    Invalid(&'static str),
}

impl From<tessera_jose::Error> for AccessError {
    fn from(e: tessera_jose::Error) -> Self {
        match e.kind() {
            tessera_jose::ErrorKind::Expired => AccessError::Expired,
            _ => AccessError::Invalid(e.detail()),
        }
    }
}
