//! The Kafka source and sinks against the real broker of `scripts/services`: the customer360
//! golden stream through multi-partition topics, with duplicates, out-of-order delivery and
//! poison messages, gives the single views of the embedded file run; offsets are committed only
//! through acks; a run stopped before its commit is exact after the restart; positions of
//! revoked partitions are never committed.
//!
//! Needs a broker at `FDC_KAFKA_BROKERS` (default `127.0.0.1:9092`); a missing broker fails.
//! Every test uses its own topics and consumer groups.

use crate::kafka_common;
use crate::support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fdc_embedded::EmbeddedStore;
use fdc_engine::change::Message;
use fdc_engine::runtime::{run, RuntimeConfig, Shutdown};
use fdc_engine::source::{Ack, Source, SourceBatch};
use fdc_engine::store::StoreError;
use fdc_kafka::{
    headers, KafkaClientConfig, KafkaProducerConfig, KafkaSource, KafkaSourceConfig, TopicMap,
};
use fdc_plan::Plan;
use fdc_topology::{build, DeadLettersSpec, Deployment, EventsSpec, Input, OpenedStore, StoreSpec};
use kafka_common::*;
use rdkafka::message::{Headers, Message as _};

const PARTITIONS: i32 = 3;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360/events.jsonl")
}

/// The value of the poison messages: not JSON, not even UTF-8.
const POISON: &[u8] = b"not json {\xff\xfe";

/// A poison message; its key is JSON with whitespace that a re-encoding would drop.
fn poison(topic: &str, n: i64) -> Message {
    Message {
        topic: topic.into(),
        partition: 0,
        offset: 0,
        key: Some(format!("{{\"CUSTOMER_ID\":  {n} }}").into_bytes()),
        value: Some(POISON.to_vec()),
        headers: vec![],
        timestamp: Some(1_709_280_000_000),
    }
}

