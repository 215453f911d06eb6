//! What a topic still holds of its history, for `fdc plan` and `fdc apply` before a
//! projection is (re-)ingested from its earliest retained offset.
//!
//! In: the client settings, the topic renames, the pipeline's consumer group id and the plan
//! topics to look at. Out: per topic a [`TopicHistory`]: every partition's earliest retained
//! offset (the low watermark), its end (the high watermark) and the group's committed offset,
//! and the topic's `cleanup.policy` and `retention.ms` (AdminClient `describe_configs`).
//! A partition whose earliest retained offset is above 0 lost its first messages: retention
//! (time or size) or a records deletion deleted them, so a re-read from the earliest offset
//! cannot see them ([`TopicHistory::deleted`]). Compaction (`cleanup.policy=compact`) removes
//! the older messages of a key but keeps its latest one and moves no earliest offset: it
//! loses nothing a re-read needs.
//!
//! Guarantees: only metadata, watermarks, the group's committed offsets and the topic's
//! configuration are read, never a message, and no topic is created by asking; the group is not joined (its offsets are fetched
//! by a consumer that never subscribes) and nothing is committed; every broker request waits
//! at most [`ASK_TIMEOUT`]; errors are scrubbed of configured secrets
//! ([`KafkaClientConfig::describe`]).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::TopicPartitionList;

use super::config::{KafkaClientConfig, TopicMap};

/// Longest wait of each broker request.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// One partition's offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionHistory {
    pub partition: i32,
    /// The earliest retained offset (low watermark): the offsets below it are gone.
    pub earliest: i64,
    /// The high watermark: the offset the next message gets.
    pub end: i64,
    /// The pipeline's consumer group's committed offset (`None`: it committed none).
    pub committed: Option<i64>,
}

/// What a topic holds of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicHistory {
    /// The topic as the plan names it.
    pub topic: String,
    /// The topic on the broker (the plan topic unless renamed).
    pub broker_topic: String,
    /// Every partition, by number.
    pub partitions: Vec<PartitionHistory>,
    /// `cleanup.policy` (`delete`, `compact`, `compact,delete`), when the broker told it.
    pub cleanup_policy: Option<String>,
    /// `retention.ms` (`-1`: forever), when the broker told it.
    pub retention_ms: Option<i64>,
}

impl TopicHistory {
    /// How many offsets are gone below the earliest retained ones, over every partition (the
    /// messages deleted, counting any transaction markers among them).
    pub fn deleted(&self) -> i64 {
        self.partitions.iter().map(|p| p.earliest.max(0)).sum()
    }

    /// How many of the [`deleted`](Self::deleted) offsets the group had consumed (below both
    /// its committed offset and the earliest retained one).
    pub fn deleted_after_read(&self) -> i64 {
        self.partitions
            .iter()
            .map(|p| p.committed.unwrap_or(0).clamp(0, p.earliest.max(0)))
            .sum()
    }

