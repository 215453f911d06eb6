//! The runtime: build a plan into an [`Engine`], then drive batches through every stage.
//!
//! In: a [`Plan`], the adapters ([`Stores`]), a [`MessageRouter`] (decode + cast) and a
//! [`crate::source::Source`]. Out: projections and single views kept up to date,
//! events, dead letters, input positions committed, and the [`Summary`] of what happened.
//!
//! Stages of one batch: route (decode + cast, done ahead by the reader task) -> projection
//! write -> strategies -> aggregation + single-view write -> events and dead letters -> commit.
//! Guarantees:
//! - build does all the checking and set-up (schemas compiled, indexes and collections
//!   ensured) and starts nothing;
//! - a batch's input positions are committed only after every effect of the batch (and of all
//!   batches before it) is durable: the durable watermark;
//! - every item ends applied, stale, skipped or dead-lettered, counted once when its batch is
//!   durable (a retried batch is not counted twice);
//! - a retryable store error pauses and retries the whole batch (effects are idempotent:
//!   equal versions re-apply); a non-retryable one makes the run write the batch message by
//!   message and dead-letter the messages the store keeps refusing (`isolate`), and stops the
//!   run without committing when the store refuses everything.

mod counters;
pub mod freshness;
mod health;
mod histogram;
mod isolate;
pub mod pause;
pub mod refresh;
pub mod retry;
mod run;
mod stage;

use std::sync::Arc;
use std::time::Duration;

use fdc_plan::Plan;

use crate::change::{Message, MessageOutcome};
use crate::drift::BatchDrift;
use crate::project;
use crate::source::SourceItem;
use crate::store::{
    DeadLetter, DeadLetterSink, Event, EventSink, ProjectionLayout, ProjectionStore,
    SingleViewStore, StoreError,
};
use crate::strategy::{self, KeySet};
use crate::trigger::TriggerSink;
use crate::view::{self, ViewSchema};

pub use counters::{set_log_keys, BatchCounts, Counters, Histograms, Summary, TopicCounts};
pub use health::{Health, HealthSnapshot};
pub use histogram::HistogramSnapshot;
pub use pause::{PauseControl, PauseSnapshot, DEFAULT_PAUSE_POLL};
pub use run::{run, Shutdown};
pub use stage::{Role, TriggerRouter};

/// Turns a message into its outcomes on the reader's side of the read-ahead: per-projection
/// changes ([`crate::ingest::Router`], decode + cast), or for an aggregate stage a trigger
/// ([`TriggerRouter`]).
pub trait MessageRouter: Send + Sync {
    fn route(&self, message: &Message) -> Vec<MessageOutcome>;

    /// [`MessageRouter::route`], counting the message's source drift into `drift` (a router
    /// of source messages; the default counts nothing).
    fn route_observed(&self, message: &Message, drift: &mut BatchDrift) -> Vec<MessageOutcome> {
        let _ = drift;
        self.route(message)
    }
}

impl MessageRouter for crate::ingest::Router {
    fn route(&self, message: &Message) -> Vec<MessageOutcome> {
        crate::ingest::Router::route(self, message)
    }

    fn route_observed(&self, message: &Message, drift: &mut BatchDrift) -> Vec<MessageOutcome> {
        crate::ingest::Router::route_observed(self, message, Some(drift))
    }
}

/// The adapters a pipeline runs on.
#[derive(Clone)]
pub struct Stores {
    pub projections: Arc<dyn ProjectionStore>,
    pub views: Arc<dyn SingleViewStore>,
    pub events: Arc<dyn EventSink>,
    pub dead_letters: Arc<dyn DeadLetterSink>,
}

