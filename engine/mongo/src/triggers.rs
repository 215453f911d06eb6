//! The projection-changes collection: single-view triggers kept in MongoDB between an ingest
//! and an aggregate process, for teams that want the database as the queue.
//!
//! In: [`TriggerRecord`]s from the ingest stage ([`MongoTriggers`], a [`TriggerSink`]); claims
//! and acknowledgements from the aggregate stage ([`MongoTriggerSource`], a [`Source`]). Out:
//! one document per `(view, key)`:
//! `{_id, trigger, state: pending|claimed|done, version, updated_at, claimed_at, owner}`.
//!
//! Lifecycle: publishing upserts the document as `pending` and increments its `version` (a
//! key triggered again while pending stays one document); a document that is `claimed` stays
//! claimed and only gets the newer `version`, so no second aggregate can claim the key while
//! its owner rebuilds it. An aggregate claims a pending document (or a claim older than the
//! claim timeout: its owner died) with a conditional update on `state` and `version`, so one
//! claimant wins; after the single view is written and the batch is durable, the claim is
//! marked `done` on the claimed `version` only. A key triggered again meanwhile has a newer
//! version: its owner hands it back as `pending`, and it is rebuilt again, after this rebuild.
//!
//! Every change of a key's document (publish, claim, done) runs under that key's lock: a
//! document `{_id: key, owner, at}` in `<collection>_locks`, taken by inserting it (a unique
//! `_id` makes the insert atomic on every server) and released by deleting it. FerretDB v1
//! applies an update as a read then a whole-document write, so without the lock a publish
//! racing with a `done` could be undone by it and its trigger lost (CI saw it). A lock older
//! than [`LOCK_STALE`] belongs to a dead process and is taken over.
//!
//! Guarantees: nothing triggered is lost (a document leaves `pending`/`claimed` only through a
//! `done` of the version that was rebuilt); the same key is not rebuilt by two aggregates at
//! once, except after a claim timed out; every call is retryable when the database is down.
//! While the whole process is paused ([`Source::hold`]) an aggregate claims nothing.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, DateTime, Document};
use mongodb::{Collection, IndexModel};

use super::error::from_driver;
use super::MongoStore;
use fdc_core::change::Message;
use fdc_core::retry::{Backoff, Stop};
use fdc_core::source::{Ack, Held, Source, SourceBatch, SourceItem};
use fdc_core::store::StoreError;
use fdc_core::trigger::{TriggerRecord, TriggerSink};

/// The default collection name.
pub const DEFAULT_COLLECTION: &str = "fdc_projection_changes";

/// A key lock older than this was left by a dead process (a locked section is one or a few
/// single-document commands).
pub const LOCK_STALE: Duration = Duration::from_secs(30);

/// Per-key locks over the documents of a projection-changes collection (see the module docs).
struct KeyLocks {
    collection: Collection<Document>,
    /// Who holds a lock: unique per process and role.
    owner: String,
}

impl KeyLocks {
    fn new(store: &MongoStore, collection: &str, role: &str) -> KeyLocks {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        KeyLocks {
            collection: store.database().collection(&format!("{collection}_locks")),
            owner: format!("{role}-{}-{nanos}", std::process::id()),
        }
    }

    /// Waits until this process holds the lock of `id` (re-entrant: a lock this owner left
    /// behind, after a release failed, is its own).
    async fn acquire(&self, id: &str) -> Result<(), StoreError> {
        let op = "lock a key of the projection-changes collection";
        // Another writer's lock is released or taken over (stale) within LOCK_STALE, and a
        // database outage fails the calls below: the wait is bounded without a stop signal.
        let mut backoff = Backoff::capped(Duration::from_millis(1), Duration::from_millis(50));
        loop {
            let lock = doc! { "_id": id, "owner": &self.owner, "at": DateTime::now() };
            match self.collection.insert_one(lock).await {
                Ok(_) => return Ok(()),
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(from_driver(op, &e)),
            }
            let held = self
                .collection
                .find_one(doc! { "_id": id })
                .await
                .map_err(|e| from_driver(op, &e))?;
            if let Some(held) = held {
                if held.get_str("owner") == Ok(self.owner.as_str()) {
                    return Ok(());
                }
                let stale = DateTime::from_millis(
                    DateTime::now().timestamp_millis() - LOCK_STALE.as_millis() as i64,
                );
                if let Ok(at) = held.get_datetime("at") {
                    if *at < stale {
                        self.collection
                            .delete_one(doc! { "_id": id, "at": *at })
                            .await
                            .map_err(|e| from_driver(op, &e))?;
                        continue;
                    }
                }
            }
            // Bounded as said above, so it needs no stop signal (and cannot be interrupted).
            let _ = backoff.wait(&mut Stop::never()).await;
        }
    }

