//! `fdc run` in production: from a [`Config`] to the running adapters (Kafka source, MongoDB
//! stores, Kafka sinks), until SIGINT or SIGTERM.
//!
//! In: a compiled plan, the configuration file (optional) and the environment, an optional
//! embedded store directory (used when no MongoDB is configured). Out: the run's
//! [`Summary`], or an error with the exit code it deserves (2: the configuration is bad; 1: a
//! service or the plan failed).
//!
//! Guarantees: on SIGINT or SIGTERM reading stops, the batches already read are finished,
//! their offsets committed and the producer flushed, and the run returns its summary (exit 0);
//! nothing secret is printed (errors come from adapters that scrub their messages).

use std::path::Path;
use std::sync::Arc;

use fdc_engine::embedded::EmbeddedStore;
use fdc_engine::kafka::{run_kafka, KafkaPipeline, KafkaProducerConfig, KafkaSourceConfig};
use fdc_engine::mongo::MongoStore;
use fdc_engine::runtime::{RuntimeConfig, Shutdown, Summary};
use fdc_engine::store::{ProjectionStore, SingleViewStore};
use fdc_plan::Plan;

use super::{Config, Environment, ProcessEnv};

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

/// Runs `plan` in production mode until SIGINT or SIGTERM (blocking).
pub fn run_production(
    plan: Plan,
    config_path: Option<&Path>,
    store_dir: Option<&Path>,
) -> Result<Summary, Failure> {
    let config = super::load(config_path, &ProcessEnv).map_err(|e| failure(2, e))?;
    let pipeline = kafka_pipeline(&config)?;
    let runtime_config = RuntimeConfig {
        batch_size: config.batch.max_messages,
        read_ahead: config.batch.read_ahead,
        ..RuntimeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| failure(1, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let (projections, views): (Arc<dyn ProjectionStore>, Arc<dyn SingleViewStore>) =
            match &config.mongodb {
                Some(m) => {
                    let store = Arc::new(
                        MongoStore::connect(m.clone())
                            .await
                            .map_err(|e| failure(1, e))?,
                    );
                    (store.clone(), store)
                }
                None => {
                    let store = Arc::new(match store_dir {
                        Some(dir) => EmbeddedStore::open(dir).map_err(|e| failure(1, e))?,
                        None => EmbeddedStore::in_memory(),
                    });
                    (store.clone(), store)
                }
            };
        let shutdown = Shutdown::new();
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| failure(1, format!("cannot watch SIGTERM: {e}")))?;
        let run = run_kafka(
            plan,
            pipeline,
            projections,
            views,
            runtime_config,
            &shutdown,
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
