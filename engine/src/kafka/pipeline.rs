//! A whole pipeline fed by Kafka: the [`KafkaSource`] over the plan's topics, the given stores,
//! events and dead letters produced to Kafka.
//!
//! In: a [`Plan`], a [`KafkaPipeline`] (source and producer settings, dead-letter topic,
//! whether events are published), the projection and single-view stores (MongoDB in
//! production, the embedded store otherwise), runtime settings and a [`Shutdown`]. Out: the
//! [`Summary`] when shutdown is asked for.
//!
//! Guarantees: those of [`crate::runtime::run`] (offsets committed only behind the durable
//! watermark) and of the adapters; on shutdown the batches already read are finished, their
//! offsets committed, and the producer flushed before returning.
//!
//! A `--role all` process runs both stages. With [`RunOptions::in_process`] its triggers go
//! from the ingest stage to the aggregate stage in memory (one replica). Without it the
//! process runs an ingest stage and an aggregate stage side by side, connected by the trigger
//! transport exactly like split processes: every single-view key then has one owner in the
//! aggregate group (`<group>.aggregate`), so several replicas never rebuild one view at once.
//! When either stage ends (fails, or reached the end of an initial load), the other is
//! stopped gracefully; a failure is returned. A `--role all` process with in-memory triggers
//! looks at its consumer group every 10 s and, while it has several members, warns (log,
//! `/status`, `fdc status`) that `triggers.in_process: false` is needed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fdc_plan::Plan;
use tokio::sync::watch;

use super::KafkaSourceConfig;
use super::{
    KafkaDeadLetters, KafkaEvents, KafkaProducer, KafkaProducerConfig, KafkaSource, KafkaTriggers,
};
use crate::runtime::{
    run, Counters, Engine, EngineError, Role, Route, RuntimeConfig, Shutdown, Stores, Summary,
    TriggerRoute, TriggerSink,
};
use crate::store::source::{Ack, Source, SourceBatch};
use crate::store::{Event, EventSink, ProjectionStore, SingleViewStore, StoreError};

/// The Kafka side of a pipeline.
#[derive(Debug, Clone)]
pub struct KafkaPipeline {
    /// Consumer settings; `topics` is filled from the plan when empty.
    pub source: KafkaSourceConfig,
    pub producer: KafkaProducerConfig,
    /// Broker topic of dead letters.
    pub dead_letter_topic: String,
    /// Publish the events the plan declares (else they are counted and dropped).
    pub events: bool,
}

/// Counts events without publishing them (`events.enabled: false`).
struct DropEvents;

