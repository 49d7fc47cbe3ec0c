//! tessera-store's one integration-test binary: the conformance suite on SQLite, and the
//! SQLite-specific behaviour.
#![allow(clippy::unwrap_used)]

mod conformance;
mod sqlite;
