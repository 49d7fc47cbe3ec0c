//! tessera-store's one integration-test binary: the conformance suite on SQLite and on
//! PostgreSQL, and what is specific to each backend.
#![allow(clippy::unwrap_used)]

mod conformance;
mod postgres;
mod sqlite;

/// Every migration version, in order: what a migrated database records on both backends.
const ALL_VERSIONS: [i64; 3] = [1, 2, 3];
