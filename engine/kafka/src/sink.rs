//! The Kafka sinks: events and dead letters produced to topics, acknowledged before returning.
//!
//! In: batches of [`Event`]s (projection and single-view updates) and of [`DeadLetter`]s. Out:
//! - an event is one record on the topic its declaration names (renamed through the
//!   [`TopicMap`]): key = the JSON of the event's key, value = the JSON of the event as in
//!   `schemas/events/` (`kind`, `topic`, name, `key`, `op`, optional `before`/`after`);
//! - a dead letter is one record on the dead-letter topic: key and value are the original
//!   message's key and value bytes, exactly as read ([`DeadLetter::original`]; absent stays
//!   absent), with the headers
//!   [`headers::REASON`], [`headers::SOURCE_TOPIC`] (the broker name),
//!   [`headers::SOURCE_PARTITION`], [`headers::SOURCE_OFFSET`] and, when known,
//!   [`headers::PROJECTION`], saying why and where it came from. Input that never was a
//!   message (a malformed line of a file source) has no original bytes: its JSON form is sent.
//!
//! Guarantees: the producer runs with `enable.idempotence=true` and `acks=all`; a call returns
//! `Ok` only when the broker acknowledged every record of it, so the runtime may commit input
//! positions behind it. A failed delivery is a retryable error (the runtime retries the whole
//! batch: events are at-least-once, like the input).

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::config::{KafkaClientConfig, TopicMap};
use fdc_core::store::{DeadLetter, DeadLetterSink, Event, EventSink, StoreError};

/// Header names of dead-letter records.
pub mod headers {
    /// Why the message could not be used (names fields and types, never values).
    pub const REASON: &str = "fdc.reason";
    /// The topic the message was read from.
    pub const SOURCE_TOPIC: &str = "fdc.source.topic";
    /// Its partition (decimal text).
    pub const SOURCE_PARTITION: &str = "fdc.source.partition";
    /// Its offset (decimal text).
    pub const SOURCE_OFFSET: &str = "fdc.source.offset";
    /// The projection it was meant for, when known.
    pub const PROJECTION: &str = "fdc.projection";
}

/// Settings of a [`KafkaProducer`].
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaProducerConfig {
    pub client: KafkaClientConfig,
    pub topic_map: TopicMap,
    /// Longest time a record may wait for its acknowledgement (`message.timeout.ms`).
    pub delivery_timeout: Duration,
    /// Producer batching delay (`linger.ms`).
    pub linger: Duration,
}

impl KafkaProducerConfig {
    /// Settings with the defaults: 30 s delivery timeout, 5 ms linger.
    pub fn new(client: KafkaClientConfig) -> KafkaProducerConfig {
        KafkaProducerConfig {
            client,
            topic_map: TopicMap::default(),
            delivery_timeout: Duration::from_secs(30),
            linger: Duration::from_millis(5),
        }
    }
}

/// An idempotent producer that sends batches and waits for all acknowledgements.
pub struct KafkaProducer {
    producer: FutureProducer,
    config: KafkaProducerConfig,
}

/// One record to send.
pub(super) struct Outgoing<'a> {
    pub(super) topic: &'a str,
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Option<Vec<u8>>,
    pub(super) headers: Option<OwnedHeaders>,
}

impl KafkaProducer {
    /// Creates the producer (it connects lazily).
    pub fn connect(config: KafkaProducerConfig) -> Result<KafkaProducer, StoreError> {
        let mut c = config.client.client_config();
        c.set(
            "message.timeout.ms",
            config.delivery_timeout.as_millis().to_string(),
        )
        .set("linger.ms", config.linger.as_millis().to_string())
        .set("enable.idempotence", "true")
        .set("acks", "all");
        let producer: FutureProducer = c
            .create()
            .map_err(|e| StoreError::fatal("create kafka producer", config.client.describe(&e)))?;
        Ok(KafkaProducer { producer, config })
    }

