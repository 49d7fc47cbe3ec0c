//! tessera-verifier through the ways users meet it: an axum app behind the layer, a test
//! issuer on loopback (metadata, JWKS, revocation feed) counting what it is asked, and an
//! in-memory client under tokio's paused clock for the timing rules.

#![allow(clippy::unwrap_used)]

mod cache;
mod feed;
mod layer;
mod support;
mod timing;
