//! Split roles: one `fdc run --role ingest` and one `fdc run --role aggregate` process, the
//! single-view triggers travelling on a Kafka topic keyed by single-view key; the single views
//! equal those of the single-process run of the same stream.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, groups and database are unique to the test.
#![cfg(feature = "integration")]

mod kafka_common;
mod ops_common;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use kafka_common::*;
use ops_common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const PARTITIONS: i32 = 3;

/// The sum of the high watermarks of `topic`'s partitions: how many records it holds.
fn records_in(brokers: &str, topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("consumer");
    (0..PARTITIONS)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .map(|(_, high)| high)
                .expect("watermarks")
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_and_aggregate_processes_build_the_single_process_views() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let prefix = support::unique_name("it_ops_roles");
    let group = format!("{prefix}.group");
    let plan = plan("customer360");
    let extra = [
        "sv.customer_360",
        "catalogue.products.changes",
        "dlq",
        "fdc.triggers",
    ];
    let map = unique_topics(&plan, &extra, &prefix);
    let mut topics: Vec<String> = map.renames.values().cloned().collect();
    create_topics(&brokers, &topics, PARTITIONS).await;
    topics.retain(|t| !extra.iter().any(|e| t.ends_with(e)));
    let trigger_topic = map.to_broker("fdc.triggers").to_string();

    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("fdc.yaml");
    std::fs::write(
        &config,
        config_text(&brokers, &group, &uri, &prefix, &map.renames, "dlq"),
    )
    .expect("config");

    let golden =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360/events.jsonl");
    let messages = file_messages(&golden).await;
    let ingest = Fdc::start(
        "customer360",
        &config,
        &["--role", "ingest"],
        &dir.join("ingest.log"),
    );
    let aggregate = Fdc::start(
        "customer360",
        &config,
        &["--role", "aggregate"],
        &dir.join("aggregate.log"),
    );
    produce(&producer(&brokers), &map, &messages).await;
    wait_committed(&brokers, &group, &topics, PARTITIONS, messages.len() as i64).await;
    // Every trigger the ingest published was consumed by the aggregate.
    let triggers = records_in(&brokers, &trigger_topic);
    assert!(triggers > 0);
    wait_committed(
        &brokers,
        &format!("{group}.aggregate"),
        std::slice::from_ref(&trigger_topic),
        PARTITIONS,
        triggers,
    )
    .await;

    // The ingest rebuilt nothing, the aggregate consumed every trigger and rebuilt.
    let text = ingest.metrics();
    assert_eq!(
        metric_sum(&text, "fdc_messages_consumed_total"),
        messages.len() as f64
    );
    assert_eq!(metric_sum(&text, "fdc_single_views_total"), 0.0, "{text}");
    assert!(metric(&text, "fdc_single_views_triggered_total").is_some_and(|n| n >= 1.0));
    let text = aggregate.metrics();
    assert_eq!(
        metric(
            &text,
            // Labels use the pipeline's names, before `kafka.topics` renames.
            "fdc_messages_consumed_total{topic=\"fdc.triggers\"}"
        ),
        Some(triggers as f64),
        "{text}"
    );
    assert_eq!(metric_sum(&text, "fdc_messages_dead_lettered_total"), 0.0);
    assert!(
        metric(&text, "fdc_single_views_total{outcome=\"inserted\"}").is_some_and(|n| n >= 1.0)
    );
    let status = aggregate.get("/status").expect("status").1;
    assert!(status.contains("\"role\":\"aggregate\""), "{status}");

    for member in [ingest, aggregate] {
        let status = member.terminate();
        assert!(status.success(), "{status:?}");
    }
    let got = mongo_view_lines(&uri, &prefix, &plan).await;
    let (expected, _) = reference_run(&plan, &golden).await;
    assert_same_views(&got, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}
