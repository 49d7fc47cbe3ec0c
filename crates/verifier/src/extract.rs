//! axum extractors over the claims the layer verified (feature `axum`).

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::claims::AccessClaims;
use crate::error::Rejection;
use crate::service::Anonymous;

/// The verified claims read into your type `T`. Refuses with 401 when the request carried
/// no token (bare challenge) or `T` does not fit the payload (`invalid_token`). Needs the
/// verifier's layer on the route (without it: 500, a wiring bug).
///
/// ```
/// use serde::Deserialize;
/// use tessera_verifier::Claims;
///
/// #[derive(Deserialize)]
/// struct Mine { sub: String, sid: String }
///
/// async fn me(Claims(c): Claims<Mine>) -> String {
///     format!("user {} on session {}", c.sub, c.sid)
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

/// The verified claims if the request carried a token, `None` for an anonymous request
/// (under [`Verifier::optional_layer`](crate::Verifier::optional_layer)). A token that is
/// present but invalid never gets here: the layer refuses it.
#[derive(Debug, Clone)]
pub struct OptionalClaims<T>(pub Option<T>);

/// The refusal when no claims are in the request.
fn absent(parts: &Parts) -> Rejection {
    match parts.extensions.get::<Anonymous>() {
        Some(Anonymous(shared)) => {
            let r = Rejection::missing().with_realm(shared.realm.as_ref());
            shared.metrics.refused(&r);
            r
        }
        None => {
            tracing::error!("claims read on a route without the tessera-verifier layer");
            Rejection::not_configured()
        }
    }
}

impl<T, S> FromRequestParts<S> for Claims<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        match parts.extensions.get::<AccessClaims>() {
            Some(c) => c.deserialize().map(Claims),
            None => Err(absent(parts)),
        }
    }
}

impl<T, S> FromRequestParts<S> for OptionalClaims<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        match parts.extensions.get::<AccessClaims>() {
            Some(c) => c.deserialize().map(|t| OptionalClaims(Some(t))),
            None if parts.extensions.get::<Anonymous>().is_some() => Ok(OptionalClaims(None)),
            None => Err(absent(parts)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessClaims {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        parts
            .extensions
            .get::<AccessClaims>()
            .cloned()
            .ok_or_else(|| absent(parts))
    }
}

/// `Option<AccessClaims>`: `None` for an anonymous request.
impl<S: Send + Sync> OptionalFromRequestParts<S> for AccessClaims {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Rejection> {
        match parts.extensions.get::<AccessClaims>() {
            Some(c) => Ok(Some(c.clone())),
            None if parts.extensions.get::<Anonymous>().is_some() => Ok(None),
            None => Err(absent(parts)),
        }
    }
}
