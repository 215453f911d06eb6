//! The traits every storage and output adapter implements, and the data that crosses them.
//!
//! In: batches of reads and writes from the engine stages (projection writer, strategies,
//! aggregation, single-view writer, runtime). Out: records, documents and per-item outcomes.
//!
//! Guarantees asked of every implementation (embedded, MongoDB):
//! - every operation is batch-shaped: one call per batch, never one per record;
//! - the operations map onto the portable MongoDB subset: `find` with `$in` (plus equality /
//!   range filters for conditions and `__STATE__`), bulk `update`/`delete` commands, unique
//!   indexes; no transactions, no `$lookup`, no change streams;
//! - a projection write is guarded by version: it applies only when nothing is stored for the
//!   key or the stored version is lower than or equal to the write's guard
//!   ([`RecordWrite::guard`]: the written version, or for a put after a hard delete of the same
//!   batch the version deleted), and the outcome of each item says which;
//! - a successful call is durable when it returns, or at the latest when `sync` returns
//!   (the runtime syncs both stores at the end of every batch and commits input positions
//!   only behind it);
//! - errors carry no record contents or key values.

pub mod condition;
pub mod deployment;
pub mod drift;
pub mod key;
pub mod pause;
pub mod record;

use std::sync::Arc;

use async_trait::async_trait;
use fdc_plan::{FieldCondition, Plan, WriteMode};
use serde::Serialize;

use crate::change::{Message, Version};
use crate::value::{Map, Value};
pub use deployment::DeploymentStore;
pub use drift::{SourceDrift, SourceDriftStore};
pub use pause::{PauseItem, PauseStore, PauseTarget, PendingKey};
pub use record::{Record, RecordMeta, RecordState, STATE_FIELD};

/// A failed store, sink or source call. Never holds record contents.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct StoreError {
    /// What was being done (`"write projection orders"`).
    pub operation: String,
    pub message: String,
    /// Whether retrying the same call later may succeed (an outage), or not (a bad setup).
    pub retryable: bool,
}

impl StoreError {
    /// A non-retryable error.
    pub fn fatal(operation: impl Into<String>, message: impl ToString) -> StoreError {
        StoreError {
            operation: operation.into(),
            message: message.to_string(),
            retryable: false,
        }
    }

    /// A retryable error (the system is unavailable for now).
    pub fn retryable(operation: impl Into<String>, message: impl ToString) -> StoreError {
        StoreError {
            operation: operation.into(),
            message: message.to_string(),
            retryable: true,
        }
    }
}

/// Which indexes a projection collection needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionLayout {
    pub name: String,
    /// Primary-key fields (a unique index).
    pub key: Vec<String>,
    /// Declared secondary indexes: fields and uniqueness.
    pub declared: Vec<(Vec<String>, bool)>,
    /// Field tuples the engine queries with `$in` (strategy hops, join nodes). An adapter may
    /// create indexes for them (the embedded store does) or only warn (`fdc check` already
    /// reports a missing declared index).
    pub queried: Vec<Vec<String>>,
}

impl ProjectionLayout {
    /// The secondary indexes a store keeps for this layout, in order: the declared ones, then
    /// the queried tuples; each tuple once (its first occurrence decides whether its index is
    /// unique), the primary key's tuple left out. The MongoDB adapter creates exactly these,
    /// and the embedded store enforces the unique ones by the same list.
    pub fn secondary_indexes(&self) -> Vec<(&[String], bool)> {
        // The rule is pure plan data, shared with the deployment record (`fdc plan`).
        fdc_plan::indexes::secondary(&self.key, &self.declared, &self.queried)
    }
}

/// `find` on a projection: records whose `fields` tuple is in `values`, every `conditions`
/// holding, and (when `public_only`) `__STATE__ == "PUBLIC"`. Tuples holding a null match
/// nothing. Results come in no particular order.
#[derive(Debug, Clone, Copy)]
pub struct FindIn<'a> {
    pub fields: &'a [String],
    pub values: &'a [Vec<Value>],
    pub conditions: &'a [FieldCondition],
    pub public_only: bool,
}

