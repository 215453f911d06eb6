//! The MongoDB adapter of the store traits: projections and single views in MongoDB (or any
//! MongoDB-wire server that speaks the portable subset, FerretDB v1 included).
//!
//! In: the store-trait calls of the engine and a [`MongoStoreConfig`]. Out: the same answers
//! as the embedded store (same version guard, `$in` semantics, condition rules, merge rules),
//! from one collection per projection and per single view in the configured database.
//!
//! Only the portable subset is used: `find` with `$in` / `$or` / equality and range filters,
//! the `update` command with many (upsert) statements, `delete` with many statements,
//! `insert`, `createIndexes` with unique indexes. No transactions, no `$lookup`, no change
//! streams, no pipeline updates, no `bulkWrite` command.
//!
//! - [`documents`]: the stored shape of records and single-view documents;
//! - [`codec`]: `Value` <-> BSON with type tags (decimals and dates are strings);
//! - [`ids`]: `_id` from the key, versions as fixed-width strings;
//! - `projection` / `view`: the trait implementations; `guard`: projection writes under the
//!   version guard ([`WriteGuard`]); [`command`]: bulk commands;
//! - [`deployment`]: the deployed plan's record (one document in `fdc_deployment`) and
//!   collection counts;
//! - [`error`]: retryable or fatal, never with values; [`config`]: settings and redaction;
//! - `locks`: writes of one record inside the process never overlap;
//! - [`triggers`]: the projection-changes collection, the optional trigger transport between
//!   `--role ingest` and `--role aggregate` processes (claim / done lifecycle).
//!
//! Guarantees: every call is batch-shaped (one `find` per chunk of keys; a projection write is
//! one `find` of the stored versions and at most one `insert`, one `update` and one `delete`
//! command per chunk of writes, more only when another writer interfered); a call that returns
//! `Ok` was acknowledged with the configured write concern (`majority` by default); the
//! version guard holds without transactions (see `guard`); errors and logs carry no values and
//! no credentials. Each command and `find` is logged at debug level with its collection,
//! statement or document count and duration (never a filter or a document).

pub mod codec;
pub mod command;
pub mod config;
pub mod deployment;
pub mod documents;
pub mod drift;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod guard;
pub mod ids;
mod locks;
pub mod pause;
mod projection;
pub mod triggers;
mod view;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::{Client, Collection, Database};

pub use config::{redact_uri, MongoStoreConfig, MongoTlsConfig};
use fdc_core::store::StoreError;
pub use guard::WriteGuard;

/// Key field names of the collections `ensure_*` has seen.
type KeyNames = RwLock<HashMap<String, Vec<String>>>;

/// Statements per `update` command on FerretDB v1. Its `update` keeps the query of every
/// statement that matched a document open until the whole command ends, one pooled SQLite
/// connection each, and the pool of a database holds 100: a command that matches 100 stored
/// documents never ends (seen with 300; `docs/services.md`). 16 leaves room for several
/// writers on one database and costs little: each statement is its own write transaction
/// (milliseconds), the command's round trip far less.
const FERRETDB_UPDATE_STATEMENTS: usize = 16;

