//! Scale-out: two `fdc run` processes (`--role all`, `triggers.in_process: false`) in one
//! consumer group split multi-partition topics, their aggregate stages split the trigger
//! topic; one is killed with SIGKILL mid-stream and started again; both groups rebalance
//! twice and the final single views equal the embedded run of the whole stream.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, group and database are unique to the test.

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::time::Duration;

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
    // Several `--role all` replicas connect their stages through the trigger topic.
    let text = config_text(&brokers, &group, &uri, &prefix, &map.renames, "dlq").replace(
        &format!("  group_id: {group}\n"),
        &format!(
            "  group_id: {group}\n  properties:\n    session.timeout.ms: \"6000\"\n    \
             heartbeat.interval.ms: \"1000\"\n"
        ),
    ) + "triggers:\n  in_process: false\n";
    assert!(text.contains("session.timeout.ms"));
    std::fs::write(&config, text).expect("config");
    // Customers, their orders placed and paid, interleaved: a single view's dependencies
    // arrive on partitions owned by different members, which is safe only because each key
    // has one aggregate owner.
    let stream = dir.join("stream.jsonl");
    synthetic_stream(&stream, 80, now_ms());
    let messages = file_messages(&stream).await;
    let (first, rest) = messages.split_at(messages.len() / 2);
    let (second, third) = rest.split_at(rest.len() / 2);

    let p = producer(&brokers);
    let aggregate_group = format!("{group}.aggregate");
    let trigger_topic = map.to_broker("fdc.triggers").to_string();
    let a = Fdc::start("customer360", &config, &[], &dir.join("a.log"));
    let b = Fdc::start("customer360", &config, &[], &dir.join("b.log"));
    // On a busy machine one member can join after the other drained the first phase alone.
    wait_group_stable(&brokers, &group, 2).await;
    wait_group_stable(&brokers, &aggregate_group, 2).await;
    produce(&p, &map, first).await;
    wait_committed(&brokers, &group, &topics, PARTITIONS, first.len() as i64).await;
    // Both members got partitions and did part of the work.
    let (ca, cb) = (consumed(&a), consumed(&b));
    assert!(ca > 0.0 && cb > 0.0, "a consumed {ca}, b consumed {cb}");

    // A member dies mid-stream, with batches in flight.
    produce(&p, &map, second).await;
    std::thread::sleep(Duration::from_millis(300));
    a.kill();
    let a = Fdc::start("customer360", &config, &[], &dir.join("a2.log"));
    produce(&p, &map, third).await;
    wait_committed(&brokers, &group, &topics, PARTITIONS, messages.len() as i64).await;
    // Every trigger the ingest stages published was consumed by an aggregate stage.
    let triggers = records_in(&brokers, &trigger_topic, PARTITIONS);
    assert!(triggers >= 80, "{triggers} triggers");
    wait_committed(
        &brokers,
        &aggregate_group,
        std::slice::from_ref(&trigger_topic),
        PARTITIONS,
        triggers,
    )
    .await;
    wait_for("both members ready", Duration::from_secs(30), || {
        (a.ready() && b.ready()).then_some(())
    });
    // Triggers are counted once, when published; the trigger topic's records are consumed.
    let (ta, tb) = (a.metrics(), b.metrics());
    let triggered = metric_sum(&ta, "fdc_single_views_triggered_total")
        + metric_sum(&tb, "fdc_single_views_triggered_total");
    assert!(
        triggered > 0.0 && triggered <= triggers as f64,
        "{triggered}"
    );
    // The lag of the trigger partitions is reported beside the input's.
    wait_for("the trigger topic's lag", Duration::from_secs(30), || {
        let series = "fdc_consumer_lag_messages{topic=\"fdc.triggers\"";
        (a.metrics().contains(series) || b.metrics().contains(series)).then_some(())
    });

    stop_all([a, b]);
    let (expected, dead) = assert_views_of_reference(&uri, &prefix, &plan, &stream).await;
    assert_eq!(dead, 0);
    assert_eq!(expected.len(), 80);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_with_in_memory_triggers_are_warned_that_they_are_several() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(&brokers, support::unique_name("it_ops_warn"), PARTITIONS).await;
    let text = config_text(&brokers, &c.group, &uri, &c.prefix, &c.map.renames, "dlq");
    std::fs::write(&c.config, text).expect("config");
    let a = Fdc::start("customer360", &c.config, &[], &c.dir.join("a.log"));
    // Alone, it is not warned.
    wait_group_stable(&brokers, &c.group, 1).await;
    std::thread::sleep(Duration::from_secs(12));
    let status = a.get("/status").expect("status").1;
    assert!(status.contains("\"warning\":null"), "{status}");
    let b = Fdc::start("customer360", &c.config, &[], &c.dir.join("b.log"));
    wait_group_stable(&brokers, &c.group, 2).await;
    for member in [&a, &b] {
        wait_for("the warning", Duration::from_secs(30), || {
            let status = member.get("/status")?.1;
            status
                .contains("2 `--role all` members share the consumer group")
                .then_some(())
        });
    }
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["status", "--addr", &a.addr])
        .output()
        .expect("fdc status");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("WARNING: 2 `--role all` members"), "{shown}");
    assert!(a.stderr().contains("triggers.in_process: false"));
    for member in [a, b] {
        assert!(member.terminate().success());
    }
    let _ = std::fs::remove_dir_all(&c.dir);
}
