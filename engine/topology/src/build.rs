//! Builds a [`Deployment`] into its parts, and runs them.
//!
//! In: a [`Deployment`]. Out: a [`Built`]: the opened store, the stores and sinks the engine
//! writes to, and one or two stages (engine, source, router) ready for the runtime's run loop.
//! Building connects to the services and ensures collections and indexes, but spawns nothing;
//! [`Built::run`] runs the stages until the input ends or shutdown is asked for.
//!
//! Guarantees: the stores and sinks of every command are chosen here and only here; a
//! deployment that does not hold together (split roles without a trigger transport, dead
//! letters in a store that keeps none, a Kafka sink without a producer) is refused with a
//! usage error (exit 2) before anything is written. A `--role all` process with a trigger
//! transport runs an ingest and an aggregate stage side by side over it, exactly like split
//! processes, so each single-view key has one rebuilding owner across replicas; when either
//! stage ends (fails, or an initial load reached its end) the other is stopped gracefully and
//! a failure is returned. On return the Kafka producer is flushed.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fdc_embedded::overlay::OverlayStore;
use fdc_embedded::EmbeddedStore;
use fdc_engine::ingest::Router;
use fdc_engine::runtime::{
    run, Counters, Engine, EngineError, MessageRouter, PauseControl, Role, Shutdown, Stores,
    Summary, TriggerRouter,
};
use fdc_engine::source::Source;
use fdc_engine::store::{
    DeadLetter, DeadLetterSink, DeploymentStore, Event, EventSink, PauseStore, PauseTarget,
    ProjectionStore, SingleViewStore, SourceDriftStore, StoreError,
};
use fdc_engine::trigger::TriggerSink;
use fdc_file::{FileSource, JsonlEvents, Resumed};

use crate::deployment::{
    BuildError, DeadLettersSpec, Deployment, EventsSpec, Input, StoreSpec, TriggersSpec,
};

/// The store a deployment opened: to export, inspect or probe it around the run.
#[derive(Clone)]
pub enum OpenedStore {
    Embedded(Arc<EmbeddedStore>),
    #[cfg(feature = "mongo")]
    Mongo(Arc<fdc_mongo::MongoStore>),
    /// An overlay over another opened store (read-only), writes in memory.
    Overlay(Arc<OverlayStore>),
}

impl OpenedStore {
    /// The embedded store, if that is what was opened.
    pub fn embedded(&self) -> Option<&Arc<EmbeddedStore>> {
        match self {
            OpenedStore::Embedded(s) => Some(s),
            _ => None,
        }
    }

    /// The overlay store, if that is what was opened.
    pub fn overlay(&self) -> Option<&Arc<OverlayStore>> {
        match self {
            OpenedStore::Overlay(s) => Some(s),
            _ => None,
        }
    }

    /// The MongoDB store, if that is what was opened.
    #[cfg(feature = "mongo")]
    pub fn mongo(&self) -> Option<&Arc<fdc_mongo::MongoStore>> {
        match self {
            OpenedStore::Mongo(s) => Some(s),
            _ => None,
        }
    }

    /// Where this store keeps the pause state and the triggers of paused views (`fdc pause
    /// --store`, the run's pause control).
    pub fn pauses(&self) -> Arc<dyn PauseStore> {
        match self {
            OpenedStore::Embedded(s) => s.clone(),
            #[cfg(feature = "mongo")]
            OpenedStore::Mongo(s) => s.clone(),
            OpenedStore::Overlay(s) => s.clone(),
        }
    }

    /// Where this store keeps the source drift of each projection (`fdc plan` reads it; a
    /// run merges what it counted into it).
    pub fn source_drift(&self) -> Arc<dyn SourceDriftStore> {
        match self {
            OpenedStore::Embedded(s) => s.clone(),
            #[cfg(feature = "mongo")]
            OpenedStore::Mongo(s) => s.clone(),
            OpenedStore::Overlay(s) => s.clone(),
        }
    }

