//! The preview source: reads the ingestion topics by plain partition assignment, as no
//! group's member, and never commits (`fdc preview`).
//!
//! In: a [`PreviewSourceConfig`] (client settings, topics, where to start). Out: batches of
//! [`fdc_core::change::Message`]s as [`crate::KafkaSource`] hands them out, with empty acks.
//!
//! Guarantees:
//! - the consumer joins no group: partitions are assigned, not subscribed to, under a
//!   throw-away group id unique to the process (librdkafka assigns only with one; it replaces
//!   any `group.id` of the client's properties, so it is never the deployment's group); auto
//!   commit is off and [`Source::commit`] does nothing (acks carry no positions), so the real
//!   group's offsets and membership are untouched and the broker keeps nothing of the
//!   throw-away group;
//! - every partition of the topics is assigned when the source connects, starting
//!   at [`StartAt`]: the high watermark (from now on), the low watermark (from the
//!   beginning), or `N` messages before the high watermark (at the low one at the earliest);
//! - with a start other than [`StartAt::Now`] the high watermarks at the connection are the
//!   end: messages at or past a partition's end are left out, and the source ends (`Ok(None)`)
//!   once every partition was read up to its end (a partition end signalled by the client
//!   counts, so a compacted tail ends it too).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

use super::config::{KafkaClientConfig, TopicMap};
use super::source::{is_fatal, message_of};
use fdc_core::source::{Ack, Source, SourceBatch, SourceItem};
use fdc_core::store::StoreError;

/// Where a preview starts reading each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At the high watermark: only messages produced from now on; no end.
    Now,
    /// At the low watermark (the earliest retained message); ends at the high watermark.
    Earliest,
    /// This many messages before the high watermark; ends at the high watermark.
    Last(u64),
}

/// Settings of a [`PreviewSource`].
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewSourceConfig {
    pub client: KafkaClientConfig,
    /// The plan's ingestion topics.
    pub topics: Vec<String>,
    /// Renames from plan topics to broker topics.
    pub topic_map: TopicMap,
    /// Longest wait for a batch to fill.
    pub linger: Duration,
    pub start: StartAt,
}

/// A group id unique to this process and moment (`fdc-preview.<pid>.<nanoseconds>`).
fn throw_away_group() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("fdc-preview.{}.{nanos}", std::process::id())
}

/// How long metadata and watermark requests may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A reader of the topics outside any group (see the module docs).
pub struct PreviewSource {
    consumer: Arc<StreamConsumer>,
    config: PreviewSourceConfig,
    /// Per (broker topic, partition): the end still to reach (none from now on).
    ends: BTreeMap<(String, i32), i64>,
}

impl PreviewSource {
    /// Creates the consumer and assigns every partition at its start (so "from now on"
    /// means from the moment this returns).
    pub async fn connect(config: PreviewSourceConfig) -> Result<PreviewSource, StoreError> {
        let op = "create kafka consumer";
        if config.topics.is_empty() {
            return Err(StoreError::fatal(op, "the pipeline has no ingestion topic"));
        }
        let mut c = config.client.client_config();
        // librdkafka assigns partitions only to a consumer with a group id; a fresh one that
        // no deployment uses (replacing one among the free-form properties) is never joined
        // (no subscription) and never committed to, so the broker keeps nothing of it.
        c.set("group.id", throw_away_group())
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true");
        let consumer: StreamConsumer = c
            .create()
            .map_err(|e| StoreError::fatal(op, config.client.describe(&e)))?;
        let mut source = PreviewSource {
            consumer: Arc::new(consumer),
            config,
            ends: BTreeMap::new(),
        };
        source.ends = source.assign().await?;
        Ok(source)
    }

