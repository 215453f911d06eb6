//! Scale-out: two `fdc run` processes in one consumer group split multi-partition topics; one
//! is killed with SIGKILL mid-stream and started again; the group rebalances twice and the
//! final single views equal the embedded run of the whole stream.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, group and database are unique to the test.
#![cfg(feature = "integration")]

mod kafka_common;
mod ops_common;
mod support;

use std::time::Duration;

use fdc_engine::change::Message;
use kafka_common::*;
use ops_common::*;

const PARTITIONS: i32 = 4;

fn consumed(fdc: &Fdc) -> f64 {
    metric_sum(&fdc.metrics(), "fdc_messages_consumed_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_the_partitions_and_a_killed_one_loses_nothing() {
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
    } = Customer360::new(&brokers, support::unique_name("it_ops_scale"), PARTITIONS).await;
    // A killed member is noticed after its session times out (librdkafka's default: 45 s).
    let text = config_text(&brokers, &group, &uri, &prefix, &map.renames, "dlq").replace(
        &format!("  group_id: {group}\n"),
        &format!(
            "  group_id: {group}\n  properties:\n    session.timeout.ms: \"6000\"\n    \
             heartbeat.interval.ms: \"1000\"\n"
        ),
    );
    assert!(text.contains("session.timeout.ms"));
    std::fs::write(&config, text).expect("config");
    // Customers first, then each customer's one order placed, then paid: every single view
    // is rebuilt by the owner of one partition at a time (see docs/operations.md on
    // concurrent rebuilds).
    let stream = dir.join("stream.jsonl");
    synthetic_stream(&stream, 80, now_ms());
    let messages = file_messages(&stream).await;
    let phase = |topic: &str, status: Option<&str>| -> Vec<Message> {
        messages
            .iter()
            .filter(|m| m.topic == topic)
            .filter(|m| {
                status.is_none_or(|s| {
                    let v: serde_json::Value =
                        serde_json::from_slice(m.value.as_deref().unwrap_or_default())
                            .unwrap_or_default();
                    v["STATUS"] == s
                })
            })
            .cloned()
            .collect()
    };
    let customers = phase("crm.public.customers", None);
    let placed = phase("shop.orders", Some("placed"));
    let paid = phase("shop.orders", Some("paid"));
    assert_eq!(customers.len() + placed.len() + paid.len(), messages.len());

    let p = producer(&brokers);
    let a = Fdc::start("customer360", &config, &[], &dir.join("a.log"));
    let b = Fdc::start("customer360", &config, &[], &dir.join("b.log"));
    // On a busy machine one member can join after the other drained the first phase alone.
    wait_group_stable(&brokers, &group, 2).await;
    produce(&p, &map, &customers).await;
    wait_committed(
        &brokers,
        &group,
        &topics,
        PARTITIONS,
        customers.len() as i64,
    )
    .await;
    // Both members got partitions and did part of the work.
    let (ca, cb) = (consumed(&a), consumed(&b));
    assert!(ca > 0.0 && cb > 0.0, "a consumed {ca}, b consumed {cb}");
    assert!(ca + cb >= customers.len() as f64);

    // A member dies mid-stream, with batches in flight.
    produce(&p, &map, &placed).await;
    std::thread::sleep(Duration::from_millis(300));
    a.kill();
    let a = Fdc::start("customer360", &config, &[], &dir.join("a2.log"));
    produce(&p, &map, &paid).await;
    wait_committed(&brokers, &group, &topics, PARTITIONS, messages.len() as i64).await;
    wait_for("both members ready", Duration::from_secs(30), || {
        (a.ready() && b.ready()).then_some(())
    });

    for member in [a, b] {
        let status = member.terminate();
        assert!(status.success(), "{status:?}");
    }
    let got = mongo_view_lines(&uri, &prefix, &plan).await;
    let (expected, dead) = reference_run(&plan, &stream).await;
    assert_eq!(dead, 0);
    assert_eq!(expected.len(), 80);
    assert_same_views(&got, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}