    /// Where this store keeps the deployed plan's record (`fdc run` compares it with the plan
    /// it compiled before reading anything; `fdc plan --store/--config` reads it).
    pub fn deployments(&self) -> Arc<dyn DeploymentStore> {
        match self {
            OpenedStore::Embedded(s) => s.clone(),
            #[cfg(feature = "mongo")]
            OpenedStore::Mongo(s) => s.clone(),
            OpenedStore::Overlay(s) => s.clone(),
        }
    }

    /// Records per projection of this store (`fdc plan`'s cost estimates).
    pub async fn count_records(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        self.projections().count(projection).await
    }

    /// Documents per single view of this store (`fdc plan`'s cost estimates).
    pub async fn count_documents(&self, view: &str) -> Result<Option<u64>, StoreError> {
        self.views().count_documents(view).await
    }

    /// Drops the secondary index of `projection` on `fields` (`fdc apply`: an index the new
    /// plan no longer has, or whose uniqueness changed; before the new plan ensures its own).
    pub async fn drop_index(&self, projection: &str, fields: &[String]) -> Result<(), StoreError> {
        self.projections().drop_index(projection, fields).await
    }

    /// Drops a removed projection's collection (`fdc apply --prune`).
    pub async fn drop_projection(&self, projection: &str) -> Result<(), StoreError> {
        self.projections().drop_projection(projection).await
    }

    /// Drops a removed single view's collection (`fdc apply --prune`).
    pub async fn drop_view(&self, view: &str) -> Result<(), StoreError> {
        self.views().drop_view(view).await
    }

    fn projections(&self) -> Arc<dyn ProjectionStore> {
        match self {
            OpenedStore::Embedded(s) => s.clone(),
            #[cfg(feature = "mongo")]
            OpenedStore::Mongo(s) => s.clone(),
            OpenedStore::Overlay(s) => s.clone(),
        }
    }

    fn views(&self) -> Arc<dyn SingleViewStore> {
        match self {
            OpenedStore::Embedded(s) => s.clone(),
            #[cfg(feature = "mongo")]
            OpenedStore::Mongo(s) => s.clone(),
            OpenedStore::Overlay(s) => s.clone(),
        }
    }
}

/// One stage ready to run.
pub struct BuiltStage {
    pub role: Role,
    pub engine: Arc<Engine>,
    /// `None` for a deployment without input (the engine is driven directly).
    pub source: Option<Box<dyn Source>>,
    pub router: Arc<dyn MessageRouter>,
}

/// A built deployment; nothing is running.
pub struct Built {
    /// The store that was opened.
    pub store: OpenedStore,
    /// The stores and sinks the engines write to.
    pub stores: Stores,
    /// One stage, or an ingest and an aggregate stage side by side (see the module docs).
    pub stages: Vec<BuiltStage>,
    pub counters: Arc<Counters>,
    /// The pause state the stages obey (a deployment with input).
    pub pause: Option<Arc<PauseControl>>,
    resumed: Option<Arc<Mutex<Vec<Resumed>>>>,
    #[cfg(feature = "kafka")]
    producer: Option<Arc<fdc_kafka::KafkaProducer>>,
    /// The client and group a `--role all` process with in-memory triggers watches.
    #[cfg(feature = "kafka")]
    replicas: Option<(fdc_kafka::KafkaClientConfig, String)>,
}

/// Counts events without publishing them (`events.enabled: false`, or nobody asked for them).
struct DropEvents;

