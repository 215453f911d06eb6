//! The operations endpoint of a real `fdc run --config --http`: `/metrics` scraped after a
//! stream was consumed, its counters matched to what was sent; `/readyz`, `/status` and the
//! `fdc status` command on the same process.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, group and database are unique to the test.

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fdc_embedded::DiskOptions;
use fdc_engine::change::Message;
use fdc_engine::runtime::Shutdown;
use fdc_file::FileInput;
use fdc_topology::{build, Deployment};
use kafka_common::*;
use ops_common::*;

const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_what_was_sent_and_status_reports_a_ready_caught_up_pipeline() {
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
    } = Customer360::new(&brokers, support::unique_name("it_ops_metrics"), PARTITIONS).await;
    std::fs::write(
        &config,
        config_text(&brokers, &group, &uri, &prefix, &map.renames, "dlq"),
    )
    .expect("config");

    // The golden stream, plus one message that is not JSON at all.
    let golden =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360/events.jsonl");
    let mut messages: Vec<Message> = file_messages(&golden).await;
    messages.push(Message {
        topic: "crm.public.customers".into(),
        partition: 0,
        offset: 0,
        key: Some(b"{\"CUSTOMER_ID\": 77}".to_vec()),
        value: Some(b"\x00 not json".to_vec()),
        headers: vec![],
        timestamp: Some(now_ms()),
    });
    // Two customers with one email: the unique index refuses the second one every time, and
    // it is dead-lettered with the database's reason while the rest goes on.
    let now = now_ms();
    for (id, ts) in [(78, now), (79, now + 1)] {
        let value = format!(
            r#"{{"before": null, "after": {{"CUSTOMER_ID": {id}, "FIRST_NAME": "T", "LAST_NAME": "W", "EMAIL": "twin@example.org", "TIER": null, "SIGNUP_TS": 1577836800000}}, "op": "c", "ts_ms": {ts}}}"#
        );
        messages.push(Message {
            topic: "crm.public.customers".into(),
            partition: 0,
            offset: 0,
            key: Some(format!("{{\"CUSTOMER_ID\": {id}}}").into_bytes()),
            value: Some(value.into_bytes()),
            headers: vec![],
            timestamp: Some(ts),
        });
    }
    // Source drift: an order with a column no field maps (CHANNEL) and without a mapped one
    // (COUPON). The golden stream itself has none.
    messages.push(Message {
        topic: "shop.orders".into(),
        partition: 0,
        offset: 0,
        key: Some(b"{\"id\": \"o-drift\"}".to_vec()),
        value: Some(
            br#"{"id": "o-drift", "CUSTOMER": 1, "STATUS": "paid", "TOTAL": "1.00", "PLACED_AT": "2024-03-05T09:15:00Z", "CHANNEL": "app-value"}"#
                .to_vec(),
        ),
        headers: vec![],
        timestamp: Some(now + 2),
    });
    let p = producer(&brokers);
    produce(&p, &map, &messages).await;
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    for m in &messages {
        *sent.entry(m.topic.clone()).or_default() += 1;
    }
    // What the embedded run of the same stream dead-letters and skips (batch-independent).
    let reference = build(Deployment::embedded(
        plan.clone(),
        FileInput::File(golden.clone()),
        None,
        DiskOptions::default(),
        None,
    ))
    .await
    .expect("build the reference run")
    .run(&Shutdown::new())
    .await
    .expect("reference run");

    let fdc = Fdc::start("customer360", &config, &[], &dir.join("fdc.log"));
    wait_committed(&brokers, &group, &topics, PARTITIONS, messages.len() as i64).await;
    let text = fdc.metrics();

    for (topic, n) in &sent {
        assert_eq!(
            metric(
                &text,
                &format!("fdc_messages_consumed_total{{topic=\"{topic}\"}}")
            ),
            Some(*n as f64),
            "{topic}\n{text}"
        );
    }
    assert_eq!(
        metric_sum(&text, "fdc_messages_consumed_total"),
        messages.len() as f64
    );
    assert_eq!(
        metric_sum(&text, "fdc_messages_dead_lettered_total"),
        (reference.dead_lettered + 2) as f64,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "fdc_messages_dead_lettered_total{topic=\"crm.public.customers\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    let letters = read_topic(
        &brokers,
        map.to_broker("dlq"),
        (reference.dead_lettered + 2) as usize,
    )
    .await;
    let reasons: Vec<String> = letters
        .iter()
        .filter_map(|l| {
            use rdkafka::message::{Headers, Message as _};
            l.headers()?
                .iter()
                .find(|h| h.key == "fdc.reason")
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).to_string())
        })
        .collect();
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.contains("refused it 3 times"))
            .count(),
        1,
        "{reasons:?}"
    );
    assert_eq!(
        metric_sum(&text, "fdc_messages_skipped_total"),
        reference.skipped as f64
    );
    // Changes per topic: the reference's, plus the first twin (the second was refused) and
    // the drifted order.
    assert_eq!(
        metric_sum(&text, "fdc_changes_applied_total")
            + metric_sum(&text, "fdc_changes_stale_total"),
        (reference.applied + reference.stale + 2) as f64,
        "{text}"
    );
    for topic in sent.keys() {
        let applied = format!("fdc_changes_applied_total{{topic=\"{topic}\"}}");
        assert!(
            metric(&text, &applied).is_some_and(|n| n >= 1.0),
            "{topic}\n{text}"
        );
    }
    // Every Kafka message has a timestamp: one end-to-end observation each.
    assert_eq!(
        metric(&text, "fdc_end_to_end_latency_seconds_count"),
        Some(messages.len() as f64)
    );
    let batches = metric(&text, "fdc_batches_total").expect("batches");
    assert!(batches >= 1.0);
    assert_eq!(
        metric(&text, "fdc_batch_size_messages_sum"),
        Some(messages.len() as f64)
    );
    assert_eq!(
        metric(&text, "fdc_batch_size_messages_count"),
        Some(batches)
    );
    let written = metric(&text, "fdc_single_views_total{outcome=\"inserted\"}").unwrap_or(0.0);
    assert!(written >= 1.0, "{text}");
    assert_eq!(metric(&text, "fdc_batch_retries_total"), Some(0.0));
    // Source drift, per projection: the drifted order only.
    for (series, n) in [
        (
            "fdc_source_columns_unmapped_total{projection=\"orders\"}",
            1.0,
        ),
        (
            "fdc_source_columns_missing_total{projection=\"orders\"}",
            1.0,
        ),
        ("fdc_source_columns_unmapped{projection=\"orders\"}", 1.0),
        (
            "fdc_source_columns_not_arriving{projection=\"orders\"}",
            1.0,
        ),
        (
            "fdc_source_columns_unmapped_total{projection=\"customers\"}",
            0.0,
        ),
    ] {
        assert_eq!(metric(&text, series), Some(n), "{series}\n{text}");
    }
    assert_eq!(metric_sum(&text, "fdc_source_columns_unmapped_total"), 1.0);
    assert_eq!(metric_sum(&text, "fdc_source_columns_missing_total"), 1.0);
    assert!(!text.contains("app-value"), "never a value");

    // Ready, and once the statistics catch up, no lag on any assigned partition. Readiness
    // follows librdkafka's view of the brokers: on a loaded machine a connection may drop and
    // come back (not ready until the next statistics), so it must hold within the window.
    wait_for("readiness", Duration::from_secs(30), || {
        fdc.ready().then_some(())
    });
    let lag_text = wait_for(
        "the lag to be reported as zero",
        Duration::from_secs(20),
        || {
            let t = fdc.metrics();
            let reported = t
                .lines()
                .any(|l| l.starts_with("fdc_consumer_lag_messages{"));
            (reported && metric_sum(&t, "fdc_consumer_lag_messages") == 0.0).then_some(t)
        },
    );
    assert_eq!(metric(&lag_text, "fdc_source_up"), Some(1.0));
    assert_eq!(metric(&lag_text, "fdc_store_up"), Some(1.0));

    // `fdc status` reads the same process.
    let out = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["status", "--addr", &fdc.addr])
        .output()
        .expect("fdc status");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains(": READY\n"), "{shown}");
    assert!(
        shown.contains("consumer lag: 0 message(s) behind"),
        "{shown}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["status", "--json", "--addr", &fdc.addr])
        .output()
        .expect("fdc status --json");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["summary"]["consumed"], messages.len() as u64);
    let drift = doc["source_drift"].as_array().expect("source_drift");
    let orders = drift
        .iter()
        .find(|d| d["projection"] == "orders")
        .expect("orders read messages");
    assert_eq!(orders["unmapped_messages"], 1, "{orders}");
    assert_eq!(orders["unmapped"][0]["name"], "CHANNEL", "{orders}");
    assert!(orders["unmapped"][0]["last_seen_ms"].as_i64().is_some());
    assert_eq!(
        orders["not_arriving"],
        serde_json::json!(["COUPON"]),
        "{orders}"
    );
    assert_eq!(orders["missing"][0]["name"], "COUPON", "{orders}");
    assert!(orders["missing"][0]["missing_since_ms"].as_i64().is_some());
    for d in drift.iter().filter(|d| d["projection"] != "orders") {
        assert_eq!(d["unmapped_messages"], 0, "{d}");
        assert_eq!(d["missing_messages"], 0, "{d}");
    }
    assert!(
        shown.contains("source drift")
            && shown.contains("orders: 1 message(s) with columns no field maps: CHANNEL")
            && shown.contains("orders: mapped column(s) no longer arriving"),
        "{shown}"
    );

    let status = fdc.terminate();
    assert!(status.success(), "{status:?}");
    // The drift is in the database: `fdc plan --config`, another process, lists it.
    let out = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["plan", "pipelines/customer360", "--config"])
        .arg(&config)
        .args(["--format", "json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("fdc plan --config");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let orders = report["source_drift"]
        .as_array()
        .expect("source_drift")
        .iter()
        .find(|d| d["projection"] == "orders")
        .expect("orders");
    assert_eq!(orders["candidates"][0]["column"], "CHANNEL", "{orders}");
    assert_eq!(
        orders["no_longer_arriving"][0]["column"], "COUPON",
        "{orders}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