/// The deployment of `plan` from Kafka into `store`, in small batches.
fn deployment(
    plan: &Plan,
    store: &Arc<EmbeddedStore>,
    brokers: &str,
    group: &str,
    map: &TopicMap,
    dlq: &str,
) -> Deployment {
    let client = KafkaClientConfig::new(brokers);
    let mut source = KafkaSourceConfig::new(client.clone(), group, vec![]);
    source.topic_map = map.clone();
    source.linger = Duration::from_millis(50);
    let mut producer = KafkaProducerConfig::new(client);
    producer.topic_map = map.clone();
    let mut deployment = Deployment::kafka(plan.clone(), source, producer, dlq.into(), true);
    deployment.store = StoreSpec::Opened(OpenedStore::Embedded(store.clone()));
    deployment.runtime = RuntimeConfig {
        batch_size: 7,
        ..RuntimeConfig::default()
    };
    deployment
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_stream_through_kafka_equals_the_embedded_run_with_duplicates_and_poison() {
    let brokers = support::require_kafka();
    let prefix = support::unique_name("it_src");
    let group = format!("{prefix}.group");
    let dlq = format!("{prefix}.dlq");
    let plan = plan("customer360");
    let events_topics = ["sv.customer_360", "catalogue.products.changes"];
    let map = unique_topics(&plan, &events_topics, &prefix);
    let mut topics: Vec<String> = map.renames.values().cloned().collect();
    create_topics(&brokers, &topics, PARTITIONS).await;
    create_topics(&brokers, std::slice::from_ref(&dlq), 1).await;
    topics.retain(|t| !events_topics.iter().any(|e| t.ends_with(e)));

    let golden_messages = file_messages(&golden()).await;
    let customers = "crm.public.customers";
    // The stream, two poison messages in the middle, then the whole stream again: every
    // message is delivered twice, and the second copies arrive after newer versions.
    let mid = golden_messages.len() / 2;
    let mut stream: Vec<Message> = golden_messages[..mid].to_vec();
    stream.push(poison(customers, 901));
    stream.extend_from_slice(&golden_messages[mid..]);
    stream.push(poison(customers, 902));
    stream.extend_from_slice(&golden_messages);
    let p = producer(&brokers);
    let counts = produce(&p, &map, &stream).await;
    let used_partitions = counts.len();
    assert!(used_partitions >= 3, "{counts:?}");

    let store = Arc::new(EmbeddedStore::in_memory());
    let shutdown = Arc::new(Shutdown::new());
    let stop = shutdown.clone();
    let deployment = deployment(&plan, &store, &brokers, &group, &map, &dlq);
    let handle = tokio::spawn(async move {
        let mut built = build(deployment).await.expect("build");
        built.run(&stop).await
    });
    wait_committed(&brokers, &group, &topics, PARTITIONS, stream.len() as i64).await;
    shutdown.trigger();
    let summary = within("stopping", handle)
        .await
        .expect("run task")
        .expect("run");
    assert_eq!(summary.consumed, stream.len() as u64);
    // The golden stream has bad messages of its own, sent twice here.
    let (expected, golden_dead) = reference_run(&plan, &golden()).await;
    assert_eq!(summary.dead_lettered, 2 + 2 * golden_dead);

    assert!(!expected.is_empty());
    let got = view_lines(&plan, |v| store.all_documents(v).expect("documents"));
    assert_same_views(&got, &expected);

    // The dead letters: original bytes, the reason and where they came from.
    let letters = read_topic(&brokers, &dlq, summary.dead_lettered as usize).await;
    let mut keys = Vec::new();
    for l in &letters {
        let h = l.headers().expect("headers");
        assert!(h.iter().any(|x| x.key == headers::REASON));
        if l.payload() != Some(POISON) {
            // A golden message: its bytes are in the input, byte for byte.
            let original = stream
                .iter()
                .any(|m| m.key.as_deref() == l.key() && m.value.as_deref() == l.payload());
            assert!(
                original,
                "a dead letter whose bytes are not an input message's"
            );
            continue;
        }
        let h = l.headers().expect("headers");
        let get = |name: &str| {
            h.iter()
                .find(|x| x.key == name)
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).to_string())
        };
        assert!(get(headers::REASON).is_some_and(|r| !r.is_empty()));
        assert_eq!(
            get(headers::SOURCE_TOPIC).as_deref(),
            Some(map.to_broker(customers))
        );
        let partition: i32 = get(headers::SOURCE_PARTITION)
            .expect("partition")
            .parse()
            .expect("int");
        assert!((0..PARTITIONS).contains(&partition));
        assert!(get(headers::SOURCE_OFFSET)
            .expect("offset")
            .parse::<i64>()
            .is_ok());
        keys.push(String::from_utf8_lossy(l.key().expect("key")).to_string());
    }
    keys.sort();
    assert_eq!(
        keys,
        vec![r#"{"CUSTOMER_ID":  901 }"#, r#"{"CUSTOMER_ID":  902 }"#]
    );

    // Events were produced and acknowledged: as many records as the run counted.
    let names: Vec<&str> = events_topics.iter().map(|t| map.to_broker(t)).collect();
    let events = read_topics(&brokers, &names, summary.events as usize).await;
    assert!(events
        .iter()
        .any(|e| e.topic() == map.to_broker("sv.customer_360")));
    for e in &events {
        let v: serde_json::Value =
            serde_json::from_slice(e.payload().expect("value")).expect("json");
        let key: serde_json::Value = serde_json::from_slice(e.key().expect("key")).expect("json");
        assert_eq!(v["key"], key);
        let kind = if e.topic() == map.to_broker("sv.customer_360") {
            "single_view_update"
        } else {
            "projection_update"
        };
        assert_eq!(v["kind"], kind);
    }
}

