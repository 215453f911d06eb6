//! Crash safety of `fdc run` in production: the real binary (Kafka in, MongoDB out) is killed
//! with SIGKILL after a batch's projection writes and before its commit, then started again;
//! nothing is lost and the single views equal the embedded run's. The second life is stopped
//! with SIGINT (Ctrl-C) mid-stream: exit 0, and everything it wrote is covered by its commits
//! (the batches in flight were finished and committed); a third one finishes the stream and
//! stops on SIGTERM.
//!
//! The crash point is reached through the test-only fault injection of the MongoDB store
//! (`FDC_TEST_FAULT_PAUSE_AFTER_PROJECTION_WRITES`, compiled only with the `integration`
//! feature, see `engine/src/mongo/fault.rs`): the process announces on stderr that a projection
//! write returned and stays there; the test then sends the real `kill -9`.
//!
//! Needs the services of `scripts/services`; a missing one fails. Topics, group and database
//! are unique to the test.

use crate::kafka_common;
use crate::support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use fdc_engine::change::Message;
use fdc_engine::store::{ProjectionStore, SingleViewStore};
use fdc_mongo::{MongoStore, MongoStoreConfig};
use kafka_common::*;

const PARTITIONS: i32 = 3;
/// The projection write call after which the first life is killed.
const CRASH_AFTER_WRITES: u32 = 4;
/// What the fault injection prints when it holds the process.
const PAUSED: &str = "fdc fault injection: paused after projection write";

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360/events.jsonl")
}

/// A running `fdc`, killed if the test ends (or fails) while it runs.
struct Fdc(Child);