#[async_trait]
impl EventSink for DropEvents {
    async fn publish(&self, _events: Vec<Event>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Refuses dead letters where there can be none ([`DeadLettersSpec::Refused`]).
struct RefusedDeadLetters(&'static str);

#[async_trait]
impl DeadLetterSink for RefusedDeadLetters {
    async fn dead_letter(&self, _letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        Err(StoreError::fatal("store dead letters", self.0))
    }
}

/// How triggers leave an ingest stage and reach an aggregate stage.
struct Transport {
    sink: Arc<dyn TriggerSink>,
    /// Built only when an aggregate stage runs in this process.
    source: Option<Box<dyn Source>>,
}

impl Built {
    /// The engine of the first stage (the only one of a deployment without input).
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        self.stages.first().map(|s| &s.engine)
    }

    /// The input files resumed from the store's positions (lines already processed skipped);
    /// empty until the run has opened them, and for other inputs.
    pub fn resumed(&self) -> Vec<Resumed> {
        self.resumed
            .as_ref()
            .and_then(|r| r.lock().ok().map(|r| r.clone()))
            .unwrap_or_default()
    }

    /// Runs the stages until their input ends or `shutdown` is triggered, then flushes the
    /// producer. The summary counts every stage (they share the counters).
    pub async fn run(&mut self, shutdown: &Shutdown) -> Result<Summary, EngineError> {
        let stages = std::mem::take(&mut self.stages);
        #[cfg(feature = "kafka")]
        let watcher = self.replicas.take().map(|(client, group)| {
            tokio::spawn(crate::replicas::watch(client, group, self.counters.clone()))
        });
        let poller = self.pause.clone().map(|p| tokio::spawn(p.poll()));
        let drift = self.counters.source_drift().clone();
        let drift_store = self.store.source_drift();
        let flusher = tokio::spawn(fdc_engine::drift::flush_every(
            drift.clone(),
            drift_store.clone(),
            fdc_engine::drift::FLUSH_INTERVAL,
        ));
        let result = run_stages(stages, &self.counters, shutdown).await;
        flusher.abort();
        // What the last batches counted, within a bound (shutdown takes a bounded time, even
        // during a store outage); a failure loses only this informational delta.
        let last = fdc_engine::drift::flush(&drift, drift_store.as_ref());
        match tokio::time::timeout(fdc_engine::drift::FINAL_FLUSH, last).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "source drift of the last batches not saved in the store")
            }
            Err(_) => tracing::warn!(
                "source drift of the last batches not saved in the store: it took too long"
            ),
        }
        #[cfg(feature = "kafka")]
        if let Some(w) = watcher {
            w.abort();
        }
        if let Some(p) = poller {
            p.abort();
        }
        self.flush()?;
        result
    }

    /// Flushes the producer of the Kafka sinks, if any (a deployment without input that
    /// published events: `fdc refresh`).
    pub fn flush(&self) -> Result<(), StoreError> {
        #[cfg(feature = "kafka")]
        if let Some(p) = &self.producer {
            p.flush(std::time::Duration::from_secs(30))?;
        }
        Ok(())
    }
}

