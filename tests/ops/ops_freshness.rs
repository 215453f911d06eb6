//! Freshness and lag of a real `fdc run --config --http` on Kafka + MongoDB: a single view's
//! freshness measured against a known source delay; the whole group's lag seen by a survivor
//! after a member is killed; messages that retention deleted below a committed offset, and
//! under a running member's read position (a paused projection).
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, groups and databases are unique to each test.

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use fdc_engine::change::Message;
use kafka_common::*;
use ops_common::*;
use serde_json::{json, Value};

/// A Debezium create of customer `id` that happened at its source at `source_ms`, produced
/// now (its Kafka timestamp is the broker's).
fn customer(id: i64, source_ms: i64) -> Message {
    let value = json!({
        "before": null,
        "after": {"CUSTOMER_ID": id, "FIRST_NAME": format!("N{id}"), "LAST_NAME": "L",
                  "EMAIL": format!("c{id}@example.org"), "TIER": "gold",
                  "SIGNUP_TS": 1577836800000i64},
        "op": "c",
        "ts_ms": source_ms,
        "source": {"connector": "postgresql", "db": "crm", "table": "customers",
                   "ts_ms": source_ms}
    });
    Message {
        topic: "crm.public.customers".into(),
        partition: 0,
        offset: 0,
        key: Some(json!({"CUSTOMER_ID": id}).to_string().into_bytes()),
        value: Some(value.to_string().into_bytes()),
        headers: vec![],
        timestamp: None,
    }
}

/// The `/status` document of `fdc`.
fn status(fdc: &Fdc) -> Value {
    match fdc.get("/status") {
        Some((200, body)) => serde_json::from_str(&body).expect("json"),
        other => panic!("/status answered {other:?}; log:\n{}", fdc.stderr()),
    }
}

/// The `/status` entry of single view `view`.
fn view_status(fdc: &Fdc, view: &str) -> Option<Value> {
    status(fdc)["views"]
        .as_array()?
        .iter()
        .find(|v| v["view"] == view)
        .cloned()
}

