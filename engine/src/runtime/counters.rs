//! Counters of everything observable the runtime does, in one place that also logs.
//!
//! In: one call per observable event (a batch committed, a message dead-lettered, a message
//! skipped by its format, a single view refused). Out: monotonically increasing counts
//! ([`Summary`]) and one `tracing` event per call, so logs and metrics always agree.
//!
//! Guarantees: each event is counted and logged exactly once, here and nowhere else; logs at
//! info level and above carry positions, names and reasons, never keys or record contents.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::store::DeadLetter;

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Items read from the source (messages and malformed lines).
    pub consumed: u64,
    /// Changes applied to projections (replays included).
    pub applied: u64,
    /// Changes skipped because a newer version was stored.
    pub stale: u64,
    /// Messages skipped by their format (tombstones, truncates, declared skip codes).
    pub skipped: u64,
    /// Dead letters written.
    pub dead_lettered: u64,
    /// Single-view keys triggered (after de-duplication per batch).
    pub triggered: u64,
    pub views_inserted: u64,
    pub views_updated: u64,
    /// Rebuilt and equal to the stored document: not rewritten.
    pub views_unchanged: u64,
    /// Deleted or marked deleted.
    pub views_deleted: u64,
    /// Refused by the view's JSON Schema (recorded in the errors collection).
    pub views_failed: u64,
    /// Mapping-function calls that got bad input (their value became null).
    pub mapping_errors: u64,
    /// Events published.
    pub events: u64,
    /// Batches whose effects are durable.
    pub batches: u64,
}

/// What one batch did (added to the counters when the batch is durable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub consumed: u64,
    pub applied: u64,
    pub stale: u64,
    pub triggered: u64,
    pub views_inserted: u64,
    pub views_updated: u64,
    pub views_unchanged: u64,
    pub views_deleted: u64,
    pub views_failed: u64,
    pub mapping_errors: u64,
    pub events: u64,
}

/// The counters (see the module docs).
#[derive(Debug, Default)]
pub struct Counters {
    consumed: AtomicU64,
    applied: AtomicU64,
    stale: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
    triggered: AtomicU64,
    views_inserted: AtomicU64,
    views_updated: AtomicU64,
    views_unchanged: AtomicU64,
    views_deleted: AtomicU64,
    views_failed: AtomicU64,
    mapping_errors: AtomicU64,
    events: AtomicU64,
    batches: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// A message (or line) was dead-lettered.
    pub fn dead_lettered(&self, letter: &DeadLetter) {
        add(&self.dead_lettered, 1);
        tracing::warn!(
            topic = %letter.topic,
            partition = letter.partition,
            offset = letter.offset,
            projection = letter.projection.as_deref().unwrap_or("-"),
            reason = %letter.reason,
            "message dead-lettered"
        );
    }

    /// A message was skipped by its format.
    pub fn skipped(&self, topic: &str, partition: i32, offset: i64, reason: &str) {
        add(&self.skipped, 1);
        tracing::debug!(
            topic,
            partition,
            offset,
            reason,
            "message skipped by its format"
        );
    }

    /// A single view was refused (its key is not logged).
    pub fn view_failed(&self, view: &str, reason: &str) {
        tracing::warn!(view, reason, "single view refused by its schema");
    }

    /// A batch's effects are durable and its positions committed.
    pub fn batch_committed(&self, b: &BatchCounts, millis: u128) {
        add(&self.batches, 1);
        add(&self.consumed, b.consumed);
        add(&self.applied, b.applied);
        add(&self.stale, b.stale);
        add(&self.triggered, b.triggered);
        add(&self.views_inserted, b.views_inserted);
        add(&self.views_updated, b.views_updated);
        add(&self.views_unchanged, b.views_unchanged);
        add(&self.views_deleted, b.views_deleted);
        add(&self.views_failed, b.views_failed);
        add(&self.mapping_errors, b.mapping_errors);
        add(&self.events, b.events);
        tracing::debug!(
            consumed = b.consumed,
            applied = b.applied,
            stale = b.stale,
            triggered = b.triggered,
            written = b.views_inserted + b.views_updated,
            unchanged = b.views_unchanged,
            deleted = b.views_deleted,
            failed = b.views_failed,
            millis = millis as u64,
            "batch committed"
        );
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            consumed: g(&self.consumed),
            applied: g(&self.applied),
            stale: g(&self.stale),
            skipped: g(&self.skipped),
            dead_lettered: g(&self.dead_lettered),
            triggered: g(&self.triggered),
            views_inserted: g(&self.views_inserted),
            views_updated: g(&self.views_updated),
            views_unchanged: g(&self.views_unchanged),
            views_deleted: g(&self.views_deleted),
            views_failed: g(&self.views_failed),
            mapping_errors: g(&self.mapping_errors),
            events: g(&self.events),
            batches: g(&self.batches),
        }
    }
}