/// Reads batches until `n` messages came (or the phase times out).
async fn read_n(source: &mut KafkaSource, n: usize) -> (Vec<Message>, Vec<Ack>) {
    let mut messages = Vec::new();
    let mut acks = Vec::new();
    within("reading from the source", async {
        while messages.len() < n {
            let batch = source
                .next_batch(5)
                .await
                .expect("batch")
                .expect("unbounded");
            if batch.items.is_empty() {
                assert!(
                    batch.ack.positions.is_empty(),
                    "an empty batch with positions"
                );
            }
            for i in batch.items {
                if let fdc_engine::source::SourceItem::Message(m) = i {
                    messages.push(m);
                }
            }
            acks.push(batch.ack);
        }
    })
    .await;
    (messages, acks)
}

fn keyed(topic: &str, n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| Message {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            key: Some(format!("k{}", i % 7).into_bytes()),
            value: Some(format!("v{i}").into_bytes()),
            headers: vec![("h".into(), b"x".to_vec())],
            timestamp: Some(1_700_000_000_000 + i as i64),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_committed_only_through_acks() {
    let brokers = support::require_kafka();
    let prefix = support::unique_name("it_ack");
    let topic = format!("{prefix}.t");
    let group = format!("{prefix}.group");
    create_topics(&brokers, std::slice::from_ref(&topic), PARTITIONS).await;
    let sent = keyed(&topic, 40);
    produce(&producer(&brokers), &TopicMap::default(), &sent).await;
    let config = || {
        let mut c = KafkaSourceConfig::new(
            KafkaClientConfig::new(&brokers),
            &group,
            vec![topic.clone()],
        );
        c.linger = Duration::from_millis(50);
        c
    };

    // Read everything, commit nothing: the group has no offsets.
    let mut first = KafkaSource::connect(config()).expect("source");
    let (got, _) = read_n(&mut first, 40).await;
    let mut values: Vec<_> = got.iter().map(|m| m.value.clone()).collect();
    values.sort();
    let mut expected: Vec<_> = sent.iter().map(|m| m.value.clone()).collect();
    expected.sort();
    assert_eq!(values, expected);
    assert!(got
        .iter()
        .all(|m| m.headers == vec![("h".to_string(), b"x".to_vec())]));
    assert!(got
        .iter()
        .all(|m| m.timestamp.is_some_and(|t| t >= 1_700_000_000_000)));
    // Per key, the order of production.
    for k in 0..7 {
        let key = format!("k{k}").into_bytes();
        let vs: Vec<i64> = got
            .iter()
            .filter(|m| m.key.as_deref() == Some(&key[..]))
            .map(|m| m.timestamp.unwrap_or_default())
            .collect();
        assert!(vs.windows(2).all(|w| w[0] < w[1]), "key k{k}: {vs:?}");
    }
    drop(first);
    assert_eq!(
        committed_total(&brokers, &group, std::slice::from_ref(&topic), PARTITIONS),
        0
    );

    // A new member gets everything again; it commits its acks.
    let mut second = KafkaSource::connect(config()).expect("source");
    let (again, acks) = read_n(&mut second, 40).await;
    assert_eq!(again.len(), 40);
    for a in &acks {
        second.commit(a).await.expect("commit");
    }
    assert_eq!(
        committed_total(&brokers, &group, std::slice::from_ref(&topic), PARTITIONS),
        40
    );
    drop(second);

    // After the commit nothing comes back.
    let mut third = KafkaSource::connect(config()).expect("source");
    let mut seen = 0;
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < until {
        seen += third
            .next_batch(100)
            .await
            .expect("batch")
            .expect("batch")
            .items
            .len();
    }
    assert_eq!(seen, 0, "committed messages were delivered again");
}

/// A source whose commits are lost (a crash between the writes and the commit).
struct NeverCommits(KafkaSource);

#[async_trait]
impl Source for NeverCommits {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        self.0.next_batch(max).await
    }
    async fn commit(&mut self, _ack: &Ack) -> Result<(), StoreError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_before_its_commits_is_exact_after_the_restart() {
    let brokers = support::require_kafka();
    let prefix = support::unique_name("it_crash");
    let group = format!("{prefix}.group");
    let plan = plan("customer360");
    let map = unique_topics(&plan, &[], &prefix);
    let topics: Vec<String> = map.renames.values().cloned().collect();
    create_topics(&brokers, &topics, PARTITIONS).await;
    let messages = file_messages(&golden()).await;
    produce(&producer(&brokers), &map, &messages).await;

    // The parts of the deployment, run here by hand over a source that never commits.
    let store = Arc::new(EmbeddedStore::in_memory());
    let mut deployment = deployment(&plan, &store, &brokers, &group, &map, "unused.dlq");
    deployment.input = Input::None;
    deployment.events = EventsSpec::Sink(Arc::new(fdc_file::MemoryEvents::default()));
    deployment.dead_letters = DeadLettersSpec::Store;
    let built = build(deployment).await.expect("build");
    let (engine, router) = (
        built.stages[0].engine.clone(),
        built.stages[0].router.clone(),
    );
    let source_config = || {
        let mut c = KafkaSourceConfig::new(
            KafkaClientConfig::new(&brokers),
            &group,
            plan.topics().into_iter().map(String::from).collect(),
        );
        c.topic_map = map.clone();
        c.linger = Duration::from_millis(50);
        c
    };

    // First life: every message written, no offset committed.
    let shutdown = Shutdown::new();
    let first = tokio::spawn(run(
        engine.clone(),
        NeverCommits(KafkaSource::connect(source_config()).expect("source")),
        router.clone(),
        shutdown.subscribe(),
    ));
    within("the first life", async {
        while engine.counters().summary().consumed < messages.len() as u64 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    shutdown.trigger();
    within("stopping", first).await.expect("task").expect("run");
    assert_eq!(committed_total(&brokers, &group, &topics, PARTITIONS), 0);

    // Second life on the same store: everything is delivered again and committed.
    let shutdown = Shutdown::new();
    let before = engine.counters().summary().consumed;
    let second = tokio::spawn(run(
        engine.clone(),
        KafkaSource::connect(source_config()).expect("source"),
        router,
        shutdown.subscribe(),
    ));
    wait_committed(&brokers, &group, &topics, PARTITIONS, messages.len() as i64).await;
    shutdown.trigger();
    within("stopping", second)
        .await
        .expect("task")
        .expect("run");
    assert_eq!(
        engine.counters().summary().consumed - before,
        messages.len() as u64,
        "the uncommitted messages were not delivered again"
    );
    let expected = reference_views(&plan, &golden()).await;
    let got = view_lines(&plan, |v| store.all_documents(v).expect("documents"));
    assert_same_views(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_of_revoked_partitions_are_never_committed() {
    let brokers = support::require_kafka();
    let prefix = support::unique_name("it_rebal");
    let topic = format!("{prefix}.t");
    let group = format!("{prefix}.group");
    create_topics(&brokers, std::slice::from_ref(&topic), 4).await;
    produce(
        &producer(&brokers),
        &TopicMap::default(),
        &keyed(&topic, 40),
    )
    .await;
    let config = || {
        let mut c = KafkaSourceConfig::new(
            KafkaClientConfig::new(&brokers),
            &group,
            vec![topic.clone()],
        );
        c.linger = Duration::from_millis(50);
        c
    };
    let mut a = KafkaSource::connect(config()).expect("source");
    let (_, acks) = read_n(&mut a, 40).await;
    assert_eq!(a.assignment().len(), 4);
    let revocations = a.revocations();

    // A second member joins: the group rebalances and `a` loses its partitions (the eager
    // protocol revokes all of them) while its acks are still in flight.
    let mut b = KafkaSource::connect(config()).expect("source");
    within("the rebalance", async {
        while a.revocations() == revocations {
            let _ = a.next_batch(10).await.expect("batch");
            let _ = b.next_batch(10).await.expect("batch");
        }
    })
    .await;
    for ack in &acks {
        a.commit(ack).await.expect("commit");
    }
    assert_eq!(
        committed_total(&brokers, &group, std::slice::from_ref(&topic), 4),
        0,
        "acks read before the revocation were committed"
    );
}