/// Runtime settings (from `fdc.yaml` / flags).
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// Messages per batch.
    pub batch_size: usize,
    /// Single-view keys rebuilt per aggregation call.
    pub rebuild_chunk: usize,
    /// Tasks that rebuild the single views of one batch at once, on a multi-thread runtime
    /// (default 1); a task gets [`MIN_PARALLEL_KEYS`] keys at least. Each task reads the
    /// records its keys need, so the reads of a batch are split, not shared: worth it only on
    /// a server that answers indexed `$in` reads concurrently (MongoDB). It measured slower
    /// on the embedded store (the tasks contend for the store and the shared records) and on
    /// FerretDB v1 (every read scans the collection: two tasks, twice the scans);
    /// BENCHMARKS.md.
    pub rebuild_parallelism: usize,
    /// Routed batches read ahead of the one being written (bounded channel capacity).
    pub read_ahead: usize,
    /// Attempts per batch on retryable errors (0: retry forever).
    pub max_attempts: u32,
    /// First retry delay (doubles up to [`retry::MAX_BACKOFF`]).
    pub retry_backoff: Duration,
    /// How long a batch being written may still take once shutdown is asked for (e.g. a
    /// write hanging on an unreachable database) before it is abandoned uncommitted, to be
    /// read again on restart. Waits between retries end at once on shutdown.
    pub shutdown_grace: Duration,
    /// Run the strategies and rebuild the triggered single views. Off for an initial load:
    /// projections are written at full speed and the single views are built afterwards by a
    /// refresh ([`refresh`]), which reads each record once instead of once per trigger.
    pub strategies: bool,
    /// How far ahead of the clock a version that is a time (the `basic` Kafka timestamp,
    /// Debezium `ts_ms`) may be before its message is dead-lettered (`None`: not checked):
    /// see [`crate::ingest::Router::with_max_clock_skew`]. Default
    /// [`DEFAULT_MAX_CLOCK_SKEW`].
    pub max_clock_skew: Option<Duration>,
    /// Per single view: fields its mapping no longer has that rebuilt documents must lose. A
    /// `write merge` view keeps fields it does not write (other writers' fields), so a field
    /// removed from its mapping stays in stored documents; `fdc apply` names them here for
    /// the refresh of the view, which then writes each rebuilt document whole (the stored
    /// one without them, merged with the new one). Empty in the steady state.
    pub retired_fields: std::collections::BTreeMap<String, Vec<String>>,
}

/// The default bound on how far a timestamp version may be ahead of the clock: one hour, the
/// bound a Kafka 4 broker puts on producer timestamps by default
/// (`message.timestamp.after.max.ms`). Clocks of producers and database servers disagree by
/// seconds, not hours; a version further ahead is a wrong clock, and applied it would make
/// every later change of its record stale until that time.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            batch_size: 5000,
            rebuild_chunk: 5000,
            rebuild_parallelism: 1,
            read_ahead: 2,
            max_attempts: 0,
            retry_backoff: Duration::from_millis(200),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            strategies: true,
            max_clock_skew: Some(DEFAULT_MAX_CLOCK_SKEW),
            retired_fields: std::collections::BTreeMap::new(),
        }
    }
}

/// The default [`RuntimeConfig::shutdown_grace`]: a healthy batch finishes well within it,
/// and a process stopped during an outage still ends before a typical 30 s kill deadline.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Fewer keys than this per task are rebuilt in one task: spreading them costs more than it
/// saves.
pub const MIN_PARALLEL_KEYS: usize = 64;

/// A runtime error: which domain it belongs to and whether retrying may help.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The plan cannot run (for example a view's JSON Schema does not compile).
    #[error("the plan cannot run: {0}")]
    Plan(String),
    /// A store, sink or source failed.
    #[error(transparent)]
    External(#[from] StoreError),
    /// A bug: a task died.
    #[error("internal error: {0}")]
    Internal(String),
    /// Shutdown was asked for while a batch could not be written (a store outage): the run
    /// stopped without committing it, so it is read again on restart.
    #[error(
        "stopped before {pending} batch(es) could be written (shutdown during a store outage \
         or a write that outlasted the shutdown grace period); nothing past the last durable \
         batch was committed, so a restart reads them again"
    )]
    Interrupted {
        /// Batches read but not written (the one in flight and those read ahead).
        pending: usize,
    },
}

