//! Helpers of the Kafka integration tests (`tests/kafka_*.rs`, `tests/production_*.rs`):
//! topics made per test, messages produced exactly as the file source reads them, waiting for
//! a group's committed offsets, and the reference single views of the embedded file run.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fdc_embedded::DiskOptions;
use fdc_engine::change::Message;
use fdc_engine::runtime::Shutdown;
use fdc_engine::source::{Source, SourceItem};
use fdc_file::{FileInput, FileSource};
use fdc_kafka::TopicMap;
use fdc_plan::Plan;
use fdc_topology::export::view_line;
use fdc_topology::{build, Deployment};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// Longest wait of one phase of a test.
pub const PHASE: Duration = Duration::from_secs(90);

/// Fails the test when `fut` takes longer than [`PHASE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PHASE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {PHASE:?} while {what}"),
    }
}

/// The compiled plan of a pipeline under `pipelines/`.
pub fn plan(name: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pipelines")
        .join(name);
    match fdc_dsl::load(&path) {
        Ok(c) => c.plan,
        Err(_) => panic!("pipelines/{name} does not compile"),
    }
}

/// The messages of a `.jsonl` file, exactly as the file source reads them.
pub async fn file_messages(path: &Path) -> Vec<Message> {
    let mut source = FileSource::open(FileInput::File(path.to_path_buf()), None).expect("open");
    let mut out = Vec::new();
    while let Some(batch) = source.next_batch(1000).await.expect("read") {
        for item in batch.items {
            match item {
                SourceItem::Message(m) => out.push(m),
                SourceItem::Malformed(_) => panic!("{} has a malformed line", path.display()),
            }
        }
    }
    out
}

/// Renames every topic of `plan` (and `extra` topics) to a name unique to this test.
pub fn unique_topics(plan: &Plan, extra: &[&str], prefix: &str) -> TopicMap {
    let mut map = TopicMap::default();
    for t in plan.topics().into_iter().chain(extra.iter().copied()) {
        map.renames.insert(t.to_string(), format!("{prefix}.{t}"));
    }
    map
}

/// Creates the topics with `partitions` partitions each, kept whatever their records' age.
///
/// Why `retention.ms = -1`: the test inputs carry their own (old) timestamps, and the broker's
/// time-based retention (checked every 5 minutes) deletes a segment whose newest record is
/// older than the retention: a check during a test emptied a topic under a running consumer,
/// whose committed offset then pointed past the log start ("offset out of range") and which
/// found nothing more to read.
pub async fn create_topics(brokers: &str, topics: &[String], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1"))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = within("creating topics", admin.create_topics(&new, &opts))
        .await
        .expect("create_topics");
    for r in results {
        if let Err((name, code)) = r {
            panic!("topic {name} not created: {code:?}");
        }
    }
}

/// An idempotent producer.
pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .expect("producer")
}

/// Produces `messages` (keys, values, headers, timestamps kept) to their renamed topics,
/// partitioned by key; returns how many went to each broker topic.
pub async fn produce(
    producer: &FutureProducer,
    map: &TopicMap,
    messages: &[Message],
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in messages {
        let topic = map.to_broker(&m.topic).to_string();
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic);
        if let Some(k) = &m.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &m.value {
            record = record.payload(v.as_slice());
        }
        if let Some(t) = m.timestamp {
            record = record.timestamp(t);
        }
        if !m.headers.is_empty() {
            let mut h = OwnedHeaders::new();
            for (k, v) in &m.headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(v.as_slice()),
                });
            }
            record = record.headers(h);
        }
        within("producing", producer.send(record, Duration::from_secs(30)))
            .await
            .unwrap_or_else(|(e, _)| panic!("delivery failed: {e}"));
        *counts.entry(topic).or_default() += 1;
    }
    counts
}

/// The sink topics of the customer360 pipeline: single-view events, product events, dead letters.
pub const SINK_TOPICS: [&str; 4] = [
    "sv.customer_360",
    "catalogue.products.changes",
    "dlq",
    "fdc.triggers",
];

