//! `fdc run` in production: from a [`Config`] to a [`fdc_topology::Deployment`] (Kafka source,
//! MongoDB stores, Kafka sinks), built and run until SIGINT or SIGTERM.
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

use fdc_engine::runtime::{Counters, Role, RuntimeConfig, Shutdown, Summary};
use fdc_kafka::{KafkaProducerConfig, KafkaSourceConfig};
use fdc_mongo::MongoStore;
use fdc_plan::Plan;
use fdc_topology::{Deployment, StoreSpec, TriggersSpec};

use crate::config::{load, Config, Environment, ProcessEnv, TriggerTransportSetting};
use crate::observe::http::{self, Endpoint};

/// How often the database is pinged for readiness (also the ping's timeout).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);

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
    /// The deployed plan's check (`commands/deployed.rs`), made before the build when the
    /// run has a store that keeps one (MongoDB or a store directory).
    pub check: Option<super::deployed::Check>,
    /// `fdc run --paused`: start with the whole process paused.
    pub paused: bool,
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

/// The deployment `config` describes for `plan` (see [`fdc_topology::Deployment`]): Kafka in,
/// MongoDB (or the embedded store of `options.store_dir`, or memory) for the stores, events,
/// dead letters and triggers as configured.
pub fn deployment(plan: Plan, config: &Config, options: &Options) -> Result<Deployment, Failure> {
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
    // An initial load ends at the end of the backlog as of its start.
    source.until_end = options.initial_load;
    let mut producer = KafkaProducerConfig::new(k.client.clone());
    producer.topic_map = k.topics.clone();
    producer.delivery_timeout = k.delivery_timeout;
    let dead_letter_topic = k.topics.to_broker(&config.dead_letter_topic).to_string();
    let mut deployment =
        Deployment::kafka(plan, source, producer, dead_letter_topic, config.events);
    let store = match (&config.mongodb, &options.store_dir) {
        (Some(m), _) => StoreSpec::Mongo(Box::new(m.clone())),
        (None, Some(dir)) => StoreSpec::Directory {
            path: dir.clone(),
            disk: crate::commands::store_dir::options(),
        },
        (None, None) => StoreSpec::Memory,
    };
    let in_process = config.triggers_in_process;
    let triggers = match (&config.trigger_transport, options.role) {
        (_, Role::All) if in_process => TriggersSpec::InProcess,
        (TriggerTransportSetting::Kafka, _) => {
            TriggersSpec::KafkaTopic(config.trigger_topic.clone())
        }
        (
            TriggerTransportSetting::Mongodb {
                collection,
                claim_timeout,
            },
            _,
        ) => TriggersSpec::MongoCollection {
            collection: collection.clone(),
            claim_timeout: *claim_timeout,
            poll: config.batch.linger.max(Duration::from_millis(50)),
            owner: format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "fdc".into()),
                std::process::id()
            ),
        },
    };
    deployment.role = options.role;
    deployment.pause.poll = config.pause_poll;
    if options.paused || config.start_paused {
        let why = if options.paused {
            "fdc run --paused"
        } else {
            "start_paused: true"
        };
        deployment.pause.start_paused = Some(super::run::start_paused(why));
    }
    deployment.store = store;
    deployment.triggers = triggers;
    deployment.runtime = RuntimeConfig {
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
    Ok(deployment)
}

