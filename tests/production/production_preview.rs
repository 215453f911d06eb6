//! `fdc preview` as an operator runs it: the old pipeline ran into MongoDB (FerretDB) from
//! Kafka; a changed pipeline is previewed on the live topics. The diffs are the expected ones,
//! and the database (every collection, every document) and the real group's committed offsets
//! are exactly what they were before the previews.
//!
//! Needs the services of `scripts/services`; a missing service fails. Topics, group and
//! database are unique to the test.

use crate::kafka_common;
use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fdc_engine::change::Message;
use kafka_common::*;
use mongodb::bson::{doc, Document};
use serde_json::{json, Value};

const PARTITIONS: i32 = 1;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360")
}

/// Every collection of `database` with its documents in `_id` order.
async fn dump(uri: &str, database: &str) -> BTreeMap<String, Vec<Document>> {
    let client = mongodb::Client::with_uri_str(uri).await.expect("client");
    let db = client.database(database);
    let mut out = BTreeMap::new();
    for name in db.list_collection_names().await.expect("collections") {
        let mut cursor = db
            .collection::<Document>(&name)
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .expect("find");
        let mut docs = Vec::new();
        while cursor.advance().await.expect("next") {
            docs.push(cursor.deserialize_current().expect("document"));
        }
        out.insert(name, docs);
    }
    out
}

/// `fdc preview PIPELINE --config CONFIG ARGS... --format json`, its output piped; the file
/// decides the services, not the test's environment.
fn preview_command(pipeline: &Path, config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fdc"));
    command
        .arg("preview")
        .arg(pipeline)
        .arg("--config")
        .arg(config)
        .args(args)
        .args(["--format", "json"])
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs [`preview_command`] to its end: exit code, JSON, stderr.
async fn preview(pipeline: &Path, config: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut command = preview_command(pipeline, config, args);
    let out = within("fdc preview", async move {
        tokio::task::spawn_blocking(move || command.output().expect("run fdc preview"))
            .await
            .expect("join")
    })
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    valid(&json);
    (out.status.code(), json, stderr)
}

/// Asserts that a report (unless absent) validates against its committed schema.
fn valid(report: &Value) {
    if report.is_null() {
        return;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/preview-report.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let validator = jsonschema::validator_for(&schema).expect("a schema");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}: {report}");
}

/// `fdc preview` started in the background (JSON on stdout), with its stderr being read.
struct Started {
    child: std::process::Child,
    stderr: std::io::BufReader<std::process::ChildStderr>,
}

/// Starts `fdc preview` and waits until it said on stderr that its partitions are assigned.
async fn start_preview(pipeline: &Path, config: &Path, args: &[&str]) -> Started {
    let mut child = preview_command(pipeline, config, args)
        .spawn()
        .expect("start fdc preview");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let (said, stderr) = within("the preview's start", async move {
        tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut stderr = stderr;
            let mut first = String::new();
            stderr.read_line(&mut first).expect("read stderr");
            (first, stderr)
        })
        .await
        .expect("join")
    })
    .await;
    assert!(
        said.starts_with("previewing on the messages produced from now on"),
        "{said}"
    );
    Started { child, stderr }
}

/// The exit code, JSON report and the rest of stderr of a preview started with
/// [`start_preview`].
async fn finish(started: Started) -> (Option<i32>, Value, String) {
    let Started { child, mut stderr } = started;
    let (out, rest) = within("the preview's end", async move {
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut rest = String::new();
            stderr.read_to_string(&mut rest).expect("read stderr");
            (child.wait_with_output().expect("wait"), rest)
        })
        .await
        .expect("join")
    })
    .await;
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    valid(&json);
    (out.status.code(), json, rest)
}

/// The documents of a report as `(view, customer id) -> document diff`.
fn by_key(report: &Value) -> BTreeMap<(String, i64), Value> {
    report["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .map(|d| {
            let id = d["key"]["customer_id"].as_i64().expect("an int key");
            (
                (d["view"].as_str().expect("view").to_string(), id),
                d.clone(),
            )
        })
        .collect()
}

