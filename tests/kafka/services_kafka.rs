//! Proof that the Kafka broker of `scripts/services` is real and does what fdc relies on, with
//! the project's own client crate (`rdkafka`): a topic with several partitions made through the
//! admin API, keyed messages from an idempotent producer (one key, one partition, in order),
//! a consumer group that commits offsets, and a restarted consumer that resumes exactly after
//! the committed offsets.
//!
//! Needs a broker at `FDC_KAFKA_BROKERS` (default `127.0.0.1:9092`); a missing broker fails.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;
const KEYS: usize = 10;
const VERSIONS: usize = 3;
const TOTAL: usize = KEYS * VERSIONS;
/// How many messages the first consumer reads before it commits and goes away.
const FIRST_RUN: usize = 12;
const PHASE_TIMEOUT: Duration = Duration::from_secs(60);

/// One consumed record: where it was and what it said.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    partition: i32,
    offset: i64,
    key: String,
    value: String,
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PHASE_TIMEOUT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {PHASE_TIMEOUT:?} while {what}"),
    }
}

fn consumer(brokers: &str, group: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

async fn receive(consumer: &StreamConsumer, n: usize) -> Vec<Seen> {
    let mut seen = Vec::with_capacity(n);
    while seen.len() < n {
        let m = consumer.recv().await.expect("consume a message");
        let text =
            |b: Option<&[u8]>| String::from_utf8(b.expect("present").to_vec()).expect("utf-8");
        seen.push(Seen {
            partition: m.partition(),
            offset: m.offset(),
            key: text(m.key()),
            value: text(m.payload()),
        });
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_group_resumes_after_committed_offsets() {
    let brokers = support::require_kafka();
    let topic = support::unique_name("fdc_it_kafka");
    let group = support::unique_name("fdc_it_group");

    // 1. A topic with several partitions, through the admin API.
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("create admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let created = within(
        "creating the topic",
        admin.create_topics(
            &[NewTopic::new(
                &topic,
                PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &opts,
        ),
    )
    .await
    .expect("create_topics request");
    assert_eq!(created.len(), 1);
    if let Err((name, code)) = &created[0] {
        panic!("topic {name} not created: {code:?}");
    }
    // The controller answers the creation before every broker's metadata holds the new
    // partitions (a loaded machine showed a topic with none for a moment): ask until they
    // show up, then check their number.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let partitions = loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("topic metadata");
        let described = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .expect("the new topic is in the metadata");
        let n = described.partitions().len();
        if n > 0 || std::time::Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(partitions, PARTITIONS as usize);

    // Creating it again is refused: the broker really keeps topics.
    let again = within(
        "re-creating the topic",
        admin.create_topics(
            &[NewTopic::new(
                &topic,
                PARTITIONS,
                TopicReplication::Fixed(1),
            )],
            &opts,
        ),
    )
    .await
    .expect("create_topics request");
    assert!(
        matches!(&again[0], Err((_, RDKafkaErrorCode::TopicAlreadyExists))),
        "{again:?}"
    );

    // 2. Keyed messages from an idempotent producer; every key is sent VERSIONS times.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("create producer");
    let mut produced = BTreeSet::new();
    let mut partition_of_key: BTreeMap<String, i32> = BTreeMap::new();
    for version in 0..VERSIONS {
        for k in 0..KEYS {
            let key = format!("key-{k}");
            let value = format!("{key}@v{version}");
            let delivery = within(
                "producing",
                producer.send(
                    FutureRecord::to(&topic).key(&key).payload(&value),
                    Duration::from_secs(10),
                ),
            )
            .await
            .unwrap_or_else(|(err, _)| panic!("delivery of {value} failed: {err}"));
            let first = *partition_of_key
                .entry(key.clone())
                .or_insert(delivery.partition);
            assert_eq!(first, delivery.partition, "{key} moved between partitions");
            produced.insert(Seen {
                partition: delivery.partition,
                offset: delivery.offset,
                key,
                value,
            });
        }
    }
    assert_eq!(produced.len(), TOTAL);
    let used: BTreeSet<i32> = partition_of_key.values().copied().collect();
    assert!(
        used.len() > 1,
        "{KEYS} keys all went to one partition: {used:?}"
    );

    // 3. A consumer group member reads part of the topic and commits what it read.
    let first = consumer(&brokers, &group, &topic);
    let first_seen = within("consuming the first part", receive(&first, FIRST_RUN)).await;
    let mut next_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    for s in &first_seen {
        let next = next_offsets.entry(s.partition).or_insert(0);
        *next = (*next).max(s.offset + 1);
    }
    let mut commit = TopicPartitionList::new();
    for (&partition, &offset) in &next_offsets {
        commit
            .add_partition_offset(&topic, partition, Offset::Offset(offset))
            .expect("offset in list");
    }
    first
        .commit(&commit, CommitMode::Sync)
        .expect("commit offsets");
    let committed = first
        .committed_offsets(commit.clone(), Duration::from_secs(10))
        .expect("read committed offsets");
    for (&partition, &offset) in &next_offsets {
        let got = committed
            .find_partition(&topic, partition)
            .expect("committed partition")
            .offset();
        assert_eq!(got, Offset::Offset(offset), "partition {partition}");
    }
    drop(first); // closes the consumer and leaves the group

    // Within a partition the first run saw a prefix, in offset order.
    for s in &first_seen {
        assert!(produced.contains(s), "unexpected message {s:?}");
    }
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = first_seen
            .iter()
            .filter(|s| s.partition == p)
            .map(|s| s.offset)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: {offsets:?}"
        );
    }

    // 4. A restarted member of the same group resumes at the committed offsets: it receives
    // exactly the messages the first one did not, each once.
    let second = consumer(&brokers, &group, &topic);
    let remaining = TOTAL - FIRST_RUN;
    let second_seen = within("consuming the rest", receive(&second, remaining)).await;
    // Nothing more may arrive: no re-delivery of committed messages, no duplicates.
    if let Ok(extra) = tokio::time::timeout(Duration::from_secs(3), second.recv()).await {
        let m = extra.expect("consume");
        panic!(
            "unexpected extra message at partition {} offset {}",
            m.partition(),
            m.offset()
        );
    }
    let first_set: BTreeSet<Seen> = first_seen.into_iter().collect();
    let second_set: BTreeSet<Seen> = second_seen.iter().cloned().collect();
    assert_eq!(second_set.len(), remaining, "duplicates in {second_seen:?}");
    assert!(
        first_set.is_disjoint(&second_set),
        "re-delivered after commit"
    );
    let expected_rest: BTreeSet<Seen> = produced.difference(&first_set).cloned().collect();
    assert_eq!(second_set, expected_rest);

    // Per key, the versions arrive in the order they were produced.
    let mut all: Vec<Seen> = first_set.union(&second_set).cloned().collect();
    all.sort_by_key(|s| (s.partition, s.offset));
    for k in 0..KEYS {
        let key = format!("key-{k}");
        let values: Vec<&str> = all
            .iter()
            .filter(|s| s.key == key)
            .map(|s| s.value.as_str())
            .collect();
        let expected: Vec<String> = (0..VERSIONS).map(|v| format!("{key}@v{v}")).collect();
        assert_eq!(values, expected, "order of {key}");
    }

    drop(second);
    let _ = admin.delete_topics(&[&topic], &opts).await;
}
