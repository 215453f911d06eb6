//! [`SingleViewStore`] on MongoDB.
//!
//! In: the single-view calls of the engine. Out: documents, and failures in the errors
//! collection.
//!
//! Writes of one call go out as at most one `insert` command (documents that the view's last
//! `get_many` found absent), `update` commands (upserts, merges, mark-deleted; unordered, at
//! most one write per key) and one `delete` command. Replace mode replaces the whole document;
//! merge mode `$set`s only the key fields and the mapped fields (with their type tags), so
//! fields written by other pipelines stay; mark-deleted `$set`s `__STATE__` of an existing
//! document and creates none. The single-view key is always stored as ordinary fields (named
//! by `ensure_view`), covered by a unique index.
//!
//! Why the insert: the engine reads the stored documents of a batch (`get_many`) just before
//! writing the ones that changed, so the store knows which are new. An `insert` command writes
//! all of them in one transaction on FerretDB v1, where every `update` statement is a write
//! transaction of its own (milliseconds each). The knowledge is only a hint: a document
//! inserted by someone else meanwhile makes its insert fail with a duplicate key, and it is
//! then written by the upsert it would have had anyway; an inserted document is exactly what
//! the upsert would have created.

use std::collections::HashSet;

use async_trait::async_trait;
use fdc_plan::WriteMode;
use mongodb::bson::{doc, Document};
use mongodb::Collection;

use fdc_core::store::{Page, SingleViewStore, StoreError, ViewFailure, ViewWrite, STATE_FIELD};
use fdc_core::value::{Map, Value};

use super::codec::value_to_bson;
use super::command::{self, Kind};
use super::documents::{view_from_document, view_merge_update, view_to_document, VIEW_TYPES};
use super::guard::DUPLICATE_KEY;
use super::ids::id_of;
use super::{index_name, MongoStore};

impl MongoStore {
    /// Up to `limit` documents of `view` after the key `after`, in `_id` order (the order of
    /// [`SingleViewStore::scan`]).
    async fn scan_view(
        &self,
        operation: &str,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
        fields: Option<Document>,
    ) -> Result<Vec<Document>, StoreError> {
        let filter = match after.and_then(id_of) {
            Some(id) => doc! { "_id": { "$gt": id } },
            None => doc! {},
        };
        self.find_all(operation, view, filter, fields, Some(limit as i64))
            .await
    }

    fn view_keys_of(&self, operation: &str, view: &str) -> Result<Vec<String>, StoreError> {
        Self::keys_of(&self.view_keys, view).ok_or_else(|| {
            StoreError::fatal(
                operation,
                "the single view was not set up (ensure_view was not called)",
            )
        })
    }

    fn decode_view(
        &self,
        operation: &str,
        view: &str,
        d: &Document,
    ) -> Result<(Vec<Value>, Map), StoreError> {
        let names = Self::keys_of(&self.view_keys, view);
        view_from_document(d, names.as_deref()).map_err(|e| StoreError::fatal(operation, e.0))
    }
}

#[async_trait]
impl SingleViewStore for MongoStore {
    async fn ensure_view(&self, view: &str, key_fields: &[String]) -> Result<(), StoreError> {
        let op = format!("ensure single view {view}");
        Self::remember(&self.view_keys, view, key_fields);
        let indexes = if key_fields.is_empty() {
            Vec::new()
        } else {
            vec![(key_fields.to_vec(), true, index_name("key", key_fields))]
        };
        self.create_indexes(&op, view, &indexes).await
    }