    /// Releases the lock of `id` held by this process.
    async fn release(&self, id: &str) -> Result<(), StoreError> {
        self.collection
            .delete_one(doc! { "_id": id, "owner": &self.owner })
            .await
            .map_err(|e| from_driver("unlock a key of the projection-changes collection", &e))?;
        Ok(())
    }

    /// Runs `section` while holding the lock of `id`; the lock is released whatever the
    /// section returned (a failed release leaves it to this owner's next acquire, or stale).
    async fn with<T>(
        &self,
        id: &str,
        section: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.acquire(id).await?;
        let out = section.await;
        let released = self.release(id).await;
        let out = out?;
        released?;
        Ok(out)
    }
}

/// Publishes triggers as pending documents.
pub struct MongoTriggers {
    store: std::sync::Arc<MongoStore>,
    collection: String,
    locks: KeyLocks,
}

impl MongoTriggers {
    /// The collection `collection` of `store`'s database, with its `state` index ensured.
    pub async fn open(
        store: std::sync::Arc<MongoStore>,
        collection: &str,
    ) -> Result<MongoTriggers, StoreError> {
        let coll: Collection<Document> = store.database().collection(collection);
        coll.create_index(IndexModel::builder().keys(doc! { "state": 1 }).build())
            .await
            .map_err(|e| from_driver("create the projection-changes index", &e))?;
        Ok(MongoTriggers {
            locks: KeyLocks::new(&store, collection, "publish"),
            store,
            collection: collection.into(),
        })
    }
}

#[async_trait]
impl TriggerSink for MongoTriggers {
    async fn publish(&self, triggers: Vec<TriggerRecord>) -> Result<(), StoreError> {
        let op = "publish single-view triggers to the projection-changes collection";
        let now = DateTime::now();
        // One key per trigger: the same key twice in a batch is one document.
        let mut seen = std::collections::HashSet::new();
        for t in &triggers {
            let id = String::from_utf8_lossy(&t.partition_key()?).to_string();
            if !seen.insert(id.clone()) {
                continue;
            }
            let trigger = serde_json::to_string(t).map_err(|e| StoreError::fatal(op, e))?;
            self.locks
                .with(&id, self.publish_one(&id, &trigger, now))
                .await?;
        }
        Ok(())
    }
}

/// The server's code of a duplicate key.
const DUPLICATE_KEY: i32 = 11000;

impl MongoTriggers {
    /// Publishes one trigger, whatever state its document is in, with conditional updates
    /// whose match counts say which state it was (no upsert: FerretDB and MongoDB answer an
    /// upsert whose filter excludes an existing `_id` differently):
    /// - claimed: it gets the newer version and stays with its owner, who hands it back as
    ///   pending when its rebuild is done;
    /// - pending or done: it becomes pending with the newer version;
    /// - absent: it is inserted as pending (a concurrent insert of the same key makes this one
    ///   a duplicate, and the loop starts over).
    ///
    /// The caller holds the key's lock.
    async fn publish_one(&self, id: &str, trigger: &str, now: DateTime) -> Result<(), StoreError> {
        let op = "publish a single-view trigger to the projection-changes collection";
        let collection = self
            .store
            .database()
            .collection::<Document>(&self.collection);
        for _ in 0..10 {
            let claimed = collection
                .update_one(
                    doc! { "_id": id, "state": "claimed" },
                    doc! {
                        "$set": { "trigger": trigger, "updated_at": now },
                        "$inc": { "version": 1_i64 },
                    },
                )
                .await
                .map_err(|e| from_driver(op, &e))?;
            if claimed.matched_count == 1 {
                return Ok(());
            }
            let other = collection
                .update_one(
                    doc! { "_id": id, "state": { "$in": ["pending", "done"] } },
                    doc! {
                        "$set": { "trigger": trigger, "state": "pending", "updated_at": now },
                        "$inc": { "version": 1_i64 },
                    },
                )
                .await
                .map_err(|e| from_driver(op, &e))?;
            if other.matched_count == 1 {
                return Ok(());
            }
            let fresh = doc! {
                "_id": id, "trigger": trigger, "state": "pending", "version": 1_i64,
                "updated_at": now,
            };
            match collection.insert_one(fresh).await {
                Ok(_) => return Ok(()),
                Err(e) if is_duplicate_key(&e) => continue,
                Err(e) => return Err(from_driver(op, &e)),
            }
        }
        Err(StoreError::retryable(
            op,
            "the document kept changing state while being published",
        ))
    }
}

