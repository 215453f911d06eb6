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
//!
//! [`InFlight`] counts the batches handed to the writer and not yet finished, so that a
//! source whose partitions can move to another process (Kafka) gives them up only once their
//! batches are written: the next owner never races a write of the previous one.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::change::Message;
use crate::store::{DeadLetter, StoreError};

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

/// Batches read and handed to the writer, not yet finished (durable or failed).
#[derive(Debug, Default)]
pub struct InFlight {
    /// The count, and whether the writer stopped (nothing will finish any more).
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl InFlight {
    /// A batch was handed to the writer.
    pub fn started(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.0 += 1;
        }
    }

    /// A batch is durable, or failed.
    pub fn finished(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.0 = s.0.saturating_sub(1);
        }
        self.changed.notify_all();
    }

    /// The writer stopped: waiting is over.
    pub fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = true;
        }
        self.changed.notify_all();
    }

    /// Batches in flight now.
    pub fn count(&self) -> usize {
        self.state.lock().map(|s| s.0).unwrap_or(0)
    }

    /// Blocks until no batch is in flight (or the writer stopped), at most `limit`; returns
    /// whether that happened in time.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let Ok(guard) = self.state.lock() else {
            return false;
        };
        match self
            .changed
            .wait_timeout_while(guard, limit, |(n, closed)| *n > 0 && !*closed)
        {
            Ok((_, timeout)) => !timeout.timed_out(),
            Err(_) => false,
        }
    }
}

/// A source of messages.
#[async_trait]
pub trait Source: Send {
    /// Up to `max` items; `Ok(None)` at the end of a bounded input (files, stdin). An
    /// unbounded source (Kafka) waits up to its linger time and may return an empty batch.
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError>;

    /// Everything covered by `ack` (and before it) is durable: store the positions.
    async fn commit(&mut self, ack: &Ack) -> Result<(), StoreError>;

    /// The run's count of batches in flight, given once before the first read.
    fn track_in_flight(&mut self, _in_flight: std::sync::Arc<InFlight>) {}

    /// Called every [`KEEP_ALIVE`] while the writer is behind and no batch is read (a paused
    /// pipeline): keep the source's session alive without delivering messages. Messages it
    /// happens to receive are kept for the next [`Source::next_batch`].
    async fn keep_alive(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// From now on, deliver no message of what `held` names (a paused projection's topic, or
    /// everything while the whole process is paused), keeping their positions: a held message
    /// is delivered once it is no longer held, and no position at or after it is acknowledged
    /// before then. An unbounded source (Kafka) keeps its group membership and waits; a
    /// bounded one (files) ends at the first held message, its position kept for the next run.
    fn hold(&mut self, _held: Held) {}
}

/// What a source holds back (see [`Source::hold`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Held {
    /// Nothing: every message is delivered.
    #[default]
    Nothing,
    /// The messages of these topics (as the plan names them).
    Topics(std::collections::BTreeSet<String>),
    /// Every message.
    All,
}

impl Held {
    /// Whether a message of `topic` is held.
    pub fn holds(&self, topic: &str) -> bool {
        match self {
            Held::Nothing => false,
            Held::Topics(t) => t.contains(topic),
            Held::All => true,
        }
    }
}

/// A boxed source is a source (a deployment picks its source at run time).
#[async_trait]
impl<S: Source + ?Sized> Source for Box<S> {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        (**self).next_batch(max).await
    }

    async fn commit(&mut self, ack: &Ack) -> Result<(), StoreError> {
        (**self).commit(ack).await
    }

    fn track_in_flight(&mut self, in_flight: std::sync::Arc<InFlight>) {
        (**self).track_in_flight(in_flight)
    }

    async fn keep_alive(&mut self) -> Result<(), StoreError> {
        (**self).keep_alive().await
    }

    fn hold(&mut self, held: Held) {
        (**self).hold(held)
    }
}

/// How often [`Source::keep_alive`] is called while the pipeline is paused.
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// How far behind one partition is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    /// The topic as the plan names it.
    pub topic: String,
    pub partition: i32,
    /// Messages after the committed offset (the durable watermark) up to the partition's end.
    pub lag: i64,
}

/// One partition of a consumer group's topics, as the whole group sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPartition {
    /// The topic as the plan names it.
    pub topic: String,
    pub partition: i32,
    /// The group's committed offset (`None`: the group never committed on it).
    pub committed: Option<i64>,
    /// The partition's end (high watermark).
    pub end: i64,
    /// Messages after the committed offset (from the earliest retained one when none is
    /// committed) up to the end.
    pub lag: i64,
    /// The member that owns it now (`client_id@host`), `None`: unassigned.
    pub owner: Option<String>,
    /// Whether this process is the owner.
    pub mine: bool,
    /// Seconds the committed offset has not moved while messages wait (`None`: it moves, or
    /// nothing waits). A stalled partition of another member may have no live owner: a
    /// killed member keeps its partitions until its session times out.
    pub stalled_seconds: Option<u64>,
}

/// The lag of a whole consumer group, every partition of its topics, whoever owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupLag {
    pub group: String,
    /// The group's state as the coordinator reports it (`Stable`, `PreparingRebalance`, ...).
    pub state: String,
    /// Members now (a killed member stays until its session times out).
    pub members: usize,
    /// When this was asked (epoch ms).
    pub as_of_ms: i64,
    pub partitions: Vec<GroupPartition>,
}

/// Messages a partition lost to retention: the group's committed position (at assignment) or
/// a running member's read position (a partition paused or far behind) was older than the
/// earliest retained offset, so the consumer skipped to the earliest and never read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionLoss {
    /// The topic as the plan names it.
    pub topic: String,
    pub partition: i32,
    /// Messages skipped (earliest retained minus the position, summed over detections).
    pub messages: i64,
    /// The last detection: the position (committed, or where the member was reading) and the
    /// earliest retained offset then.
    pub committed: i64,
    pub earliest: i64,
    /// When it was last detected (epoch ms).
    pub detected_ms: i64,
}

/// What a source reports about itself, read when metrics are scraped.
pub trait SourceGauges: Send + Sync {
    /// The lag of every partition assigned to this member (empty when unknown).
    fn lag(&self) -> Vec<PartitionLag>;
    /// Whether the source reaches its brokers (`None`: not known yet, or not applicable).
    fn connected(&self) -> Option<bool>;
    /// The lag of the whole consumer group with each partition's owner, as last asked
    /// (`None`: not a group, or not asked yet).
    fn group_lag(&self) -> Option<GroupLag> {
        None
    }
    /// The partitions whose unread messages retention deleted (see [`RetentionLoss`]).
    fn lost_to_retention(&self) -> Vec<RetentionLoss> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn waiting_ends_when_the_batches_finish_or_the_writer_stops() {
        let f = Arc::new(InFlight::default());
        assert!(f.wait_idle(Duration::ZERO));
        f.started();
        f.started();
        assert!(!f.wait_idle(Duration::from_millis(10)));
        let g = f.clone();
        let t = std::thread::spawn(move || {
            g.finished();
            g.finished();
        });
        assert!(f.wait_idle(Duration::from_secs(10)));
        t.join().unwrap();
        assert_eq!(f.count(), 0);
        f.started();
        f.close();
        assert!(f.wait_idle(Duration::from_secs(10)));
    }
}
