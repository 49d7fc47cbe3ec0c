//! The verified token a request carries after the layer: its payload, read on demand —
//! into the registered claims by the accessors (once), or into a handler's own type.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use http::HeaderValue;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::Rejection;
use crate::metrics::Shared;

/// The claims every Tessera access token may carry (RFC 9068 §2.2 plus `sid`), read on the
/// first accessor call. Unknown members are skipped here and stay readable through
/// [`AccessClaims::deserialize`]; a member of the wrong JSON type reads as absent (so a
/// scope check refuses it).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Standard {
    #[serde(default, deserialize_with = "string")]
    pub iss: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub sub: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub sid: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub client_id: Option<String>,
    #[serde(default, deserialize_with = "string")]
    pub jti: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub exp: Option<f64>,
    #[serde(default, deserialize_with = "number")]
    pub iat: Option<f64>,
}

/// A string member, or absent when it has another type.
fn string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

/// A numeric member, or absent when it has another type.
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?.as_f64())
}

/// The verified claims of the request's access token, put in the request's extensions by
/// the layer (cheap to clone).
///
/// With the `axum` feature it is also an extractor; [`Claims<T>`](crate::Claims) reads the
/// same token into your own type.
#[derive(Clone)]
pub struct AccessClaims(Arc<Inner>);

struct Inner {
    std: OnceLock<Standard>,
    payload: Payload,
    shared: Arc<Shared>,
}

/// The verified token's payload segment (base64url), for typed reads.
enum Payload {
    /// Inside the request's `Authorization` value (a clone shares its bytes: no copy).
    Header(HeaderValue, Range<usize>),
    Owned(Box<str>),
}

impl Payload {
    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Header(v, r) => v.as_bytes().get(r.clone()).unwrap_or_default(),
            Payload::Owned(s) => s.as_bytes(),
        }
    }
}

impl fmt::Debug for AccessClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.std();
        f.debug_struct("AccessClaims")
            .field("iss", &s.iss)
            .field("sub", &s.sub)
            .field("sid", &s.sid)
            .field("scope", &s.scope)
            .field("exp", &s.exp)
            .finish_non_exhaustive()
    }
}

impl AccessClaims {
    /// Claims whose payload is `payload` of the header value `value`.
    pub(crate) fn in_header(
        value: HeaderValue,
        payload: Range<usize>,
        shared: Arc<Shared>,
    ) -> Self {
        AccessClaims::with(Payload::Header(value, payload), shared)
    }

    /// Claims whose payload is `payload` of `token` (copied).
    pub(crate) fn in_token(token: &str, payload: Range<usize>, shared: Arc<Shared>) -> Self {
        let text = token.get(payload).unwrap_or_default();
        AccessClaims::with(Payload::Owned(text.into()), shared)
    }

    fn with(payload: Payload, shared: Arc<Shared>) -> Self {
        AccessClaims(Arc::new(Inner {
            std: OnceLock::new(),
            payload,
            shared,
        }))
    }

    /// The registered claims, parsed on first use: the layer reads only what it needs
    /// (`sid`), so a request pays for the others only if its handler asks.
    fn std(&self) -> &Standard {
        self.0.std.get_or_init(|| self.parse().unwrap_or_default())
    }

    fn parse<T: DeserializeOwned>(&self) -> Option<T> {
        let bytes = tessera_jose::base64url::decode(self.0.payload.bytes()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.std().iss.as_deref()
    }

    /// `sub`: the opaque user id.
    pub fn subject(&self) -> Option<&str> {
        self.std().sub.as_deref()
    }

    /// `sid`: the session id (what the revocation feed names).
    pub fn session_id(&self) -> Option<&str> {
        self.std().sid.as_deref()
    }

    /// `client_id`.
    pub fn client_id(&self) -> Option<&str> {
        self.std().client_id.as_deref()
    }

    /// `jti`.
    pub fn token_id(&self) -> Option<&str> {
        self.std().jti.as_deref()
    }

    /// `exp`, Unix seconds.
    pub fn expires_at(&self) -> Option<f64> {
        self.std().exp
    }

    /// `iat`, Unix seconds.
    pub fn issued_at(&self) -> Option<f64> {
        self.std().iat
    }

    /// `scope` as it is: space-separated scope names (RFC 9068 §2.2.3).
    pub fn scope(&self) -> Option<&str> {
        self.std().scope.as_deref()
    }

    /// The scope names the token grants.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// True when the token grants every space-separated name of `needed`.
    pub fn has_scope(&self, needed: &str) -> bool {
        needed
            .split(' ')
            .filter(|s| !s.is_empty())
            .all(|n| self.scopes().any(|s| s == n))
    }

    /// `Ok` when the token grants every name of `needed`, else the 403
    /// `insufficient_scope` refusal (RFC 6750 §3.1) naming `needed` in its challenge:
    ///
    /// ```
    /// # #[cfg(feature = "axum")] {
    /// use tessera_verifier::{AccessClaims, Rejection};
    ///
    /// async fn delete_note(claims: AccessClaims) -> Result<&'static str, Rejection> {
    ///     claims.require_scope("notes:write")?;
    ///     Ok("deleted")
    /// }
    /// # }
    /// ```
    pub fn require_scope(&self, needed: &str) -> Result<(), Rejection> {
        if self.has_scope(needed) {
            return Ok(());
        }
        let shared = &self.0.shared;
        let r = Rejection::insufficient_scope(Arc::from(needed)).with_realm(shared.realm.as_ref());
        shared.metrics.refused(&r);
        Err(r)
    }

    /// The whole payload read into your own type (what [`Claims<T>`](crate::Claims)
    /// does). A payload that does not fit `T` is refused with 401 `invalid_token`, as
    /// `tessera_jose::Verifier::verify::<T>` would.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        self.parse().ok_or_else(|| {
            let shared = &self.0.shared;
            let r = Rejection::invalid("claims do not match the expected type")
                .with_realm(shared.realm.as_ref());
            shared.metrics.refused(&r);
            r
        })
    }
}