/// One guarded projection write. Each write is guarded by one version (see
/// [`RecordWrite::guard`]): it applies when nothing is stored for the key or the stored version
/// is not newer than the guard, and then leaves exactly what it says under the key.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordWrite {
    /// Insert or replace the record (a live record, or a soft-deleted one) if its version is
    /// not older than the stored one.
    Put(Record),
    /// Hard delete: remove the record with primary key `key` if the stored version is not
    /// newer than `version`.
    Remove { key: Vec<Value>, version: Version },
    /// A hard delete and a later put of the same key, coalesced from one batch: store `record`
    /// if the stored version is not newer than `deleted` (nothing stored: stored). The delete
    /// took the version with the record, so `record` may be older than what the batch
    /// removed (a late re-delivery of an insert resurrects the record, as it does when the
    /// messages come one per batch); guarding it by its own version would refuse it against
    /// the version the batch itself deleted. `deleted` is the newest version the batch
    /// applied to the key (at least the delete's), so a newer record stored meanwhile by
    /// another writer still wins.
    PutAfterDelete { record: Record, deleted: Version },
}

impl RecordWrite {
    /// The primary key written.
    pub fn key(&self) -> &[Value] {
        match self {
            RecordWrite::Put(r) | RecordWrite::PutAfterDelete { record: r, .. } => &r.key,
            RecordWrite::Remove { key, .. } => key,
        }
    }

    /// The version the stored one is compared with: the write applies when nothing is stored
    /// or the stored version is lower than or equal to it.
    pub fn guard(&self) -> Version {
        match self {
            RecordWrite::Put(r) => Version(r.meta.version),
            RecordWrite::Remove { version, .. } => *version,
            RecordWrite::PutAfterDelete { deleted, .. } => *deleted,
        }
    }

    /// What the write leaves under its key when it applies (`None`: nothing, removed).
    pub fn into_record(self) -> Option<Record> {
        match self {
            RecordWrite::Put(r) | RecordWrite::PutAfterDelete { record: r, .. } => Some(r),
            RecordWrite::Remove { .. } => None,
        }
    }
}

/// What happened to one [`RecordWrite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// A newer version was stored meanwhile: nothing changed.
    Stale,
}

/// A page of a scan; `next` is the cursor for the following page (`None`: done).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Vec<Value>>,
}

/// Storage of projection records.
#[async_trait]
pub trait ProjectionStore: Send + Sync {
    /// Creates the collection and its indexes if needed (idempotent).
    async fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError>;

