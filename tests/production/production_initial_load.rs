//! `fdc run --initial-load` on Kafka into MongoDB ends by itself once the backlog as of its
//! start is written (offsets committed, no single view built); then `fdc refresh` with the
//! same configuration builds the single views of the embedded run of the same stream, and a
//! steady-state run afterwards picks up only what was produced after the load.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, group and database are unique to the test.

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use kafka_common::*;
use ops_common::*;

const PARTITIONS: i32 = 3;

/// Runs `fdc ARGS` with the file's configuration only, failing after `limit`.
fn fdc(args: &[&str], limit: Duration) -> Output {
    fdc_within(args, &[], limit)
}

fn pipeline() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360")
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initial_load_ends_at_the_backlog_and_a_refresh_builds_the_views() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(
        &brokers,
        support::unique_name("it_initial_load"),
        PARTITIONS,
    )
    .await;
    let (prefix, group, plan, map) = (&c.prefix, &c.group, &c.plan, &c.map);
    let (topics, dir, config) = (&c.topics, &c.dir, &c.config);
    std::fs::write(
        config,
        config_text(&brokers, group, &uri, prefix, &map.renames, "dlq"),
    )
    .expect("config");
    let stream = dir.join("stream.jsonl");
    synthetic_stream(&stream, 40, now_ms());
    let messages = file_messages(&stream).await;
    let p = producer(&brokers);
    produce(&p, map, &messages).await;

    let out = fdc(
        &[
            "run",
            arg(&pipeline()),
            "--config",
            arg(config),
            "--initial-load",
        ],
        PHASE,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("single views not built"), "{stderr}");
    assert!(stderr.contains("0 triggered"), "{stderr}");
    assert_eq!(
        committed_total(&brokers, group, topics, PARTITIONS),
        messages.len() as i64
    );
    assert!(mongo_view_lines(&uri, prefix, plan).await.is_empty());

    let out = fdc(
        &[
            "refresh",
            arg(&pipeline()),
            "customer_360",
            "--config",
            arg(config),
        ],
        PHASE,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (expected, dead) = reference_run(plan, &stream).await;
    assert_eq!(dead, 0);
    assert_eq!(expected.len(), 40);
    assert_same_views(&mongo_view_lines(&uri, prefix, plan).await, &expected);

    // What comes after the load is the steady state's: one more customer.
    let more = dir.join("more.jsonl");
    synthetic_stream(&more, 41, now_ms());
    let all = file_messages(&more).await;
    produce(&p, map, &all[messages.len()..]).await;
    let steady = Fdc::start("customer360", config, &[], &dir.join("steady.log"));
    wait_committed(&brokers, group, topics, PARTITIONS, all.len() as i64).await;
    let text = steady.metrics();
    assert_eq!(
        metric_sum(&text, "fdc_messages_consumed_total"),
        (all.len() - messages.len()) as f64,
        "{text}"
    );
    assert!(steady.terminate().success());
    let (expected, _) = reference_run(plan, &more).await;
    assert_eq!(expected.len(), 41);
    assert_same_views(&mongo_view_lines(&uri, prefix, plan).await, &expected);
    let _ = std::fs::remove_dir_all(dir);
}