/// `fdc status --addr` of `fdc`: its summary.
fn summary(fdc: &Fdc) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["status", "--addr", &fdc.addr])
        .output()
        .expect("fdc status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The services, and a customer360 deployment of the test's own (`name`), its `fdc.yaml`
/// written; returns the brokers too.
async fn deployment(name: &str, partitions: i32) -> (String, Customer360) {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(&brokers, support::unique_name(name), partitions).await;
    std::fs::write(
        &c.config,
        config_text(&brokers, &c.group, &uri, &c.prefix, &c.map.renames, "dlq"),
    )
    .expect("config");
    (brokers, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_views_freshness_matches_an_injected_source_delay_within_ten_percent() {
    let (brokers, c) = deployment("it_fresh_delay", 2).await;
    let fdc = Fdc::start("customer360", &c.config, &[], &c.dir.join("fdc.log"));
    // The member owns its partitions before the changes arrive: the delay measured is then
    // the injected one plus the pipeline's own latency, not the group's join.
    wait_group_stable(&brokers, &c.group, 1).await;
    // Changes made 100 s ago at the database, produced (and so Kafka-timestamped) now. The
    // pipeline's own latency (a loaded machine may take seconds) stays well inside 10 %.
    const DELAY_S: f64 = 100.0;
    let source_ms = now_ms() - (DELAY_S * 1000.0) as i64;
    let messages: Vec<Message> = (1..=20).map(|id| customer(id, source_ms)).collect();
    produce(&producer(&brokers), &c.map, &messages).await;
    let view = wait_for("customer_360's freshness", Duration::from_secs(60), || {
        view_status(&fdc, "customer_360").filter(|v| v["newest_source_ms"] == json!(source_ms))
    });
    let seen_s = (now_ms() - source_ms) as f64 / 1000.0;
    let h = &view["freshness_seconds"];
    let count = h["count"].as_f64().expect("count");
    let mean = h["sum"].as_f64().expect("sum") / count;
    assert!(count >= 1.0, "{view}");
    // Exactly: the writes happened after the changes were produced and before they were seen.
    assert!(
        mean >= DELAY_S - 0.001 && mean <= seen_s + 0.001,
        "freshness {mean} s outside [{DELAY_S}, {seen_s}]: {view}"
    );
    assert!(
        (mean - DELAY_S).abs() <= DELAY_S * 0.1,
        "freshness {mean} s for a {DELAY_S} s delay: {view}"
    );
    let metrics = fdc.metrics();
    let sum = metric(
        &metrics,
        "fdc_view_freshness_seconds_sum{view=\"customer_360\"}",
    )
    .expect("the view's histogram");
    // The count of the same scrape: more writes may have been observed since `/status`.
    let scraped = metric(
        &metrics,
        "fdc_view_freshness_seconds_count{view=\"customer_360\"}",
    )
    .expect("the view's histogram count");
    assert!(
        (sum / scraped - DELAY_S).abs() <= DELAY_S * 0.1,
        "{sum} over {scraped}"
    );
    wait_for("caught up", Duration::from_secs(30), || {
        view_status(&fdc, "customer_360").filter(|v| v["behind_seconds"] == json!(0.0))
    });
    let text = summary(&fdc);
    // About 100 s: in the bucket up to 120 s.
    assert!(
        text.contains("  customer_360: caught up; freshness p50 <= 120 s"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survivor_shows_the_lag_and_owner_of_a_killed_members_partitions() {
    const PARTITIONS: i32 = 4;
    const SESSION_S: u64 = 40;
    let (brokers, c) = deployment("it_fresh_group", PARTITIONS).await;
    // A session long enough to look at the group before the killed member is dropped.
    let text = std::fs::read_to_string(&c.config).expect("config").replace(
        &format!("  group_id: {}\n", c.group),
        &format!(
            "  group_id: {}\n  properties:\n    session.timeout.ms: \"{}\"\n    \
             heartbeat.interval.ms: \"1000\"\n",
            c.group,
            SESSION_S * 1000
        ),
    );
    std::fs::write(&c.config, text).expect("config");
    let p = producer(&brokers);
    let a = Fdc::start("customer360", &c.config, &[], &c.dir.join("a.log"));
    let b = Fdc::start("customer360", &c.config, &[], &c.dir.join("b.log"));
    wait_group_stable(&brokers, &c.group, 2).await;
    let first: Vec<Message> = (1..=40).map(|id| customer(id, now_ms())).collect();
    produce(&p, &c.map, &first).await;
    wait_committed(&brokers, &c.group, &c.topics, PARTITIONS, 40).await;

    a.kill();
    let killed = Instant::now();
    let second: Vec<Message> = (41..=240).map(|id| customer(id, now_ms())).collect();
    produce(&p, &c.map, &second).await;
    // The survivor sees the partitions it does not own, with their lag and their owner, and
    // notices that the owner makes no progress.
    let (dead, doc) = wait_for(
        "the killed member's partitions in the survivor's status",
        Duration::from_secs(SESSION_S),
        || {
            let doc = status(&b);
            let group = doc["group_lag"]
                .as_array()?
                .iter()
                .find(|g| g["stage"] == "ingest")?
                .clone();
            let dead: Vec<Value> = group["partitions"]
                .as_array()?
                .iter()
                .filter(|p| p["topic"] == "crm.public.customers" && p["mine"] == false)
                .filter(|p| p["lag"].as_i64() > Some(0) && !p["stalled_seconds"].is_null())
                .cloned()
                .collect();
            (!dead.is_empty()).then_some((dead, doc))
        },
    );
    assert!(
        killed.elapsed() < Duration::from_secs(SESSION_S),
        "seen {:?} after the kill, past the session timeout",
        killed.elapsed()
    );
    for p in &dead {
        assert!(
            p["owner"].is_string(),
            "still owned by the killed member: {p}"
        );
    }
    // The survivor's own lag reads nothing of them: only the group's lag does.
    let own: i64 = doc["health"]["lag"]
        .as_array()
        .expect("lag")
        .iter()
        .filter(|l| {
            dead.iter()
                .any(|d| d["partition"] == l["partition"] && d["topic"] == l["topic"])
        })
        .map(|l| l["lag"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(own, 0, "{doc}");
    // The views are held back by the projection whose partitions wait.
    let v = doc["views"]
        .as_array()
        .expect("views")
        .iter()
        .find(|v| v["view"] == "customer_360")
        .expect("customer_360")
        .clone();
    assert_eq!(v["held_back_by"]["projection"], "customers", "{v}");
    assert!(v["held_back_by"]["lag"].as_i64() > Some(0), "{v}");
    let text = summary(&b);
    assert!(
        text.contains("its owner may be dead") && text.contains("held back by customers"),
        "{text}"
    );
    let metrics = b.metrics();
    assert!(
        metric(
            &metrics,
            "fdc_group_partitions_without_live_owner{stage=\"ingest\"}"
        ) >= Some(1.0),
        "{metrics}"
    );
    drop(b);
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_retention_deleted_below_the_committed_offset_are_counted() {
    let (brokers, c) = deployment("it_fresh_retention", 1).await;
    let p = producer(&brokers);
    let topic = c.map.to_broker("crm.public.customers").to_string();
    let fdc = Fdc::start("customer360", &c.config, &[], &c.dir.join("a.log"));
    let first: Vec<Message> = (1..=10).map(|id| customer(id, now_ms())).collect();
    produce(&p, &c.map, &first).await;
    wait_committed(&brokers, &c.group, std::slice::from_ref(&topic), 1, 10).await;
    assert!(fdc.terminate().success());

    // While no member runs, 30 more messages arrive and retention deletes up to offset 25:
    // 15 of them (offsets 10 to 24) are never read.
    let second: Vec<Message> = (11..=40).map(|id| customer(id, now_ms())).collect();
    produce(&p, &c.map, &second).await;
    delete_below(&brokers, &topic, 25).await;

    let fdc = Fdc::start("customer360", &c.config, &[], &c.dir.join("b.log"));
    expect_fifteen_lost(&fdc);
    // The rest is read; the count stays.
    wait_committed(&brokers, &c.group, std::slice::from_ref(&topic), 1, 40).await;
    let metrics = fdc.metrics();
    assert_eq!(
        metric(
            &metrics,
            "fdc_messages_lost_to_retention_total{topic=\"crm.public.customers\",partition=\"0\"}"
        ),
        Some(15.0),
        "{metrics}"
    );
    let text = summary(&fdc);
    assert!(
        text.contains("retention deleted 15 message(s) before they were read")
            && text.contains("the single views may miss changes; a refresh is needed"),
        "{text}"
    );
    assert!(fdc.stderr().contains("overtaken by retention"));
    let _ = std::fs::remove_dir_all(&c.dir);
}

/// Waits for `fdc`'s `/status` to report the one loss both retention tests make: 15 messages
/// of customers partition 0, the position at 10 and the earliest offset at 25.
fn expect_fifteen_lost(fdc: &Fdc) {
    let lost = wait_for("the retention loss", Duration::from_secs(60), || {
        status(fdc)["lost_to_retention"]
            .as_array()
            .filter(|l| !l.is_empty())
            .cloned()
    });
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["topic"], "crm.public.customers");
    assert_eq!(
        (&lost[0]["partition"], &lost[0]["messages"]),
        (&json!(0), &json!(15))
    );
    assert_eq!(
        (&lost[0]["committed"], &lost[0]["earliest"]),
        (&json!(10), &json!(25))
    );
}

/// Deletes the records of partition 0 of broker topic `topic` below `offset`, as retention
/// would.
async fn delete_below(brokers: &str, topic: &str, offset: i64) {
    delete_records(brokers, &[(topic, 0, offset)]).await;
}

/// An order of customer `id`, produced now.
fn order(id: i64) -> Message {
    Message {
        topic: "shop.orders".into(),
        partition: 0,
        offset: 0,
        key: Some(json!({"id": format!("o-{id}")}).to_string().into_bytes()),
        value: Some(
            json!({"id": format!("o-{id}"), "CUSTOMER": id, "STATUS": "placed",
                   "TOTAL": "1.50", "PLACED_AT": "2024-03-01T09:15:00Z", "COUPON": null})
            .to_string()
            .into_bytes(),
        ),
        headers: vec![],
        timestamp: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_retention_deleted_under_a_running_member_are_counted() {
    let (brokers, c) = deployment("it_fresh_running", 1).await;
    let token = c.dir.join("token");
    std::fs::write(&token, "t0ken-of-the-retention-test\n").expect("token");
    let mut text = std::fs::read_to_string(&c.config).expect("config");
    text += &format!("http:\n  token_file: \"{}\"\n", token.display());
    std::fs::write(&c.config, text).expect("config");
    let p = producer(&brokers);
    let topic = c.map.to_broker("crm.public.customers").to_string();
    let orders = c.map.to_broker("shop.orders").to_string();
    let fdc = Fdc::start("customer360", &c.config, &[], &c.dir.join("fdc.log"));
    let first: Vec<Message> = (1..=10).map(|id| customer(id, now_ms())).collect();
    produce(&p, &c.map, &first).await;
    wait_committed(&brokers, &c.group, std::slice::from_ref(&topic), 1, 10).await;

    // The customers are paused: the member keeps its partition, its read position at 10.
    let paused = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["pause", "--projection", "customers", "--addr", &fdc.addr])
        .arg("--token-file")
        .arg(&token)
        .output()
        .expect("fdc pause");
    assert!(
        paused.status.success(),
        "{}",
        String::from_utf8_lossy(&paused.stderr)
    );
    wait_for("the hold", Duration::from_secs(30), || {
        fdc.stderr()
            .contains("input held by the pause state")
            .then_some(())
    });
    // An order read and committed after the hold was logged: the reads since hold the
    // customers' partition in the consumer.
    produce(&p, &c.map, &[order(1)]).await;
    wait_committed(&brokers, &c.group, std::slice::from_ref(&orders), 1, 1).await;
    // While it is paused, 30 more customers arrive and retention deletes up to offset 25:
    // 15 of them (offsets 10 to 24) are never read by the running member.
    let second: Vec<Message> = (11..=40).map(|id| customer(id, now_ms())).collect();
    produce(&p, &c.map, &second).await;
    assert_eq!(
        committed_total(&brokers, &c.group, std::slice::from_ref(&topic), 1),
        10,
        "the paused projection read nothing"
    );
    delete_below(&brokers, &topic, 25).await;
    let resumed = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["resume", "--projection", "customers", "--addr", &fdc.addr])
        .arg("--token-file")
        .arg(&token)
        .output()
        .expect("fdc resume");
    assert!(resumed.status.success());

    // The position 10 is out of range: the consumer resets to 25, the jump is judged at the
    // next ask of the group.
    wait_committed(&brokers, &c.group, std::slice::from_ref(&topic), 1, 40).await;
    expect_fifteen_lost(&fdc);
    let metrics = fdc.metrics();
    assert_eq!(
        metric(
            &metrics,
            "fdc_messages_lost_to_retention_total{topic=\"crm.public.customers\",partition=\"0\"}"
        ),
        Some(15.0),
        "{metrics}"
    );
    let text = summary(&fdc);
    assert!(
        text.contains("retention deleted 15 message(s) before they were read"),
        "{text}"
    );
    assert!(fdc
        .stderr()
        .contains("retention deleted messages this member had not read yet"));
    // No other jump was taken for a loss (the orders' partition read every offset).
    assert_eq!(
        metric_sum(&metrics, "fdc_messages_lost_to_retention_total"),
        15.0
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}
