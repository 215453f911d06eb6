//! `fdc run PIPELINE --config fdc.yaml` as an operator runs it: the real binary, Kafka in,
//! MongoDB (FerretDB) out, dead letters and events on Kafka, stopped with SIGTERM (exit 0)
//! and started again; the single views in the database equal the embedded file run's.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, group and database are unique to the test.

use crate::kafka_common;
use crate::support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fdc_engine::change::Message;
use fdc_engine::store::SingleViewStore;
use fdc_mongo::{MongoStore, MongoStoreConfig};
use kafka_common::*;

const PARTITIONS: i32 = 3;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360/events.jsonl")
}

fn start(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .arg("run")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360"))
        .arg("--config")
        .arg(config)
        // The file decides; the test's environment must not.
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fdc")
}

/// SIGTERM, then the exit status and what the process said on stderr.
async fn terminate(child: Child) -> (std::process::ExitStatus, String) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let out = within("the graceful stop", async move {
        tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
            .await
            .expect("join")
    })
    .await;
    (out.status, String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdc_run_with_a_config_feeds_mongodb_from_kafka_and_stops_cleanly_on_sigterm() {
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
    } = Customer360::new(&brokers, support::unique_name("it_prod"), PARTITIONS).await;
    let database = prefix.clone();
    let renames: String = map
        .renames
        .iter()
        .map(|(p, b)| format!("    {p}: {b}\n"))
        .collect();
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: \"{brokers}\"\n  group_id: {group}\n  topics:\n{renames}\
             mongodb:\n  uri: \"{uri}\"\n  database: {database}\n  write_concern: \"1\"\n\
             batch:\n  max_messages: 8\n  linger_ms: 50\ndead_letter:\n  topic: dlq\n"
        ),
    )
    .expect("write config");

    let messages = file_messages(&golden()).await;
    let half = messages.len() / 2;
    let p = producer(&brokers);
    let mut first_half: Vec<Message> = messages[..half].to_vec();
    first_half.push(Message {
        topic: "crm.public.customers".into(),
        partition: 0,
        offset: 0,
        key: Some(b"{\"CUSTOMER_ID\": 77}".to_vec()),
        value: Some(b"\x00\x01 not json".to_vec()),
        headers: vec![],
        timestamp: Some(1_709_280_000_000),
    });
    produce(&p, &map, &first_half).await;

    // First life: the first half and a poison message, then SIGTERM.
    let first = start(&config);
    wait_committed(
        &brokers,
        &group,
        &topics,
        PARTITIONS,
        first_half.len() as i64,
    )
    .await;
    let (status, stderr) = terminate(first).await;
    assert!(status.success(), "exit {status:?}: {stderr}");
    assert!(stderr.contains("terminated"), "{stderr}");
    assert!(stderr.contains("1 dead-lettered"), "{stderr}");

    // Second life: the rest, then the whole stream once more (duplicates; replayed whole
    // because a hard-deleted record replayed alone would legitimately come back), while it
    // runs.
    let second = start(&config);
    let mut rest: Vec<Message> = messages[half..].to_vec();
    rest.extend_from_slice(&messages);
    produce(&p, &map, &rest).await;
    wait_committed(
        &brokers,
        &group,
        &topics,
        PARTITIONS,
        (first_half.len() + rest.len()) as i64,
    )
    .await;
    let (status, stderr) = terminate(second).await;
    assert!(status.success(), "exit {status:?}: {stderr}");
    assert!(
        stderr.contains(&format!("consumed {} message(s)", rest.len())),
        "{stderr}"
    );

    // The database holds exactly the single views of the embedded run.
    let store = MongoStore::connect(MongoStoreConfig {
        uri: uri.clone(),
        database: database.clone(),
        ..MongoStoreConfig::default()
    })
    .await
    .expect("connect");
    let mut documents = std::collections::BTreeMap::new();
    for v in &plan.single_views {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .scan(&v.name, after.as_deref(), 100)
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
    let (expected, golden_dead) = reference_run(&plan, &golden()).await;
    assert_same_views(&got, &expected);

    // Every golden message was sent twice, the poison message once.
    let letters = read_topic(&brokers, map.to_broker("dlq"), 1 + 2 * golden_dead as usize).await;
    use rdkafka::Message as _;
    assert!(letters
        .iter()
        .any(|l| l.payload() == Some(&b"\x00\x01 not json"[..])));
    let _ = std::fs::remove_dir_all(&dir);
}
