//! `fdc run` in production: from a [`Config`] to the running adapters (Kafka source, MongoDB
//! stores, Kafka sinks), until SIGINT or SIGTERM.
//!
//! In: a compiled plan, the configuration file (optional) and the environment, an optional
//! embedded store directory (used when no MongoDB is configured). Out: the run's
//! [`Summary`], or an error with the exit code it deserves (2: the configuration is bad; 1: a
//! service or the plan failed).
//!
//! With an operations address (`--http`, `http.listen`, `FDC_HTTP_LISTEN`) the endpoint of
//! [`crate::observe::http`] is bound before anything starts (a taken port fails the start)
//! and serves until the run returns; with MongoDB configured, the database is pinged every
//! [`PROBE_INTERVAL`] and readiness follows the answers.
//!
//! Guarantees: on SIGINT or SIGTERM reading stops, the batches already read are finished,
//! their offsets committed and the producer flushed, and the run returns its summary (exit 0);
//! an initial load also returns so (exit 0) once the backlog as of its start is written;
//! nothing secret is printed (errors come from adapters that scrub their messages).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fdc_engine::embedded::EmbeddedStore;
use fdc_engine::kafka::{
    run_kafka_observed, KafkaPipeline, KafkaProducerConfig, KafkaSourceConfig, RunOptions,
    TriggerTransport,
};
use fdc_engine::mongo::changes::{MongoChanges, MongoChangesSource};
use fdc_engine::mongo::MongoStore;
use fdc_engine::runtime::{Counters, Role, RuntimeConfig, Shutdown, Summary};
use fdc_engine::store::{ProjectionStore, SingleViewStore};
use fdc_plan::Plan;

use super::settings::TriggerTransportSetting;
use super::{Config, Environment, ProcessEnv};
use crate::observe::http::{self, Endpoint};

/// How often the database is pinged for readiness (also the ping's timeout).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// By default, a claim of the projection-changes collection older than this is taken over
/// (its owner died); `triggers.claim_timeout_ms` sets it.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(60);

/// Flags of a production run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Embedded store directory, used when no MongoDB is configured.
    pub store_dir: Option<PathBuf>,
    /// Operations endpoint address (overrides the configuration).
    pub http: Option<String>,
    /// Initial load: projections only (see `RuntimeConfig::strategies`).
    pub initial_load: bool,
    /// Which stages this process runs.
    pub role: Role,
}

