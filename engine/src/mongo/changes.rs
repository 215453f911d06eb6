//! The projection-changes collection: single-view triggers kept in MongoDB between an ingest
//! and an aggregate process, for teams that want the database as the queue.
//!
//! In: [`TriggerRecord`]s from the ingest stage ([`MongoChanges`], a [`TriggerSink`]); claims
//! and acknowledgements from the aggregate stage ([`MongoChangesSource`], a [`Source`]). Out:
//! one document per `(view, key)`:
//! `{_id, trigger, state: pending|claimed|done, version, updated_at, claimed_at, owner}`.
//!
//! Lifecycle: publishing upserts the document as `pending` and increments its `version` (a
//! key triggered again while pending stays one document); an aggregate claims a pending
//! document (or a claim older than the claim timeout: its owner died) with a conditional
//! update on `state` and `version`, so one claimant wins; after the single view is written and
//! the batch is durable, the claim is marked `done` on the claimed `version` only: a key
//! triggered again meanwhile has a newer version, stays `pending` and is rebuilt again.
//!
//! Guarantees: nothing triggered is lost (a document leaves `pending`/`claimed` only through a
//! `done` of the version that was rebuilt); the same key is not rebuilt by two aggregates at
//! once, except after a claim timed out; every call is retryable when the database is down.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::{Collection, IndexModel};

use super::command::{self, Kind};
use super::error::from_driver;
use super::MongoStore;
use crate::change::Message;
use crate::runtime::{TriggerRecord, TriggerSink};
use crate::store::source::{Ack, Source, SourceBatch, SourceItem};
use crate::store::StoreError;

/// The default collection name.
pub const DEFAULT_COLLECTION: &str = "fdc_projection_changes";

/// Publishes triggers as pending documents.
pub struct MongoChanges {
    store: std::sync::Arc<MongoStore>,
    collection: String,
}

impl MongoChanges {
    /// The collection `collection` of `store`'s database, with its `state` index ensured.
    pub async fn open(
        store: std::sync::Arc<MongoStore>,
        collection: &str,
    ) -> Result<MongoChanges, StoreError> {
        let coll: Collection<Document> = store.database().collection(collection);
        coll.create_index(IndexModel::builder().keys(doc! { "state": 1 }).build())
            .await
            .map_err(|e| from_driver("create the projection-changes index", &e))?;
        Ok(MongoChanges {
            store,
            collection: collection.into(),
        })
    }
}

#[async_trait]
impl TriggerSink for MongoChanges {
    async fn publish(&self, triggers: Vec<TriggerRecord>) -> Result<(), StoreError> {
        let op = "publish single-view triggers to the projection-changes collection";
        let now = DateTime::now();
        let mut statements = Vec::with_capacity(triggers.len());
        for t in &triggers {
            let id = String::from_utf8_lossy(&t.partition_key()?).to_string();
            let trigger = serde_json::to_string(t).map_err(|e| StoreError::fatal(op, e))?;
            statements.push(doc! {
                "q": { "_id": id },
                "u": {
                    "$set": { "trigger": trigger, "state": "pending", "updated_at": now },
                    "$inc": { "version": 1_i64 },
                },
                "upsert": true,
            });
        }
        let config = self.store.config();
        let outcomes = command::run(
            self.store.database(),
            op,
            Kind::Update,
            &self.collection,
            statements,
            config.max_batch,
            &config.write_concern_document(),
        )
        .await?;
        let codes: Vec<i32> = outcomes.codes().collect();
        if codes.is_empty() {
            Ok(())
        } else {
            Err(command::refused(op, &codes))
        }
    }
}

/// Claims pending triggers for an aggregate process; `commit` marks them done.
pub struct MongoChangesSource {
    collection: Collection<Document>,
    /// Who claims (logged in the documents, for operators).
    owner: String,
    /// A claim older than this is taken over (its owner died).
    claim_timeout: Duration,
    /// Wait between polls of an empty collection.
    poll: Duration,
    /// The topic name given to trigger messages (the collection's name).
    name: String,
}

impl MongoChangesSource {
    /// A claimant of `collection` in `store`'s database.
    pub fn new(
        store: &MongoStore,
        collection: &str,
        owner: &str,
        claim_timeout: Duration,
        poll: Duration,
    ) -> MongoChangesSource {
        MongoChangesSource {
            collection: store.database().collection(collection),
            owner: owner.into(),
            claim_timeout,
            poll,
            name: collection.into(),
        }
    }

    /// Claims one document read in `state` at `version`: whether this claimant won.
    async fn claim(&self, d: &Document, now: DateTime) -> Result<bool, StoreError> {
        let op = "claim a projection change";
        let (Ok(id), Ok(version), Ok(state)) =
            (d.get_str("_id"), d.get_i64("version"), d.get_str("state"))
        else {
            return Ok(false);
        };
        let mut filter = doc! { "_id": id, "version": version, "state": state };
        if let Ok(at) = d.get_datetime("claimed_at") {
            filter.insert("claimed_at", *at);
        }
        let r = self
            .collection
            .update_one(
                filter,
                doc! { "$set": { "state": "claimed", "claimed_at": now, "owner": &self.owner } },
            )
            .await
            .map_err(|e| from_driver(op, &e))?;
        Ok(r.modified_count == 1)
    }
}

#[async_trait]
impl Source for MongoChangesSource {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        let op = "read the projection-changes collection";
        let now = DateTime::now();
        let expired =
            DateTime::from_millis(now.timestamp_millis() - self.claim_timeout.as_millis() as i64);
        let found: Vec<Document> = self
            .collection
            .find(doc! { "$or": [
                { "state": "pending" },
                { "state": "claimed", "claimed_at": { "$lt": expired } },
            ] })
            .limit(max.max(1) as i64)
            .await
            .map_err(|e| from_driver(op, &e))?
            .try_collect()
            .await
            .map_err(|e| from_driver(op, &e))?;
        let mut items = Vec::new();
        let mut positions = Vec::new();
        for d in &found {
            if !self.claim(d, now).await? {
                continue;
            }
            let (Ok(id), Ok(version), Ok(trigger)) =
                (d.get_str("_id"), d.get_i64("version"), d.get_str("trigger"))
            else {
                continue;
            };
            items.push(SourceItem::Message(Message {
                topic: self.name.clone(),
                partition: 0,
                offset: version,
                key: Some(id.as_bytes().to_vec()),
                value: Some(trigger.as_bytes().to_vec()),
                headers: vec![],
                timestamp: d
                    .get_datetime("updated_at")
                    .ok()
                    .map(|t| t.timestamp_millis()),
            }));
            positions.push((id.to_string(), version));
        }
        if items.is_empty() {
            tokio::time::sleep(self.poll).await;
        }
        Ok(Some(SourceBatch {
            items,
            ack: Ack { positions },
        }))
    }

    async fn commit(&mut self, ack: &Ack) -> Result<(), StoreError> {
        let op = "mark projection changes done";
        for (id, version) in &ack.positions {
            // Only the version that was rebuilt: a newer trigger stays pending.
            self.collection
                .update_one(
                    doc! { "_id": id, "version": version, "state": "claimed" },
                    doc! { "$set": { "state": "done", "done_at": DateTime::now() } },
                )
                .await
                .map_err(|e| from_driver(op, &e))?;
        }
        Ok(())
    }
}