/// Why [`Engine::process_with_retry`] gave up on a batch.
#[derive(Debug, thiserror::Error)]
pub enum Halt {
    /// The store failed in a way retrying does not mend (or the attempts ran out).
    #[error(transparent)]
    Failed(#[from] StoreError),
    /// Shutdown was asked for before the batch could be written.
    #[error(transparent)]
    Interrupted(#[from] retry::Interrupted),
}

/// A routed message: its origin and what the router made of it.
#[derive(Debug, Clone)]
pub struct Routed {
    pub message: Message,
    pub outcomes: Vec<MessageOutcome>,
}

/// A batch ready for the write stages.
#[derive(Debug, Clone, Default)]
pub struct RoutedBatch {
    pub messages: Vec<Routed>,
    /// Lines that were not messages at all.
    pub malformed: Vec<DeadLetter>,
    /// The source drift its messages showed, counted when the batch is durable.
    pub drift: BatchDrift,
}

impl RoutedBatch {
    /// Routes the items of a source batch.
    pub fn route(items: Vec<SourceItem>, router: &dyn MessageRouter) -> RoutedBatch {
        let mut batch = RoutedBatch::default();
        for item in items {
            match item {
                SourceItem::Message(m) => {
                    let outcomes = router.route_observed(&m, &mut batch.drift);
                    batch.messages.push(Routed {
                        message: m,
                        outcomes,
                    });
                }
                SourceItem::Malformed(d) => batch.malformed.push(d),
            }
        }
        batch
    }
}

/// What processing a batch produced, counted once it is durable.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub counts: BatchCounts,
    pub dead_letters: Vec<DeadLetter>,
    /// `(topic, partition, offset, reason)` of messages skipped by their format.
    pub skipped: Vec<(String, i32, i64, String)>,
    /// `(view, reason)` of refused single views.
    pub failed: Vec<(String, String)>,
    /// `(applied, stale)` per projection (by plan index; empty when none was written).
    pub by_projection: Vec<(u64, u64)>,
    /// An aggregate batch: the timestamps its end-to-end latency is measured from (the
    /// original messages'), instead of those of the trigger records.
    pub origins: Vec<i64>,
    /// What the batch made fresh (recorded by [`Engine::commit`]).
    pub freshness: freshness::BatchFreshness,
    /// `(view index, keys)` of triggers kept pending for paused views.
    pub kept: Vec<(usize, u64)>,
}

/// A built pipeline: plan, adapters and compiled pieces; nothing running.
pub struct Engine {
    plan: Arc<Plan>,
    stores: Stores,
    /// Per view (shared with the rebuild tasks of [`Engine::rebuild_triggered`]).
    schemas: Arc<Vec<Option<ViewSchema>>>,
    config: RuntimeConfig,
    counters: Arc<Counters>,
    /// What this process runs (see `stage`): both stages, or one with triggers in between.
    stage: EngineStages,
    /// An aggregate stage beside an ingest stage sharing the counters: the ingest stage
    /// already counted the triggers, so this one does not count them again.
    triggers_counted_elsewhere: bool,
    /// Per view, its input projections (`freshness::view_inputs`).
    view_inputs: Arc<Vec<Vec<usize>>>,
    /// The pause state this engine obeys (none: never paused).
    pause: Option<Arc<PauseControl>>,
}

/// The stages an [`Engine`] runs: both, or one of the split roles ([`Role`]), the ingest
/// one with the sink its triggers go to.
#[derive(Clone, Default)]
enum EngineStages {
    #[default]
    All,
    Ingest(Arc<dyn TriggerSink>),
    Aggregate,
}

/// The index layout every projection needs: declared indexes, plus every field tuple the
/// strategies and join nodes query.
pub fn layouts(plan: &Plan) -> Vec<ProjectionLayout> {
    plan.projections
        .iter()
        .map(|p| {
            // The queried tuples are the pure rule in fdc-plan (also read by `fdc plan`).
            let queried = fdc_plan::indexes::queried(plan, &p.name);
            ProjectionLayout {
                name: p.name.clone(),
                key: p.key.clone(),
                declared: p
                    .indexes
                    .iter()
                    .map(|i| (i.fields.clone(), i.unique))
                    .collect(),
                queried,
            }
        })
        .collect()
}

impl Engine {
    /// Builds the pipeline: compiles view schemas, ensures collections and indexes.
    pub async fn build(
        plan: Plan,
        stores: Stores,
        config: RuntimeConfig,
    ) -> Result<Engine, EngineError> {
        let mut schemas = Vec::with_capacity(plan.single_views.len());
        for v in &plan.single_views {
            schemas.push(match &v.schema {
                Some(s) => Some(ViewSchema::compile(s).map_err(|e| {
                    EngineError::Plan(format!(
                        "single view `{}`: invalid JSON Schema: {e}",
                        v.name
                    ))
                })?),
                None => None,
            });
        }
        for layout in layouts(&plan) {
            stores.projections.ensure_projection(&layout).await?;
        }
        for v in &plan.single_views {
            let key: Vec<String> = v.key.iter().map(|k| k.name.clone()).collect();
            stores.views.ensure_view(&v.name, &key).await?;
        }
        let counters = Arc::new(Counters::default());
        counters.freshness().know_plan(&plan);
        counters.source_drift().know_plan(&plan);
        Ok(Engine {
            view_inputs: Arc::new(freshness::view_inputs(&plan)),
            plan: Arc::new(plan),
            stores,
            schemas: Arc::new(schemas),
            config,
            counters,
            stage: EngineStages::All,
            triggers_counted_elsewhere: false,
            pause: None,
        })
    }