/// Runs `plan` in production mode until SIGINT or SIGTERM (blocking). With `initial_load`,
/// only the projections are written (see `RuntimeConfig::strategies`).
pub fn run_production(
    plan: Plan,
    config_path: Option<&Path>,
    options: &Options,
) -> Result<Summary, Failure> {
    let started = Instant::now();
    let config = load(config_path, &ProcessEnv).map_err(|e| failure(2, e))?;
    let listen = options.http.clone().or_else(|| config.http_listen.clone());
    let mut deployment = deployment(plan, &config, options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| failure(1, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let counters = Arc::new(Counters::default());
        deployment.counters = counters.clone();
        let mut background = Vec::new();
        let mut heartbeat = None;
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
                token: config.http_token.clone(),
            });
            background.push(tokio::spawn(http::serve(listener, endpoint)));
        }
        if let (Some(check), false) = (&options.check, matches!(deployment.store, StoreSpec::Memory)) {
            // Before the build: a refused run reads no message and creates no index.
            let opened = fdc_topology::open_store(&deployment.store)
                .await
                .map_err(|e| failure(e.code, e.message))?;
            if check.apply {
                let history = super::apply::History::Kafka(Box::new(config.clone()));
                super::apply::before_run(&opened, &deployment.plan, check, history)
                    .await
                    .map_err(|(code, message)| failure(code, message))?;
            }
            super::deployed::check(opened.deployments().as_ref(), check)
                .await
                .map_err(|(code, message)| failure(code, message))?;
            heartbeat = Some((
                opened.deployments(),
                super::heartbeat::spawn(opened.deployments(), check.record.plan_fingerprint.clone()),
            ));
            deployment.store = StoreSpec::Opened(opened);
        }
        let built = fdc_topology::build(deployment)
            .await
            .map_err(|e| failure(e.code, e.message));
        let mut built = match built {
            Ok(b) => b,
            Err(f) => {
                if let Some((store, task)) = heartbeat {
                    super::heartbeat::stop(store.as_ref(), task).await;
                }
                return Err(f);
            }
        };
        if let Some(store) = built.store.mongo() {
            background.push(tokio::spawn(probe_store(store.clone(), counters.clone())));
        }
        let shutdown = Shutdown::new();
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| failure(1, format!("cannot watch SIGTERM: {e}")))?;
        let run = built.run(&shutdown);
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
        if let Some((store, task)) = heartbeat {
            super::heartbeat::stop(store.as_ref(), task).await;
        }
        result.map_err(|e| failure(1, e))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use fdc_topology::{DeadLettersSpec, EventsSpec, Input};

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
    fn the_deployment_needs_kafka_and_renames_the_dead_letter_topic() {
        let e: HashMap<String, String> = HashMap::new();
        let plan = || {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360");
            fdc_dsl::compile_with(&fdc_dsl::FsLoader, &[root])
                .expect("the example compiles")
                .plan
        };
        let options = Options::default();
        let c = crate::config::parse("mongodb: {uri: 'mongodb://x'}", &e).unwrap();
        assert_eq!(
            deployment(plan(), &c, &options).err().map(|f| f.code),
            Some(2)
        );
        let text = "kafka:\n  brokers: b:1\n  group_id: g\n  topics: {dl: prod.dl}\n\
                    dead_letter: {topic: dl}\nevents: {enabled: false}\nbatch: {linger_ms: 7}\n";
        let d = deployment(plan(), &crate::config::parse(text, &e).unwrap(), &options).unwrap();
        assert!(matches!(&d.dead_letters, DeadLettersSpec::Kafka { topic } if topic == "prod.dl"));
        let Input::Kafka(source) = &d.input else {
            panic!("a Kafka input");
        };
        assert_eq!(source.group_id, "g");
        assert_eq!(source.linger, std::time::Duration::from_millis(7));
        assert!(!source.until_end);
        assert!(matches!(d.events, EventsSpec::Drop));
        assert!(matches!(d.store, StoreSpec::Memory));
        assert!(matches!(d.triggers, TriggersSpec::InProcess));
        let load = Options {
            initial_load: true,
            role: Role::Ingest,
            ..Options::default()
        };
        let d = deployment(plan(), &crate::config::parse(text, &e).unwrap(), &load).unwrap();
        assert!(!d.runtime.strategies);
        assert!(matches!(&d.triggers, TriggersSpec::KafkaTopic(_)));
        assert!(matches!(&d.input, Input::Kafka(s) if s.until_end));
    }
}
