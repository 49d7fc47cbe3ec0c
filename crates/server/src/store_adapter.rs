//! The one call into `tessera-store`: open the configured database.

use std::sync::Arc;

use tessera_store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore};
use tessera_tokens::{Store, StoreError};

use crate::config::{DatabaseConfig, Synchronous};

/// Opens (creating and migrating) the database of `config`: SQLite with the configured
/// `synchronous`, PostgreSQL (`postgres://` or `postgresql://`) with the configured pool;
/// any other URL goes to `tessera_store::connect_any`, which names what it supports.
pub async fn connect(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StoreError> {
    if config.url.starts_with("sqlite:") {
        let options = SqliteOptions {
            synchronous: match config.synchronous {
                Synchronous::Normal => tessera_store::Synchronous::Normal,
                Synchronous::Full => tessera_store::Synchronous::Full,
            },
            ..SqliteOptions::default()
        };
        return Ok(Arc::new(SqliteStore::connect(&config.url, options).await?));
    }
    if config.url.starts_with("postgres://") || config.url.starts_with("postgresql://") {
        let options = PostgresOptions {
            max_connections: config.max_connections,
            min_connections: config.min_connections,
            acquire_timeout: config.acquire_timeout,
            statement_timeout: config.statement_timeout,
        };
        return Ok(Arc::new(
            PostgresStore::connect(&config.url, options).await?,
        ));
    }
    tessera_store::connect_any(&config.url).await
}
