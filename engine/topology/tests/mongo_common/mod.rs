//! What the MongoDB integration tests of the engine share (`tests/mongo_*.rs`): a store on a
//! fresh database of the server `scripts/services` runs (`FDC_MONGO_URI`).

use fdc_mongo::{MongoStore, MongoStoreConfig};

/// The server's URI (`FDC_MONGO_URI`, else the local default).
pub fn uri() -> String {
    std::env::var("FDC_MONGO_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into())
}

/// A MongoDB store on a fresh database named after `test` and this process; a missing
/// server fails the test with how to start one.
pub async fn fresh_store(test: &str) -> MongoStore {
    let config = MongoStoreConfig {
        uri: uri(),
        database: format!("fdc_t_{test}_{}", std::process::id()),
        server_selection_timeout_ms: 5_000,
        connect_timeout_ms: 5_000,
        ..MongoStoreConfig::default()
    };
    let store = match MongoStore::connect(config).await {
        Ok(s) => s,
        Err(e) => panic!(
            "no MongoDB-wire server at {} ({e}); start one with `scripts/services up` \
             or set FDC_MONGO_URI",
            fdc_mongo::redact_uri(&uri())
        ),
    };
    store.drop_database().await.expect("drop the test database");
    store
}