    async fn get_many(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError> {
        let op = format!("read single view {view}");
        let mut found = self
            .get_many_decoded(&op, view, keys, |d| Ok(self.decode_view(&op, view, d)?.1))
            .await?;
        // A document whose key fields do not hold its key was written under another key
        // definition (its `_id` is the same tuple of values): it is read as absent, so that
        // it is rewritten (an insert that finds the `_id` taken upserts) and gets the key
        // fields readers query it by, never skipped as unchanged.
        if let Some(names) = Self::keys_of(&self.view_keys, view) {
            for (key, doc) in keys.iter().zip(found.iter_mut()) {
                if doc
                    .as_ref()
                    .is_some_and(|d| fdc_core::store::key::tuple(d, &names) != *key)
                {
                    *doc = None;
                }
            }
        }
        let absent: HashSet<String> = keys
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .filter_map(|(k, _)| id_of(k))
            .collect();
        if let Ok(mut hints) = self.absent_views.lock() {
            hints.insert(view.to_owned(), absent);
        }
        Ok(found)
    }

    async fn write(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        let op = format!("write single view {view}");
        let key_fields = self.view_keys_of(&op, view)?;
        let null_key = || StoreError::fatal(op.as_str(), "a single-view key field is null");
        let bad_doc = |e: super::documents::DocError| StoreError::fatal(op.as_str(), e.0);
        let absent = self
            .absent_views
            .lock()
            .ok()
            .and_then(|mut hints| hints.remove(view))
            .unwrap_or_default();
        // (new document, the upsert that writes it if the insert finds it stored)
        let mut inserts: Vec<(Document, Document)> = Vec::new();
        let mut updates: Vec<Document> = Vec::new();
        let mut deletes: Vec<Document> = Vec::new();
        for w in writes {
            match w {
                ViewWrite::Upsert { key, document } => {
                    let id = id_of(&key).ok_or_else(null_key)?;
                    let u = match mode {
                        WriteMode::Replace => {
                            view_to_document(&id, &key_fields, &key, &document).map_err(bad_doc)?
                        }
                        WriteMode::Merge => {
                            view_merge_update(&key_fields, &key, &document).map_err(bad_doc)?
                        }
                    };
                    let new = absent
                        .contains(&id)
                        .then(|| match mode {
                            WriteMode::Replace => Ok(u.clone()),
                            WriteMode::Merge => view_to_document(&id, &key_fields, &key, &document),
                        })
                        .transpose()
                        .map_err(bad_doc)?;
                    let upsert = doc! { "q": { "_id": id }, "u": u, "upsert": true };
                    match new {
                        Some(d) => inserts.push((d, upsert)),
                        None => updates.push(upsert),
                    }
                }
                ViewWrite::MarkDeleted { key } => {
                    let id = id_of(&key).ok_or_else(null_key)?;
                    updates.push(doc! {
                        "q": { "_id": id },
                        "u": { "$set": { STATE_FIELD: "DELETED" } },
                        "upsert": false,
                    });
                }
                ViewWrite::Delete { key } => {
                    let id = id_of(&key).ok_or_else(null_key)?;
                    deletes.push(doc! { "q": { "_id": id }, "limit": 1 });
                }
            }
        }
        if !inserts.is_empty() {
            let documents: Vec<Document> = inserts.iter().map(|(d, _)| d.clone()).collect();
            let reply = command::run(
                &self.db,
                &op,
                Kind::Insert,
                view,
                documents,
                self.statements_per_command(Kind::Insert),
                &self.write_concern,
            )
            .await?;
            let refused: Vec<i32> = reply.codes().filter(|c| *c != DUPLICATE_KEY).collect();
            if !refused.is_empty() {
                return Err(command::refused(&op, &refused));
            }
            // Stored meanwhile: written by the upsert instead.
            for ((_, upsert), error) in inserts.into_iter().zip(reply.errors) {
                if error.is_some() {
                    updates.push(upsert);
                }
            }
        }
        for (kind, statements) in [(Kind::Update, updates), (Kind::Delete, deletes)] {
            if statements.is_empty() {
                continue;
            }
            let reply = command::run(
                &self.db,
                &op,
                kind,
                view,
                statements,
                self.statements_per_command(kind),
                &self.write_concern,
            )
            .await?;
            let refused: Vec<i32> = reply.codes().collect();
            if !refused.is_empty() {
                return Err(command::refused(&op, &refused));
            }
        }
        Ok(())
    }

    async fn scan(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        let op = format!("scan single view {view}");
        let limit = limit.max(1);
        let docs = self.scan_view(&op, view, after, limit, None).await?;
        let items = docs
            .iter()
            .map(|d| self.decode_view(&op, view, d))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = if items.len() == limit {
            items.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Reads `_id`, the key fields and their type tags only: a single-view document holds
    /// every related record of its root, many times the size of its key.
    async fn scan_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        let op = format!("scan single-view keys {view}");
        let limit = limit.max(1);
        let mut fields = doc! { "_id": 1 };
        for k in self.view_keys_of(&op, view)? {
            fields.insert(format!("{VIEW_TYPES}.{k}"), 1);
            fields.insert(k, 1);
        }
        let docs = self
            .scan_view(&op, view, after, limit, Some(fields))
            .await?;
        let items = docs
            .iter()
            .map(|d| Ok(self.decode_view(&op, view, d)?.0))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = if items.len() == limit {
            items.last().cloned()
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn count_documents(&self, view: &str) -> Result<Option<u64>, StoreError> {
        self.count_collection(&format!("count single view {view}"), view)
            .await
    }

    async fn drop_view(&self, view: &str) -> Result<(), StoreError> {
        self.drop_collection(&format!("drop single view {view}"), view)
            .await
    }

    async fn record_failures(&self, failures: Vec<ViewFailure>) -> Result<(), StoreError> {
        if failures.is_empty() {
            return Ok(());
        }
        let op = "record single-view failures";
        let now = mongodb::bson::DateTime::now();
        let docs: Vec<Document> = failures
            .iter()
            .map(|f| {
                doc! {
                    "view": f.view.clone(),
                    "key": value_to_bson(&Value::from_json(&f.key)),
                    "reason": f.reason.clone(),
                    "document": value_to_bson(&Value::from_json(&f.document)),
                    "at": now,
                }
            })
            .collect();
        let coll: Collection<Document> = self.db.collection(&self.config.errors_collection);
        coll.insert_many(docs)
            .await
            .map_err(|e| super::error::from_driver(op, &e))?;
        Ok(())
    }
}