/// Pings the database every [`PROBE_INTERVAL`] and tells the health what it found.
async fn probe_store(store: Arc<MongoStore>, counters: Arc<Counters>) {
    let ping = mongodb::bson::doc! { "ping": 1 };
    loop {
        let answer =
            tokio::time::timeout(PROBE_INTERVAL, store.database().run_command(ping.clone())).await;
        // Fixed messages: a driver error could name hosts of the connection string.
        let error = match answer {
            Ok(Ok(_)) => None,
            Ok(Err(_)) => Some("the database refused or failed a ping"),
            Err(_) => Some("the database did not answer a ping in time"),
        };
        counters
            .health()
            .store_probed(error.is_none(), error.map(str::to_string));
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}
/// Whether `fdc run` runs in production mode: with `--config`, or without `--input` when
/// `FDC_KAFKA_BROKERS` is set.
pub fn wanted(config: Option<&Path>, input_given: bool, environment: &dyn Environment) -> bool {
    config.is_some() || (!input_given && environment.var("FDC_KAFKA_BROKERS").is_some())
}

/// A failed production run: the message and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

fn failure(code: u8, message: impl ToString) -> Failure {
    Failure {
        code,
        message: message.to_string(),
    }
}

/// The Kafka side of the pipeline from the configuration.
pub fn kafka_pipeline(config: &Config) -> Result<KafkaPipeline, Failure> {
    let Some(k) = &config.kafka else {
        return Err(failure(
            2,
            "production mode needs Kafka: set `kafka.brokers` in the configuration or \
             FDC_KAFKA_BROKERS",
        ));
    };
    let mut source = KafkaSourceConfig::new(k.client.clone(), &k.group_id, vec![]);
    source.topic_map = k.topics.clone();
    source.linger = config.batch.linger;
    source.auto_offset_reset = k.auto_offset_reset.clone();
    let mut producer = KafkaProducerConfig::new(k.client.clone());
    producer.topic_map = k.topics.clone();
    producer.delivery_timeout = k.delivery_timeout;
    Ok(KafkaPipeline {
        source,
        producer,
        dead_letter_topic: k.topics.to_broker(&config.dead_letter_topic).to_string(),
        events: config.events,
    })
}

/// Runs `plan` in production mode until SIGINT or SIGTERM (blocking). With `initial_load`,
/// only the projections are written (see `RuntimeConfig::strategies`).
pub fn run_production(
    plan: Plan,
    config_path: Option<&Path>,
    options: &Options,
) -> Result<Summary, Failure> {
    let started = Instant::now();
    let config = super::load(config_path, &ProcessEnv).map_err(|e| failure(2, e))?;
    let listen = options.http.clone().or_else(|| config.http_listen.clone());
    let mut pipeline = kafka_pipeline(&config)?;
    // An initial load ends at the end of the backlog as of its start.
    pipeline.source.until_end = options.initial_load;
    let in_process = config.triggers_in_process;
    let runtime_config = RuntimeConfig {
        batch_size: config.batch.max_messages,
        read_ahead: config.batch.read_ahead,
        rebuild_parallelism: config
            .batch
            .rebuild_parallelism
            .unwrap_or(RuntimeConfig::default().rebuild_parallelism),
        strategies: !options.initial_load,
        max_clock_skew: config.max_clock_skew,
        ..RuntimeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| failure(1, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let counters = Arc::new(Counters::default());
        let mut background = Vec::new();
        if let Some(addr) = &listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| failure(1, format!("cannot serve the operations endpoint on {addr}: {e}")))?;
            let bound = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| addr.clone());
            tracing::info!(address = %bound, "operations endpoint: /metrics /healthz /readyz /status");
            let endpoint = Arc::new(Endpoint {
                counters: counters.clone(),
                started,
                role: options.role.name().into(),
            });
            background.push(tokio::spawn(http::serve(listener, endpoint)));
        }
        let mut mongo: Option<Arc<MongoStore>> = None;
        let (projections, views): (Arc<dyn ProjectionStore>, Arc<dyn SingleViewStore>) =
            match &config.mongodb {
                Some(m) => {
                    let store = Arc::new(
                        MongoStore::connect(m.clone())
                            .await
                            .map_err(|e| failure(1, e))?,
                    );
                    background.push(tokio::spawn(probe_store(store.clone(), counters.clone())));
                    mongo = Some(store.clone());
                    (store.clone(), store)
                }
                None => {
                    let store = Arc::new(match options.store_dir.as_deref() {
                        Some(dir) => EmbeddedStore::open(dir).map_err(|e| failure(1, e))?,
                        None => EmbeddedStore::in_memory(),
                    });
                    (store.clone(), store)
                }
            };
        let transport = match (&config.trigger_transport, options.role) {
            (TriggerTransportSetting::Kafka, _) => None,
            (_, Role::All) if in_process => None,
            (
                TriggerTransportSetting::Mongodb {
                    collection,
                    claim_timeout,
                },
                _,
            ) => {
                let Some(store) = mongo.clone() else {
                    return Err(failure(
                        2,
                        "triggers.transport mongodb needs the `mongodb` section",
                    ));
                };
                let owner = format!(
                    "{}:{}",
                    std::env::var("HOSTNAME").unwrap_or_else(|_| "fdc".into()),
                    std::process::id()
                );
                let source = MongoChangesSource::new(
                    &store,
                    collection,
                    &owner,
                    *claim_timeout,
                    config.batch.linger.max(Duration::from_millis(50)),
                );
                let sink = MongoChanges::open(store, collection)
                    .await
                    .map_err(|e| failure(1, e))?;
                Some(TriggerTransport {
                    sink: Arc::new(sink),
                    source: Box::new(source),
                })
            }
        };
        let shutdown = Shutdown::new();
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| failure(1, format!("cannot watch SIGTERM: {e}")))?;
        let run = run_kafka_observed(
            plan,
            pipeline,
            projections,
            views,
            runtime_config,
            &shutdown,
            RunOptions {
                counters,
                role: options.role,
                trigger_topic: config.trigger_topic.clone(),
                transport,
                in_process,
            },
        );
        tokio::pin!(run);
        let result = tokio::select! {
            r = &mut run => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: finishing the batch in flight");
                shutdown.trigger();
                run.await
            }
            _ = terminate.recv() => {
                eprintln!("terminated: finishing the batch in flight");
                shutdown.trigger();
                run.await
            }
        };
        for task in background {
            task.abort();
        }
        result.map_err(|e| failure(1, e))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn production_mode_is_chosen_by_config_or_by_the_environment_without_input() {
        let none: HashMap<String, String> = HashMap::new();
        let kafka: HashMap<String, String> =
            [("FDC_KAFKA_BROKERS".to_string(), "b:1".to_string())].into();
        assert!(wanted(Some(Path::new("fdc.yaml")), true, &none));
        assert!(!wanted(None, true, &kafka));
        assert!(wanted(None, false, &kafka));
        assert!(!wanted(None, false, &none));
    }

    #[test]
    fn the_pipeline_needs_kafka_and_renames_the_dead_letter_topic() {
        let e: HashMap<String, String> = HashMap::new();
        let c = super::super::parse("mongodb: {uri: 'mongodb://x'}", &e).unwrap();
        assert_eq!(kafka_pipeline(&c).unwrap_err().code, 2);
        let text = "kafka:\n  brokers: b:1\n  group_id: g\n  topics: {dl: prod.dl}\n\
                    dead_letter: {topic: dl}\nevents: {enabled: false}\nbatch: {linger_ms: 7}\n";
        let p = kafka_pipeline(&super::super::parse(text, &e).unwrap()).unwrap();
        assert_eq!(p.dead_letter_topic, "prod.dl");
        assert_eq!(p.source.group_id, "g");
        assert_eq!(p.source.linger, std::time::Duration::from_millis(7));
        assert!(!p.events);
    }
}
