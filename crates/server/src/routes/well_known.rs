//! `GET /.well-known/jwks.json`: the public keys that may have signed a live token.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Lets the precomputed JWKS text be a response body without copying it.
struct Shared(Arc<str>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The JWKS, built once per key change, with `Cache-Control: public, max-age` from
/// `keys.jwks_max_age`.
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
