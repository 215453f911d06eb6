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

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fdc_plan::Plan;

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
    mut pipeline: KafkaPipeline,
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
    } = options;
    if role != Role::All && trigger_topic.is_empty() && transport.is_none() {
        return Err(EngineError::Plan(
            "split roles need a trigger topic".to_string(),
        ));
    }
    if role == Role::Aggregate {
        pipeline.source.topics = vec![trigger_topic.clone()];
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
            crate::ingest::Router::new(&plan).map_err(|e| EngineError::Plan(e.to_string()))?,
        ),
    };
    let mut engine = Engine::build(plan, stores, config)
        .await?
        .with_counters(counters.clone());
    let (sink, trigger_source) = match transport {
        Some(t) => (Some(t.sink), Some(t.source)),
        None => (None, None),
    };
    match role {
        Role::All => {}
        Role::Ingest => {
            let topic = pipeline.producer.topic_map.to_broker(&trigger_topic);
            engine = engine.ingest_only(
                sink.unwrap_or_else(|| Arc::new(KafkaTriggers::new(producer.clone(), topic))),
            );
        }
        Role::Aggregate => engine = engine.aggregate_only(),
    }
    let engine = Arc::new(engine);
    if let (Role::Aggregate, Some(source)) = (role, trigger_source) {
        let summary = run(engine, Boxed(source), router, shutdown.subscribe()).await?;
        producer.flush(Duration::from_secs(30))?;
        return Ok(summary);
    }
    let source = KafkaSource::connect(pipeline.source)?;
    counters.health().watch_source(source.gauges());
    let summary = run(engine, source, router, shutdown.subscribe()).await?;
    producer.flush(Duration::from_secs(30))?;
    Ok(summary)
}
