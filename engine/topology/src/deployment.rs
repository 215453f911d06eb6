//! The description of a deployment: what one process runs, and on what.
//!
//! In: what a command knows (its flags, `fdc.yaml`, the environment, already read by the CLI).
//! Out: a [`Deployment`], plain data; [`crate::build`] turns it into running parts.
//!
//! Every choice a command makes about its adapters is one of the enums below, so a new kind
//! of store, source or sink is added here and in `build.rs`, and nowhere else. The production
//! variants exist only with the crate features `kafka` / `mongo`: a build without them has no
//! Kafka or MongoDB client at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fdc_embedded::DiskOptions;
use fdc_engine::runtime::{Counters, Role, RuntimeConfig};
use fdc_engine::store::{DeadLetterSink, EventSink};
use fdc_file::FileInput;
use fdc_plan::Plan;

use crate::build::OpenedStore;

/// One process's deployment: the plan, the stages it runs, and its adapters.
pub struct Deployment {
    pub plan: Plan,
    /// Which stages this process runs.
    pub role: Role,
    /// Where messages come from.
    pub input: Input,
    /// Where projections and single views are kept.
    pub store: StoreSpec,
    /// Where single-view and projection events go.
    pub events: EventsSpec,
    /// Where dead letters go.
    pub dead_letters: DeadLettersSpec,
    /// How triggers travel from the ingest stage to the aggregate stage.
    pub triggers: TriggersSpec,
    /// The Kafka producer shared by every Kafka sink (events, dead letters, triggers); needed
    /// when one of them is on Kafka.
    #[cfg(feature = "kafka")]
    pub producer: Option<fdc_kafka::KafkaProducerConfig>,
    pub runtime: RuntimeConfig,
    /// Shared with an operations endpoint; the engine counts into them.
    pub counters: Arc<Counters>,
    /// How the pause state kept in the store is followed.
    pub pause: PauseSpec,
}

/// How a deployment with input follows the pause state kept in its store (`fdc pause`,
/// `fdc resume`, the operations endpoint): read at the start and every `poll`.
#[derive(Debug, Clone)]
pub struct PauseSpec {
    /// The interval between two reads of the state (every replica polls it).
    pub poll: std::time::Duration,
    /// `fdc run --paused` / `start_paused: true`: the whole process paused with this item
    /// before anything is read, unless the store holds a pause of the whole process already
    /// (which is kept, with its time and author).
    pub start_paused: Option<fdc_engine::store::PauseItem>,
}

impl Default for PauseSpec {
    fn default() -> PauseSpec {
        PauseSpec {
            poll: fdc_engine::runtime::DEFAULT_PAUSE_POLL,
            start_paused: None,
        }
    }
}

impl Deployment {
    /// A deployment of `plan` with nothing chosen yet: no input, the in-memory store, events
    /// dropped, dead letters in the store, triggers in memory, default settings.
    pub fn new(plan: Plan) -> Deployment {
        Deployment {
            plan,
            role: Role::All,
            input: Input::None,
            store: StoreSpec::Memory,
            events: EventsSpec::Drop,
            dead_letters: DeadLettersSpec::Store,
            triggers: TriggersSpec::InProcess,
            #[cfg(feature = "kafka")]
            producer: None,
            runtime: RuntimeConfig::default(),
            counters: Arc::new(Counters::default()),
            pause: PauseSpec::default(),
        }
    }

    /// The embedded default (`fdc run --input`): `input` read into the embedded store, on
    /// `store` when given (opened with `disk`; then resumable: file positions are kept in it)
    /// or in memory;
    /// events to `<export>/events.jsonl` when exporting, else dropped; dead letters in the
    /// store (written out by [`crate::export::export`]).
    pub fn embedded(
        plan: Plan,
        input: FileInput,
        store: Option<PathBuf>,
        disk: DiskOptions,
        export: Option<&Path>,
    ) -> Deployment {
        let resume = store.is_some();
        Deployment {
            input: Input::Files { input, resume },
            store: store.map_or(StoreSpec::Memory, |path| StoreSpec::Directory {
                path,
                disk,
            }),
            events: export.map_or(EventsSpec::Drop, |dir| {
                EventsSpec::Jsonl(dir.join("events.jsonl"))
            }),
            ..Deployment::new(plan)
        }
    }

    /// A Kafka deployment (`fdc run --config`): `source` in (its topics filled from the plan
    /// when empty), events produced when `events` (else dropped), dead letters produced to
    /// `dead_letter_topic` (a broker topic), triggers in memory; the store stays in memory
    /// until set.
    #[cfg(feature = "kafka")]
    pub fn kafka(
        plan: Plan,
        source: fdc_kafka::KafkaSourceConfig,
        producer: fdc_kafka::KafkaProducerConfig,
        dead_letter_topic: String,
        events: bool,
    ) -> Deployment {
        Deployment {
            input: Input::Kafka(Box::new(source)),
            events: if events {
                EventsSpec::Kafka
            } else {
                EventsSpec::Drop
            },
            dead_letters: DeadLettersSpec::Kafka {
                topic: dead_letter_topic,
            },
            producer: Some(producer),
            ..Deployment::new(plan)
        }
    }
}