    /// Makes every write so far durable, for a store that defers durability (the embedded
    /// store on disk: one fsync per batch). Default: writes are durable when they return.
    async fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The records with these primary keys, in the order of `keys` (`None`: not stored).
    async fn get_many(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Record>>, StoreError>;

    /// The records matching `query` (see [`FindIn`]).
    async fn find_in(&self, projection: &str, query: FindIn<'_>)
        -> Result<Vec<Record>, StoreError>;

    /// [`ProjectionStore::get_many`] handing out shared records: what the engine stages call.
    /// A store that keeps its records in memory overrides it to share them instead of copying
    /// each one; the default wraps the records `get_many` decoded.
    async fn get_many_shared(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Record>>>, StoreError> {
        Ok(self
            .get_many(projection, keys)
            .await?
            .into_iter()
            .map(|r| r.map(Arc::new))
            .collect())
    }

    /// [`ProjectionStore::find_in`] handing out shared records (see
    /// [`ProjectionStore::get_many_shared`]).
    async fn find_in_shared(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Arc<Record>>, StoreError> {
        Ok(self
            .find_in(projection, query)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect())
    }

    /// Applies the writes (unordered, each guarded by version); one outcome per write, in order.
    async fn write(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError>;

    /// Up to `limit` records after the cursor `after` (primary-key order of the store).
    async fn scan(
        &self,
        projection: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Record>, StoreError>;

    /// How many records the projection holds, when the store can tell cheaply (for progress
    /// and ETA of a refresh; an estimate is fine). The default: unknown.
    async fn count(&self, _projection: &str) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Drops the secondary index of `projection` on `fields` (unique or not), as `fdc apply`
    /// does for an index the new plan no longer has or whose uniqueness changed; nothing when
    /// there is none. The default: the store cannot (an error naming the operation).
    async fn drop_index(&self, projection: &str, _fields: &[String]) -> Result<(), StoreError> {
        Err(StoreError::fatal(
            format!("drop an index of projection {projection}"),
            "this store cannot drop indexes",
        ))
    }

    /// Drops the collection of `projection` with its records and indexes (`fdc apply
    /// --prune`); nothing when there is none. The default: the store cannot.
    async fn drop_projection(&self, projection: &str) -> Result<(), StoreError> {
        Err(StoreError::fatal(
            format!("drop projection {projection}"),
            "this store cannot drop collections",
        ))
    }
}

/// One single-view write.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewWrite {
    /// Replace (or, in merge mode, `$set` the fields of) the document with this key; the
    /// document holds `__STATE__: "PUBLIC"`.
    Upsert { key: Vec<Value>, document: Map },
    /// Remove the document.
    Delete { key: Vec<Value> },
    /// Keep the document with `__STATE__: "DELETED"`.
    MarkDeleted { key: Vec<Value> },
}

/// A single view that could not be written (for example it failed its JSON Schema).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewFailure {
    pub view: String,
    /// The single-view key as `{field: value}`.
    pub key: serde_json::Value,
    pub reason: String,
    /// The document that was refused.
    pub document: serde_json::Value,
}

/// Storage of single-view documents and of single-view failures (the errors collection).
#[async_trait]
pub trait SingleViewStore: Send + Sync {
    /// Creates the collection and its unique key index if needed (idempotent).
    async fn ensure_view(&self, view: &str, key_fields: &[String]) -> Result<(), StoreError>;

    /// Makes every write so far durable (see [`ProjectionStore::sync`]).
    async fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The documents with these keys, in the order of `keys`.
    async fn get_many(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError>;

    /// [`SingleViewStore::get_many`] handing out shared documents: what the single-view writer
    /// calls. A store that keeps its documents in memory overrides it to share them instead of
    /// copying; the default wraps what `get_many` decoded.
    async fn get_many_shared(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Map>>>, StoreError> {
        Ok(self
            .get_many(view, keys)
            .await?
            .into_iter()
            .map(|d| d.map(Arc::new))
            .collect())
    }

    /// Applies the writes (unordered: at most one write per key in a call).
    async fn write(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError>;

    /// Up to `limit` documents (with their keys) after the cursor `after`.
    async fn scan(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError>;

    /// Up to `limit` single-view keys after the cursor `after` (the order of
    /// [`SingleViewStore::scan`]), without the documents. The default reads the documents and
    /// drops them; a store that can project overrides it.
    async fn scan_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        let page = self.scan(view, after, limit).await?;
        Ok(Page {
            items: page.items.into_iter().map(|(k, _)| k).collect(),
            next: page.next,
        })
    }

    /// How many documents the view holds, when the store can tell cheaply (the cost
    /// estimates of `fdc plan`; an estimate is fine). The default: unknown.
    async fn count_documents(&self, _view: &str) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Drops the collection of `view` with its documents (`fdc apply --prune`); nothing when
    /// there is none. The default: the store cannot.
    async fn drop_view(&self, view: &str) -> Result<(), StoreError> {
        Err(StoreError::fatal(
            format!("drop single view {view}"),
            "this store cannot drop collections",
        ))
    }

    /// Records failed documents in the errors collection.
    async fn record_failures(&self, failures: Vec<ViewFailure>) -> Result<(), StoreError>;
}

/// A message that could not be used, with why. Schema: `schemas/events/dead-letter.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The original key (JSON when it parses as JSON, else a string; null when absent).
    pub key: serde_json::Value,
    /// The original value, as for `key`.
    pub value: serde_json::Value,
    /// Why; names fields and types, never values.
    pub reason: String,
    /// The projection it was meant for, when known.
    pub projection: Option<String>,
    /// The message's key and value bytes exactly as read, for sinks that carry bytes (the Kafka
    /// dead-letter topic); `None` for input that never was a message (a malformed input line).
    /// Not serialized: `key` and `value` are their JSON form.
    #[serde(skip)]
    pub original: Option<Original>,
}

impl DeadLetter {
    /// The dead letter of message `m`: its position, its key and value in JSON form
    /// ([`raw_json`]) and exactly as read, and `reason` (which names fields and types, never
    /// values). It names no projection; see [`DeadLetter::meant_for`].
    pub fn from_message(m: &Message, reason: impl Into<String>) -> DeadLetter {
        DeadLetter {
            topic: m.topic.clone(),
            partition: m.partition,
            offset: m.offset,
            key: raw_json(m.key.as_deref()),
            value: raw_json(m.value.as_deref()),
            reason: reason.into(),
            projection: None,
            original: Some(Original {
                key: m.key.clone(),
                value: m.value.clone(),
            }),
        }
    }

    /// The same letter naming the projection it was meant for: `projection` indexes
    /// `plan.projections` (as [`crate::change::MessageOutcome::DeadLetter`] does); `None` names none.
    pub fn meant_for(mut self, plan: &Plan, projection: Option<usize>) -> DeadLetter {
        self.projection = projection
            .and_then(|p| plan.projections.get(p))
            .map(|p| p.name.clone());
        self
    }

    /// The dead letter of input line `line` (its position: partition 0, the line number as
    /// the offset) that is not a message: `value` is what the line holds, `topic` the topic it
    /// names if any (else empty), and the reason `input line {line}: {reason}`.
    pub fn of_input_line(
        topic: String,
        line: i64,
        value: serde_json::Value,
        reason: &str,
    ) -> DeadLetter {
        DeadLetter {
            topic,
            partition: 0,
            offset: line,
            key: serde_json::Value::Null,
            value,
            reason: format!("input line {line}: {reason}"),
            projection: None,
            original: None,
        }
    }
}

/// The JSON form of raw message bytes (as a dead letter keeps them): JSON when they parse,
/// else a string.
pub fn raw_json(bytes: Option<&[u8]>) -> serde_json::Value {
    match bytes {
        None => serde_json::Value::Null,
        Some(b) => serde_json::from_slice(b)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(b).into())),
    }
}

/// The key and value bytes of a message exactly as read (`None`: absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Original {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// `insert` / `update` / `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOp {
    Insert,
    Update,
    Delete,
}

/// An output event. Schemas: `schemas/events/*.schema.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A projection record changed.
    ProjectionUpdate {
        /// The topic declared for these events.
        topic: String,
        projection: String,
        key: serde_json::Value,
        op: EventOp,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<serde_json::Value>,
    },
    /// A single-view document was written.
    SingleViewUpdate {
        topic: String,
        view: String,
        key: serde_json::Value,
        op: EventOp,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<serde_json::Value>,
    },
}

/// Where events go (a Kafka producer, files, memory).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes the events; durable (acknowledged) when it returns.
    async fn publish(&self, events: Vec<Event>) -> Result<(), StoreError>;
}

/// Where dead letters go (a Kafka topic, a file, the embedded store).
#[async_trait]
pub trait DeadLetterSink: Send + Sync {
    /// Stores the letters; durable when it returns.
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError>;
}

/// Durable input positions for sources that do not keep their own (files). Kafka keeps its
/// offsets in the broker and does not use this.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The stored position of `stream` (a source-defined name), if any.
    async fn load_checkpoint(&self, stream: &str) -> Result<Option<i64>, StoreError>;
    /// Stores positions; durable when it returns.
    async fn save_checkpoints(&self, positions: &[(String, i64)]) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_s_dead_letter_keeps_its_position_both_forms_and_the_projection_meant() {
        // The engine's test plan (engine/tests/fixtures); this crate has no test kit of its own.
        let plan: Plan =
            serde_json::from_str(include_str!("../../../tests/fixtures/shop.plan.json"))
                .expect("plan");
        let m = Message {
            topic: "t".into(),
            partition: 3,
            offset: 9,
            key: Some(br#"{"id":1}"#.to_vec()),
            value: Some(b"not json".to_vec()),
            headers: vec![],
            timestamp: None,
        };
        let letter = DeadLetter::from_message(&m, "why").meant_for(&plan, Some(1));
        assert_eq!(
            (letter.topic.as_str(), letter.partition, letter.offset),
            ("t", 3, 9)
        );
        assert_eq!(letter.key, serde_json::json!({"id": 1}));
        assert_eq!(letter.value, serde_json::json!("not json"));
        assert_eq!(letter.reason, "why");
        assert_eq!(letter.projection, Some(plan.projections[1].name.clone()));
        let original = letter.original.expect("the bytes as read");
        assert_eq!(
            (original.key, original.value),
            (m.key.clone(), m.value.clone())
        );
        let nowhere = DeadLetter::from_message(&m, "why").meant_for(&plan, Some(99));
        assert_eq!(nowhere.projection, None);
    }

    #[test]
    fn an_input_line_s_dead_letter_says_which_line() {
        let letter = DeadLetter::of_input_line(String::new(), 4, "x".into(), "not JSON");
        assert_eq!(
            (letter.offset, letter.reason.as_str(), letter.original),
            (4, "input line 4: not JSON", None)
        );
    }
}