    /// Sends the records and waits until the broker acknowledged each of them.
    pub(super) async fn send_all(
        &self,
        op: &str,
        records: Vec<Outgoing<'_>>,
    ) -> Result<(), StoreError> {
        let mut deliveries: Vec<DeliveryFuture> = Vec::with_capacity(records.len());
        for r in &records {
            loop {
                let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(r.topic);
                if let Some(k) = &r.key {
                    record = record.key(k.as_slice());
                }
                if let Some(v) = &r.value {
                    record = record.payload(v.as_slice());
                }
                if let Some(h) = &r.headers {
                    record = record.headers(h.clone());
                }
                match self.producer.send_result(record) {
                    Ok(d) => {
                        deliveries.push(d);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // The local queue is full: let deliveries drain, then try again.
                        self.producer.poll(Duration::from_millis(10));
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(self.error(op, &e)),
                }
            }
        }
        let mut first_error = None;
        for d in deliveries {
            match d.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    first_error.get_or_insert_with(|| self.error(op, &e));
                }
                Err(_) => {
                    first_error.get_or_insert_with(|| {
                        StoreError::retryable(op, "the producer dropped a delivery")
                    });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn error(&self, op: &str, e: &KafkaError) -> StoreError {
        StoreError::retryable(op, self.config.client.describe(e))
    }

    /// Waits until every queued record is delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), StoreError> {
        self.producer
            .flush(timeout)
            .map_err(|e| self.error("flush kafka producer", &e))
    }
}

/// Publishes events on their declared topics.
pub struct KafkaEvents {
    producer: std::sync::Arc<KafkaProducer>,
}

impl KafkaEvents {
    /// Events through `producer`.
    pub fn new(producer: std::sync::Arc<KafkaProducer>) -> KafkaEvents {
        KafkaEvents { producer }
    }
}

#[async_trait]
impl EventSink for KafkaEvents {
    async fn publish(&self, events: Vec<Event>) -> Result<(), StoreError> {
        let op = "publish events to kafka";
        let map = &self.producer.config.topic_map;
        let mut records = Vec::with_capacity(events.len());
        for e in &events {
            let (topic, key) = match e {
                Event::ProjectionUpdate { topic, key, .. }
                | Event::SingleViewUpdate { topic, key, .. } => (topic, key),
            };
            records.push(Outgoing {
                topic: map.to_broker(topic),
                key: Some(serde_json::to_vec(key).map_err(|e| StoreError::fatal(op, e))?),
                value: Some(serde_json::to_vec(e).map_err(|e| StoreError::fatal(op, e))?),
                headers: None,
            });
        }
        self.producer.send_all(op, records).await
    }
}

/// Produces dead letters to one topic.
pub struct KafkaDeadLetters {
    producer: std::sync::Arc<KafkaProducer>,
    topic: String,
}

impl KafkaDeadLetters {
    /// Dead letters to `topic` (a broker topic name) through `producer`.
    pub fn new(producer: std::sync::Arc<KafkaProducer>, topic: &str) -> KafkaDeadLetters {
        KafkaDeadLetters {
            producer,
            topic: topic.into(),
        }
    }
}

/// The bytes of a key or value kept only in JSON form ([`fdc_core::store::raw_json`]): a string
/// that is not JSON text was the text itself; anything else was JSON.
fn bytes_of_json_form(v: &serde_json::Value) -> Option<Vec<u8>> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if serde_json::from_str::<serde_json::Value>(s).is_err() => {
            Some(s.as_bytes().to_vec())
        }
        other => serde_json::to_vec(other).ok(),
    }
}

#[async_trait]
impl DeadLetterSink for KafkaDeadLetters {
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        let map = &self.producer.config.topic_map;
        let records = letters
            .iter()
            .map(|d| {
                let partition = d.partition.to_string();
                let offset = d.offset.to_string();
                let mut h = OwnedHeaders::new()
                    .insert(Header {
                        key: headers::REASON,
                        value: Some(d.reason.as_bytes()),
                    })
                    .insert(Header {
                        key: headers::SOURCE_TOPIC,
                        value: Some(map.to_broker(&d.topic).as_bytes()),
                    })
                    .insert(Header {
                        key: headers::SOURCE_PARTITION,
                        value: Some(partition.as_bytes()),
                    })
                    .insert(Header {
                        key: headers::SOURCE_OFFSET,
                        value: Some(offset.as_bytes()),
                    });
                if let Some(p) = &d.projection {
                    h = h.insert(Header {
                        key: headers::PROJECTION,
                        value: Some(p.as_bytes()),
                    });
                }
                let (key, value) = match &d.original {
                    Some(o) => (o.key.clone(), o.value.clone()),
                    None => (bytes_of_json_form(&d.key), bytes_of_json_form(&d.value)),
                };
                Outgoing {
                    topic: &self.topic,
                    key,
                    value,
                    headers: Some(h),
                }
            })
            .collect();
        self.producer
            .send_all("write dead letters to kafka", records)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_core::store::raw_json;

    #[test]
    fn bytes_of_json_form_invert_raw_json_where_they_can() {
        for raw in [&b"not json {"[..], br#"{"id":1}"#, b"42", b"plain text"] {
            assert_eq!(
                bytes_of_json_form(&raw_json(Some(raw))).as_deref(),
                Some(raw),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert_eq!(bytes_of_json_form(&raw_json(None)), None);
        // The one ambiguity of raw_json: a JSON string literal comes back as its text.
        assert_eq!(
            bytes_of_json_form(&raw_json(Some(br#""quoted""#))).as_deref(),
            Some(&b"quoted"[..])
        );
    }
}