    /// The partitions that lost messages, as `partition 0 starts at offset 12, partition 2 at
    /// offset 3`.
    pub fn starts(&self) -> String {
        let lost: Vec<&PartitionHistory> =
            self.partitions.iter().filter(|p| p.earliest > 0).collect();
        lost.iter()
            .enumerate()
            .map(|(i, p)| {
                if i == 0 {
                    format!("partition {} starts at offset {}", p.partition, p.earliest)
                } else {
                    format!("partition {} at offset {}", p.partition, p.earliest)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The topic's configuration as `cleanup.policy=delete, retention.ms=604800000` (what the
    /// broker told of it; empty when nothing).
    pub fn settings(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.cleanup_policy {
            parts.push(format!("cleanup.policy={p}"));
        }
        if let Some(r) = self.retention_ms {
            parts.push(format!("retention.ms={r}"));
        }
        parts.join(", ")
    }
}

/// Asks the broker what each of `topics` (plan names) still holds, with the committed offsets
/// of `group` (see the module docs), with one consumer and one admin client for them all.
/// `Err`: the clients could not be made or the configurations asked; otherwise per topic, in
/// the order of `topics`, its history or why it could not be asked (e.g. it does not exist),
/// as messages without secrets.
pub async fn topic_histories(
    client: &KafkaClientConfig,
    topic_map: &TopicMap,
    group: &str,
    topics: &[String],
) -> Result<Vec<Result<TopicHistory, String>>, String> {
    let mut config = client.client_config();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer = config.create().map_err(|e| client.describe(&e))?;
    let asked: Vec<(String, String)> = topics
        .iter()
        .map(|t| (t.clone(), topic_map.to_broker(t).to_string()))
        .collect();
    let offsets = {
        let client = client.clone();
        let brokers: Vec<String> = asked.iter().map(|(_, b)| b.clone()).collect();
        tokio::task::spawn_blocking(move || partitions(&consumer, &client, &brokers))
            .await
            .map_err(|e| format!("the offsets ask stopped: {e}"))?
    };
    let admin: AdminClient<DefaultClientContext> = client
        .client_config()
        .create()
        .map_err(|e| client.describe(&e))?;
    let specifiers: Vec<ResourceSpecifier<'_>> = asked
        .iter()
        .map(|(_, broker)| ResourceSpecifier::Topic(broker))
        .collect();
    let options = AdminOptions::new().request_timeout(Some(ASK_TIMEOUT));
    let described = admin
        .describe_configs(&specifiers, &options)
        .await
        .map_err(|e| client.describe(&e))?;
    let mut out = Vec::new();
    for (i, ((topic, broker_topic), partitions)) in asked.into_iter().zip(offsets).enumerate() {
        let resource = described.get(i).and_then(|r| r.as_ref().ok());
        let value = |name: &str| {
            resource
                .and_then(|r| r.get(name))
                .and_then(|e| e.value.clone())
        };
        out.push(partitions.map(|partitions| TopicHistory {
            topic,
            broker_topic,
            partitions,
            cleanup_policy: value("cleanup.policy"),
            retention_ms: value("retention.ms").and_then(|v| v.parse().ok()),
        }));
    }
    Ok(out)
}

/// Per broker topic of `broker_topics`: every partition with its watermarks and the
/// consumer's group's committed offset (asked for all topics at once,
/// `group::partition_offsets`), or why the topic could not be asked.
fn partitions(
    consumer: &BaseConsumer,
    client: &KafkaClientConfig,
    broker_topics: &[String],
) -> Vec<Result<Vec<PartitionHistory>, String>> {
    let failed = |e: rdkafka::error::KafkaError| client.describe(&e);
    let known: Vec<Result<Vec<i32>, String>> = broker_topics
        .iter()
        .map(|t| partition_ids(consumer, t).map_err(|e| e.unwrap_or_else(failed)))
        .collect();
    let mut tpl = TopicPartitionList::new();
    for (topic, ids) in broker_topics.iter().zip(&known) {
        for id in ids.iter().flatten() {
            tpl.add_partition(topic, *id);
        }
    }
    let offsets = if tpl.count() == 0 {
        Ok(Vec::new())
    } else {
        super::group::partition_offsets(consumer, &tpl).map_err(failed)
    };
    broker_topics
        .iter()
        .zip(known)
        .map(|(topic, ids)| {
            ids?;
            let offsets = offsets.as_ref().map_err(String::clone)?;
            let mut out: Vec<PartitionHistory> = offsets
                .iter()
                .filter(|((t, _), ..)| t == topic)
                .map(
                    |((_, partition), committed, earliest, end)| PartitionHistory {
                        partition: *partition,
                        earliest: *earliest,
                        end: *end,
                        committed: *committed,
                    },
                )
                .collect();
            out.sort_by_key(|p| p.partition);
            Ok(out)
        })
        .collect()
}

/// The partition numbers of `broker_topic` (`Err(Ok(reason))`: the broker has no such topic
/// or no partition of it; `Err(Err(e))`: the ask failed).
fn partition_ids(
    consumer: &BaseConsumer,
    broker_topic: &str,
) -> Result<Vec<i32>, Result<String, rdkafka::error::KafkaError>> {
    let metadata = consumer
        .fetch_metadata(Some(broker_topic), ASK_TIMEOUT)
        .map_err(Err)?;
    let mut ids = Vec::new();
    for t in metadata.topics() {
        if let Some(e) = t.error() {
            let code = rdkafka::types::RDKafkaErrorCode::from(e);
            if code == rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition {
                return Err(Ok(format!(
                    "topic `{broker_topic}` does not exist on the broker"
                )));
            }
            return Err(Ok(format!("topic `{broker_topic}`: {code}")));
        }
        ids.extend(t.partitions().iter().map(|p| p.id()));
    }
    if ids.is_empty() {
        return Err(Ok(format!(
            "topic `{broker_topic}`: the broker knows no partition of it"
        )));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(partitions: &[(i64, Option<i64>)], policy: Option<&str>) -> TopicHistory {
        TopicHistory {
            topic: "t".into(),
            broker_topic: "env.t".into(),
            partitions: partitions
                .iter()
                .enumerate()
                .map(|(i, (earliest, committed))| PartitionHistory {
                    partition: i as i32,
                    earliest: *earliest,
                    end: 100,
                    committed: *committed,
                })
                .collect(),
            cleanup_policy: policy.map(str::to_owned),
            retention_ms: Some(604_800_000),
        }
    }

    #[test]
    fn deleted_offsets_and_what_the_group_had_read_of_them() {
        let h = history(
            &[(12, Some(50)), (0, Some(7)), (3, Some(1))],
            Some("delete"),
        );
        assert_eq!(h.deleted(), 15);
        assert_eq!(h.deleted_after_read(), 12 + 1);
        assert_eq!(
            h.starts(),
            "partition 0 starts at offset 12, partition 2 at offset 3"
        );
        assert_eq!(
            h.settings(),
            "cleanup.policy=delete, retention.ms=604800000"
        );
        let none = history(&[(0, None)], None);
        assert_eq!((none.deleted(), none.deleted_after_read()), (0, 0));
        assert_eq!(none.starts(), "");
        assert_eq!(history(&[(5, None)], None).deleted_after_read(), 0);
    }
}
