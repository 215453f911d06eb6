//! Single-view triggers on a Kafka topic, between an ingest and an aggregate process.
//!
//! In: [`TriggerRecord`]s from the ingest stage. Out: one record per trigger on the trigger
//! topic, keyed by `(view, key)` ([`TriggerRecord::partition_key`]) so that every trigger of
//! one single view reaches the same partition, hence one aggregate process at a time; the
//! value is the trigger as JSON.
//!
//! Guarantees: `publish` returns only when the broker acknowledged every record (idempotent
//! producer, `acks=all`), so the ingest batch's offsets are committed behind its triggers.

use std::sync::Arc;

use async_trait::async_trait;

use super::sink::Outgoing;
use super::KafkaProducer;
use fdc_core::store::StoreError;
use fdc_core::trigger::{TriggerRecord, TriggerSink};

/// Publishes triggers to one broker topic.
pub struct KafkaTriggers {
    producer: Arc<KafkaProducer>,
    topic: String,
}

impl KafkaTriggers {
    /// Triggers to `topic` (a broker topic name) through `producer`.
    pub fn new(producer: Arc<KafkaProducer>, topic: &str) -> KafkaTriggers {
        KafkaTriggers {
            producer,
            topic: topic.into(),
        }
    }
}

#[async_trait]
impl TriggerSink for KafkaTriggers {
    async fn publish(&self, triggers: Vec<TriggerRecord>) -> Result<(), StoreError> {
        let op = "publish single-view triggers to kafka";
        let mut records = Vec::with_capacity(triggers.len());
        for t in &triggers {
            records.push(Outgoing {
                topic: &self.topic,
                key: Some(t.partition_key()?),
                value: Some(serde_json::to_vec(t).map_err(|e| StoreError::fatal(op, e))?),
                headers: None,
            });
        }
        self.producer.send_all(op, records).await
    }
}
