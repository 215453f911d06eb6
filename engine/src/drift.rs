//! Source drift: the columns a projection's messages carry that no field maps, and the mapped
//! columns that stop arriving, counted per projection.
//!
//! In: per routed message and projection, the decoded change (its row images, borrowed) and
//! the columns the shaped parse skipped ([`crate::decode::ParsedMessage::skipped_columns`]).
//! Out: a [`BatchDrift`] per routed batch (small counters, a bounded sample of names), added
//! once the batch is durable to the process's [`DriftCounts`] (`/metrics`, `/status`) and to a
//! pending delta that [`flush`] merges into the store's [`SourceDriftStore`], off the batch
//! path ([`flush_every`]: every [`FLUSH_INTERVAL`], sooner when a new name appears, and when the
//! run ends).
//!
//! What counts (the rule `docs/operations.md` "Source drift" documents):
//! - *unmapped*: a key of a row image (after or before, any operation) that is neither a
//!   column the projection maps (`fdc_plan::drift::mapped_columns`: the first element of each
//!   field's source path) nor a name its format reads there (a custom format's operation
//!   under its after image). Row images in the message value are seen whole; a custom
//!   format's image taken from the message key shows only the columns some projection reads.
//!   On a topic read by projections of different formats, a column no projection reads is
//!   counted for each of them;
//! - *missing*: a mapped column absent (as a key: a null value arrives) from the after image
//!   of an upsert (insert, update, Debezium snapshot read). Deletes and before images never
//!   count: a delete's before image may hold the key only (Debezium `REPLICA IDENTITY
//!   DEFAULT`), and the engine writes an upsert's after image as the whole record, so an
//!   update that lacks a column (a partial GoldenGate image) does drop it from the record;
//!   that is the drift worth seeing;
//! - skipped, dead-lettered-by-decoding and unroutable messages are not counted; a message
//!   whose cast fails is (its images were read).
//!
//! Guarantees: nothing is allocated per message unless a new unmapped name enters the
//! batch's sample, a row image skips more than [`Skipped::INLINE`] columns, or an unmapped name
//! is longer than the kept length (names are compared with the projection's sorted columns,
//! in place, borrowed from the message); a
//! sample holds at most [`SAMPLE_LIMIT`] names per projection, each cut to
//! [`MAX_COLUMN_CHARS`](crate::store::drift::MAX_COLUMN_CHARS) characters; only names,
//! counts and times are kept, never values; a batch is counted once, when it is durable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fdc_plan::Plan;

use crate::decode::shape::Skipped;
use crate::decode::{Decoded, Operation};
use crate::store::drift::{
    column_name, MappedColumn, SourceDrift, SourceDriftStore, UnmappedColumn, SAMPLE_LIMIT,
};
use crate::value::Value;

/// How often the drift counted since the last flush is merged into the store.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// How long the flush at the end of a run may take (a store outage must not hold shutdown).
pub const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// What a projection's row images are compared with: its mapped columns and its format's own
/// names, sorted.
#[derive(Debug, Clone, Default)]
pub struct DriftColumns {
    columns: Vec<Box<str>>,
    ignored: Vec<Box<str>>,
}

impl DriftColumns {
    /// The columns of `projection`.
    pub fn of(projection: &fdc_plan::Projection) -> DriftColumns {
        let boxed = |v: Vec<String>| v.into_iter().map(String::into_boxed_str).collect();
        DriftColumns {
            columns: boxed(fdc_plan::drift::mapped_columns(projection)),
            ignored: boxed(fdc_plan::drift::format_columns(projection)),
        }
    }

    fn mapped(&self, name: &str) -> Option<usize> {
        self.columns.binary_search_by(|c| (**c).cmp(name)).ok()
    }

    fn ignored(&self, name: &str) -> bool {
        !self.ignored.is_empty() && self.ignored.binary_search_by(|c| (**c).cmp(name)).is_ok()
    }

    fn known(&self, name: &str) -> bool {
        self.mapped(name).is_some() || self.ignored(name)
    }
}

/// The drift of one routed batch, per projection (by plan index).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchDrift {
    projections: Vec<ProjectionTally>,
}