/// What one test of the customer360 pipeline through Kafka and MongoDB works in: topics of its
/// own (created, sink topics included), a consumer group, a database (named `prefix`) and a
/// scratch directory holding the place of its `fdc.yaml`, so tests never see each other's data.
pub struct Customer360 {
    pub prefix: String,
    pub group: String,
    pub plan: Plan,
    pub map: TopicMap,
    /// The ingestion topics (sink topics left out), as the group reads them.
    pub topics: Vec<String>,
    pub dir: PathBuf,
    /// `dir/fdc.yaml`, not written yet.
    pub config: PathBuf,
}

impl Customer360 {
    /// Creates the topics with `partitions` partitions each on `brokers`, and the directory.
    pub async fn new(brokers: &str, prefix: String, partitions: i32) -> Customer360 {
        let plan = plan("customer360");
        let map = unique_topics(&plan, &SINK_TOPICS, &prefix);
        let mut topics: Vec<String> = map.renames.values().cloned().collect();
        create_topics(brokers, &topics, partitions).await;
        topics.retain(|t| !SINK_TOPICS.iter().any(|e| t.ends_with(e)));
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).expect("dir");
        Customer360 {
            group: format!("{prefix}.group"),
            config: dir.join("fdc.yaml"),
            prefix,
            plan,
            map,
            topics,
            dir,
        }
    }
}

/// The committed offsets of `group` summed over the partitions of `topics`.
pub fn committed_total(brokers: &str, group: &str, topics: &[String], partitions: i32) -> i64 {
    committed_offsets(brokers, group, topics, partitions)
        .values()
        .sum()
}

/// The committed offset of `group` on each `(topic, partition)` of `topics` (0: none).
///
/// The group coordinator answers `NotCoordinator` or `CoordinatorLoadInProgress` while it
/// moves or loads the offsets topic (a fresh broker does this for seconds); those are retried
/// for up to 30 s, any other error fails the test.
pub fn committed_offsets(
    brokers: &str,
    group: &str,
    topics: &[String],
    partitions: i32,
) -> BTreeMap<(String, i32), i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        for p in 0..partitions {
            tpl.add_partition(t, p);
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let committed = loop {
        match c.committed_offsets(tpl.clone(), Duration::from_secs(10)) {
            Ok(committed) => break committed,
            Err(e) if coordinator_not_ready(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("committed offsets: {e}"),
        }
    };
    committed
        .elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            ((e.topic().to_string(), e.partition()), offset)
        })
        .collect()
}

/// Whether `e` is the coordinator saying "not yet" rather than a real failure.
fn coordinator_not_ready(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::NotCoordinator
                | C::CoordinatorLoadInProgress
                | C::CoordinatorNotAvailable
                | C::RequestTimedOut
        )
    )
}

