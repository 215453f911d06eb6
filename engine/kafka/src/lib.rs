//! Kafka adapters: the consumer-group [`KafkaSource`], the [`PreviewSource`] of `fdc preview`
//! (assigned partitions, no group membership, never commits), the producer sinks ([`KafkaEvents`],
//! [`KafkaDeadLetters`], [`KafkaTriggers`] between split roles), and [`history`]: what a topic
//! still retains of its history, for `fdc plan` before a re-ingest.
//!
//! In: a [`KafkaClientConfig`] (brokers, security, free-form librdkafka properties) and, per
//! adapter, its own settings. Out: [`fdc_core::source::Source`] batches of
//! [`fdc_core::change::Message`]s; events and dead letters on Kafka topics.
//!
//! Guarantees:
//! - the source never commits an offset by itself (`enable.auto.commit=false`,
//!   `enable.auto.offset.store=false`); it commits only the positions the runtime hands to
//!   `commit`, which are behind the durable watermark; positions of partitions revoked since
//!   they were read are dropped, never committed;
//! - the sinks produce with `enable.idempotence=true` and `acks=all`, and a call returns only
//!   when every record of it is acknowledged by the broker;
//! - credentials never appear in a `Debug` output, an error or a log line.

mod config;
mod group;
pub mod history;
mod preview;
mod sink;
mod source;
mod triggers;

pub use config::{KafkaClientConfig, KafkaSaslConfig, KafkaTlsConfig, Secret, TopicMap};
pub use preview::{PreviewSource, PreviewSourceConfig, StartAt};
pub use sink::{headers, KafkaDeadLetters, KafkaEvents, KafkaProducer, KafkaProducerConfig};
pub use source::{KafkaSource, KafkaSourceConfig};
pub use triggers::KafkaTriggers;