/// A Debezium message of the customers topic.
fn customer(id: i64, first: &str, last: &str, email: &str, tier: &str, ts: i64) -> Message {
    let value = json!({"before": null, "after": {"CUSTOMER_ID": id, "FIRST_NAME": first,
        "LAST_NAME": last, "EMAIL": email, "TIER": tier, "SIGNUP_TS": 1_600_000_000_000i64},
        "op": "u", "ts_ms": ts, "source": {"connector": "postgresql", "db": "crm",
        "table": "customers", "ts_ms": ts}});
    Message {
        topic: "crm.public.customers".into(),
        partition: 0,
        offset: 0,
        key: Some(json!({"CUSTOMER_ID": id}).to_string().into_bytes()),
        value: Some(value.to_string().into_bytes()),
        headers: vec![],
        timestamp: Some(ts),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_the_diffs_of_a_changed_mapping_and_writes_nothing() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(&brokers, support::unique_name("it_preview"), PARTITIONS).await;
    let database = c.prefix.clone();
    let renames: String = c
        .map
        .renames
        .iter()
        .map(|(p, b)| format!("    {p}: {b}\n"))
        .collect();
    std::fs::write(
        &c.config,
        format!(
            "kafka:\n  brokers: \"{brokers}\"\n  group_id: {}\n  topics:\n{renames}\
             mongodb:\n  uri: \"{uri}\"\n  database: {database}\n  write_concern: \"1\"\n\
             batch:\n  max_messages: 8\n  linger_ms: 50\ndead_letter:\n  topic: dlq\n",
            c.group
        ),
    )
    .expect("write config");

    // The old pipeline runs the example's stream into MongoDB, then stops.
    let messages = file_messages(&example().join("events.jsonl")).await;
    let p = producer(&brokers);
    produce(&p, &c.map, &messages).await;
    let old = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .arg("run")
        .arg(example())
        .arg("--config")
        .arg(&c.config)
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fdc run");
    wait_committed(
        &brokers,
        &c.group,
        &c.topics,
        PARTITIONS,
        messages.len() as i64,
    )
    .await;
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(old.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = within("the graceful stop", async move {
        tokio::task::spawn_blocking(move || old.wait_with_output().expect("wait"))
            .await
            .expect("join")
    })
    .await;
    assert!(status.status.success());
    let offsets = committed_offsets(&brokers, &c.group, &c.topics, PARTITIONS);
    let stored = dump(&uri, &database).await;
    assert!(
        stored.get("customer_360").is_some_and(|d| d.len() >= 3),
        "the old pipeline wrote the single view: {:?}",
        stored.keys()
    );

    // The same pipeline over everything it already wrote: nothing would change.
    let all = messages.len().to_string();
    let (code, same, stderr) = preview(&example(), &c.config, &["--last", &all]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(same["documents"], json!([]), "{same}");
    assert_eq!(same["summary"]["changed"], 0, "{same}");
    assert_eq!(same["summary"]["ended"], "high_watermarks");
    assert_eq!(same["summary"]["messages"], messages.len() as u64);
    // The dead letters the example's stream holds, counted, produced nowhere.
    let (_, dead) = reference_run(&c.plan, &example().join("events.jsonl")).await;
    assert_eq!(same["summary"]["dead_letters"], dead, "{same}");

    // The new pipeline: the name spelled "Last, First", and a second single view.
    let new = c.dir.join("new");
    std::fs::create_dir_all(&new).expect("dir");
    for f in ["crm.fdl", "shop.fdl", "customer_360.fdl"] {
        std::fs::copy(example().join(f), new.join(f)).expect("copy");
    }
    let view = std::fs::read_to_string(new.join("customer_360.fdl")).expect("read");
    let changed = view.replace(
        "name        = concat(customers.first_name, \" \", customers.last_name)",
        "name        = concat(customers.last_name, \", \", customers.first_name)",
    );
    assert_ne!(changed, view, "the mapping to change is in the example");
    std::fs::write(new.join("customer_360.fdl"), changed).expect("write");
    std::fs::write(
        new.join("names.fdl"),
        "single view customer_names {\n  root customers\n  key customer_id = customers.id\n\n  \
         customer_id = customers.id\n  first = customers.first_name\n}\n",
    )
    .expect("write");

    // Live traffic: Ada leaves the gold tier, Edsger arrives.
    produce(
        &p,
        &c.map,
        &[
            customer(
                1,
                "Ada",
                "Lovelace",
                "ada@example.com",
                "standard",
                1_709_900_000_000,
            ),
            customer(
                4,
                "Edsger",
                "Dijkstra",
                "ewd@example.org",
                "gold",
                1_709_900_001_000,
            ),
        ],
    )
    .await;

    let (code, report, stderr) =
        preview(&new, &c.config, &["--last", "2", "--view", "customer_360"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["ended"], "high_watermarks", "{report}");
    let docs = by_key(&report);
    assert!(
        docs.keys().all(|(v, _)| v == "customer_360"),
        "--view keeps only customer_360: {report}"
    );
    let ada = &docs[&("customer_360".to_string(), 1)];
    assert_eq!(ada["change"], "update");
    assert_eq!(
        ada["fields"],
        json!([
            {"path": "name", "old": "Ada Lovelace", "new": "Lovelace, Ada"},
            {"path": "segment", "old": "premium", "new": "regular"},
        ]),
        "{report}"
    );
    let edsger = &docs[&("customer_360".to_string(), 4)];
    assert_eq!(edsger["change"], "insert");
    let fields = edsger["fields"].as_array().expect("fields");
    assert!(fields.iter().all(|f| f.get("old").is_none()), "{edsger}");
    let field = |path: &str| {
        fields
            .iter()
            .find(|f| f["path"] == path)
            .map(|f| f["new"].clone())
    };
    assert_eq!(field("name"), Some(json!("Dijkstra, Edsger")));
    assert_eq!(field("segment"), Some(json!("premium")));
    assert_eq!(field("customer_id"), Some(json!(4)));
    // Every other document rebuilt by the replayed tail differs by its name's spelling only.
    for ((_, id), d) in &docs {
        if *id == 1 || *id == 4 {
            continue;
        }
        let f = d["fields"].as_array().expect("fields");
        assert_eq!(f.len(), 1, "{d}");
        assert_eq!(f[0]["path"], "name", "{d}");
        let old = f[0]["old"].as_str().expect("old name");
        let (first, last) = old.split_once(' ').expect("first and last");
        assert_eq!(f[0]["new"], format!("{last}, {first}"), "{d}");
    }
    assert_eq!(report["summary"]["changed"], docs.len() as u64);

    // Without --view the new single view's documents are new ones.
    let (code, both, stderr) = preview(&new, &c.config, &["--last", "2"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let names = by_key(&both);
    let edsger = &names[&("customer_names".to_string(), 4)];
    assert_eq!(edsger["change"], "insert");
    assert_eq!(
        edsger["fields"],
        json!([
            {"path": "__STATE__", "new": "PUBLIC"},
            {"path": "customer_id", "new": 4},
            {"path": "first", "new": "Edsger"},
        ])
    );

    // --limit stops after that many changed documents.
    let (code, limited, stderr) =
        preview(&new, &c.config, &["--from-beginning", "--limit", "1"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(limited["documents"].as_array().map(Vec::len), Some(1));
    assert_eq!(limited["summary"]["ended"], "limit", "{limited}");

    // By default only what is produced from now on counts; the preview ends at --limit.
    let live = start_preview(&new, &c.config, &["--limit", "1", "--view", "customer_360"]).await;
    produce(
        &p,
        &c.map,
        &[customer(
            5,
            "Barbara",
            "Liskov",
            "bl@example.org",
            "gold",
            1_709_900_002_000,
        )],
    )
    .await;
    let (code, report, stderr) = finish(live).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["ended"], "limit", "{report}");
    assert_eq!(report["summary"]["messages"], 1, "{report}");
    let docs = by_key(&report);
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        vec![&("customer_360".to_string(), 5)]
    );
    assert_eq!(docs[&("customer_360".to_string(), 5)]["change"], "insert");

    // Ctrl-C ends a preview cleanly, with its summary.
    let waiting = start_preview(&new, &c.config, &[]).await;
    let interrupted = Command::new("kill")
        .arg("-INT")
        .arg(waiting.child.id().to_string())
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let (code, report, stderr) = finish(waiting).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["ended"], "interrupted", "{report}");
    assert_eq!(report["documents"], json!([]));

    // Nothing was written: the same collections and documents, the same committed offsets.
    assert_eq!(dump(&uri, &database).await, stored);
    assert_eq!(
        committed_offsets(&brokers, &c.group, &c.topics, PARTITIONS),
        offsets
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}
