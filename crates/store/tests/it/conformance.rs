//! The conformance suite (`tessera_store::conformance`), each test on a fresh SQLite file in
//! its own temporary directory.

use std::sync::Arc;

use tessera_store::conformance::Backend;
use tessera_store::{SqliteOptions, SqliteStore};
use tessera_tokens::Store;

struct Sqlite {
    // Dropped in this order: the connections close before the directory goes.
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
}

impl Sqlite {
    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("tessera.db").display())
    }
}

#[async_trait::async_trait]
impl Backend for Sqlite {
    async fn fresh() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        let store = SqliteStore::connect(&url, SqliteOptions::default())
            .await
            .unwrap();
        Some(Sqlite {
            store: Arc::new(store),
            dir,
        })
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn another_handle(&self) -> Arc<dyn Store> {
        Arc::new(
            SqliteStore::connect(&self.url(), SqliteOptions::default())
                .await
                .unwrap(),
        )
    }
}

tessera_store::conformance_tests!(Sqlite);