    /// The same engine obeying the pause state of `control`: triggers of a paused view are
    /// kept pending instead of rebuilt, and its run loop holds the paused input.
    pub fn with_pause(mut self, control: Arc<PauseControl>) -> Engine {
        self.pause = Some(control);
        self
    }

    /// The pause state this engine obeys.
    pub fn pause(&self) -> Option<&Arc<PauseControl>> {
        self.pause.as_ref()
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Counts into `counters` (shared with a metrics endpoint) instead of fresh ones.
    pub fn with_counters(mut self, counters: Arc<Counters>) -> Engine {
        counters.freshness().know_plan(&self.plan);
        counters.source_drift().know_plan(&self.plan);
        self.counters = counters;
        self
    }

    /// Runs only the ingest stage: triggers go to `sink` instead of being rebuilt here.
    pub fn ingest_only(mut self, sink: Arc<dyn TriggerSink>) -> Engine {
        self.stage = EngineStages::Ingest(sink);
        self
    }

    /// Runs only the aggregate stage: batches hold trigger records ([`TriggerRouter`]).
    pub fn aggregate_only(mut self) -> Engine {
        self.stage = EngineStages::Aggregate;
        self
    }

    /// An aggregate stage whose counters an ingest stage of the same process shares: the
    /// triggers it consumes were counted when published, and are not counted again.
    pub fn beside_ingest(mut self) -> Engine {
        self.triggers_counted_elsewhere = true;
        self
    }

    /// The role this engine plays.
    pub fn role(&self) -> Role {
        match self.stage {
            EngineStages::All => Role::All,
            EngineStages::Ingest(_) => Role::Ingest,
            EngineStages::Aggregate => Role::Aggregate,
        }
    }

    /// The adapters.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Runs every write stage on one routed batch. Idempotent: running it again (after a
    /// failure) gives the same stored state. Nothing is counted here; see [`Engine::commit`].
    pub async fn process(&self, batch: &RoutedBatch) -> Result<BatchOutcome, StoreError> {
        let plan = &*self.plan;
        let mut out = BatchOutcome::default();
        out.counts.consumed = (batch.messages.len() + batch.malformed.len()) as u64;
        out.dead_letters.extend(batch.malformed.iter().cloned());
        let mut changes = Vec::new();
        // Keys consumed from trigger records (an aggregate stage), per view.
        let mut consumed: Vec<KeySet> = Vec::new();
        for r in &batch.messages {
            let m = &r.message;
            for outcome in &r.outcomes {
                match outcome {
                    MessageOutcome::Changes(c) => changes.extend(c.iter().cloned()),
                    MessageOutcome::Trigger {
                        view,
                        key,
                        origin_ms,
                        source_ms,
                    } => {
                        out.freshness.triggers =
                            freshness::newest(out.freshness.triggers, m.timestamp);
                        out.freshness.view(*view, source_ms.or(*origin_ms), true);
                        if consumed.is_empty() {
                            consumed.resize_with(plan.single_views.len(), KeySet::default);
                        }
                        if let Some(set) = consumed.get_mut(*view) {
                            set.add(key.clone());
                        }
                        // Latency is measured from the original message, else from the
                        // trigger's publication.
                        if let Some(ts) = origin_ms.or(m.timestamp) {
                            out.origins.push(ts);
                        }
                    }
                    MessageOutcome::Skipped { reason, .. } => {
                        out.skipped
                            .push((m.topic.clone(), m.partition, m.offset, reason.clone()));
                    }
                    MessageOutcome::DeadLetter { projection, reason } => {
                        out.dead_letters.push(
                            DeadLetter::from_message(m, reason.as_str())
                                .meant_for(plan, *projection),
                        );
                    }
                }
            }
        }
        // The newest source time per projection, then per view over its inputs.
        let mut projection_source: Vec<Option<i64>> = vec![None; plan.projections.len()];
        for c in &changes {
            if let Some(p) = projection_source.get_mut(c.projection) {
                *p = freshness::newest(*p, c.origin.source_ms);
            }
        }
        out.freshness.ingest = projection_source.iter().copied().flatten().max();
        let view_source: Vec<Option<i64>> = self
            .view_inputs
            .iter()
            .map(|inputs| {
                inputs
                    .iter()
                    .filter_map(|&p| projection_source.get(p).copied().flatten())
                    .max()
            })
            .collect();
        let now = chrono::Utc::now().timestamp_millis();
        let projections = self.stores.projections.as_ref();
        let written = if self.config.strategies {
            project::write_batch(plan, projections, changes, now).await?
        } else {
            project::write_batch_without_images(plan, projections, changes, now).await?
        };
        out.counts.applied = written.applied;
        out.counts.stale = written.stale;
        out.by_projection = written.by_projection;
        let mut events = written.events;
        let mut triggers = if self.config.strategies {
            strategy::triggers(plan, self.stores.projections.as_ref(), &written.changes).await?
        } else {
            Vec::new()
        };
        if let EngineStages::Ingest(sink) = &self.stage {
            out.counts.triggered += self
                .publish_triggers(
                    sink.as_ref(),
                    std::mem::take(&mut triggers),
                    batch
                        .messages
                        .iter()
                        .filter_map(|r| r.message.timestamp)
                        .min(),
                    &view_source,
                )
                .await?;
        } else {
            // Every view reflects its inputs' changes of the batch, rebuilt or not.
            for (vi, source) in view_source.iter().enumerate() {
                let rebuilt = triggers.iter().any(|t| t.view == vi && !t.keys.is_empty());
                out.freshness.view(vi, *source, rebuilt);
            }
        }
        let paused = self.pause.as_ref().map(|p| p.snapshot());
        for t in triggers {
            out.counts.triggered += t.keys.len() as u64;
            self.rebuild_or_keep(paused.as_ref(), t.view, &t.keys, &mut out, &mut events)
                .await?;
        }
        for (vi, set) in consumed.into_iter().enumerate() {
            let keys = set.into_keys();
            // Beside an ingest stage of the same process, the triggers were counted when
            // they were published.
            if !self.triggers_counted_elsewhere {
                out.counts.triggered += keys.len() as u64;
            }
            self.rebuild_or_keep(paused.as_ref(), vi, &keys, &mut out, &mut events)
                .await?;
        }
        self.finish(out, events).await
    }

    /// Rebuilds the triggered `keys` of view `vi`, or keeps them pending in the store when
    /// the view is paused in `paused` (durable with the batch: the store's sync at its end).
    async fn rebuild_or_keep(
        &self,
        paused: Option<&PauseSnapshot>,
        vi: usize,
        keys: &[Vec<crate::value::Value>],
        out: &mut BatchOutcome,
        events: &mut Vec<Event>,
    ) -> Result<(), StoreError> {
        let view = &self.plan.single_views[vi].name;
        match (&self.pause, paused) {
            (Some(control), Some(p)) if p.view(view) => {
                if !keys.is_empty() {
                    let stamp = chrono::Utc::now()
                        .timestamp_nanos_opt()
                        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
                    control.store().keep_pending(view, keys, stamp).await?;
                    out.kept.push((vi, keys.len() as u64));
                }
                Ok(())
            }
            _ => self.rebuild_triggered(vi, keys, out, events).await,
        }
    }

    /// Rebuilds the triggered `keys` of view `vi` in chunks of `rebuild_chunk`, adding the
    /// outcomes to `out` and the single-view events to `events` (in key order; the caller
    /// counts the keys as triggered when they were). On a multi-thread runtime each chunk is
    /// spread over up to `rebuild_parallelism` tasks:
    /// distinct keys are distinct documents, so the tasks never write the same one. Once
    /// `events` holds a chunk's worth, they are published (and counted in `out`) before the
    /// next chunk, so a batch that triggers many keys does not hold all their events: they
    /// still go out before the batch is committed, in the same order.
    pub(super) async fn rebuild_triggered(
        &self,
        vi: usize,
        keys: &[Vec<crate::value::Value>],
        out: &mut BatchOutcome,
        events: &mut Vec<Event>,
    ) -> Result<(), StoreError> {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let tasks = if multi_thread {
            self.config.rebuild_parallelism.max(1)
        } else {
            1
        };
        for chunk in keys.chunks(self.config.rebuild_chunk.max(1)) {
            if events.len() >= self.config.rebuild_chunk.max(1) {
                out.counts.events += events.len() as u64;
                self.stores.events.publish(std::mem::take(events)).await?;
            }
            let per_task = chunk.len().div_ceil(tasks).max(MIN_PARALLEL_KEYS);
            if per_task >= chunk.len() {
                let r = self.rebuild_keys(vi, chunk).await?;
                self.add_rebuilt(vi, r, out, events);
                continue;
            }
            let handles: Vec<_> = chunk
                .chunks(per_task)
                .map(|part| {
                    let (plan, schemas) = (self.plan.clone(), self.schemas.clone());
                    let (projections, views) =
                        (self.stores.projections.clone(), self.stores.views.clone());
                    let part = part.to_vec();
                    let retired = self.retired_fields(vi).to_vec();
                    tokio::spawn(async move {
                        let schema = schemas.get(vi).and_then(Option::as_ref);
                        let (p, v) = (&*projections, &*views);
                        view::rebuild(&plan, vi, schema, p, v, &part, &retired).await
                    })
                })
                .collect();
            // Every task is awaited (none is left writing behind a failure); the first error
            // is returned.
            let mut failure = None;
            for h in handles {
                match h.await {
                    Ok(Ok(r)) => self.add_rebuilt(vi, r, out, events),
                    Ok(Err(e)) => failure = failure.or(Some(e)),
                    Err(e) => {
                        failure = failure.or(Some(StoreError::fatal("rebuild single views", e)))
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Adds what rebuilding keys of view `vi` did to `out` and `events`.
    fn add_rebuilt(
        &self,
        vi: usize,
        r: view::ViewReport,
        out: &mut BatchOutcome,
        events: &mut Vec<Event>,
    ) {
        out.counts.views += r.counts;
        for _ in 0..r.counts.failed {
            out.failed.push((
                self.plan.single_views[vi].name.clone(),
                "document does not satisfy the view's JSON Schema".into(),
            ));
        }
        events.extend(r.events);
    }

    /// The last effects of a batch: its events and dead letters are published and the stores
    /// synced (durable), then `out` (with the event count) is returned.
    pub(super) async fn finish(
        &self,
        mut out: BatchOutcome,
        events: Vec<Event>,
    ) -> Result<BatchOutcome, StoreError> {
        out.counts.events += events.len() as u64;
        if !events.is_empty() {
            self.stores.events.publish(events).await?;
        }
        if !out.dead_letters.is_empty() {
            self.stores
                .dead_letters
                .dead_letter(out.dead_letters.clone())
                .await?;
        }
        // Stores that defer durability make the batch's writes durable now, before its
        // positions can be committed.
        self.stores.projections.sync().await?;
        self.stores.views.sync().await?;
        Ok(out)
    }

    /// Rebuilds `keys` of view `vi` (for triggers, refreshes and tests).
    pub async fn rebuild_keys(
        &self,
        vi: usize,
        keys: &[Vec<crate::value::Value>],
    ) -> Result<view::ViewReport, StoreError> {
        view::rebuild(
            &self.plan,
            vi,
            self.schemas.get(vi).and_then(Option::as_ref),
            self.stores.projections.as_ref(),
            self.stores.views.as_ref(),
            keys,
            self.retired_fields(vi),
        )
        .await
    }

    /// The fields documents of view `vi` must lose ([`RuntimeConfig::retired_fields`]).
    fn retired_fields(&self, vi: usize) -> &[String] {
        self.plan
            .single_views
            .get(vi)
            .and_then(|v| self.config.retired_fields.get(&v.name))
            .map_or(&[], Vec::as_slice)
    }

    /// Processes a batch, retrying retryable failures as configured. Gives up with
    /// [`Halt::Interrupted`] when `stop` fires: at once while waiting to retry, after
    /// [`RuntimeConfig::shutdown_grace`] while an attempt is in flight.
    pub async fn process_with_retry(
        &self,
        batch: &RoutedBatch,
        stop: &mut retry::Stop,
    ) -> Result<BatchOutcome, Halt> {
        let outcome = self
            .retrying(stop, self.config.max_attempts, || self.process(batch))
            .await??;
        self.counters.batch_succeeded();
        Ok(outcome)
    }

    /// [`retry::with_retries`] from the configured first delay, with at most `max_attempts`
    /// (0: no limit); each retry is counted as a batch retrying (health, log).
    pub(super) async fn retrying<T, Fut>(
        &self,
        stop: &mut retry::Stop,
        max_attempts: u32,
        attempt: impl FnMut() -> Fut,
    ) -> Result<Result<T, StoreError>, retry::Interrupted>
    where
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let retries = retry::Retries {
            first: self.config.retry_backoff,
            max_attempts,
        };
        let count = |n: u32, delay: Duration, e: &StoreError| {
            self.counters
                .batch_retrying(n, delay.as_millis() as u64, &e.to_string());
        };
        retry::with_retries(stop, retries, count, attempt).await
    }

    /// [`Engine::process_with_retry`], then, when the store refuses the batch (a non-retryable
    /// error, such as a unique-index violation), the batch written again message by message
    /// with the messages it keeps refusing dead-lettered (`isolate`): what the run loop does
    /// with every batch, and `fdc test` too. `refused_streak` counts the messages refused in a
    /// row across batches (reset by any batch that goes through); `stop` ends retries on
    /// shutdown ([`retry::Stop::never`] for a tool that runs to completion).
    pub async fn process_or_isolate(
        &self,
        batch: &RoutedBatch,
        refused_streak: &mut u32,
        stop: &mut retry::Stop,
    ) -> Result<BatchOutcome, Halt> {
        match self.process_with_retry(batch, stop).await {
            Err(Halt::Failed(e)) if !e.retryable && !batch.messages.is_empty() => {
                isolate::isolate(self, batch, refused_streak, e, stop).await
            }
            Ok(outcome) => {
                *refused_streak = 0;
                Ok(outcome)
            }
            Err(e) => Err(e),
        }
    }

    /// Counts and logs a durable batch (called once per batch, after its effects are durable).
    pub fn commit(&self, outcome: &BatchOutcome, millis: u128) {
        for d in &outcome.dead_letters {
            self.counters.dead_lettered(d);
        }
        for (t, p, o, reason) in &outcome.skipped {
            self.counters.skipped(t, *p, *o, reason);
        }
        for (v, reason) in &outcome.failed {
            self.counters.view_failed(v, reason);
        }
        for (projection, (applied, stale)) in
            self.plan.projections.iter().zip(&outcome.by_projection)
        {
            if applied + stale > 0 {
                self.counters
                    .changes_written(&projection.topic, *applied, *stale);
            }
        }
        if let Some(control) = &self.pause {
            for (vi, n) in &outcome.kept {
                control.kept(&self.plan.single_views[*vi].name, *n);
            }
        }
        self.counters.batch_committed(&outcome.counts, millis);
        self.counters.freshness().batch_durable(
            &self.plan,
            &outcome.freshness,
            chrono::Utc::now().timestamp_millis(),
        );
    }
}

#[cfg(test)]
mod batching_tests;
#[cfg(test)]
mod tests;