/// Projections and single views in MongoDB. Cheap to share behind an `Arc`; the driver keeps
/// a connection pool.
pub struct MongoStore {
    client: Client,
    db: Database,
    config: MongoStoreConfig,
    write_concern: Document,
    projection_keys: KeyNames,
    view_keys: KeyNames,
    /// Records being written by running calls (see [`locks`]).
    locks: locks::KeyLocks,
    /// How projection updates and deletes are guarded.
    guard: WriteGuard,
    /// Most statements in one `update` command.
    update_batch: usize,
    /// Per single view, the `_id`s its last `get_many` found absent: a hint that lets `write`
    /// insert those documents in one command instead of upserting them one statement at a
    /// time (a wrong hint costs a retry as an upsert, never a wrong document).
    absent_views: Mutex<HashMap<String, HashSet<String>>>,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects and checks that the server answers (`ping`). An unreachable server is a
    /// retryable error, a bad configuration or failed authentication a fatal one.
    pub async fn connect(config: MongoStoreConfig) -> Result<MongoStore, StoreError> {
        let options = config.client_options().await?;
        let client = Client::with_options(options)
            .map_err(|e| error::from_driver("connect to MongoDB", &e))?;
        let db = client.database(&config.database);
        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| error::from_driver("connect to MongoDB", &e))?;
        let info = db
            .run_command(doc! { "buildInfo": 1 })
            .await
            .map_err(|e| error::from_driver("connect to MongoDB", &e))?;
        let ferretdb = info.contains_key("ferretdbVersion");
        let guard = if ferretdb {
            WriteGuard::IdOnly
        } else {
            WriteGuard::VersionInFilter
        };
        let update_batch = if ferretdb {
            FERRETDB_UPDATE_STATEMENTS.min(config.max_batch.max(1))
        } else {
            config.max_batch.max(1)
        };
        tracing::info!(
            uri = %redact_uri(&config.uri),
            database = %config.database,
            server = info.get_str("version").unwrap_or("unknown"),
            ferretdb = info.get_str("ferretdbVersion").ok(),
            ?guard,
            "connected to MongoDB"
        );
        Ok(MongoStore {
            client,
            write_concern: config.write_concern_document(),
            db,
            config,
            projection_keys: RwLock::new(HashMap::new()),
            view_keys: RwLock::new(HashMap::new()),
            locks: locks::KeyLocks::default(),
            guard,
            update_batch,
            absent_views: Mutex::new(HashMap::new()),
        })
    }

    /// The same store with projection writes guarded by `guard` instead of the one chosen for
    /// the server at connect (tests run both on one server).
    pub fn with_write_guard(mut self, guard: WriteGuard) -> MongoStore {
        self.guard = guard;
        self
    }

    /// How projection writes are guarded.
    pub fn write_guard(&self) -> WriteGuard {
        self.guard
    }

    /// Most statements of `kind` in one command.
    fn statements_per_command(&self, kind: command::Kind) -> usize {
        match kind {
            command::Kind::Update => self.update_batch,
            command::Kind::Insert | command::Kind::Delete => self.config.max_batch.max(1),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &MongoStoreConfig {
        &self.config
    }

    /// The database handle (for tools and tests that inspect collections).
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Drops the configured database (tests and `fdc` reset tooling only).
    pub async fn drop_database(&self) -> Result<(), StoreError> {
        self.db
            .drop()
            .await
            .map_err(|e| error::from_driver("drop database", &e))
    }

    /// Closes the connection pool.
    pub async fn close(self) {
        self.client.shutdown().await;
    }

    /// Every single-view failure recorded so far (oldest first), as stored.
    pub async fn view_failures(&self) -> Result<Vec<Document>, StoreError> {
        let op = "read single-view failures";
        let coll: Collection<Document> = self.db.collection(&self.config.errors_collection);
        let cursor = coll
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| error::from_driver(op, &e))?;
        cursor
            .try_collect()
            .await
            .map_err(|e| error::from_driver(op, &e))
    }

    fn keys_of(names: &KeyNames, collection: &str) -> Option<Vec<String>> {
        names.read().ok().and_then(|m| m.get(collection).cloned())
    }

    fn remember(names: &KeyNames, collection: &str, key: &[String]) {
        if let Ok(mut m) = names.write() {
            m.insert(collection.to_owned(), key.to_vec());
        }
    }

    /// Creates the indexes (`(fields, unique)`, named `fdc_<...>`) if they do not exist.
    async fn create_indexes(
        &self,
        operation: &str,
        collection: &str,
        indexes: &[(Vec<String>, bool, String)],
    ) -> Result<(), StoreError> {
        if indexes.is_empty() {
            return Ok(());
        }
        // One command per index: FerretDB v1 drops the connection when one `createIndexes`
        // lists several indexes that all exist already; one index at a time is idempotent.
        for (fields, unique, name) in indexes {
            let mut key = Document::new();
            for f in fields {
                key.insert(f.clone(), 1);
            }
            let mut spec = doc! { "key": key, "name": name.clone() };
            if *unique {
                spec.insert("unique", true);
            }
            self.db
                .run_command(doc! { "createIndexes": collection, "indexes": [spec] })
                .await
                .map_err(|e| error::from_driver(operation, &e))?;
        }
        Ok(())
    }

    /// Finds documents of `collection` matching `filter` (every batch of the cursor), only
    /// the fields of `projection` when given, the first `sort_limit` in `_id` order when given.
    async fn find_all(
        &self,
        operation: &str,
        collection: &str,
        filter: Document,
        projection: Option<Document>,
        sort_limit: Option<i64>,
    ) -> Result<Vec<Document>, StoreError> {
        let coll: Collection<Document> = self.db.collection(collection);
        // Without a batch size the server picks one: on FerretDB v1 about 250 documents per
        // `getMore`, 36 round trips for 9000 records where this makes 2.
        let batch = u32::try_from(self.config.max_batch.max(1)).unwrap_or(u32::MAX);
        let find = coll.find(filter).batch_size(batch);
        let find = match projection {
            Some(p) => find.projection(p),
            None => find,
        };
        let find = match sort_limit {
            Some(limit) => find.sort(doc! { "_id": 1 }).limit(limit),
            None => find,
        };
        let started = std::time::Instant::now();
        let cursor = find.await.map_err(|e| error::from_driver(operation, &e))?;
        let docs: Vec<Document> = cursor
            .try_collect()
            .await
            .map_err(|e| error::from_driver(operation, &e))?;
        trace_find(collection, docs.len(), started);
        Ok(docs)
    }
}

/// Logs one `find` at debug level: the collection, how many documents came back and how long
/// it took (never the filter: it holds key values).
fn trace_find(collection: &str, documents: usize, started: std::time::Instant) {
    tracing::debug!(
        collection,
        documents,
        micros = started.elapsed().as_micros() as u64,
        "mongo find"
    );
}

impl MongoStore {
    /// Runs a `drop` or `dropIndexes` command; a collection or index that is not there
    /// (NamespaceNotFound 26, IndexNotFound 27) is fine: what should be gone is gone.
    async fn drop_command(&self, operation: &str, command: Document) -> Result<(), StoreError> {
        match self.db.run_command(command).await {
            Ok(_) => Ok(()),
            Err(e) => match e.kind.as_ref() {
                mongodb::error::ErrorKind::Command(c) if c.code == 26 || c.code == 27 => Ok(()),
                _ => Err(error::from_driver(operation, &e)),
            },
        }
    }

    /// Drops `collection` (with its indexes).
    pub(crate) async fn drop_collection(
        &self,
        operation: &str,
        collection: &str,
    ) -> Result<(), StoreError> {
        self.drop_command(operation, doc! { "drop": collection })
            .await
    }

    /// Drops the secondary index on `fields` of `collection` (named as `ensure_projection`
    /// names it).
    pub(crate) async fn drop_secondary_index(
        &self,
        operation: &str,
        collection: &str,
        fields: &[String],
    ) -> Result<(), StoreError> {
        self.drop_command(
            operation,
            doc! { "dropIndexes": collection, "index": index_name("ix", fields) },
        )
        .await
    }
}

/// The index name for `fields`.
fn index_name(prefix: &str, fields: &[String]) -> String {
    format!("fdc_{prefix}_{}", fields.join("_"))
}
