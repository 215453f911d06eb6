//! Counters of everything observable the runtime does, in one place that also logs.
//!
//! In: one call per observable event (a batch committed, a message dead-lettered, a message
//! skipped by its format, a single view refused, a batch retried). Out: monotonically
//! increasing counts ([`Summary`], and per topic [`TopicCounts`]), histograms (batch size,
//! batch latency, end-to-end latency, strategy fan-out), the [`Health`] of the run, and one
//! `tracing` event per call, so logs and metrics always agree.
//!
//! Guarantees: each event is counted and logged exactly once, here and nowhere else; logs at
//! info level and above carry positions, names and reasons, never keys or record contents.
//! Keys are logged only when [`set_log_keys`] turned them on, and then only at debug level.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use super::freshness::Freshness;
use super::health::Health;
use super::histogram::{
    Histogram, HistogramSnapshot, BATCH_SIZE_BUCKETS, FANOUT_BUCKETS, SECONDS_BUCKETS,
};
use super::RoutedBatch;
use crate::bounded;
use crate::store::DeadLetter;
use crate::view::ViewCounts;

static LOG_KEYS: AtomicBool = AtomicBool::new(false);

/// Lets debug-level events carry message keys (`fdc --log-keys`); off by default.
pub fn set_log_keys(on: bool) {
    LOG_KEYS.store(on, Ordering::Relaxed);
}

fn log_keys() -> bool {
    LOG_KEYS.load(Ordering::Relaxed)
}

/// Per input topic (as the plan names it): what became of its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TopicCounts {
    /// Messages (and malformed lines) whose batch is durable.
    pub consumed: u64,
    pub skipped: u64,
    pub dead_lettered: u64,
    /// Changes of the topic's messages applied to projections (replays included).
    pub applied: u64,
    /// Changes of the topic's messages older than the stored version.
    pub stale: u64,
}

/// The histograms at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histograms {
    /// Messages per durable batch.
    pub batch_size: HistogramSnapshot,
    /// Seconds from a batch's first write to its effects being durable (retries included).
    pub batch_seconds: HistogramSnapshot,
    /// Seconds from a message's timestamp to its batch's single views being written.
    pub end_to_end_seconds: HistogramSnapshot,
    /// Single-view keys triggered per batch.
    pub fanout: HistogramSnapshot,
}

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
    /// What the single-view rebuilds did (a refused document is recorded in the errors
    /// collection). In JSON (`/status`) as `views_inserted` … `views_failed` and
    /// `mapping_errors`, the names of the counters before they had a type of their own.
    #[serde(flatten, serialize_with = "summary_view_counts")]
    pub views: ViewCounts,
    /// Events published.
    pub events: u64,
    /// Batches whose effects are durable.
    pub batches: u64,
}

/// [`Summary::views`] under the names `/status` has always used (a `views_` prefix, except
/// `mapping_errors`), in [`ViewCounts`]' order.
fn summary_view_counts<S: Serializer>(v: &ViewCounts, s: S) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct("ViewCounts", 6)?;
    st.serialize_field("views_inserted", &v.inserted)?;
    st.serialize_field("views_updated", &v.updated)?;
    st.serialize_field("views_unchanged", &v.unchanged)?;
    st.serialize_field("views_deleted", &v.deleted)?;
    st.serialize_field("views_failed", &v.failed)?;
    st.serialize_field("mapping_errors", &v.mapping_errors)?;
    st.end()
}

/// What one batch did (added to the counters when the batch is durable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub consumed: u64,
    pub applied: u64,
    pub stale: u64,
    pub triggered: u64,
    pub views: ViewCounts,
    pub events: u64,
}

impl std::ops::AddAssign for BatchCounts {
    fn add_assign(&mut self, o: BatchCounts) {
        self.consumed += o.consumed;
        self.applied += o.applied;
        self.stale += o.stale;
        self.triggered += o.triggered;
        self.views += o.views;
        self.events += o.events;
    }
}