impl Drop for Fdc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fdc run`; its stderr lines arrive on the receiver (and are kept for failures).
fn start(config: &Path, fault: Option<u32>) -> (Fdc, mpsc::Receiver<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fdc"));
    command
        .arg("run")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360"))
        .arg("--config")
        .arg(config)
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .env_remove("FDC_TEST_FAULT_PAUSE_AFTER_PROJECTION_WRITES")
        // Every batch and store command on stderr, shown if the test fails.
        .env("FDC_LOG", "info,fdc_engine=debug,fdc_mongo=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(n) = fault {
        command.env(
            "FDC_TEST_FAULT_PAUSE_AFTER_PROJECTION_WRITES",
            n.to_string(),
        );
    }
    let mut child = command.spawn().expect("start fdc");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Fdc(child), rx)
}

/// Waits for a stderr line containing `needle`; returns every line seen until then.
fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + PHASE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!("no stderr line with {needle:?}; seen:\n{}", seen.join("\n")),
        }
    }
}

/// Waits until `group` committed `expected` offsets; on timeout fails with what the running
/// process said on stderr (the lines read so far).
async fn wait_committed_or_show(
    brokers: &str,
    group: &str,
    topics: &[String],
    expected: i64,
    stderr: &mpsc::Receiver<String>,
) {
    let deadline = std::time::Instant::now() + PHASE;
    while committed_total(brokers, group, topics, PARTITIONS) < expected {
        if std::time::Instant::now() > deadline {
            let said: Vec<String> = stderr.try_iter().collect();
            panic!(
                "{expected} offsets not committed after {PHASE:?}; fdc said:\n{}",
                said.join("\n")
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Sends `signal` to the child and waits for it to end; one that does not end within
/// [`PHASE`] is killed and the test fails with what it said on stderr.
async fn signal_and_wait(
    mut fdc: Fdc,
    signal: &str,
    stderr: &mpsc::Receiver<String>,
) -> std::process::ExitStatus {
    let child = &mut fdc.0;
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = std::time::Instant::now() + PHASE;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let said: Vec<String> = stderr.try_iter().collect();
            panic!(
                "fdc did not end within {PHASE:?} after SIG{signal}; it said:\n{}",
                said.join("\n")
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Projection records last written at or after `since` (epoch ms) from a message at or after
/// its partition's committed offset: effects not covered by a commit.
async fn written_beyond_commits(
    store: &MongoStore,
    plan: &fdc_plan::Plan,
    map: &fdc_kafka::TopicMap,
    committed: &std::collections::BTreeMap<(String, i32), i64>,
    since: i64,
) -> usize {
    let mut n = 0;
    for p in &plan.projections {
        let mut after = None;
        loop {
            let page = ProjectionStore::scan(store, &p.name, after.as_deref(), 100)
                .await
                .expect("scan");
            for r in &page.items {
                let at = (map.to_broker(&r.meta.topic).to_string(), r.meta.partition);
                let covered = r.meta.offset < committed.get(&at).copied().unwrap_or(0);
                if r.meta.updated_at >= since && !covered {
                    n += 1;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdc_run_killed_between_projection_writes_and_commit_loses_nothing() {
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
    } = Customer360::new(&brokers, support::unique_name("it_crash"), PARTITIONS).await;
    let renames: String = map
        .renames
        .iter()
        .map(|(p, b)| format!("    {p}: {b}\n"))
        .collect();
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: \"{brokers}\"\n  group_id: {group}\n  topics:\n{renames}\
             \x20 properties:\n    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"1000\"\n\
             mongodb:\n  uri: \"{uri}\"\n  database: {prefix}\n  write_concern: \"1\"\n\
             batch:\n  max_messages: 4\n  linger_ms: 20\n  read_ahead: 1\n\
             dead_letter:\n  topic: dlq\n"
        ),
    )
    .expect("write config");

    // The stream twice (re-deliveries after newer versions; replayed whole, because a
    // hard-deleted record replayed alone would legitimately come back).
    let messages = file_messages(&golden()).await;
    let mut stream: Vec<Message> = messages.clone();
    stream.extend_from_slice(&messages);
    produce(&producer(&brokers), &map, &stream).await;
    let total = stream.len() as i64;

    // First life: held right after a projection write, then killed with SIGKILL.
    let (first, stderr) = start(&config, Some(CRASH_AFTER_WRITES));
    wait_for_line(&stderr, PAUSED);
    let status = signal_and_wait(first, "KILL", &stderr).await;
    assert_eq!(status.signal(), Some(9), "{status:?}");

    // The crash left written but uncommitted projection records: some record was applied from
    // a message at or after its partition's committed offset.
    let committed = committed_offsets(&brokers, &group, &topics, PARTITIONS);
    let committed_sum: i64 = committed.values().sum();
    assert!(
        committed_sum < total,
        "everything was committed before the crash"
    );
    let store = MongoStore::connect(MongoStoreConfig {
        uri: uri.clone(),
        database: prefix.clone(),
        ..MongoStoreConfig::default()
    })
    .await
    .expect("connect");
    let uncommitted = written_beyond_commits(&store, &plan, &map, &committed, 0).await;
    assert!(
        uncommitted > 0,
        "no projection record was written after the committed offsets"
    );

    // Second life: no fault; stopped by SIGINT as soon as it committed something (a short
    // session timeout lets the group drop the killed member quickly). A graceful stop finishes
    // the batches in flight and commits them: nothing it wrote is beyond the commits.
    let second_start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let (second, stderr) = start(&config, None);
    wait_committed_or_show(&brokers, &group, &topics, committed_sum + 1, &stderr).await;
    let status = signal_and_wait(second, "INT", &stderr).await;
    let lines: Vec<String> = stderr.iter().collect();
    assert!(status.success(), "exit {status:?}:\n{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("interrupted")),
        "{}",
        lines.join("\n")
    );
    let committed = committed_offsets(&brokers, &group, &topics, PARTITIONS);
    assert_eq!(
        written_beyond_commits(&store, &plan, &map, &committed, second_start).await,
        0,
        "the graceful stop left written but uncommitted records"
    );

    // Third life: it finishes the stream and stops on SIGTERM.
    let (third, stderr) = start(&config, None);
    wait_committed_or_show(&brokers, &group, &topics, total, &stderr).await;
    let status = signal_and_wait(third, "TERM", &stderr).await;
    // The reader thread ends at the end of the pipe.
    let lines: Vec<String> = stderr.iter().collect();
    assert!(status.success(), "exit {status:?}:\n{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.contains("terminated")),
        "{}",
        lines.join("\n")
    );
    assert!(!lines.iter().any(|l| l.contains(PAUSED)));

    let mut documents = std::collections::BTreeMap::new();
    for v in &plan.single_views {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = SingleViewStore::scan(&store, &v.name, after.as_deref(), 100)
                .await
                .expect("scan");
            all.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        documents.insert(v.name.clone(), all);
    }
    let got = view_lines(&plan, |v| documents.get(v).cloned().unwrap_or_default());
    let expected = reference_views(&plan, &golden()).await;
    assert_same_views(&got, &expected);
    let _ = store.drop_database().await;
    let _ = std::fs::remove_dir_all(&dir);
}
