//! `fdc apply --config` on Kafka into MongoDB (FerretDB): the customer360 base runs over a
//! synthetic stream (an initial load, then a refresh: the first run records the plan), the
//! pipeline changes a cast and adds a projection field (`tests/plans/projection_casts_and_
//! fields_changed`), and `fdc apply` re-ingests the two projections from their topics and
//! refreshes the view: the single views then equal the embedded run of the new pipeline over
//! the same stream, the re-ingested records carry the new field, the pipeline's consumer
//! group's committed offsets are exactly what they were, and `fdc run` of the new pipeline is
//! no longer refused. Before that, a running `fdc run` of the base keeps its heartbeat in the
//! record, `fdc apply` is refused naming its pid, and the run's graceful stop removes it.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, group and database are unique to the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fdc_engine::store::{DeploymentStore, ProjectionStore};
use kafka_common::*;
use ops_common::*;

const PARTITIONS: i32 = 2;
const BASE: &str = "tests/plans/bases/customer360";
const NEW: &str = "tests/plans/projection_casts_and_fields_changed/new";

/// Runs `fdc ARGS` with the file's configuration only, failing after [`PHASE`].
fn fdc(args: &[&str]) -> Output {
    fdc_env(args, &[])
}

/// [`fdc`] with these environment variables.
fn fdc_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    fdc_within(args, env, PHASE)
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn compiled(pipeline: &str) -> fdc_plan::Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(pipeline);
    fdc_dsl::load(&path).expect("the pipeline compiles").plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reingests_from_the_topics_without_touching_the_groups_offsets() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(&brokers, support::unique_name("it_apply"), PARTITIONS).await;
    let (prefix, group, map, topics) = (&c.prefix, &c.group, &c.map, &c.topics);
    std::fs::write(
        &c.config,
        config_text(&brokers, group, &uri, prefix, &map.renames, "dlq"),
    )
    .expect("config");
    let config = arg(&c.config);
    let stream = c.dir.join("stream.jsonl");
    synthetic_stream(&stream, 12, now_ms());
    let messages = file_messages(&stream).await;
    produce(&producer(&brokers), map, &messages).await;

    // The base: loaded, its view built, its plan recorded by the first run.
    let o = fdc(&["run", BASE, "--config", config, "--initial-load"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = fdc(&["refresh", BASE, "customer_360", "--config", config]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let offsets = committed_offsets(&brokers, group, topics, PARTITIONS);
    assert_eq!(offsets.values().sum::<i64>(), messages.len() as i64);

    // The changed pipeline is refused.
    let o = fdc(&["run", NEW, "--config", config, "--initial-load"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // While the base runs, its heartbeat is in the record and the apply is refused, naming
    // the run; a graceful stop removes the heartbeat.
    let store = fdc_mongo::MongoStore::connect(fdc_mongo::MongoStoreConfig {
        uri: uri.clone(),
        database: prefix.clone(),
        ..fdc_mongo::MongoStoreConfig::default()
    })
    .await
    .expect("connect");
    let mut running = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", BASE, "--config", config])
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .env_remove("FDC_HTTP_LISTEN")
        .env("FDC_HEARTBEAT_MS", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fdc run");
    let pid = running.id();
    let deadline = Instant::now() + PHASE;
    loop {
        let record = store
            .load_deployment()
            .await
            .expect("record")
            .expect("deployed");
        if record.heartbeat.as_ref().is_some_and(|h| h.pid == pid) {
            break;
        }
        assert!(Instant::now() < deadline, "no heartbeat of the run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The apply takes a beat as alive for three of its own intervals: a minute each, so a
    // loaded machine that delays the run's beats cannot make it look stopped.
    let o = fdc_env(
        &["apply", NEW, "--config", config],
        &[("FDC_HEARTBEAT_MS", "60000")],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("(pid {pid})")), "{err}");
    let term = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    assert!(running.wait().expect("wait").success());
    let record = store
        .load_deployment()
        .await
        .expect("record")
        .expect("deployed");
    assert_eq!(
        record.heartbeat, None,
        "a stopped run removes its heartbeat"
    );

    // Applied.
    let o = fdc(&["apply", NEW, "--config", config]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("re-ingest projection: orders"), "{err}");
    assert!(err.contains("refresh single view: customer_360"), "{err}");
    assert!(err.contains("applied: 3 action(s) done"), "{err}");

    // The group's offsets were neither read nor moved by the apply's reader.
    assert_eq!(
        committed_offsets(&brokers, group, topics, PARTITIONS),
        offsets
    );
    // The views are those of a clean run of the new pipeline over the same stream.
    let new = compiled(NEW);
    let (expected, _) = reference_run(&new, &stream).await;
    assert!(!expected.is_empty());
    assert_same_views(&mongo_view_lines(&uri, prefix, &new).await, &expected);
    // Every re-ingested order carries the new field's default.
    let orders = store
        .scan("orders", None, 10_000)
        .await
        .expect("scan orders");
    assert!(!orders.items.is_empty());
    for r in &orders.items {
        assert_eq!(
            r.fields.get("currency"),
            Some(&fdc_engine::value::Value::String("EUR".into())),
            "an order not re-ingested"
        );
    }
    // The new plan runs (the load has nothing left to read, so it ends).
    let o = fdc(&["run", NEW, "--config", config, "--initial-load"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_apply_refreshes_a_changed_view_before_it_reads() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(&brokers, support::unique_name("it_run_apply"), PARTITIONS).await;
    let (prefix, group, map) = (&c.prefix, &c.group, &c.map);
    std::fs::write(
        &c.config,
        config_text(&brokers, group, &uri, prefix, &map.renames, "dlq"),
    )
    .expect("config");
    let config = arg(&c.config);
    let stream = c.dir.join("stream.jsonl");
    synthetic_stream(&stream, 6, now_ms());
    produce(&producer(&brokers), map, &file_messages(&stream).await).await;
    let o = fdc(&["run", BASE, "--config", config, "--initial-load"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = fdc(&["refresh", BASE, "customer_360", "--config", config]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let changed = "tests/plans/view_fields_changed_replace/new";
    let o = fdc(&[
        "run",
        changed,
        "--config",
        config,
        "--initial-load",
        "--apply",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("refresh single view: customer_360"), "{err}");
    assert!(err.contains("applied: 1 action(s) done"), "{err}");
    let new = compiled(changed);
    let (expected, _) = reference_run(&new, &stream).await;
    assert!(expected.iter().all(|l| l.contains("\"signed_up\"")));
    assert_same_views(&mongo_view_lines(&uri, prefix, &new).await, &expected);
    let _ = std::fs::remove_dir_all(&c.dir);
}