/// The counters (see the module docs).
#[derive(Debug)]
pub struct Counters {
    consumed: AtomicU64,
    applied: AtomicU64,
    stale: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
    triggered: AtomicU64,
    /// Added once per durable batch; behind a lock so that one type holds them all.
    views: Mutex<ViewCounts>,
    events: AtomicU64,
    batches: AtomicU64,
    topics: Mutex<BTreeMap<String, TopicCounts>>,
    batch_size: Histogram,
    batch_seconds: Histogram,
    end_to_end_seconds: Histogram,
    fanout: Histogram,
    health: Health,
    freshness: Freshness,
    /// Source drift per projection.
    source_drift: Arc<crate::drift::DriftCounts>,
    /// The process's pause state, for `/status` and `/metrics` (set once by the build).
    pause: std::sync::OnceLock<Arc<super::PauseControl>>,
}

impl Default for Counters {
    fn default() -> Self {
        let zero = || AtomicU64::new(0);
        Counters {
            consumed: zero(),
            applied: zero(),
            stale: zero(),
            skipped: zero(),
            dead_lettered: zero(),
            triggered: zero(),
            views: Mutex::default(),
            events: zero(),
            batches: zero(),
            topics: Mutex::default(),
            batch_size: Histogram::new(BATCH_SIZE_BUCKETS),
            batch_seconds: Histogram::new(SECONDS_BUCKETS),
            end_to_end_seconds: Histogram::new(SECONDS_BUCKETS),
            fanout: Histogram::new(FANOUT_BUCKETS),
            health: Health::default(),
            freshness: Freshness::default(),
            source_drift: Arc::default(),
            pause: std::sync::OnceLock::new(),
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    fn per_topic(&self, topic: &str, f: impl FnOnce(&mut TopicCounts)) {
        // The topic is a name from input (a file line may name any topic): bounded, so a
        // hostile name cannot grow the map or the `/metrics` labels without limit.
        let topic = bounded::name(topic);
        let topic = topic.as_ref();
        if let Ok(mut topics) = self.topics.lock() {
            match topics.get_mut(topic) {
                Some(c) => f(c),
                None => f(topics.entry(topic.to_string()).or_default()),
            }
        }
    }

    /// A message (or line) was dead-lettered.
    pub fn dead_lettered(&self, letter: &DeadLetter) {
        add(&self.dead_lettered, 1);
        self.per_topic(&letter.topic, |c| c.dead_lettered += 1);
        let topic = bounded::name(&letter.topic);
        if log_keys() {
            tracing::debug!(
                topic = %topic,
                partition = letter.partition,
                offset = letter.offset,
                key = %letter.key,
                "dead-lettered message key"
            );
        }
        tracing::warn!(
            topic = %topic,
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
        self.per_topic(topic, |c| c.skipped += 1);
        tracing::debug!(
            topic = %bounded::name(topic),
            partition,
            offset,
            reason,
            "message skipped by its format"
        );
    }

    /// Changes of `topic`'s messages were written to projections (`applied`) or found older
    /// than the stored version (`stale`); the totals come with [`Counters::batch_committed`].
    pub fn changes_written(&self, topic: &str, applied: u64, stale: u64) {
        self.per_topic(topic, |c| {
            c.applied += applied;
            c.stale += stale;
        });
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
        *self.views.lock().unwrap_or_else(PoisonError::into_inner) += b.views;
        add(&self.events, b.events);
        tracing::debug!(
            consumed = b.consumed,
            applied = b.applied,
            stale = b.stale,
            triggered = b.triggered,
            written = b.views.inserted + b.views.updated,
            unchanged = b.views.unchanged,
            deleted = b.views.deleted,
            failed = b.views.failed,
            millis = millis as u64,
            "batch committed"
        );
    }

    /// A routed batch's effects are durable: counts its messages per topic and observes its
    /// size, its latency (`seconds`) and the end-to-end latency of every message that has a
    /// timestamp (or, when `origins` is not empty, of every origin timestamp: an aggregate
    /// batch measures from the original messages), at `now_ms` (epoch milliseconds).
    pub fn batch_durable(
        &self,
        batch: &RoutedBatch,
        origins: &[i64],
        triggered: u64,
        seconds: f64,
        now_ms: i64,
    ) {
        let observe = |ts: i64| {
            self.end_to_end_seconds
                .observe((now_ms - ts).max(0) as f64 / 1000.0)
        };
        let mut per_topic: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &batch.messages {
            *per_topic.entry(r.message.topic.as_str()).or_default() += 1;
            if let (Some(ts), true) = (r.message.timestamp, origins.is_empty()) {
                observe(ts);
            }
        }
        origins.iter().copied().for_each(observe);
        for d in &batch.malformed {
            *per_topic.entry(d.topic.as_str()).or_default() += 1;
        }
        for (topic, n) in per_topic {
            self.per_topic(topic, |c| c.consumed += n);
        }
        let size = batch.messages.len() + batch.malformed.len();
        if size > 0 {
            self.batch_size.observe(size as f64);
            self.batch_seconds.observe(seconds);
            self.fanout.observe(triggered as f64);
        }
        self.source_drift.batch_durable(&batch.drift, now_ms);
        self.health.committed(now_ms.max(0) as u64);
    }

    /// A batch failed with a retryable error and is retried after `delay_ms`: the pipeline
    /// pauses (not ready) until a batch goes through.
    pub fn batch_retrying(&self, attempt: u32, delay_ms: u64, error: &str) {
        self.health.retrying(error.to_string());
        tracing::warn!(attempt, delay_ms, error, "batch failed; paused, retrying");
    }

    /// A batch went through; ends a retry streak if there was one.
    pub fn batch_succeeded(&self) {
        if self.health.recovered() {
            tracing::info!("batch succeeded after retries; resumed");
        }
    }

    /// The health of the run (readiness, lag).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The freshness of the single views and stages.
    pub fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// The source drift per projection (shared with the task that flushes it to the store).
    pub fn source_drift(&self) -> &Arc<crate::drift::DriftCounts> {
        &self.source_drift
    }

    /// Shows `control`'s state through these counters (`/status`, `/metrics`, the write
    /// routes of the operations endpoint); the first control set stays.
    pub fn watch_pause(&self, control: Arc<super::PauseControl>) {
        let _ = self.pause.set(control);
    }

    /// The pause state shown, if the deployment has one.
    pub fn pause(&self) -> Option<&Arc<super::PauseControl>> {
        self.pause.get()
    }

    /// The counts per input topic so far.
    pub fn topics(&self) -> BTreeMap<String, TopicCounts> {
        self.topics.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The histograms now.
    pub fn histograms(&self) -> Histograms {
        Histograms {
            batch_size: self.batch_size.snapshot(),
            batch_seconds: self.batch_seconds.snapshot(),
            end_to_end_seconds: self.end_to_end_seconds.snapshot(),
            fanout: self.fanout.snapshot(),
        }
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
            views: *self.views.lock().unwrap_or_else(PoisonError::into_inner),
            events: g(&self.events),
            batches: g(&self.batches),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_summary_json_keeps_the_names_and_order_of_the_status_document() {
        let counters = Counters::default();
        let views = ViewCounts {
            inserted: 7,
            updated: 8,
            unchanged: 9,
            deleted: 10,
            failed: 11,
            mapping_errors: 12,
        };
        let batch = BatchCounts {
            consumed: 1,
            applied: 2,
            stale: 3,
            triggered: 6,
            views,
            events: 13,
        };
        counters.batch_committed(&batch, 0);
        counters.batch_committed(&BatchCounts::default(), 0);
        let s = counters.summary();
        assert_eq!(s.views, views);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"consumed":1,"applied":2,"stale":3,"skipped":0,"dead_lettered":0,"triggered":6,"views_inserted":7,"views_updated":8,"views_unchanged":9,"views_deleted":10,"views_failed":11,"mapping_errors":12,"events":13,"batches":2}"#
        );
    }

    #[test]
    fn a_huge_topic_name_is_cut_in_logs_and_in_the_per_topic_counts() {
        let topic = "t".repeat(10 * 1024 * 1024);
        let letter = DeadLetter {
            topic: topic.clone(),
            partition: 0,
            offset: 1,
            key: serde_json::Value::Null,
            value: serde_json::Value::Null,
            reason: "why".into(),
            projection: None,
            original: None,
        };
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let counters = Counters::default();
        tracing::subscriber::with_default(subscriber, || {
            counters.dead_lettered(&letter);
            counters.skipped(&topic, 0, 2, "tombstone");
        });
        let logged = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("message dead-lettered"), "{logged}");
        assert!(logged.contains("more bytes]"), "{logged}");
        assert!(logged.len() < 4096, "{} bytes logged", logged.len());
        let topics = counters.topics();
        let (name, counts) = topics.iter().next().unwrap();
        assert!(name.len() < 1024, "{}", name.len());
        assert_eq!((counts.dead_lettered, counts.skipped), (1, 1));
    }
}