/// One projection's drift in a batch.
#[derive(Debug, Clone, Default, PartialEq)]
struct ProjectionTally {
    messages: u64,
    unmapped_messages: u64,
    missing_messages: u64,
    /// Name, messages, and the ordinal of the last message that carried it.
    unmapped: Vec<(Box<str>, u64, u64)>,
    overflow: bool,
    /// Per mapped column (the order of [`DriftColumns`]): the ordinal of the last after
    /// image that carried it and of the last that lacked it, and how many lacked it.
    columns: Vec<ColumnTally>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct ColumnTally {
    seen_at: u64,
    missing_at: u64,
    missing: u64,
}

impl ProjectionTally {
    fn unmapped(&mut self, name: &str, ordinal: u64) {
        // A name of at most MAX_COLUMN_CHARS bytes is kept whole: compared without cutting.
        let cut = if name.len() <= crate::store::drift::MAX_COLUMN_CHARS {
            std::borrow::Cow::Borrowed(name)
        } else {
            column_name(name)
        };
        let full = self.unmapped.len() >= SAMPLE_LIMIT;
        match self.unmapped.iter_mut().find(|(n, _, _)| **n == *cut) {
            Some((_, count, last)) => {
                if *last != ordinal {
                    *count += 1;
                    *last = ordinal;
                }
            }
            None if !full => {
                self.unmapped.push((cut.into(), 1, ordinal));
            }
            None => self.overflow = true,
        }
    }
}

impl BatchDrift {
    /// Counts what decoding a message of projection `projection` (by plan index) showed.
    pub fn observe(
        &mut self,
        projection: usize,
        columns: &DriftColumns,
        decoded: &Decoded<'_>,
        skipped: &Skipped<'_>,
    ) {
        if self.projections.len() <= projection {
            self.projections
                .resize_with(projection + 1, ProjectionTally::default);
        }
        let t = &mut self.projections[projection];
        if t.columns.len() != columns.columns.len() {
            t.columns = vec![ColumnTally::default(); columns.columns.len()];
        }
        t.messages += 1;
        let ordinal = t.messages;
        let upsert = decoded.operation == Operation::Upsert;
        let mut unmapped = false;
        // One pass over each image: a mapped column of an upsert's after image arrived; a
        // name that is neither mapped nor the format's own is unmapped.
        if let Some(Value::Object(after)) = decoded.after {
            for name in after.keys() {
                let name = name.as_str();
                match columns.mapped(name) {
                    Some(i) if upsert => t.columns[i].seen_at = ordinal,
                    Some(_) => {}
                    None if columns.ignored(name) => {}
                    None => {
                        unmapped = true;
                        t.unmapped(name, ordinal);
                    }
                }
            }
        }
        if let Some(Value::Object(before)) = decoded.before {
            for name in before.keys() {
                let name = name.as_str();
                if !columns.known(name) {
                    unmapped = true;
                    t.unmapped(name, ordinal);
                }
            }
        }
        // No projection of the topic reads a skipped name: unmapped without a look-up.
        for name in skipped.names() {
            unmapped = true;
            t.unmapped(name, ordinal);
        }
        if skipped.more {
            unmapped = true;
            t.overflow = true;
        }
        if unmapped {
            t.unmapped_messages += 1;
        }
        if !upsert || !matches!(decoded.after, Some(Value::Object(_))) {
            return;
        }
        let mut missing = false;
        for c in t.columns.iter_mut().filter(|c| c.seen_at != ordinal) {
            c.missing_at = ordinal;
            c.missing += 1;
            missing = true;
        }
        if missing {
            t.missing_messages += 1;
        }
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.projections.iter().all(|t| t.messages == 0)
    }

    /// The batch as deltas at `now_ms`, named by `names` (projection name and mapped columns,
    /// by plan index).
    fn deltas(&self, names: &[(String, Vec<String>)], now_ms: i64) -> Vec<SourceDrift> {
        let mut out = Vec::new();
        for (t, (projection, columns)) in self.projections.iter().zip(names) {
            if t.messages == 0 {
                continue;
            }
            let mut unmapped: Vec<UnmappedColumn> = t
                .unmapped
                .iter()
                .map(|(name, messages, _)| UnmappedColumn {
                    name: name.to_string(),
                    messages: *messages,
                    first_seen_ms: now_ms,
                    last_seen_ms: now_ms,
                })
                .collect();
            unmapped.sort_by(|a, b| a.name.cmp(&b.name));
            let mapped = t
                .columns
                .iter()
                .zip(columns)
                .filter(|(c, _)| c.seen_at > 0 || c.missing_at > 0)
                .map(|(c, name)| MappedColumn {
                    name: name.clone(),
                    missing_messages: c.missing,
                    last_seen_ms: (c.seen_at > 0).then_some(now_ms),
                    missing_since_ms: (c.missing_at > c.seen_at).then_some(now_ms),
                })
                .collect();
            out.push(SourceDrift {
                projection: projection.clone(),
                messages: t.messages,
                unmapped_messages: t.unmapped_messages,
                missing_messages: t.missing_messages,
                unmapped,
                unmapped_overflow: t.overflow,
                mapped,
                first_ms: now_ms,
                updated_ms: now_ms,
            });
        }
        out
    }
}

/// The drift this process counted (`/metrics`, `/status`), and what it has not yet merged
/// into the store.
#[derive(Debug, Default)]
pub struct DriftCounts {
    inner: Mutex<DriftInner>,
}

#[derive(Debug, Default)]
struct DriftInner {
    /// Per projection (plan index): its name and mapped columns.
    names: Vec<(String, Vec<String>)>,
    /// Since the process started, by projection.
    total: BTreeMap<String, SourceDrift>,
    /// Since the last flush, by projection.
    pending: BTreeMap<String, SourceDrift>,
    /// A new unmapped name or a newly gone column since the last flush: flush soon.
    news: bool,
}

impl DriftCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, DriftInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Learns the projections of `plan` (their drift is shown from the start, at zero).
    pub fn know_plan(&self, plan: &Plan) {
        let mut inner = self.lock();
        inner.names = plan
            .projections
            .iter()
            .map(|p| (p.name.clone(), fdc_plan::drift::mapped_columns(p)))
            .collect();
        for p in &plan.projections {
            inner
                .total
                .entry(p.name.clone())
                .or_insert_with(|| SourceDrift::new(&p.name));
        }
    }

