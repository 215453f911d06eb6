//! Kafka + MongoDB benchmark (not a test): messages/second from pre-filled topics into
//! projections with strategies and single views, beside a raw baseline in the same run.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, default `127.0.0.1:9092`;
//! `FDC_MONGO_URI`, default `mongodb://127.0.0.1:27017`).
//!
//! `cargo bench -p fdc-engine --features kafka,mongo --bench kafka [-- CUSTOMERS]` (default
//! 500 customers; 2 products per customer, at most 1000; 14 messages per customer;
//! `cargo test --all-targets` runs it as a smoke run with 20 customers and 50 products).
//! On FerretDB v1 (SQLite) both phases are bound by the database: expect hundreds, not
//! thousands, of messages per second, and read the ratio.
//!
//! Phases, on the same messages (the shop plan of `tests/fixtures/shop.plan.json`, `basic`
//! format, five topics of 3 partitions each):
//! 1. raw baseline: a consumer group reads every message and bulk-upserts it unchanged (one
//!    raw `update` command of replacement upserts by key per topic and batch; no decode into
//!    typed fields, no version guard, no strategies, no single views);
//! 0. raw consume: the same messages consumed and dropped;
//! 2. the engine on the embedded store, fed by the `KafkaSource` (ratio to 0);
//! 3. the engine on `MongoStore`: `KafkaSource` -> router -> projection writes (version guard)
//!    -> strategies -> aggregation -> single-view writes, offsets committed behind the durable
//!    watermark; timed until every message is durable (ratio to 1), or reported unfinished
//!    after `FDC_BENCH_DEADLINE_S` (default 120 s).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{dataset, env_or, shop_plan, unique_name};
use fdc_engine::change::Message;
use fdc_engine::runtime::{RuntimeConfig, Shutdown};
use fdc_file::MemoryEvents;
use fdc_kafka::{KafkaClientConfig, KafkaSourceConfig, TopicMap};
use fdc_mongo::{MongoStore, MongoStoreConfig};
use fdc_plan::Plan;
use fdc_topology::{build, DeadLettersSpec, Deployment, EventsSpec, Input, OpenedStore, StoreSpec};
use mongodb::bson::{doc, Document};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};

const BATCH: usize = 5000;
const PARTITIONS: i32 = 3;

async fn prefill(brokers: &str, map: &TopicMap, messages: &[Message]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin");
    let topics: Vec<NewTopic<'_>> = map
        .renames
        .values()
        // The records carry 2023 timestamps: without this the broker's time-based retention
        // may delete them mid-run.
        .map(|t| NewTopic::new(t, PARTITIONS, TopicReplication::Fixed(1)).set("retention.ms", "-1"))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in admin.create_topics(&topics, &opts).await.expect("create") {
        r.expect("topic created");
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    for chunk in messages.chunks(BATCH) {
        let mut pending = Vec::with_capacity(chunk.len());
        for m in chunk {
            let topic = map.to_broker(&m.topic);
            let mut r: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
            if let Some(k) = &m.key {
                r = r.key(k.as_slice());
            }
            if let Some(v) = &m.value {
                r = r.payload(v.as_slice());
            }
            if let Some(t) = m.timestamp {
                r = r.timestamp(t);
            }
            pending.push(producer.send_result(r).map_err(|(e, _)| e).expect("queue"));
        }
        for d in pending {
            d.await
                .expect("delivery")
                .map_err(|(e, _)| e)
                .expect("delivered");
        }
    }
}

/// Consumes `n` messages and bulk-upserts them unchanged, one raw `update` per topic per batch.
async fn raw_baseline(
    brokers: &str,
    group: &str,
    map: &TopicMap,
    db: &mongodb::Database,
    n: usize,
) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let topics: Vec<&str> = map.renames.values().map(String::as_str).collect();
    consumer.subscribe(&topics).expect("subscribe");
    let mut done = 0;
    while done < n {
        let mut per_topic: std::collections::BTreeMap<String, Vec<Document>> = Default::default();
        let mut in_batch = 0;
        while in_batch < BATCH && done + in_batch < n {
            let m = consumer.recv().await.expect("recv");
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
            let value: serde_json::Value =
                serde_json::from_slice(m.payload().unwrap_or(b"null")).expect("json");
            let body = mongodb::bson::to_document(&value).expect("bson");
            per_topic
                .entry(m.topic().replace('.', "_"))
                .or_default()
                .push(doc! { "q": { "_id": &key }, "u": body, "upsert": true });
            in_batch += 1;
        }
        for (coll, updates) in per_topic {
            db.run_command(doc! { "update": coll, "updates": updates, "ordered": false,
            "writeConcern": { "w": "majority" } })
                .await
                .expect("raw update");
        }
        consumer
            .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
            .expect("commit");
        done += in_batch;
    }
}

