//! The typed settings of a validated configuration, and the reading of credentials.
//!
//! In: a configuration value that passed the schema. Out: a [`Config`] whose parts are the
//! engine's adapter settings ([`KafkaClientConfig`], [`MongoStoreConfig`]).
//!
//! Guarantees: every password (Kafka SASL and TLS key, MongoDB) is read from the named
//! environment variable or file here (trailing newline dropped) and kept in a [`Secret`] (the
//! engine reads no environment), so every credential that cannot be read is the same
//! [`ConfigError::Secret`]; defaults are the ones `docs/configuration.md` lists.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use fdc_kafka::{KafkaClientConfig, KafkaSaslConfig, KafkaTlsConfig, Secret, TopicMap};
use fdc_mongo::{MongoStoreConfig, MongoTlsConfig};
use serde::Deserialize;
use serde_json::Value;

use super::{ConfigError, Environment};

/// Default consumer group.
pub const DEFAULT_GROUP_ID: &str = "fdc";
/// Default topic of single-view triggers between split roles.
pub const DEFAULT_TRIGGER_TOPIC: &str = "fdc.triggers";
/// Default dead-letter topic.
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = "fdc.dead-letters";

/// By default, a claim of the projection-changes collection older than this is taken over
/// (its owner died); `triggers.claim_timeout_ms` sets it.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(60);

/// The whole runtime configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Kafka, when configured: the source, events and dead letters go through it.
    pub kafka: Option<KafkaSettings>,
    /// MongoDB, when configured: projections and single views are stored there.
    pub mongodb: Option<MongoStoreConfig>,
    pub batch: BatchSettings,
    /// Topic of dead letters.
    pub dead_letter_topic: String,
    /// Whether the events the pipeline declares are published.
    pub events: bool,
    /// Where the operations endpoint listens (`None`: off).
    pub http_listen: Option<String>,
    /// Topic of single-view triggers between `--role ingest` and `--role aggregate`.
    pub trigger_topic: String,
    /// How triggers travel between split roles.
    pub trigger_transport: TriggerTransportSetting,
    /// Whether a `--role all` process hands its triggers to its own aggregate stage in memory
    /// (one replica) instead of through the transport (several replicas).
    pub triggers_in_process: bool,
    /// How far ahead of the clock a timestamp version may be (`ingest.max_clock_skew_ms`;
    /// `None`: not checked, set by 0).
    pub max_clock_skew: Option<Duration>,
    /// The bearer token of the endpoint's write routes (`http.token_env` / `http.token_file`;
    /// `None`: those routes are refused).
    pub http_token: Option<Secret>,
    /// Start with the whole process paused (`start_paused`).
    pub start_paused: bool,
    /// How often the pause state is read (`pause.poll_ms`).
    pub pause_poll: Duration,
}

/// How triggers travel between `--role ingest` and `--role aggregate` processes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TriggerTransportSetting {
    /// The trigger topic.
    #[default]
    Kafka,
    /// The MongoDB projection-changes collection.
    Mongodb {
        collection: String,
        /// A claim older than this is taken over (its owner died).
        claim_timeout: Duration,
    },
}

/// Kafka settings.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub client: KafkaClientConfig,
    pub group_id: String,
    pub auto_offset_reset: String,
    pub topics: TopicMap,
    pub delivery_timeout: Duration,
}

/// Batching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    pub max_messages: usize,
    pub linger: Duration,
    pub read_ahead: usize,
    /// Tasks rebuilding one batch's single views at once (`None`: the engine's default, 1).
    pub rebuild_parallelism: Option<usize>,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            max_messages: 5000,
            linger: Duration::from_millis(100),
            read_ahead: 2,
            rebuild_parallelism: None,
        }
    }
}

#[derive(Deserialize, Default)]
struct Raw {
    kafka: Option<RawKafka>,
    mongodb: Option<RawMongo>,
    #[serde(default)]
    batch: RawBatch,
    #[serde(default)]
    dead_letter: RawDeadLetter,
    #[serde(default)]
    events: RawEvents,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    triggers: RawTriggers,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    start_paused: bool,
    #[serde(default)]
    pause: RawPause,
}