/// Runs one stage, or two side by side (see the module docs).
async fn run_stages(
    mut stages: Vec<BuiltStage>,
    counters: &Arc<Counters>,
    shutdown: &Shutdown,
) -> Result<Summary, EngineError> {
    let mut runnable = Vec::new();
    for s in stages.drain(..) {
        let Some(source) = s.source else {
            return Err(EngineError::Plan(
                "a deployment without input has nothing to run".to_string(),
            ));
        };
        runnable.push((s.engine, source, s.router));
    }
    match runnable.len() {
        1 => {
            let (engine, source, router) = runnable.remove(0);
            run(engine, source, router, shutdown.subscribe()).await
        }
        2 => {
            let (ae, asrc, ar) = runnable.remove(1);
            let (ie, isrc, ir) = runnable.remove(0);
            // `stop` ends both: when asked from outside, or when one of them ends.
            let stop = Shutdown::new();
            let ingest = run(ie, isrc, ir, stop.subscribe());
            let aggregate = run(ae, asrc, ar, stop.subscribe());
            let stopping = |r: Result<Summary, EngineError>| {
                stop.trigger();
                r
            };
            let both = async {
                tokio::join!(async { stopping(ingest.await) }, async {
                    stopping(aggregate.await)
                })
            };
            tokio::pin!(both);
            let mut outside = shutdown.subscribe();
            let asked = async move {
                // An error means the trigger was dropped: shutdown can no longer be asked for.
                if outside.wait_for(|stop| *stop).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let (ingested, aggregated) = tokio::select! {
                r = &mut both => r,
                () = asked => {
                    stop.trigger();
                    both.await
                }
            };
            ingested?;
            aggregated?;
            // Both stages count into the shared counters.
            Ok(counters.summary())
        }
        n => Err(EngineError::Internal(format!("{n} stages to run"))),
    }
}

/// Builds `deployment` (see the module docs).
pub async fn build(deployment: Deployment) -> Result<Built, BuildError> {
    let Deployment {
        plan,
        role,
        input,
        store,
        events,
        dead_letters,
        triggers,
        #[cfg(feature = "kafka")]
        producer,
        runtime,
        counters,
        pause,
    } = deployment;
    let opened = open_store(&store).await?;
    let pause = match input {
        Input::None => None,
        _ => Some(pause_control(&opened, &plan, pause, &counters).await?),
    };
    #[cfg(feature = "kafka")]
    let producer = match producer {
        Some(config) => Some(Arc::new(
            fdc_kafka::KafkaProducer::connect(config).map_err(BuildError::failed)?,
        )),
        None => None,
    };
    let events: Arc<dyn EventSink> = match events {
        EventsSpec::Drop => Arc::new(DropEvents),
        EventsSpec::Jsonl(path) => Arc::new(JsonlEvents::open(&path).map_err(BuildError::failed)?),
        EventsSpec::Sink(sink) => sink,
        #[cfg(feature = "kafka")]
        EventsSpec::Kafka => Arc::new(fdc_kafka::KafkaEvents::new(needs_producer(
            &producer, "events",
        )?)),
    };
    let dead_letters: Arc<dyn DeadLetterSink> = match dead_letters {
        DeadLettersSpec::Store => match &opened {
            OpenedStore::Embedded(s) => s.clone(),
            #[cfg(feature = "mongo")]
            OpenedStore::Mongo(_) => {
                return Err(BuildError::usage(
                    "dead letters go to a Kafka topic with MongoDB: the database keeps none",
                ))
            }
            // Kept and counted in memory, like every other write of an overlay.
            OpenedStore::Overlay(s) => s.clone(),
        },
        DeadLettersSpec::Refused(reason) => Arc::new(RefusedDeadLetters(reason)),
        DeadLettersSpec::Sink(sink) => sink,
        #[cfg(feature = "kafka")]
        DeadLettersSpec::Kafka { topic } => Arc::new(fdc_kafka::KafkaDeadLetters::new(
            needs_producer(&producer, "dead letters")?,
            &topic,
        )),
    };
    let stores = Stores {
        projections: opened.projections(),
        views: opened.views(),
        events,
        dead_letters,
    };
    let mut transport = match (&triggers, role) {
        (TriggersSpec::InProcess, Role::All) => None,
        _ => Some(
            transport(
                &triggers,
                &opened,
                &input,
                role,
                &counters,
                #[cfg(feature = "kafka")]
                &producer,
            )
            .await?,
        ),
    };
    let split = transport.is_some();
    let engine = || {
        let plan = plan.clone();
        let stores = stores.clone();
        let runtime = runtime.clone();
        let counters = counters.clone();
        let pause = pause.clone();
        async move {
            let mut engine = Engine::build(plan, stores, runtime)
                .await
                .map_err(BuildError::failed)?
                .with_counters(counters);
            if let Some(p) = pause {
                engine = engine.with_pause(p);
            }
            Ok::<_, BuildError>(engine)
        }
    };
    let ingest_router = || -> Result<Arc<dyn MessageRouter>, BuildError> {
        Ok(Arc::new(
            Router::new(&plan)
                .map_err(|e| BuildError::failed(EngineError::Plan(e.to_string())))?
                .with_max_clock_skew(runtime.max_clock_skew),
        ))
    };
    let mut resumed = None;
    #[cfg(feature = "kafka")]
    let mut replicas = None;
    let mut stages = Vec::new();
    // The stage that reads the input (all or ingest).
    if role != Role::Aggregate {
        let source: Option<Box<dyn Source>> = match input {
            Input::None => None,
            Input::Files { input, resume } => {
                if split {
                    return Err(BuildError::usage(
                        "split roles and trigger transports need the Kafka input",
                    ));
                }
                let checkpoints = match (&opened, resume) {
                    (OpenedStore::Embedded(s), true) => {
                        Some(s.clone() as Arc<dyn fdc_engine::store::CheckpointStore>)
                    }
                    _ => None,
                };
                let source = FileSource::open(input, checkpoints).map_err(BuildError::failed)?;
                resumed = Some(source.resumed());
                Some(Box::new(source))
            }
            #[cfg(feature = "kafka")]
            Input::KafkaPreview(mut config) => {
                if split {
                    return Err(BuildError::usage(
                        "a preview runs both stages in one process: triggers stay in memory",
                    ));
                }
                if config.topics.is_empty() {
                    config.topics = plan.topics().into_iter().map(String::from).collect();
                }
                Some(Box::new(
                    fdc_kafka::PreviewSource::connect(*config)
                        .await
                        .map_err(BuildError::failed)?,
                ))
            }
            #[cfg(feature = "kafka")]
            Input::Kafka(mut config) => {
                if config.topics.is_empty() {
                    config.topics = plan.topics().into_iter().map(String::from).collect();
                }
                if role == Role::All && !split {
                    replicas = Some((config.client.clone(), config.group_id.clone()));
                }
                let source =
                    fdc_kafka::KafkaSource::connect(*config).map_err(BuildError::failed)?;
                counters.health().watch_source(source.gauges());
                Some(Box::new(source))
            }
        };
        let stage_role = if split { Role::Ingest } else { Role::All };
        let mut engine = engine().await?;
        if let Some(t) = &transport {
            engine = engine.ingest_only(t.sink.clone());
        }
        stages.push(BuiltStage {
            role: stage_role,
            engine: Arc::new(engine),
            source,
            router: ingest_router()?,
        });
    }
    // The aggregate stage (alone, or beside the ingest stage).
    if role != Role::Ingest {
        if let Some(t) = transport.as_mut() {
            let mut engine = engine().await?.aggregate_only();
            if role == Role::All {
                engine = engine.beside_ingest();
            }
            stages.push(BuiltStage {
                role: Role::Aggregate,
                engine: Arc::new(engine),
                source: t.source.take(),
                router: Arc::new(TriggerRouter::new(&plan)),
            });
        }
    }
    Ok(Built {
        store: opened,
        stores,
        stages,
        counters,
        pause,
        resumed,
        #[cfg(feature = "kafka")]
        producer,
        #[cfg(feature = "kafka")]
        replicas,
    })
}

/// The pause control of a deployment with input: `spec.start_paused` recorded when the store
/// holds no pause of the whole process, the state read once before anything runs, and the
/// control shown through `counters`.
async fn pause_control(
    opened: &OpenedStore,
    plan: &fdc_plan::Plan,
    spec: crate::deployment::PauseSpec,
    counters: &Arc<Counters>,
) -> Result<Arc<PauseControl>, BuildError> {
    let store = opened.pauses();
    if let Some(item) = &spec.start_paused {
        let stored = store.load_pauses().await.map_err(BuildError::failed)?;
        if !stored.iter().any(|i| i.target == PauseTarget::All) {
            store.save_pause(item).await.map_err(BuildError::failed)?;
        }
    }
    let control = Arc::new(PauseControl::new(store, Arc::new(plan.clone()), spec.poll));
    control.refresh().await.map_err(BuildError::failed)?;
    counters.watch_pause(control.clone());
    Ok(control)
}

/// Opens the store of `spec`.
pub async fn open_store(spec: &StoreSpec) -> Result<OpenedStore, BuildError> {
    Ok(match spec {
        StoreSpec::Memory => OpenedStore::Embedded(Arc::new(EmbeddedStore::in_memory())),
        StoreSpec::Directory { path, disk } => OpenedStore::Embedded(Arc::new(
            EmbeddedStore::open_with(path, *disk).map_err(BuildError::failed)?,
        )),
        StoreSpec::ExistingDirectory { path, disk } => {
            if !path.is_dir() {
                return Err(BuildError::usage(format!(
                    "store `{}` does not exist",
                    path.display()
                )));
            }
            OpenedStore::Embedded(Arc::new(
                EmbeddedStore::open_with(path, *disk).map_err(BuildError::failed)?,
            ))
        }
        #[cfg(feature = "mongo")]
        StoreSpec::Mongo(config) => OpenedStore::Mongo(Arc::new(
            fdc_mongo::MongoStore::connect(config.as_ref().clone())
                .await
                .map_err(BuildError::failed)?,
        )),
        StoreSpec::Opened(store) => store.clone(),
        StoreSpec::Overlay(base) => {
            let base = Box::pin(open_store(base)).await?;
            OpenedStore::Overlay(Arc::new(OverlayStore::new(
                base.projections(),
                base.views(),
                base.deployments(),
            )))
        }
    })
}

/// The producer a Kafka sink needs.
#[cfg(feature = "kafka")]
fn needs_producer(
    producer: &Option<Arc<fdc_kafka::KafkaProducer>>,
    what: &str,
) -> Result<Arc<fdc_kafka::KafkaProducer>, BuildError> {
    producer.clone().ok_or_else(|| {
        BuildError::usage(format!("{what} on Kafka need the Kafka producer settings"))
    })
}

/// The trigger transport of a split deployment: its sink, and its source when this process
/// runs an aggregate stage (whose gauges the health reports).
// Without the production adapters only the refusal is left, which looks at nothing.
#[cfg_attr(not(feature = "kafka"), allow(unused_variables))]
async fn transport(
    triggers: &TriggersSpec,
    opened: &OpenedStore,
    input: &Input,
    role: Role,
    counters: &Arc<Counters>,
    #[cfg(feature = "kafka")] producer: &Option<Arc<fdc_kafka::KafkaProducer>>,
) -> Result<Transport, BuildError> {
    let aggregates = role != Role::Ingest;
    match triggers {
        TriggersSpec::InProcess => Err(BuildError::usage("split roles need a trigger topic")),
        #[cfg(feature = "kafka")]
        TriggersSpec::KafkaTopic(topic) => {
            let producer = needs_producer(producer, "triggers")?;
            let Input::Kafka(config) = input else {
                return Err(BuildError::usage(
                    "triggers on a Kafka topic need the Kafka input",
                ));
            };
            let broker_topic = config.topic_map.to_broker(topic).to_string();
            let sink = Arc::new(fdc_kafka::KafkaTriggers::new(producer, &broker_topic));
            let source: Option<Box<dyn Source>> = if aggregates {
                let mut config = config.as_ref().clone();
                config.topics = vec![topic.clone()];
                // Aggregate stages share the trigger partitions among themselves only.
                config.group_id = format!("{}.aggregate", config.group_id);
                let source = fdc_kafka::KafkaSource::connect(config).map_err(BuildError::failed)?;
                // The trigger partitions' lag is reported beside the input's, as the
                // `triggers` stage's.
                counters.health().watch_stage_source(
                    fdc_engine::runtime::freshness::Stage::Triggers,
                    source.gauges(),
                );
                Some(Box::new(source))
            } else {
                None
            };
            Ok(Transport { sink, source })
        }
        #[cfg(feature = "mongo")]
        TriggersSpec::MongoCollection {
            collection,
            claim_timeout,
            poll,
            owner,
        } => {
            let Some(store) = opened.mongo() else {
                return Err(BuildError::usage(
                    "triggers.transport mongodb needs the `mongodb` section",
                ));
            };
            let source: Option<Box<dyn Source>> = aggregates.then(|| {
                Box::new(fdc_mongo::triggers::MongoTriggerSource::new(
                    store,
                    collection,
                    owner,
                    *claim_timeout,
                    *poll,
                )) as Box<dyn Source>
            });
            let sink = fdc_mongo::triggers::MongoTriggers::open(store.clone(), collection)
                .await
                .map_err(BuildError::failed)?;
            Ok(Transport {
                sink: Arc::new(sink),
                source,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use fdc_core::value::Value;
    use fdc_engine::runtime::Shutdown;
    use fdc_engine::testkit::shop_plan;
    use fdc_file::FileInput;

    use super::*;

    async fn run_on(store: StoreSpec, input: &std::path::Path) -> Built {
        let mut deployment = Deployment::embedded(
            shop_plan(),
            FileInput::File(input.to_path_buf()),
            None,
            fdc_embedded::DiskOptions::default(),
            None,
        );
        deployment.store = store;
        let mut built = build(deployment).await.unwrap();
        built.run(&Shutdown::new()).await.unwrap();
        built
    }

    /// Customer 1's document in `customer_360`.
    async fn stored(s: &dyn SingleViewStore) -> Option<fdc_core::value::Map> {
        let key = vec![vec![Value::Int(1)]];
        s.get_many("customer_360", &key).await.unwrap().remove(0)
    }

    #[tokio::test]
    async fn an_overlay_deployment_runs_on_the_base_s_data_and_leaves_it_unchanged() {
        let dir = std::env::temp_dir().join(format!("fdc-overlay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = dir.join("first.jsonl");
        std::fs::write(
            &first,
            [
                r#"{"topic":"shop.customers","key":{"id":1},"value":{"id":1,"name":"Ann","country":"IT"},"timestamp":1}"#,
                r#"{"topic":"shop.orders","key":{"id":5},"value":{"id":5,"customer_id":1,"status":"PAID","total":"3"},"timestamp":1}"#,
            ]
            .join("\n"),
        )
        .unwrap();
        let then = dir.join("then.jsonl");
        std::fs::write(
            &then,
            [
                r#"{"topic":"shop.orders","key":{"id":6},"value":{"id":6,"customer_id":1,"status":"PAID","total":"4"},"timestamp":2}"#,
                "garbage",
            ]
            .join("\n"),
        )
        .unwrap();
        let base = run_on(StoreSpec::Memory, &first).await.store;
        let before = base.embedded().unwrap().clone();
        let before_doc = stored(before.as_ref())
            .await
            .expect("the first run wrote it");

        let built = run_on(StoreSpec::Overlay(Box::new(StoreSpec::Opened(base))), &then).await;
        let overlay = built.store.overlay().expect("an overlay").clone();
        // The new order joins the stored customer and order in the overlay...
        let after = stored(overlay.as_ref()).await.expect("a document");
        assert_eq!(
            after.get("spent").map(Value::to_json),
            Some(serde_json::json!("7"))
        );
        assert_eq!(
            overlay.take_written(),
            vec![
                ("customer_360".to_string(), vec![Value::Int(1)]),
                ("order_view".to_string(), vec![Value::Int(6)])
            ]
        );
        assert_eq!(overlay.dead_letters(), 1);
        // ...and the base holds what it held, without the dead letter.
        assert_eq!(stored(before.as_ref()).await, Some(before_doc));
        assert!(before.dead_letters().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