/// Runs the engine from Kafka into the stores until `n` messages are durable or the deadline
/// (`FDC_BENCH_DEADLINE_S`, default 120 s) passes; prints the rate; the time when finished.
#[allow(clippy::too_many_arguments)]
async fn through_engine(
    plan: &Plan,
    brokers: &str,
    map: &TopicMap,
    group: &str,
    store: StoreSpec,
    n: usize,
    label: &str,
) -> Option<f64> {
    let deadline: u64 = env_or("FDC_BENCH_DEADLINE_S", "120").parse().unwrap_or(120);
    let mut source_config = KafkaSourceConfig::new(
        KafkaClientConfig::new(brokers),
        group,
        plan.topics().into_iter().map(String::from).collect(),
    );
    source_config.topic_map = map.clone();
    let mut deployment = Deployment::new(plan.clone());
    deployment.input = Input::Kafka(Box::new(source_config));
    deployment.store = store;
    deployment.events = EventsSpec::Sink(Arc::new(MemoryEvents::default()));
    // Dead letters stay in memory (the data set has none); the store may be MongoDB.
    deployment.dead_letters =
        DeadLettersSpec::Sink(Arc::new(fdc_embedded::EmbeddedStore::in_memory()));
    deployment.runtime = RuntimeConfig {
        batch_size: BATCH,
        ..RuntimeConfig::default()
    };
    let mut built = build(deployment).await.expect("build");
    let engine = built.stages[0].engine.clone();
    let shutdown = Arc::new(Shutdown::new());
    let stop = shutdown.clone();
    let t0 = Instant::now();
    let task = tokio::spawn(async move { built.run(&stop).await });
    let mut last_report = Instant::now();
    while engine.counters().summary().consumed < n as u64 {
        assert!(!task.is_finished(), "the run stopped early");
        tokio::time::sleep(Duration::from_millis(20)).await;
        if t0.elapsed() > Duration::from_secs(deadline) {
            let s = engine.counters().summary();
            println!(
                "{label}: did not finish within {deadline} s: {} of {n} messages durable in {} batches",
                s.consumed, s.batches
            );
            task.abort();
            return None;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            let s = engine.counters().summary();
            eprintln!(
                "   ... {} of {n} messages durable in {} batches",
                s.consumed, s.batches
            );
            last_report = Instant::now();
        }
    }
    let t = t0.elapsed().as_secs_f64();
    shutdown.trigger();
    task.await.expect("task").expect("run");
    let s = engine.counters().summary();
    assert_eq!(s.dead_lettered, 0);
    let views = s.views.inserted + s.views.updated;
    println!(
        "{label}: {:>9.0} msg/s  ({t:.2} s; {} applied, {} triggered, {views} view writes = {:.0} views/s)",
        n as f64 / t,
        s.applied,
        s.triggered,
        views as f64 / t
    );
    Some(t)
}

/// Consumes `n` messages and drops them (the source's own cost).
async fn consume_only(brokers: &str, group: &str, map: &TopicMap, n: usize) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let topics: Vec<&str> = map.renames.values().map(String::as_str).collect();
    consumer.subscribe(&topics).expect("subscribe");
    for _ in 0..n {
        consumer.recv().await.expect("recv");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Retried batches are logged as warnings: show them.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let bench = std::env::args().any(|a| a == "--bench");
    let customers: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(if bench { 500 } else { 20 });
    let products = if bench { (customers * 2).min(1000) } else { 50 };
    let brokers = env_or("FDC_KAFKA_BROKERS", "127.0.0.1:9092");
    let uri = env_or("FDC_MONGO_URI", "mongodb://127.0.0.1:27017");
    let plan = shop_plan();
    let tag = unique_name("fdc_bench_kafka");
    let mut map = TopicMap::default();
    for t in plan.topics() {
        map.renames.insert(t.to_string(), format!("{tag}.{t}"));
    }
    let data = dataset(customers, products, 1_700_000_000_000);
    let n = data.len();
    println!(
        "data set: {customers} customers, {products} products, {n} messages on {} topics x {PARTITIONS} partitions; batch {BATCH}",
        map.renames.len()
    );
    let t0 = Instant::now();
    prefill(&brokers, &map, &data).await;
    println!(
        "pre-fill (idempotent producer, acks=all): {:>9.0} msg/s",
        n as f64 / t0.elapsed().as_secs_f64()
    );

    let t0 = Instant::now();
    consume_only(&brokers, &format!("{tag}.consume"), &map, n).await;
    let t_consume = t0.elapsed().as_secs_f64();
    println!(
        "0. raw consume (no writes): {:>9.0} msg/s  ({t_consume:.2} s)",
        n as f64 / t_consume
    );
    let client = mongodb::Client::with_uri_str(&uri)
        .await
        .expect("mongo client");
    let raw_db = client.database(&format!("{tag}_raw"));
    let t0 = Instant::now();
    raw_baseline(&brokers, &format!("{tag}.raw"), &map, &raw_db, n).await;
    let t_raw = t0.elapsed().as_secs_f64();
    println!(
        "1. raw baseline (consume + bulk upsert unchanged): {:>9.0} msg/s  ({t_raw:.2} s)",
        n as f64 / t_raw
    );

    let embedded = Arc::new(fdc_embedded::EmbeddedStore::in_memory());
    let t_embedded = through_engine(
        &plan,
        &brokers,
        &map,
        &format!("{tag}.embedded"),
        StoreSpec::Opened(OpenedStore::Embedded(embedded)),
        n,
        "2. engine on the embedded store (Kafka in)",
    )
    .await;
    if let Some(t) = t_embedded {
        println!(
            "   ratio engine (embedded) / raw consume: {:.2}",
            t_consume / t
        );
    }

    let store = Arc::new(
        MongoStore::connect(MongoStoreConfig {
            uri: uri.clone(),
            database: format!("{tag}_engine"),
            ..MongoStoreConfig::default()
        })
        .await
        .expect("mongo store"),
    );
    let t_mongo = through_engine(
        &plan,
        &brokers,
        &map,
        &format!("{tag}.engine"),
        StoreSpec::Opened(OpenedStore::Mongo(store)),
        n,
        "3. engine on MongoDB (projections, strategies, views)",
    )
    .await;
    if let Some(t) = t_mongo {
        println!(
            "   ratio engine (MongoDB) / raw consume + upsert: {:.2}",
            t_raw / t
        );
    }

    let _ = raw_db.drop().await;
    let _ = client.database(&format!("{tag}_engine")).drop().await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin");
    let names: Vec<&str> = map.renames.values().map(String::as_str).collect();
    let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
}