#[async_trait]
impl EventSink for DropEvents {
    async fn publish(&self, _events: Vec<Event>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs `plan` from Kafka into the stores until `shutdown` is triggered.
pub async fn run_kafka(
    plan: Plan,
    pipeline: KafkaPipeline,
    projections: Arc<dyn ProjectionStore>,
    views: Arc<dyn SingleViewStore>,
    config: RuntimeConfig,
    shutdown: &Shutdown,
) -> Result<Summary, EngineError> {
    let options = RunOptions {
        counters: Arc::new(Counters::default()),
        role: Role::All,
        trigger_topic: String::new(),
        transport: None,
        in_process: true,
    };
    run_kafka_observed(
        plan,
        pipeline,
        projections,
        views,
        config,
        shutdown,
        options,
    )
    .await
}

/// How a process takes part: its counters and its role.
pub struct RunOptions {
    /// Shared with a metrics endpoint; their health also watches the source's lag and
    /// connectivity.
    pub counters: Arc<Counters>,
    pub role: Role,
    /// The trigger topic (as the pipeline names it; `kafka.topics` renames apply) between
    /// `ingest` and `aggregate` processes. An aggregate process reads only this topic (give it
    /// its own consumer group).
    pub trigger_topic: String,
    /// Another trigger transport (the MongoDB projection-changes collection): the sink of an
    /// ingest process and the source of an aggregate process, instead of the topic.
    pub transport: Option<TriggerTransport>,
    /// For `Role::All`: hand triggers from ingestion to aggregation in memory (correct with
    /// one replica only). When false, both stages run connected by the trigger transport.
    pub in_process: bool,
}

/// A trigger transport other than the Kafka topic.
pub struct TriggerTransport {
    pub sink: Arc<dyn TriggerSink>,
    pub source: Box<dyn Source>,
}

/// A boxed source as a [`Source`].
struct Boxed(Box<dyn Source>);

#[async_trait]
impl Source for Boxed {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        self.0.next_batch(max).await
    }

    async fn commit(&mut self, ack: &Ack) -> Result<(), StoreError> {
        self.0.commit(ack).await
    }
}

/// [`run_kafka`] with [`RunOptions`].
pub async fn run_kafka_observed(
    plan: Plan,
    pipeline: KafkaPipeline,
    projections: Arc<dyn ProjectionStore>,
    views: Arc<dyn SingleViewStore>,
    config: RuntimeConfig,
    shutdown: &Shutdown,
    options: RunOptions,
) -> Result<Summary, EngineError> {
    let RunOptions {
        counters,
        role,
        trigger_topic,
        transport,
        in_process,
    } = options;
    if (role != Role::All || !in_process) && trigger_topic.is_empty() && transport.is_none() {
        return Err(EngineError::Plan(
            "split roles need a trigger topic".to_string(),
        ));
    }
    let (sink, trigger_source) = match transport {
        Some(t) => (Some(t.sink), Some(t.source)),
        None => (None, None),
    };
    let stage = |role, sink, source, shutdown: watch::Receiver<bool>, beside| Stage {
        plan: plan.clone(),
        pipeline: pipeline.clone(),
        projections: projections.clone(),
        views: views.clone(),
        config: config.clone(),
        counters: counters.clone(),
        role,
        trigger_topic: trigger_topic.clone(),
        sink,
        trigger_source: source,
        shutdown,
        beside_ingest: beside,
    };
    if role != Role::All || in_process {
        return stage(role, sink, trigger_source, shutdown.subscribe(), false)
            .run()
            .await;
    }
    // Both stages, connected by the transport. `stop` ends both: when asked from outside, or
    // when one of them ends (fails, or its input ended: an initial load).
    let stop = Shutdown::new();
    let ingest = stage(Role::Ingest, sink, None, stop.subscribe(), false).run();
    let aggregate = stage(
        Role::Aggregate,
        None,
        trigger_source,
        stop.subscribe(),
        true,
    )
    .run();
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

/// One stage of a process over its source.
struct Stage {
    plan: Plan,
    pipeline: KafkaPipeline,
    projections: Arc<dyn ProjectionStore>,
    views: Arc<dyn SingleViewStore>,
    config: RuntimeConfig,
    counters: Arc<Counters>,
    role: Role,
    trigger_topic: String,
    /// The ingest stage's trigger sink, when not the topic.
    sink: Option<Arc<dyn TriggerSink>>,
    /// The aggregate stage's trigger source, when not the topic.
    trigger_source: Option<Box<dyn Source>>,
    shutdown: watch::Receiver<bool>,
    /// An aggregate stage beside the ingest stage of the same process.
    beside_ingest: bool,
}

impl Stage {
    async fn run(self) -> Result<Summary, EngineError> {
        let Stage {
            plan,
            mut pipeline,
            projections,
            views,
            config,
            counters,
            role,
            trigger_topic,
            sink,
            trigger_source,
            shutdown,
            beside_ingest,
        } = self;
        if role == Role::Aggregate {
            pipeline.source.topics = vec![trigger_topic.clone()];
            // Aggregate stages share the trigger partitions among themselves only.
            pipeline.source.group_id = format!("{}.aggregate", pipeline.source.group_id);
        }
        if pipeline.source.topics.is_empty() {
            pipeline.source.topics = plan.topics().into_iter().map(String::from).collect();
        }
        let producer = Arc::new(KafkaProducer::connect(pipeline.producer.clone())?);
        let events: Arc<dyn EventSink> = if pipeline.events {
            Arc::new(KafkaEvents::new(producer.clone()))
        } else {
            Arc::new(DropEvents)
        };
        let stores = Stores {
            projections,
            views,
            events,
            dead_letters: Arc::new(KafkaDeadLetters::new(
                producer.clone(),
                &pipeline.dead_letter_topic,
            )),
        };
        let router: Arc<dyn Route> = match role {
            Role::Aggregate => Arc::new(TriggerRoute),
            Role::All | Role::Ingest => Arc::new(
                crate::ingest::Router::new(&plan)
                    .map_err(|e| EngineError::Plan(e.to_string()))?
                    .with_max_clock_skew(config.max_clock_skew),
            ),
        };
        let mut engine = Engine::build(plan, stores, config)
            .await?
            .with_counters(counters.clone());
        match role {
            Role::All => {}
            Role::Ingest => {
                let topic = pipeline.producer.topic_map.to_broker(&trigger_topic);
                engine = engine.ingest_only(
                    sink.unwrap_or_else(|| Arc::new(KafkaTriggers::new(producer.clone(), topic))),
                );
            }
            Role::Aggregate if beside_ingest => engine = engine.aggregate_only().beside_ingest(),
            Role::Aggregate => engine = engine.aggregate_only(),
        }
        let engine = Arc::new(engine);
        let watcher = (role == Role::All).then(|| {
            tokio::spawn(watch_replicas(
                pipeline.source.client.clone(),
                pipeline.source.group_id.clone(),
                counters.clone(),
            ))
        });
        let summary = match (role, trigger_source) {
            (Role::Aggregate, Some(source)) => run(engine, Boxed(source), router, shutdown).await?,
            _ => {
                let source = KafkaSource::connect(pipeline.source)?;
                counters.health().watch_source(source.gauges());
                run(engine, source, router, shutdown).await?
            }
        };
        if let Some(w) = watcher {
            w.abort();
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(summary)
    }
}

/// How often a `--role all` process with in-memory triggers looks at its group's members.
const REPLICAS_CHECK: Duration = Duration::from_secs(10);

/// The warning of a `--role all` process with in-memory triggers whose group has `members`
/// members (`None` when it is alone).
fn replicas_warning(members: usize) -> Option<String> {
    (members > 1).then(|| {
        format!(
            "{members} `--role all` members share the consumer group with in-memory triggers: \
             two of them can rebuild one single view at once; set `triggers.in_process: false` \
             (FDC_TRIGGERS_IN_PROCESS=false)"
        )
    })
}

/// Warns (logs, `/status`, `fdc status`) while several members share the group of a
/// `--role all` process whose triggers stay in memory (see the module docs).
async fn watch_replicas(client: super::KafkaClientConfig, group: String, counters: Arc<Counters>) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let Ok(admin) = client.client_config().create::<BaseConsumer>() else {
        return;
    };
    let admin = Arc::new(admin);
    loop {
        tokio::time::sleep(REPLICAS_CHECK).await;
        let (a, g) = (admin.clone(), group.clone());
        let members = tokio::task::spawn_blocking(move || {
            a.fetch_group_list(Some(&g), Duration::from_secs(5))
                .ok()
                .and_then(|list| {
                    list.groups()
                        .iter()
                        .find(|x| x.name() == g)
                        .map(|x| x.members().len())
                })
        })
        .await;
        // Not known now (a broker outage): the last answer stands.
        if let Ok(Some(members)) = members {
            counters.health().warn(replicas_warning(members));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_members_with_in_memory_triggers_are_warned_about() {
        assert_eq!(replicas_warning(1), None);
        assert_eq!(replicas_warning(0), None);
        let w = replicas_warning(3).unwrap();
        assert!(w.starts_with("3 `--role all` members"), "{w}");
        assert!(w.contains("triggers.in_process: false"), "{w}");
    }
}