#[derive(Deserialize, Default)]
struct RawPause {
    poll_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
struct RawIngest {
    max_clock_skew_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    topic: Option<String>,
    transport: Option<String>,
    collection: Option<String>,
    in_process: Option<bool>,
    claim_timeout_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
struct RawHttp {
    listen: Option<String>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawKafka {
    brokers: String,
    group_id: Option<String>,
    client_id: Option<String>,
    auto_offset_reset: Option<String>,
    #[serde(default)]
    topics: BTreeMap<String, String>,
    delivery_timeout_ms: Option<u64>,
    #[serde(default)]
    security: RawSecurity,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct RawSecurity {
    protocol: Option<String>,
    sasl: Option<RawSasl>,
    tls: Option<RawKafkaTls>,
}

#[derive(Deserialize)]
struct RawSasl {
    mechanism: String,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawKafkaTls {
    ca_location: Option<PathBuf>,
    certificate_location: Option<PathBuf>,
    key_location: Option<PathBuf>,
    key_password_env: Option<String>,
    key_password_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawMongo {
    uri: String,
    database: Option<String>,
    errors_collection: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    auth_source: Option<String>,
    write_concern: Option<String>,
    connect_timeout_ms: Option<u64>,
    server_selection_timeout_ms: Option<u64>,
    max_batch: Option<usize>,
    tls: Option<RawMongoTls>,
}

#[derive(Deserialize)]
struct RawMongoTls {
    ca_file: Option<PathBuf>,
    cert_key_file: Option<PathBuf>,
    #[serde(default)]
    allow_invalid_certificates: bool,
}

#[derive(Deserialize, Default)]
struct RawBatch {
    max_messages: Option<usize>,
    linger_ms: Option<u64>,
    read_ahead: Option<usize>,
    rebuild_parallelism: Option<usize>,
}

#[derive(Deserialize, Default)]
struct RawDeadLetter {
    topic: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawEvents {
    enabled: Option<bool>,
}

/// Reads a password from the variable or the file a setting names.
fn secret(
    setting: &str,
    var: Option<&String>,
    file: Option<&PathBuf>,
    environment: &dyn Environment,
) -> Result<Option<Secret>, ConfigError> {
    let problem = |message: String| ConfigError::Secret {
        setting: setting.to_string(),
        message,
    };
    if let Some(var) = var {
        return match environment.var(var) {
            Some(v) => Ok(Some(Secret::new(v))),
            None => Err(problem(format!(
                "the environment variable `{var}` is not set"
            ))),
        };
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| problem(format!("cannot read `{}`: {e}", path.display())))?;
        return Ok(Some(Secret::new(text.trim_end_matches(['\r', '\n']))));
    }
    Ok(None)
}

/// Builds the typed configuration from a value that passed the schema.
pub(super) fn build(value: &Value, environment: &dyn Environment) -> Result<Config, ConfigError> {
    let raw: Raw = serde_json::from_value(value.clone()).map_err(|e| ConfigError::Invalid {
        // Serde's messages can quote values: show only the category.
        problems: vec![format!(
            "  the settings do not have the expected types ({:?})",
            e.classify()
        )],
    })?;
    let kafka = match raw.kafka {
        None => None,
        Some(k) => {
            let sasl = match k.security.sasl {
                None => None,
                Some(s) => Some(KafkaSaslConfig {
                    password: secret(
                        "kafka.security.sasl.password",
                        s.password_env.as_ref(),
                        s.password_file.as_ref(),
                        environment,
                    )?,
                    mechanism: s.mechanism,
                    username: s.username,
                }),
            };
            let tls = match k.security.tls {
                None => None,
                Some(t) => Some(KafkaTlsConfig {
                    key_password: secret(
                        "kafka.security.tls.key_password",
                        t.key_password_env.as_ref(),
                        t.key_password_file.as_ref(),
                        environment,
                    )?,
                    ca_location: t.ca_location,
                    certificate_location: t.certificate_location,
                    key_location: t.key_location,
                }),
            };
            Some(KafkaSettings {
                client: KafkaClientConfig {
                    brokers: k.brokers,
                    client_id: k.client_id,
                    security_protocol: k.security.protocol,
                    sasl,
                    tls,
                    properties: k.properties,
                },
                group_id: k.group_id.unwrap_or_else(|| DEFAULT_GROUP_ID.into()),
                auto_offset_reset: k.auto_offset_reset.unwrap_or_else(|| "earliest".into()),
                topics: TopicMap { renames: k.topics },
                delivery_timeout: Duration::from_millis(k.delivery_timeout_ms.unwrap_or(30_000)),
            })
        }
    };
    let d = MongoStoreConfig::default();
    let mongodb = match raw.mongodb {
        None => None,
        Some(m) => Some(MongoStoreConfig {
            password: secret(
                "mongodb.password",
                m.password_env.as_ref(),
                m.password_file.as_ref(),
                environment,
            )?,
            uri: m.uri,
            database: m.database.unwrap_or(d.database),
            errors_collection: m.errors_collection.unwrap_or(d.errors_collection),
            username: m.username,
            auth_source: m.auth_source,
            tls: m.tls.map(|t| MongoTlsConfig {
                ca_file: t.ca_file,
                cert_key_file: t.cert_key_file,
                allow_invalid_certificates: t.allow_invalid_certificates,
            }),
            connect_timeout_ms: m.connect_timeout_ms.unwrap_or(d.connect_timeout_ms),
            server_selection_timeout_ms: m
                .server_selection_timeout_ms
                .unwrap_or(d.server_selection_timeout_ms),
            write_concern: m.write_concern.unwrap_or(d.write_concern),
            max_batch: m.max_batch.unwrap_or(d.max_batch),
        }),
    };
    let defaults = BatchSettings::default();
    let http_token = secret(
        "http.token",
        raw.http.token_env.as_ref(),
        raw.http.token_file.as_ref(),
        environment,
    )?;
    Ok(Config {
        http_token,
        start_paused: raw.start_paused,
        pause_poll: raw
            .pause
            .poll_ms
            .map(Duration::from_millis)
            .unwrap_or(fdc_engine::runtime::DEFAULT_PAUSE_POLL),
        kafka,
        mongodb,
        batch: BatchSettings {
            max_messages: raw.batch.max_messages.unwrap_or(defaults.max_messages),
            linger: raw
                .batch
                .linger_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.linger),
            read_ahead: raw.batch.read_ahead.unwrap_or(defaults.read_ahead),
            rebuild_parallelism: raw.batch.rebuild_parallelism,
        },
        dead_letter_topic: raw
            .dead_letter
            .topic
            .unwrap_or_else(|| DEFAULT_DEAD_LETTER_TOPIC.into()),
        events: raw.events.enabled.unwrap_or(true),
        http_listen: raw.http.listen,
        trigger_topic: raw
            .triggers
            .topic
            .unwrap_or_else(|| DEFAULT_TRIGGER_TOPIC.into()),
        trigger_transport: match raw.triggers.transport.as_deref() {
            Some("mongodb") => TriggerTransportSetting::Mongodb {
                collection: raw
                    .triggers
                    .collection
                    .unwrap_or_else(|| fdc_mongo::triggers::DEFAULT_COLLECTION.into()),
                claim_timeout: raw
                    .triggers
                    .claim_timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(CLAIM_TIMEOUT),
            },
            // The schema admits only `kafka` and `mongodb`.
            _ => TriggerTransportSetting::Kafka,
        },
        triggers_in_process: raw.triggers.in_process.unwrap_or(true),
        max_clock_skew: match raw.ingest.max_clock_skew_ms {
            None => Some(fdc_engine::runtime::DEFAULT_MAX_CLOCK_SKEW),
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        },
    })
}
