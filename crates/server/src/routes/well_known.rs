//! `GET /.well-known/jwks.json`: the public keys that may have signed a live token.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use utoipa::ToSchema;

/// Lets the precomputed JWKS text be a response body without copying it.
struct Shared(Arc<str>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

// `tessera_jose` writes the set; this type only describes it.
/// A JWK Set (RFC 7517 §5) of public signing keys.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Jwks {
    /// Every public key that may have signed a live token, and the next key before it
    /// signs. Empty with an HMAC algorithm (no public part).
    keys: Vec<PublicJwk>,
}

/// A public JWK (RFC 7517 §4): the members of its key type, never private ones.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PublicJwk {
    /// `RSA`, `EC` or `OKP`.
    #[schema(examples("EC"))]
    kty: String,
    /// The key id: the `kid` of the tokens it signed (its RFC 7638 thumbprint).
    kid: String,
    /// The one algorithm the key is bound to.
    #[schema(examples("ES256"))]
    alg: String,
    /// `sig`.
    #[schema(rename = "use", examples("sig"))]
    use_: String,
    /// Curve (`P-256`, `P-384`, `Ed25519`): EC and OKP keys.
    #[schema(nullable = false)]
    crv: Option<String>,
    /// EC x coordinate, or the OKP public key (base64url).
    #[schema(nullable = false)]
    x: Option<String>,
    /// EC y coordinate (base64url).
    #[schema(nullable = false)]
    y: Option<String>,
    /// RSA modulus (base64url).
    #[schema(nullable = false)]
    n: Option<String>,
    /// RSA public exponent (base64url).
    #[schema(nullable = false)]
    e: Option<String>,
}

/// The JWKS, built once per key change, with `Cache-Control: public, max-age` from
/// `keys.jwks_max_age`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    operation_id = "jwks",
    summary = "The public signing keys",
    description = "Verify access tokens with these keys: pick the key by the token's `kid` and \
        use only the key's `alg`. A new key is published at least one `max-age` before it \
        signs, and a retired one stays until every token it signed has expired, so a cache \
        that honours `Cache-Control` always knows the key; on an unknown `kid`, refetch (at \
        most every 30 s or so).",
    responses(
        (status = 200, description = "The key set.", body = Jwks,
            headers(("Cache-Control" = String, description = "`public, max-age=<keys.jwks_max_age in seconds>`"))),
    ),
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let body = Body::from(Bytes::from_owner(Shared(state.auth().keys().jwks_json())));
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, state.jwks_cache_control().clone()),
        ],
        body,
    )
        .into_response()
}