/// Whether a driver error is a duplicate key (code 11000).
fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        _ => e.to_string().contains("E11000") || e.to_string().contains("11000"),
    }
}

/// Claims pending triggers for an aggregate process; `commit` marks them done.
pub struct MongoTriggerSource {
    collection: Collection<Document>,
    /// Who claims (logged in the documents, for operators).
    owner: String,
    /// A claim older than this is taken over (its owner died).
    claim_timeout: Duration,
    /// Wait between polls of an empty collection.
    poll: Duration,
    /// The topic name given to trigger messages (the collection's name).
    name: String,
    locks: KeyLocks,
    /// Whether the whole process is paused ([`Source::hold`]): nothing is claimed.
    held: bool,
}

impl MongoTriggerSource {
    /// A claimant of `collection` in `store`'s database.
    pub fn new(
        store: &MongoStore,
        collection: &str,
        owner: &str,
        claim_timeout: Duration,
        poll: Duration,
    ) -> MongoTriggerSource {
        MongoTriggerSource {
            collection: store.database().collection(collection),
            owner: owner.into(),
            claim_timeout,
            poll,
            name: collection.into(),
            locks: KeyLocks::new(store, collection, owner),
            held: false,
        }
    }

    /// Claims one document read in `state` at `version`: whether this claimant won.
    async fn claim(&self, d: &Document, now: DateTime) -> Result<bool, StoreError> {
        let Ok(id) = d.get_str("_id") else {
            return Ok(false);
        };
        self.locks.with(id, self.claim_locked(d, now)).await
    }

    /// [`MongoTriggerSource::claim`], the key's lock held.
    async fn claim_locked(&self, d: &Document, now: DateTime) -> Result<bool, StoreError> {
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
impl Source for MongoTriggerSource {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        let op = "read the projection-changes collection";
        if self.held {
            // Paused: the pending changes stay for whichever aggregate claims them later.
            tokio::time::sleep(self.poll).await;
            return Ok(Some(SourceBatch::default()));
        }
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
        for (id, version) in &ack.positions {
            self.locks.with(id, self.done(id, *version)).await?;
        }
        Ok(())
    }

    fn hold(&mut self, held: Held) {
        // Trigger documents have no projection: only a pause of the whole process holds them.
        self.held = held == Held::All;
    }
}

impl MongoTriggerSource {
    /// Marks the claim of `id` at `version` done, or hands a newer version back as pending;
    /// the key's lock held.
    async fn done(&self, id: &str, version: i64) -> Result<(), StoreError> {
        let op = "mark projection changes done";
        // Only the version that was rebuilt.
        let r = self
            .collection
            .update_one(
                doc! { "_id": id, "version": version, "state": "claimed", "owner": &self.owner },
                doc! { "$set": { "state": "done", "done_at": DateTime::now() } },
            )
            .await
            .map_err(|e| from_driver(op, &e))?;
        if r.matched_count == 0 {
            // Triggered again while claimed: hand the newer version back, to be rebuilt
            // after this rebuild (by whichever aggregate claims it).
            self.collection
                .update_one(
                    doc! { "_id": id, "state": "claimed", "owner": &self.owner },
                    doc! { "$set": { "state": "pending" } },
                )
                .await
                .map_err(|e| from_driver(op, &e))?;
        }
        Ok(())
    }
}
