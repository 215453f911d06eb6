//! Split roles: one `fdc run --role ingest` and one `fdc run --role aggregate` process, the
//! single-view triggers travelling on a Kafka topic keyed by single-view key; the single views
//! equal those of the single-process run of the same stream.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, groups and database are unique to the test.

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::path::PathBuf;
use std::time::Duration;

use kafka_common::*;
use ops_common::*;

const PARTITIONS: i32 = 3;

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
    let triggers = records_in(&brokers, &trigger_topic, PARTITIONS);
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
    // End to end from the original messages (the golden stream's are from 2024), not from
    // the triggers' publication a moment ago.
    let count = metric(&text, "fdc_end_to_end_latency_seconds_count").unwrap_or(0.0);
    let sum = metric(&text, "fdc_end_to_end_latency_seconds_sum").unwrap_or(0.0);
    assert_eq!(count, triggers as f64, "{text}");
    assert!(sum / count > 86_400.0, "{text}");
    let status = aggregate.get("/status").expect("status").1;
    assert!(status.contains("\"role\":\"aggregate\""), "{status}");
    // Lag and freshness per stage: the ingest process reads the input topics (the `ingest`
    // stage), the aggregate one the trigger topic (`triggers`) and writes the views
    // (`aggregate`), whose freshness is measured from the source changes (from 2024) across
    // the trigger topic.
    let ingest_text = ingest.metrics();
    assert!(metric(&ingest_text, "fdc_stage_lag_messages{stage=\"ingest\"}").is_some());
    assert!(metric(&ingest_text, "fdc_stage_lag_messages{stage=\"triggers\"}").is_none());
    assert!(
        metric(
            &ingest_text,
            "fdc_stage_freshness_seconds_count{stage=\"ingest\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{ingest_text}"
    );
    assert!(metric(&text, "fdc_stage_lag_messages{stage=\"triggers\"}").is_some());
    for stage in ["triggers", "aggregate"] {
        let series = format!("fdc_stage_freshness_seconds_count{{stage=\"{stage}\"}}");
        assert!(metric(&text, &series).is_some_and(|n| n >= 1.0), "{text}");
    }
    let fresh = |stage: &str| {
        let sum = metric(
            &text,
            &format!("fdc_stage_freshness_seconds_sum{{stage=\"{stage}\"}}"),
        );
        let n = metric(
            &text,
            &format!("fdc_stage_freshness_seconds_count{{stage=\"{stage}\"}}"),
        );
        sum.unwrap_or(0.0) / n.unwrap_or(1.0)
    };
    assert!(fresh("aggregate") > 86_400.0, "{text}");
    assert!(
        fresh("triggers") < 600.0,
        "from the triggers' publication: {text}"
    );
    let doc: serde_json::Value = serde_json::from_str(&status).expect("json");
    let view = doc["views"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["view"] == "customer_360"))
        .expect("customer_360 in the aggregate's status");
    assert!(
        view["freshness_seconds"]["count"].as_u64() >= Some(1),
        "{view}"
    );

    stop_all([ingest, aggregate]);
    assert_views_of_reference(&uri, &prefix, &plan, &golden).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_roles_over_the_projection_changes_collection_build_the_same_views() {
    use mongodb::bson::doc;
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let Customer360 {
        prefix,
        group,
        plan,
        map,
        topics,
        dir,
        config,
    } = Customer360::new(&brokers, support::unique_name("it_ops_changes"), PARTITIONS).await;
    let text = config_text(&brokers, &group, &uri, &prefix, &map.renames, "dlq")
        + "triggers:\n  transport: mongodb\n  collection: changes\n  claim_timeout_ms: 5000\n";
    std::fs::write(&config, text).expect("config");

    let golden =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360/events.jsonl");
    let messages = file_messages(&golden).await;
    let ingest = Fdc::start(
        "customer360",
        &config,
        &["--role", "ingest"],
        &dir.join("ingest.log"),
    );
    // Two aggregates claim from the same collection.
    let aggregates = [
        Fdc::start(
            "customer360",
            &config,
            &["--role", "aggregate"],
            &dir.join("aggregate-1.log"),
        ),
        Fdc::start(
            "customer360",
            &config,
            &["--role", "aggregate"],
            &dir.join("aggregate-2.log"),
        ),
    ];
    produce(&producer(&brokers), &map, &messages).await;
    wait_committed(&brokers, &group, &topics, PARTITIONS, messages.len() as i64).await;

    // Every change document ends `done`.
    let client = mongodb::Client::with_uri_str(&uri).await.expect("client");
    let changes = client
        .database(&prefix)
        .collection::<mongodb::bson::Document>("changes");
    let mut open = u64::MAX;
    let mut done = 0;
    for _ in 0..300 {
        open = changes
            .count_documents(doc! { "state": { "$ne": "done" } })
            .await
            .expect("count");
        done = changes
            .count_documents(doc! { "state": "done" })
            .await
            .expect("count");
        if open == 0 && done > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(open, 0, "changes left pending or claimed");
    assert!(done > 0);
    let rebuilt: f64 = aggregates
        .iter()
        .map(|a| metric_sum(&a.metrics(), "fdc_single_views_triggered_total"))
        .sum();
    assert!(
        rebuilt >= done as f64,
        "{rebuilt} rebuilt for {done} changes"
    );

    stop_all([ingest]);
    stop_all(aggregates);
    assert_views_of_reference(&uri, &prefix, &plan, &golden).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projection_changes_lifecycle_claims_once_and_keeps_a_newer_trigger() {
    use fdc_engine::source::{Source, SourceItem};
    use fdc_engine::trigger::{TriggerRecord, TriggerSink};
    use fdc_engine::value::Value;
    use fdc_mongo::triggers::{MongoTriggerSource, MongoTriggers};
    use fdc_mongo::{MongoStore, MongoStoreConfig};
    use std::sync::Arc;

    let uri = support::require_mongo();
    let database = support::unique_name("it_ops_lifecycle");
    let store = Arc::new(
        MongoStore::connect(MongoStoreConfig {
            uri,
            database,
            ..MongoStoreConfig::default()
        })
        .await
        .expect("connect"),
    );
    let sink = MongoTriggers::open(store.clone(), "changes")
        .await
        .expect("open");
    let poll = Duration::from_millis(10);
    let long = Duration::from_secs(600);
    let mut a = MongoTriggerSource::new(&store, "changes", "a", long, poll);
    let mut b = MongoTriggerSource::new(&store, "changes", "b", long, poll);
    let trigger = TriggerRecord {
        view: "v".into(),
        key: vec![Value::Int(1)],
        origin_ms: Some(1_700_000_000_000),
        source_ms: None,
    };
    let items = |batch: &fdc_engine::source::SourceBatch| -> Vec<TriggerRecord> {
        batch
            .items
            .iter()
            .map(|i| match i {
                SourceItem::Message(m) => {
                    serde_json::from_slice(m.value.as_deref().expect("value")).expect("trigger")
                }
                SourceItem::Malformed(_) => panic!("malformed"),
            })
            .collect()
    };

    // Published twice while pending: one document, claimed by one claimant only.
    sink.publish(vec![trigger.clone(), trigger.clone()])
        .await
        .expect("publish");
    let first = a.next_batch(10).await.expect("read").expect("batch");
    assert_eq!(items(&first), vec![trigger.clone()]);
    let none = b.next_batch(10).await.expect("read").expect("batch");
    assert!(none.items.is_empty(), "claimed twice");

    // Triggered again while claimed: it stays with its owner (no second aggregate rebuilds
    // the key meanwhile), and done of the old version hands it back as pending.
    sink.publish(vec![trigger.clone()]).await.expect("publish");
    let blocked = b.next_batch(10).await.expect("read").expect("batch");
    assert!(
        blocked.items.is_empty(),
        "claimed while its owner rebuilds it"
    );
    a.commit(&first.ack).await.expect("done");
    let again = b.next_batch(10).await.expect("read").expect("batch");
    assert_eq!(items(&again), vec![trigger.clone()]);
    b.commit(&again.ack).await.expect("done");
    let empty = a.next_batch(10).await.expect("read").expect("batch");
    assert!(empty.items.is_empty());

    // A claim whose owner died is taken over after the claim timeout.
    sink.publish(vec![trigger.clone()]).await.expect("publish");
    let lost = a.next_batch(10).await.expect("read").expect("batch");
    assert_eq!(lost.items.len(), 1);
    let mut eager = MongoTriggerSource::new(&store, "changes", "c", Duration::ZERO, poll);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = eager.next_batch(10).await.expect("read").expect("batch");
    assert_eq!(items(&taken), vec![trigger]);
    eager.commit(&taken.ack).await.expect("done");
    // The dead owner's late done does not touch the new claim's outcome.
    a.commit(&lost.ack).await.expect("late done");
    let states: Vec<String> = {
        use futures_util::TryStreamExt;
        store
            .database()
            .collection::<mongodb::bson::Document>("changes")
            .find(mongodb::bson::doc! {})
            .await
            .expect("find")
            .try_collect::<Vec<_>>()
            .await
            .expect("docs")
            .iter()
            .map(|d| d.get_str("state").unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(states, vec!["done".to_string()]);
    let _ = store.drop_database().await;
}