/// Where messages come from.
pub enum Input {
    /// No messages: the parts are used directly (`fdc refresh`, `fdc test`).
    None,
    /// Newline-delimited JSON files (or stdin); `resume` keeps the positions in the store, so
    /// a second run skips what the first one wrote.
    Files { input: FileInput, resume: bool },
    /// A Kafka consumer group; `topics` is filled from the plan when empty. An aggregate stage
    /// reads the trigger topic instead, in the group `<group>.aggregate`.
    #[cfg(feature = "kafka")]
    Kafka(Box<fdc_kafka::KafkaSourceConfig>),
    /// The topics read outside any group, never committed (`fdc preview`); `topics` is filled
    /// from the plan when empty. Only for a `--role all` deployment with in-memory triggers.
    #[cfg(feature = "kafka")]
    KafkaPreview(Box<fdc_kafka::PreviewSourceConfig>),
}

/// Where projections and single views are kept.
#[derive(Clone)]
pub enum StoreSpec {
    /// The embedded store in memory (gone with the process).
    Memory,
    /// The embedded store on a directory (created when missing), with the cache settings the
    /// caller read (the CLI: `FDC_STORE_CACHE_MB`; this crate reads no environment).
    Directory { path: PathBuf, disk: DiskOptions },
    /// The embedded store on a directory that must exist already (`fdc refresh --store`,
    /// `fdc inspect`).
    ExistingDirectory { path: PathBuf, disk: DiskOptions },
    /// MongoDB.
    #[cfg(feature = "mongo")]
    Mongo(Box<fdc_mongo::MongoStoreConfig>),
    /// A store opened already (tests and benchmarks that seed it before the run, or read it
    /// while it runs).
    Opened(OpenedStore),
    /// This store read-only, every write (records, documents, failures, dead letters) kept in
    /// memory over it (`fdc preview`; [`fdc_embedded::overlay::OverlayStore`]).
    Overlay(Box<StoreSpec>),
}

/// Where events go.
pub enum EventsSpec {
    /// Counted and dropped (`events.enabled: false`, or nobody asked for them).
    Drop,
    /// Appended to a JSON-lines file (`fdc run --export`).
    Jsonl(PathBuf),
    /// A sink of the caller's: `fdc test` keeps events in memory ([`fdc_file::MemoryEvents`]),
    /// a benchmark counts them.
    Sink(Arc<dyn EventSink>),
    /// Produced to the topics the plan names (with the producer's topic map).
    #[cfg(feature = "kafka")]
    Kafka,
}

/// Where dead letters go.
pub enum DeadLettersSpec {
    /// Into the store (the embedded store keeps them; `fdc run --export` writes them out).
    Store,
    /// Refused with this reason: a deployment that reads no messages has none (`fdc refresh`),
    /// so a dead letter there is a bug that must not pass silently.
    Refused(&'static str),
    /// A sink of the caller's (a benchmark that keeps them apart from its store).
    Sink(Arc<dyn DeadLetterSink>),
    /// Produced to this broker topic.
    #[cfg(feature = "kafka")]
    Kafka { topic: String },
}

/// How triggers travel between the ingest and the aggregate stage.
pub enum TriggersSpec {
    /// In memory, inside one `--role all` process (one replica).
    InProcess,
    /// A Kafka topic (as the pipeline names it: the producer's topic map applies). With
    /// `--role all`, both stages run side by side over it.
    #[cfg(feature = "kafka")]
    KafkaTopic(String),
    /// The MongoDB projection-changes collection (the store must be MongoDB).
    #[cfg(feature = "mongo")]
    MongoCollection {
        collection: String,
        /// A claim older than this is taken over (its owner died).
        claim_timeout: std::time::Duration,
        /// How often an idle aggregate looks for pending triggers.
        poll: std::time::Duration,
        /// Who claims (unique per process).
        owner: String,
    },
}

/// A deployment that cannot be built: its message and the exit code it deserves (2: the
/// description is inconsistent, a usage or configuration error; 1: a service or the plan
/// failed).
#[derive(Debug)]
pub struct BuildError {
    pub code: u8,
    pub message: String,
}

impl BuildError {
    pub(crate) fn usage(message: impl ToString) -> BuildError {
        BuildError {
            code: 2,
            message: message.to_string(),
        }
    }

    pub(crate) fn failed(message: impl ToString) -> BuildError {
        BuildError {
            code: 1,
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}
