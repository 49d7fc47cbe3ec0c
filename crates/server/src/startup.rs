//! Why `tessera serve` did not start, or stopped with an error.

use std::net::SocketAddr;

use tessera_tokens::{KeyRingError, StoreError};

use crate::config::ConfigError;

/// Why the server did not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `TESSERA_ADMIN_TOKEN` is too short to be a secret.
    #[error("TESSERA_ADMIN_TOKEN must be at least 32 characters (use a long random value)")]
    AdminTokenTooShort,
    /// The master key could not be read or created.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The database could not be opened or migrated.
    #[error("database {url}: {source}")]
    Store {
        /// `database.url` (without credentials).
        url: String,
        /// Why.
        source: StoreError,
    },
    /// `redis.url` could not be used.
    #[error("redis.url: {0}")]
    Redis(String),
    /// The signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[source] KeyRingError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// `server.bind`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}
