//! Outages with the real `fdc` binary running: FerretDB stopped mid-stream, the process
//! stopped by SIGTERM during that outage (it must end within a bounded time and commit nothing
//! unwritten), FerretDB and a new process started again, then the Kafka broker stopped and
//! started again. During each outage readiness turns false
//! and the metrics show the pause; nothing is committed past what was written; the pipeline
//! resumes by itself; the final single views equal the embedded run of the whole stream.
//! The database outage outlasts `max.poll.interval.ms` (set low): the paused member keeps
//! polling and stays in its group (no rebalance), and reports the broker up meanwhile.
//!
//! Runs on private services (`scripts/services` with its own state directory and ports, the
//! binaries from the shared cache), never on the shared ones; a guard stops them even when the
//! test fails.

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use kafka_common::*;
use ops_common::*;

const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdc_pauses_through_database_and_broker_outages_and_loses_nothing() {
    let services = PrivateServices::up();
    let brokers = services.brokers();
    let uri = services.mongo_uri();
    let Customer360 {
        prefix,
        group,
        plan,
        map,
        topics,
        dir,
        config,
    } = Customer360::new(&brokers, support::unique_name("it_ops_outage"), PARTITIONS).await;
    // Small batches, so the outage fills the read-ahead and the reader waits; a poll interval
    // shorter than the outage.
    let text = config_text(&brokers, &group, &uri, &prefix, &map.renames, "dlq")
        .replace("max_messages: 20", "max_messages: 5")
        .replace(
            &format!("  group_id: {group}\n"),
            &format!(
                "  group_id: {group}\n  properties:\n    session.timeout.ms: \"6000\"\n    \
                 max.poll.interval.ms: \"7000\"\n"
            ),
        );
    assert!(text.contains("max_messages: 5") && text.contains("max.poll.interval.ms"));
    std::fs::write(&config, text).expect("config");
    let stream = dir.join("stream.jsonl");
    synthetic_stream(&stream, 60, now_ms());
    let messages = file_messages(&stream).await;
    let third = messages.len() / 3;
    let (first, rest) = messages.split_at(third);
    let (second, last) = rest.split_at(third);
    let committed = || committed_total(&brokers, &group, &topics, PARTITIONS);
    let p = producer(&brokers);

    let fdc = Fdc::start("customer360", &config, &[], &dir.join("fdc.log"));
    produce(&p, &map, first).await;
    wait_committed(&brokers, &group, &topics, PARTITIONS, first.len() as i64).await;
    assert!(fdc.ready(), "{:?}", fdc.get("/readyz"));

    // The database goes away while messages keep coming.
    services.stop("mongo");
    produce(&p, &map, second).await;
    let paused = wait_for("the pause to show", Duration::from_secs(60), || {
        let text = fdc.metrics();
        let retried = metric(&text, "fdc_batch_retries_total").unwrap_or(0.0) >= 1.0;
        let not_ready = metric(&text, "fdc_ready") == Some(0.0);
        // The probe pings every two seconds with a two-second timeout: it may tell the
        // store is down a few seconds after a batch failed on it.
        let store_down = metric(&text, "fdc_store_up") == Some(0.0);
        // The messages produced during the outage show as lag behind the committed offsets.
        let behind = metric_sum(&text, "fdc_consumer_lag_messages") >= 1.0;
        (retried && not_ready && store_down && behind && !fdc.ready()).then_some(text)
    });
    assert_eq!(metric(&paused, "fdc_paused"), Some(1.0), "{paused}");
    let status = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["status", "--addr", &fdc.addr])
        .output()
        .expect("fdc status");
    let shown = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{shown}");
    assert!(shown.contains("NOT READY (store unreachable"), "{shown}");
    // Nothing past what was written is committed while the database is down, for longer
    // than the poll interval.
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(committed(), first.len() as i64);
    let text = fdc.metrics();
    assert_eq!(metric(&text, "fdc_source_up"), Some(1.0), "{text}");

    // The member stays in its group through the pause (longer than the poll interval).
    let log = fdc.stderr();
    assert!(log.contains("kafka partitions assigned"), "{log}");
    assert!(!log.contains("kafka partitions revoked"), "{log}");

    // SIGTERM while the database is still down: the process stops within a bounded time (the
    // retry wait ends at once; a write in flight gets the 10 s shutdown grace) and commits
    // nothing past what was written.
    let asked = Instant::now();
    let status = fdc.terminate();
    let took = asked.elapsed();
    let log = std::fs::read_to_string(dir.join("fdc.log")).unwrap_or_default();
    assert!(
        took < Duration::from_secs(25),
        "stopped after {took:?}:\n{log}"
    );
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("shutdown during a store outage"), "{log}");
    assert_eq!(committed(), first.len() as i64);

    // The database returns; a new process takes over from the committed offsets.
    services.start("mongo");
    let fdc = Fdc::start("customer360", &config, &[], &dir.join("fdc-2.log"));
    wait_committed(
        &brokers,
        &group,
        &topics,
        PARTITIONS,
        (first.len() + second.len()) as i64,
    )
    .await;
    wait_for(
        "readiness after the database returned",
        Duration::from_secs(30),
        || fdc.ready().then_some(()),
    );
    let text = fdc.metrics();
    assert_eq!(metric(&text, "fdc_paused"), Some(0.0), "{text}");
    assert_eq!(metric(&text, "fdc_store_up"), Some(1.0), "{text}");

    // The broker restarts; the rest of the stream is produced after it is back.
    services.stop("kafka");
    wait_for("the broker outage to show", Duration::from_secs(30), || {
        let text = fdc.metrics();
        (metric(&text, "fdc_source_up") == Some(0.0) && !fdc.ready()).then_some(())
    });
    services.start("kafka");
    let p = producer(&brokers);
    produce(&p, &map, last).await;
    wait_committed(&brokers, &group, &topics, PARTITIONS, messages.len() as i64).await;
    wait_for(
        "readiness after the broker returned",
        Duration::from_secs(30),
        || fdc.ready().then_some(()),
    );
    let text = fdc.metrics();
    assert_eq!(metric(&text, "fdc_source_up"), Some(1.0), "{text}");
    // At least once: the second process consumed every message after the committed ones,
    // some maybe twice after the broker restart.
    assert!(
        metric_sum(&text, "fdc_messages_consumed_total") >= (second.len() + last.len()) as f64,
        "{text}"
    );
    assert_eq!(metric_sum(&text, "fdc_messages_dead_lettered_total"), 0.0);

    stop_all([fdc]);
    let (expected, _) = assert_views_of_reference(&uri, &prefix, &plan, &stream).await;
    assert!(!expected.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
