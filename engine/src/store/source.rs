//! The source trait: where messages come from (Kafka, files, stdin).
//!
//! In: requests for the next batch, and acknowledgements of durable batches. Out: batches of
//! messages (or of lines that could not even be read as messages) with the position each batch
//! reaches.
//!
//! Guarantees asked of every source: batches come in input order per stream (partition); a
//! batch's [`Ack`] covers exactly its items and all before them; `commit` is only called with
//! acks whose every effect is durable, in order, so a restarted source resumes at or before
//! the first message whose effects were not durable (at-least-once).

use async_trait::async_trait;

use super::{DeadLetter, StoreError};
use crate::change::Message;

/// One item read from a source.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceItem {
    Message(Message),
    /// Input that is not a message at all (a malformed line); dead-lettered as is.
    Malformed(DeadLetter),
}

/// The positions a batch reaches: per stream (a file, a topic-partition), the next position
/// to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ack {
    pub positions: Vec<(String, i64)>,
}

/// A batch of items and the positions it reaches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceBatch {
    pub items: Vec<SourceItem>,
    pub ack: Ack,
}

/// A source of messages.
#[async_trait]
pub trait Source: Send {
    /// Up to `max` items; `Ok(None)` at the end of a bounded input (files, stdin). An
    /// unbounded source (Kafka) waits up to its linger time and may return an empty batch.
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError>;

    /// Everything covered by `ack` (and before it) is durable: store the positions.
    async fn commit(&mut self, ack: &Ack) -> Result<(), StoreError>;
}
