//! The types that cross from decode + cast (the router) into the projection writer.
//!
//! In: a [`Message`] from any source (Kafka, a file, stdin), source-neutral. Out: for each
//! projection bound to the message's topic, a [`MessageOutcome`]: typed [`Change`]s to apply, a
//! skip, or a dead letter with the reason (for a trigger record: the single-view key to
//! rebuild).
//!
//! Guarantees: a `Change` holds only values already cast to the projection's declared types;
//! its `key` is the primary-key tuple in the projection's key order; a primary-key change is
//! already split into a delete of the old key followed by an upsert of the new key.

use crate::value::{Map, Value};

/// A message as read from a source. Bytes are kept raw: decoding is the format's job.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    /// `None` is a Kafka null value (a tombstone, or a delete in the `basic` format).
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Epoch milliseconds (Kafka create/log-append time, or the file's `timestamp`).
    pub timestamp: Option<i64>,
}

/// Where a change came from: stored as projection metadata and carried into events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    /// When the change happened at its source (epoch ms: Debezium `source.ts_ms`, GoldenGate
    /// `op_ts`, else the message timestamp): what single-view freshness is measured from.
    /// Not stored; carried to the freshness gauges only.
    pub source_ms: Option<i64>,
}

impl Origin {
    /// The origin of `message` (its source time: the message timestamp).
    pub fn of(message: &Message) -> Origin {
        Origin {
            topic: message.topic.clone(),
            partition: message.partition,
            offset: message.offset,
            timestamp: message.timestamp,
            source_ms: message.timestamp,
        }
    }
}

/// The ordering position of a change (Kafka timestamp, Debezium `ts_ms`, GoldenGate `pos`, or
/// a custom format's position). Higher is newer; equal is a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u128);

/// What a change does to the projection record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Insert or update: the record becomes `after`, state `PUBLIC`.
    Upsert,
    /// Delete: soft (state `DELETED`) or hard, as the projection declares.
    Delete,
}

/// One typed change to one projection record.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Index into `Plan::projections`.
    pub projection: usize,
    pub op: Op,
    /// Primary-key values in the projection's key order.
    pub key: Vec<Value>,
    /// The record before the change, cast, when the message carries a before image.
    pub before: Option<Map>,
    /// The record after the change, cast (`None` for deletes).
    pub after: Option<Map>,
    pub version: Version,
    pub origin: Origin,
}

/// What a router made of one message (decoding and casting it, `fdc_engine::ingest`): for a
/// source message, the outcome for one projection;
/// for a trigger record (the input of an aggregate stage), the single-view key to rebuild.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageOutcome {
    /// Changes to apply in order (two for a primary-key change: delete old, upsert new).
    Changes(Vec<Change>),
    /// Deliberately ignored (a Debezium tombstone or truncate, a custom `skip` code); counted.
    Skipped { projection: usize, reason: String },
    /// Not decodable or not castable; goes to the dead-letter destination with the reason.
    /// The reason names fields and types, never record values.
    DeadLetter {
        projection: Option<usize>,
        reason: String,
    },
    /// A trigger record: single view `view` (by plan index), key `key` must be rebuilt.
    /// `origin_ms` is the timestamp of the source message that caused it, when known;
    /// `source_ms` the newest source time ([`Origin::source_ms`]) of the changes behind it.
    Trigger {
        view: usize,
        key: Vec<crate::value::Value>,
        origin_ms: Option<i64>,
        source_ms: Option<i64>,
    },
}