    /// Assigns every partition at its start; returns the ends to reach (none from now on).
    async fn assign(&self) -> Result<BTreeMap<(String, i32), i64>, StoreError> {
        let consumer = self.consumer.clone();
        let topics: Vec<String> = self
            .config
            .topics
            .iter()
            .map(|t| self.config.topic_map.to_broker(t).to_string())
            .collect();
        let start = self.config.start;
        let client = self.config.client.clone();
        let describe = move |e: KafkaError| client.describe(&e);
        tokio::task::spawn_blocking(move || {
            let op = "assign kafka partitions";
            let mut list = TopicPartitionList::new();
            let mut ends = BTreeMap::new();
            for topic in &topics {
                let metadata = consumer
                    .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
                    .map_err(|e| StoreError::retryable(op, describe(e)))?;
                let partitions: Vec<i32> = metadata
                    .topics()
                    .iter()
                    .filter(|t| t.name() == topic)
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect();
                if partitions.is_empty() {
                    return Err(StoreError::fatal(
                        op,
                        format!("topic `{topic}` has no partitions (does it exist?)"),
                    ));
                }
                for p in partitions {
                    let (low, high) = consumer
                        .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
                        .map_err(|e| StoreError::retryable(op, describe(e)))?;
                    let from = match start {
                        StartAt::Now => high,
                        StartAt::Earliest => low,
                        StartAt::Last(n) => high
                            .saturating_sub(i64::try_from(n).unwrap_or(i64::MAX))
                            .max(low),
                    };
                    list.add_partition_offset(topic, p, Offset::Offset(from))
                        .map_err(|e| StoreError::fatal(op, describe(e)))?;
                    if start != StartAt::Now && from < high {
                        ends.insert((topic.clone(), p), high);
                    }
                }
            }
            consumer
                .assign(&list)
                .map_err(|e| StoreError::fatal(op, describe(e)))?;
            Ok(ends)
        })
        .await
        .map_err(|e| StoreError::fatal("assign kafka partitions", e))?
    }

    /// Drops the ends the consumer's positions have reached (after a partition end).
    fn positions_reached(&self, ends: &mut BTreeMap<(String, i32), i64>) {
        if let Ok(positions) = self.consumer.position() {
            for e in positions.elements() {
                if let Offset::Offset(at) = e.offset() {
                    let key = (e.topic().to_string(), e.partition());
                    if ends.get(&key).is_some_and(|end| at >= *end) {
                        ends.remove(&key);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Source for PreviewSource {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        let mut ends = std::mem::take(&mut self.ends);
        let bounded = self.config.start != StartAt::Now;
        if bounded && ends.is_empty() {
            // Every partition was read up to its end (or was empty at the start).
            return Ok(None);
        }
        let deadline = Instant::now() + self.config.linger;
        let mut items = Vec::new();
        while items.len() < max.max(1) && !(bounded && ends.is_empty()) {
            let received = match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_) => break,
                Ok(r) => r,
            };
            match received {
                Ok(m) => {
                    let key = (m.topic().to_string(), m.partition());
                    if bounded {
                        let Some(end) = ends.get(&key).copied() else {
                            continue; // past its end (or a partition with nothing to read)
                        };
                        if m.offset() >= end {
                            ends.remove(&key);
                            continue;
                        }
                        if m.offset() + 1 >= end {
                            ends.remove(&key);
                        }
                    }
                    items.push(SourceItem::Message(message_of(&self.config.topic_map, &m)));
                }
                Err(KafkaError::PartitionEOF(_)) => self.positions_reached(&mut ends),
                Err(e) if is_fatal(&e) => {
                    return Err(StoreError::fatal(
                        "consume from kafka",
                        self.config.client.describe(&e),
                    ))
                }
                Err(e) => {
                    // librdkafka recovers from transport and leader errors by itself.
                    tracing::warn!(error = %self.config.client.describe(&e), "kafka consumer error");
                    break;
                }
            }
        }
        self.ends = ends;
        Ok(Some(SourceBatch {
            items,
            ack: Ack::default(),
        }))
    }

    /// Nothing to commit: the preview belongs to no group (see the module docs).
    async fn commit(&mut self, _ack: &Ack) -> Result<(), StoreError> {
        Ok(())
    }
}
