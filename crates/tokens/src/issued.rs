//! What the domain operations hand back: issued tokens, where a client came from, and what
//! an introspected token is.

use crate::access::AccessClaims;
use crate::ids::{SessionId, UserId};
use crate::refresh::RefreshToken;
use crate::store::SessionRecord;

/// Where a login or refresh comes from, kept on the session for the user's session list.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
}

/// A new access token and refresh token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The signed access token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The refresh token (deliver in a cookie or the body, never both).
    pub refresh_token: RefreshToken,
    /// Seconds until the refresh token expires (the session's absolute or idle expiry).
    pub refresh_expires_in: i64,
    /// The session (`sid`).
    pub session_id: SessionId,
    /// The user (`sub`).
    pub user_id: UserId,
}

/// RFC 7662 introspection result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// Not a live token of ours.
    Inactive,
    /// A valid access token.
    Access(AccessClaims),
    /// A live refresh token of this session.
    Refresh(SessionRecord),
}