    /// Adds a durable batch's drift, at `now_ms`.
    pub fn batch_durable(&self, batch: &BatchDrift, now_ms: i64) {
        if batch.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let deltas = batch.deltas(&inner.names, now_ms);
        for d in deltas {
            let total = inner
                .total
                .entry(d.projection.clone())
                .or_insert_with(|| SourceDrift::new(&d.projection));
            let known = total.unmapped.len();
            let gone = total.gone().count();
            let overflow = total.unmapped_overflow;
            total.merge(&d);
            let news = total.unmapped.len() != known
                || total.gone().count() != gone
                || total.unmapped_overflow != overflow;
            if news {
                log_news(total);
            }
            inner.news |= news;
            inner
                .pending
                .entry(d.projection.clone())
                .or_insert_with(|| SourceDrift::new(&d.projection))
                .merge(&d);
        }
    }

    /// The drift of every projection since the process started (mapped columns that were
    /// never missing left out), by projection.
    pub fn snapshot(&self) -> Vec<SourceDrift> {
        self.lock()
            .total
            .values()
            .map(|d| {
                let mut d = d.clone();
                d.compact();
                d
            })
            .collect()
    }

    /// Takes what was counted since the last flush.
    fn take_pending(&self) -> Vec<SourceDrift> {
        let mut inner = self.lock();
        inner.news = false;
        std::mem::take(&mut inner.pending).into_values().collect()
    }

    /// Puts back deltas a flush could not write (before what was counted since).
    fn restore_pending(&self, deltas: Vec<SourceDrift>) {
        let mut inner = self.lock();
        for mut d in deltas {
            if let Some(later) = inner.pending.remove(&d.projection) {
                d.merge(&later);
            }
            inner.pending.insert(d.projection.clone(), d);
        }
        inner.news = true;
    }

    fn news(&self) -> bool {
        self.lock().news
    }
}

/// Logs (info) what a projection's drift newly shows: names only.
fn log_news(total: &SourceDrift) {
    let unmapped: Vec<&str> = total.unmapped.iter().map(|c| c.name.as_str()).collect();
    let gone: Vec<&str> = total.gone().map(|c| c.name.as_str()).collect();
    tracing::info!(
        projection = %total.projection,
        unmapped = ?unmapped,
        more_unmapped = total.unmapped_overflow,
        not_arriving = ?gone,
        "source drift: columns no field maps, or mapped columns no longer arriving"
    );
}

/// Merges what `counts` counted since the last flush into `store`; on failure it is kept for
/// the next flush.
pub async fn flush(
    counts: &DriftCounts,
    store: &dyn SourceDriftStore,
) -> Result<(), crate::store::StoreError> {
    let deltas = counts.take_pending();
    if deltas.is_empty() {
        return Ok(());
    }
    match store.merge_source_drift(&deltas).await {
        Ok(()) => Ok(()),
        Err(e) => {
            counts.restore_pending(deltas);
            Err(e)
        }
    }
}

/// Flushes `counts` into `store` every `interval`, and at once (checked every second) when a
/// new name appeared; runs until aborted. Failures are logged and retried at the next turn.
pub async fn flush_every(
    counts: Arc<DriftCounts>,
    store: Arc<dyn SourceDriftStore>,
    interval: Duration,
) {
    let tick = Duration::from_secs(1).min(interval);
    let mut waited = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        waited += tick;
        if waited < interval && !counts.news() {
            continue;
        }
        waited = Duration::ZERO;
        if let Err(e) = flush(&counts, store.as_ref()).await {
            tracing::warn!(error = %e, "source drift not saved in the store; retried later");
        }
    }
}

#[cfg(test)]
mod tests;