/// Waits until `group` has `members` members and a settled assignment (state `Stable`), so
/// that every member owns partitions before the test produces.
pub async fn wait_group_stable(brokers: &str, group: &str, members: usize) {
    let admin: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    within("waiting for the group to settle", async {
        loop {
            let settled = admin
                .fetch_group_list(Some(group), Duration::from_secs(5))
                .ok()
                .and_then(|list| {
                    list.groups()
                        .iter()
                        .find(|g| g.name() == group)
                        .map(|g| g.state() == "Stable" && g.members().len() == members)
                })
                .unwrap_or(false);
            if settled {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
}

/// The sum of the high watermarks of `topic`'s first `partitions` partitions: how many
/// records it holds.
pub fn records_in(brokers: &str, topic: &str, partitions: i32) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .map(|(_, high)| high)
                .expect("watermarks")
        })
        .sum()
}

/// Waits until `group` committed `expected` offsets in total over `topics`.
pub async fn wait_committed(
    brokers: &str,
    group: &str,
    topics: &[String],
    partitions: i32,
    expected: i64,
) {
    within("waiting for the commits", async {
        loop {
            if committed_total(brokers, group, topics, partitions) >= expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
}

/// Records of a topic, read from the beginning until `n` arrived; more is a failure.
pub async fn read_topic(
    brokers: &str,
    topic: &str,
    n: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    read_topics(brokers, &[topic], n).await
}

/// Records of topics, read from the beginning until `n` arrived; more is a failure.
pub async fn read_topics(
    brokers: &str,
    topics: &[&str],
    n: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::StreamConsumer;
    use rdkafka::Message as _;
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{}.reader", topics.join(".")))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(topics).expect("subscribe");
    let mut out = Vec::new();
    within("reading a topic", async {
        while out.len() < n {
            let m = c.recv().await.expect("recv");
            out.push(m.detach());
        }
    })
    .await;
    // Nothing more than `n`.
    if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(2), c.recv()).await {
        panic!(
            "unexpected extra record at offset {} of {}",
            m.offset(),
            m.topic()
        );
    }
    out
}

/// Every single view of `plan` as sorted JSON lines (`fdc run --print views`).
pub fn view_lines(
    plan: &Plan,
    documents: impl Fn(&str) -> Vec<(Vec<fdc_engine::value::Value>, fdc_engine::value::Map)>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for v in &plan.single_views {
        for (k, d) in documents(&v.name) {
            lines.push(view_line(plan, &v.name, &k, &d));
        }
    }
    lines.sort();
    lines
}

/// The lines of documents that are not marked deleted.
pub fn live(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.contains(r#""__STATE__":"DELETED""#))
        .cloned()
        .collect()
}

/// Asserts that `got` has exactly the live single views of `expected`, and that its other
/// documents are deletion markers of views that are not live in `expected`.
///
/// Why not plain equality: a root created and deleted within one batch leaves no document,
/// across two batches it leaves a `__STATE__: DELETED` marker (`view.rs` marks only stored
/// documents), so markers depend on batch boundaries, which Kafka partitioning changes.
pub fn assert_same_views(got: &[String], expected: &[String]) {
    assert_eq!(live(got), live(expected));
    let key_of = |l: &str| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(l).expect("json line");
        serde_json::json!([v["view"], v["key"]])
    };
    let live_keys: Vec<serde_json::Value> = live(expected).iter().map(|l| key_of(l)).collect();
    for l in got
        .iter()
        .filter(|l| l.contains(r#""__STATE__":"DELETED""#))
    {
        assert!(
            !live_keys.contains(&key_of(l)),
            "a live view marked deleted: {l}"
        );
    }
}

/// The single views of the embedded file run of `path` (the reference), and how many
/// messages it dead-lettered.
pub async fn reference_run(plan: &Plan, path: &Path) -> (Vec<String>, u64) {
    let deployment = Deployment::embedded(
        plan.clone(),
        FileInput::File(path.to_path_buf()),
        None,
        DiskOptions::default(),
        None,
    );
    let mut built = build(deployment).await.expect("build the embedded run");
    let summary = built.run(&Shutdown::new()).await.expect("embedded run");
    let store = built.store.embedded().expect("the embedded store").clone();
    let lines = view_lines(plan, |v| store.all_documents(v).expect("documents"));
    (lines, summary.dead_lettered)
}

/// The single views of the embedded file run of `path`: the reference.
pub async fn reference_views(plan: &Plan, path: &Path) -> Vec<String> {
    reference_run(plan, path).await.0
}

/// Deletes the records below each `(broker topic, partition, offset)` of `below`, as
/// retention would, asserting that the broker did.
pub async fn delete_records(brokers: &str, below: &[(&str, i32, i64)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin");
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, offset) in below {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .expect("offset");
    }
    let deleted = within(
        "deleting records",
        admin.delete_records(&tpl, &AdminOptions::new()),
    )
    .await
    .expect("delete records");
    for e in deleted.elements() {
        assert!(e.error().is_ok(), "{:?}", e.error());
    }
}
