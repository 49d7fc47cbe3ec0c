//! The one call into `tessera-store`: open the configured database.

use std::sync::Arc;

use tessera_store::{ConnectOptions, PostgresOptions, SqliteOptions};
use tessera_tokens::{Store, StoreError};

use crate::config::DatabaseConfig;

/// Opens (creating and migrating) the database of `config`: the backend its URL names, with
/// the configured SQLite durability or PostgreSQL pool.
pub async fn connect(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    let options = ConnectOptions {
        sqlite: SqliteOptions {
            synchronous: config.synchronous,
            ..SqliteOptions::default()
        },
        postgres: PostgresOptions {
            max_connections: config.max_connections,
            min_connections: config.min_connections,
            acquire_timeout: config.acquire_timeout,
            statement_timeout: config.statement_timeout,
        },
    };
    tessera_store::connect(&config.url, &options).await
}
