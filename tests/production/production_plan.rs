//! `fdc plan --config` on Kafka + MongoDB (FerretDB): every case of `tests/plans/<case>/` (see
//! `tests/cli/plan_cli.rs` for the folders) planned against a real deployment of its base,
//! compared with the golden files `production.txt` (the exit status, then the human output)
//! and `production.json` (`--format json`, valid against `schemas/plan-report.schema.json`).
//!
//! A deployment per base (`tests/plans/bases/<name>`): its input topics (unique to the test,
//! one partition each) get the frozen stream `tests/plans/bases/<name>.events.jsonl`, `fdc run
//! BASE --config --initial-load` loads the projections and records the plan, `fdc refresh`
//! builds every single view; then every case of that base is planned against it (a plan reads
//! the store and the broker, it writes nothing, so the cases share it). The costs are the
//! store's counts. A case with a file `retention` (lines `TOPIC PARTITION OFFSET`, plan topics)
//! gets a deployment of its own, whose records below those offsets are deleted
//! (`delete_records`, as retention would) before it is planned: its (re-)ingests of those
//! topics carry the warning that the topic no longer holds its whole history, and no other
//! action does; `fdc apply` of such a case prints the same plan, repeats the warning before
//! the re-ingest, and leaves the single views of the stream without the deleted messages. The
//! deployments are made side by side.
//!
//! The actions (kinds, targets, reasons, changes, order) must be those of the case's embedded
//! golden `expected.json` (`--against` the base, no costs), and with their costs those of
//! `fdc plan --store` on an embedded store fed the same stream (`fdc run --input --store`):
//! only the warnings come from Kafka. The
//! names unique to the test are normalized in the golden files: the configuration file's
//! path to `fdc.yaml`, the test's prefix of topics, group and database to `<prefix>`, the
//! deployment time to `<applied_at>`. Regenerate them with `FDC_BLESS=1 cargo test --features
//! integration --test production production_plan::` and review the diff.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use kafka_common::*;
use support::{golden, PlanCase};

/// Who the deployments are recorded as applied by (`FDC_DEPLOYED_BY`).
const DEPLOYED_BY: &str = "fdc-production-plan-test";

/// Runs `fdc ARGS` with the configuration file's settings only, failing after [`PHASE`].
fn fdc(args: &[String]) -> Output {
    ops_common::fdc_within(
        args,
        &[("FDC_DEPLOYED_BY", DEPLOYED_BY), ("NO_COLOR", "1")],
        PHASE,
    )
}

/// [`fdc`] in a blocking task, asserting exit 0.
async fn fdc_ok(args: Vec<String>) {
    let out = tokio::task::spawn_blocking({
        let args = args.clone();
        move || fdc(&args)
    })
    .await
    .expect("fdc task");
    assert_eq!(
        out.status.code(),
        Some(0),
        "`fdc {}`:\n{}",
        args.join(" "),
        text(&out.stderr)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn compiled(pipeline: &str) -> fdc_plan::Plan {
    let path = support::repository().join(pipeline);
    match fdc_dsl::load(&path) {
        Ok(c) => c.plan,
        Err(_) => panic!("{pipeline} does not compile"),
    }
}

/// The records a case deletes before it is planned: `(plan topic, partition, offset)`.
fn retention(case: &PlanCase) -> Vec<(String, i32, i64)> {
    let Ok(t) = std::fs::read_to_string(case.dir().join("retention")) else {
        return Vec::new();
    };
    t.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(
            |l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
                [topic, partition, offset] => (
                    (*topic).to_string(),
                    partition.parse().expect("a partition number"),
                    offset.parse().expect("an offset"),
                ),
                _ => panic!(
                    "{}/retention: `{l}` is not `TOPIC PARTITION OFFSET`",
                    case.name
                ),
            },
        )
        .collect()
}

/// One deployment of a base on the services, and the cases planned against it.
struct Deployed {
    prefix: String,
    config: PathBuf,
    /// The embedded store of the same stream's run (`fdc run --input --store`).
    embedded: PathBuf,
    embedded_lock: std::sync::Arc<std::sync::Mutex<()>>,
    dir: PathBuf,
    /// The stream produced.
    stream: PathBuf,
    /// The records deleted after the deployment: `(plan topic, partition, offset)`.
    deleted: Vec<(String, i32, i64)>,
    cases: Vec<PlanCase>,
}

/// Deploys `base` for `cases` (see the module docs): topics of every plan involved renamed
/// under a unique prefix, the frozen stream produced, the projections loaded, the views
/// built, then the records of `deleted` removed.
async fn deploy(
    brokers: String,
    uri: String,
    base: String,
    cases: Vec<PlanCase>,
    deleted: Vec<(String, i32, i64)>,
) -> Deployed {
    let stream = support::repository().join(format!("{base}.events.jsonl"));
    assert!(
        stream.is_file(),
        "the base {base} has no frozen stream {}",
        stream.display()
    );
    deploy_stream(brokers, uri, base, stream, cases, deleted).await
}

/// [`deploy`] of `base` fed `stream`.
async fn deploy_stream(
    brokers: String,
    uri: String,
    base: String,
    stream: PathBuf,
    cases: Vec<PlanCase>,
    deleted: Vec<(String, i32, i64)>,
) -> Deployed {
    let name = Path::new(&base)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a base name")
        .to_string();
    let prefix = support::unique_name(&format!("it_plan_{name}"));
    let base_plan = compiled(&base);
    let mut map = fdc_kafka::TopicMap::default();
    let plans: Vec<fdc_plan::Plan> = cases.iter().map(|c| compiled(&c.new)).collect();
    for plan in std::iter::once(&base_plan).chain(&plans) {
        for t in plan.topics() {
            map.renames.insert(t.to_string(), format!("{prefix}.{t}"));
        }
    }
    let topics: Vec<String> = map.renames.values().cloned().collect();
    create_topics(&brokers, &topics, 1).await;
    let messages = file_messages(&stream).await;
    produce(&producer(&brokers), &map, &messages).await;

    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("fdc.yaml");
    let group = format!("{prefix}.group");
    let text = ops_common::config_text(
        &brokers,
        &group,
        &uri,
        &prefix,
        &map.renames,
        &format!("{prefix}.dlq"),
    ) + "events:\n  enabled: false\n";
    std::fs::write(&config, text).expect("config");
    let config_arg = config.to_str().expect("utf-8 path").to_string();
    let args = |words: &[&str]| -> Vec<String> {
        words
            .iter()
            .map(|w| w.to_string())
            .chain(["--config".to_string(), config_arg.clone()])
            .collect()
    };
    // The same stream on an embedded store, whose plans must cost the same.
    let embedded = dir.join("embedded");
    let embedded_run = tokio::spawn(fdc_ok(vec![
        "run".into(),
        base.clone(),
        "--input".into(),
        stream.to_str().expect("utf-8 path").into(),
        "--store".into(),
        embedded.to_str().expect("utf-8 path").into(),
    ]));
    fdc_ok(args(&["run", &base, "--initial-load"])).await;
    for view in &base_plan.single_views {
        // The cursor in the deployment's folder: deployments refresh side by side.
        let cursor = dir.join(format!("refresh-{}.cursor.json", view.name));
        let cursor = cursor.to_str().expect("utf-8 path");
        fdc_ok(args(&["refresh", &base, &view.name, "--cursor", cursor])).await;
    }
    if !deleted.is_empty() {
        let below: Vec<(&str, i32, i64)> = deleted
            .iter()
            .map(|(topic, partition, offset)| (map.to_broker(topic), *partition, *offset))
            .collect();
        delete_records(&brokers, &below).await;
    }
    embedded_run.await.expect("the embedded run");
    Deployed {
        prefix,
        config,
        embedded,
        embedded_lock: Default::default(),
        dir,
        stream,
        deleted,
        cases,
    }
}

/// What `fdc plan` printed for a case: on the production deployment as text and as JSON,
/// and on the embedded store of the same stream as JSON.
struct Planned {
    human: Output,
    json: Output,
    embedded: Output,
}

/// `embedded_lock`: one process at a time opens an embedded store (it holds the store's file
/// lock).
fn plan(
    case: &PlanCase,
    config: &Path,
    embedded: &Path,
    embedded_lock: &std::sync::Mutex<()>,
) -> Planned {
    let run = |store: &str, path: &Path, format: &str| {
        let mut args = vec!["plan".to_string(), case.new.clone()];
        args.extend(case.args.iter().cloned());
        args.extend([store, path.to_str().expect("utf-8 path")].map(String::from));
        args.extend(["--format", format].map(String::from));
        fdc(&args)
    };
    Planned {
        human: run("--config", config, "human"),
        json: run("--config", config, "json"),
        embedded: {
            let _one = embedded_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            run("--store", embedded, "json")
        },
    }
}

/// `text` with the names unique to this run replaced (see the module docs).
fn normalized(text: &str, d: &Deployed) -> String {
    text.replace(d.config.to_str().expect("utf-8 path"), "fdc.yaml")
        .replace(&d.prefix, "<prefix>")
}

/// The parts of an action that do not depend on the store or the broker.
fn plan_of(action: &serde_json::Value) -> serde_json::Value {
    serde_json::json!([
        action["kind"],
        action["target"],
        action["reason"],
        action["changes"],
        action["collection"],
        action["topic"],
        action["fields"],
        action["after"],
    ])
}

fn check(d: &Deployed, case: &PlanCase, planned: &Planned, schema: &jsonschema::Validator) {
    let name = &case.name;
    let Planned { human, json, .. } = planned;
    assert!(human.stderr.is_empty(), "{name}: {}", text(&human.stderr));
    assert!(json.stderr.is_empty(), "{name}: {}", text(&json.stderr));
    let code = human.status.code().expect("an exit status");
    assert_eq!(
        json.status.code(),
        Some(code),
        "{name}: json and human differ"
    );

    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let errors: Vec<String> = schema
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
    let nothing = doc["nothing_to_do"].as_bool().expect("nothing_to_do");
    assert_eq!(code, if nothing { 0 } else { 2 }, "{name}");
    assert_eq!(doc["against"], "record", "{name}");
    assert_eq!(doc["deployed"]["applied_by"], DEPLOYED_BY, "{name}");

    // The same actions as the embedded golden (`--against` the base): only costs and
    // warnings come from the services.
    let embedded_text =
        std::fs::read_to_string(case.dir().join("expected.json")).expect("expected.json");
    let embedded: serde_json::Value = serde_json::from_str(&embedded_text).expect("json");
    let actions = doc["actions"].as_array().expect("actions");
    let embedded_actions = embedded["actions"].as_array().expect("actions");
    assert_eq!(
        actions.iter().map(plan_of).collect::<Vec<_>>(),
        embedded_actions.iter().map(plan_of).collect::<Vec<_>>(),
        "{name}: the actions differ from the embedded plan's"
    );
    assert_eq!(doc["unchanged"], embedded["unchanged"], "{name}");

    // The costs are the store's counts: those of the embedded store fed the same stream.
    assert_eq!(
        planned.embedded.status.code(),
        Some(code),
        "{name}: {}",
        text(&planned.embedded.stderr)
    );
    let on_store: serde_json::Value =
        serde_json::from_slice(&planned.embedded.stdout).expect("json");
    let without_warning = |actions: &serde_json::Value| -> Vec<serde_json::Value> {
        let mut out = actions.as_array().expect("actions").clone();
        for a in &mut out {
            if let Some(a) = a.as_object_mut() {
                a.remove("warning");
            }
        }
        out
    };
    assert_eq!(
        without_warning(&doc["actions"]),
        without_warning(&on_store["actions"]),
        "{name}: the actions or costs differ from the embedded store's"
    );

    // Warnings exactly on the (re-)ingests of the topics whose records were deleted.
    let trimmed: Vec<String> = retention(case).into_iter().map(|(t, _, _)| t).collect();
    for a in actions {
        let ingest = matches!(a["kind"].as_str(), Some("ingest" | "reingest"));
        let lost = ingest
            && a["topic"]
                .as_str()
                .is_some_and(|t| trimmed.iter().any(|x| x == t));
        let warning = a.get("warning").and_then(|w| w.as_str());
        if lost {
            let w = warning.unwrap_or_else(|| panic!("{name}: no warning on {a}"));
            assert!(
                w.contains("no longer holds its whole history") && w.contains("will be missing"),
                "{name}: {w}"
            );
        } else {
            assert_eq!(warning, None, "{name}: {a}");
        }
    }

    golden(
        &case.dir().join("production.txt"),
        &normalized(&format!("exit status: {code}\n{}", text(&human.stdout)), d),
    );
    let applied_at = doc["deployed"]["applied_at"]
        .as_str()
        .expect("the deployment time");
    let json_text = normalized(&text(&json.stdout), d).replace(
        &format!("\"applied_at\": \"{applied_at}\""),
        "\"applied_at\": \"<applied_at>\"",
    );
    golden(&case.dir().join("production.json"), &json_text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_plans_on_kafka_and_ferretdb_as_its_golden_files_say() {
    let started = Instant::now();
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let names = support::plan_cases();
    assert!(names.len() >= 10, "{names:?}");

    // One deployment per base, and one per case that deletes records.
    let mut groups: BTreeMap<(String, String), Vec<PlanCase>> = BTreeMap::new();
    for name in &names {
        let case = PlanCase::read(name);
        let own = if retention(&case).is_empty() {
            String::new()
        } else {
            case.name.clone()
        };
        groups
            .entry((case.base.clone(), own))
            .or_default()
            .push(case);
    }
    assert!(
        groups.keys().any(|(_, own)| !own.is_empty()),
        "no case deletes records: the retention warning is not tested"
    );
    let mut deploying = Vec::new();
    for ((base, _), cases) in groups {
        let deleted = cases.first().map(retention).unwrap_or_default();
        deploying.push(tokio::spawn(deploy(
            brokers.clone(),
            uri.clone(),
            base,
            cases,
            deleted,
        )));
    }
    let mut deployed = Vec::new();
    for d in deploying {
        deployed.push(d.await.expect("a deployment"));
    }
    let deployed_in = started.elapsed();

    // Every case's plan, side by side.
    let mut planning = Vec::new();
    for (i, d) in deployed.iter().enumerate() {
        for (j, case) in d.cases.iter().enumerate() {
            let case = case.clone();
            let (config, embedded, lock) = (
                d.config.clone(),
                d.embedded.clone(),
                d.embedded_lock.clone(),
            );
            planning.push((
                i,
                j,
                tokio::task::spawn_blocking(move || plan(&case, &config, &embedded, &lock)),
            ));
        }
    }
    let mut planned = BTreeMap::new();
    for (i, j, task) in planning {
        planned.insert((i, j), task.await.expect("a plan"));
    }
    let schema = {
        let path = support::repository().join("schemas/plan-report.schema.json");
        let text = std::fs::read_to_string(path).expect("schema");
        jsonschema::validator_for(&serde_json::from_str(&text).expect("json")).expect("schema")
    };
    for ((i, j), p) in &planned {
        let d = &deployed[*i];
        check(d, &d.cases[*j], p, &schema);
    }
    let planned_in = started.elapsed() - deployed_in;
    for d in deployed.iter().filter(|d| !d.deleted.is_empty()) {
        for case in &d.cases {
            apply_after_retention(d, case, &uri).await;
        }
    }
    for d in &deployed {
        let _ = std::fs::remove_dir_all(&d.dir);
    }
    eprintln!(
        "{} case(s) on {} deployment(s): deployed in {deployed_in:?}, planned in \
         {planned_in:?}, all in {:?}",
        planned.len(),
        deployed.len(),
        started.elapsed()
    );
}

/// `fdc apply` of a case whose topic lost records: it prints the plan `fdc plan` printed
/// (its warning included), repeats the warning before the re-ingest, and the single views
/// it leaves are those of a clean run of the new pipeline over the stream without the
/// deleted messages: a record whose messages were all deleted is gone, as the warning says.
async fn apply_after_retention(d: &Deployed, case: &PlanCase, uri: &str) {
    let name = &case.name;
    let mut args = vec!["apply".to_string(), case.new.clone()];
    args.extend(case.args.iter().cloned());
    args.extend([
        "--config".to_string(),
        d.config.to_str().expect("utf-8 path").into(),
    ]);
    let out = tokio::task::spawn_blocking(move || fdc(&args))
        .await
        .expect("fdc apply");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{name}: {err}");
    let golden_text =
        std::fs::read_to_string(case.dir().join("production.txt")).expect("production.txt");
    let (_, shown) = golden_text.split_once('\n').expect("an exit status line");
    assert_eq!(
        normalized(&text(&out.stdout), d),
        shown,
        "{name}: apply's plan"
    );

    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case.dir().join("production.json")).expect("production.json"),
    )
    .expect("json");
    let mut warned = 0;
    for (i, a) in report["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .enumerate()
    {
        let Some(w) = a.get("warning").and_then(|w| w.as_str()) else {
            continue;
        };
        let step = format!(
            "{}. re-ingest projection: {}\n  warning: {w}\n",
            i + 1,
            a["target"].as_str().expect("target")
        );
        assert!(
            normalized(&err, d).contains(&step),
            "{name}: no warning before the re-ingest:\n{err}"
        );
        warned += 1;
    }
    assert!(warned > 0, "{name}: no action warns");

    // The stream as the topic holds it now: the deleted messages left out (one partition:
    // a topic's n-th message of the stream is at offset n - 1).
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    let kept: Vec<String> = std::fs::read_to_string(&d.stream)
        .expect("stream")
        .lines()
        .filter(|l| {
            let line: serde_json::Value = serde_json::from_str(l).expect("a json line");
            let topic = line["topic"].as_str().expect("topic").to_string();
            let offset = seen.entry(topic.clone()).or_insert(0);
            *offset += 1;
            !d.deleted.iter().any(|(t, partition, below)| {
                assert_eq!(*partition, 0, "the test's topics have one partition");
                *t == topic && *offset - 1 < *below
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let retained = d.dir.join("retained.jsonl");
    std::fs::write(&retained, kept.concat()).expect("write");
    let new = compiled(&case.new);
    let (expected, _) = reference_run(&new, &retained).await;
    let (everything, _) = reference_run(&new, &d.stream).await;
    assert_ne!(
        live(&expected),
        live(&everything),
        "{name}: the deleted messages change no single view: the test shows nothing"
    );
    assert_same_views(
        &ops_common::mongo_view_lines(uri, &d.prefix, &new).await,
        &expected,
    );
}

/// Every record of `plan`'s projections in `store` as a line: projection, key, fields and
/// state (not the metadata: offsets and times differ between a file run and Kafka), object
/// keys sorted; the lines sorted.
async fn record_lines(
    store: &dyn fdc_engine::store::ProjectionStore,
    plan: &fdc_plan::Plan,
) -> Vec<String> {
    let mut lines = Vec::new();
    for p in &plan.projections {
        let mut after: Option<Vec<fdc_engine::value::Value>> = None;
        loop {
            let page = store
                .scan(&p.name, after.as_deref(), 500)
                .await
                .expect("scan");
            for r in &page.items {
                let line = serde_json::json!({
                    "projection": p.name,
                    "key": serde_json::to_value(&r.key).expect("key"),
                    "fields": serde_json::to_value(&r.fields).expect("fields"),
                    "state": serde_json::to_value(r.state).expect("state"),
                });
                lines.push(sorted_keys(line).to_string());
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    lines.sort();
    lines
}

/// The single views of `plan` in MongoDB database `database`, each line's object keys
/// sorted: MongoDB keeps a document's fields in write order, and a field refresh of a `write
/// merge` view sets new fields after the stored ones, where a clean run writes them in
/// declaration order; readers address fields by name.
async fn mongo_views(uri: &str, database: &str, plan: &fdc_plan::Plan) -> Vec<String> {
    let mut lines: Vec<String> = ops_common::mongo_view_lines(uri, database, plan)
        .await
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a view line");
            sorted_keys(v).to_string()
        })
        .collect();
    lines.sort();
    lines
}

/// `v` with the keys of every object sorted.
fn sorted_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let m: BTreeMap<String, serde_json::Value> =
                m.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            serde_json::to_value(m).expect("json")
        }
        serde_json::Value::Array(a) => a.into_iter().map(sorted_keys).collect(),
        other => other,
    }
}

/// The projection records of `plan` in MongoDB database `database` ([`record_lines`]).
async fn mongo_records(uri: &str, database: &str, plan: &fdc_plan::Plan) -> Vec<String> {
    let store = fdc_mongo::MongoStore::connect(fdc_mongo::MongoStoreConfig {
        uri: uri.to_string(),
        database: database.to_string(),
        ..fdc_mongo::MongoStoreConfig::default()
    })
    .await
    .expect("connect");
    record_lines(&store, plan).await
}

/// `fdc apply` of every case (but those that delete records, checked above) on a deployment
/// of its base: the projection records and single views it leaves in MongoDB equal those of
/// a clean deployment of the new pipeline fed the same stream (records without their
/// metadata, documents with their fields sorted, see [`mongo_views`]), and `fdc run` of the
/// new pipeline is no longer refused. Four cases at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_applied_on_kafka_and_ferretdb_equals_a_clean_run_of_the_new_pipeline() {
    let started = Instant::now();
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let cases: Vec<PlanCase> = support::plan_cases()
        .iter()
        .map(|n| PlanCase::read(n))
        .filter(|c| retention(c).is_empty())
        .collect();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = Vec::new();
    for case in cases {
        let (brokers, uri, slots) = (brokers.clone(), uri.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.expect("a slot");
            let name = case.name.clone();
            let applied = deploy(
                brokers.clone(),
                uri.clone(),
                case.base.clone(),
                vec![case.clone()],
                Vec::new(),
            )
            .await;
            let config = applied.config.to_str().expect("utf-8 path").to_string();
            let mut args = vec!["apply".to_string(), case.new.clone()];
            args.extend(case.args.iter().cloned());
            args.extend(["--config".to_string(), config.clone()]);
            let out = tokio::task::spawn_blocking(move || fdc(&args))
                .await
                .expect("fdc apply");
            assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
            let clean = deploy_stream(
                brokers,
                uri.clone(),
                case.new.clone(),
                applied.stream.clone(),
                Vec::new(),
                Vec::new(),
            )
            .await;

            let new = compiled(&case.new);
            let records = mongo_records(&uri, &clean.prefix, &new).await;
            assert!(!records.is_empty(), "{name}: the clean run stored nothing");
            let got = mongo_records(&uri, &applied.prefix, &new).await;
            assert_eq!(got.len(), records.len(), "{name}: projection records");
            for (g, e) in got.iter().zip(&records) {
                assert_eq!(g, e, "{name}: a projection record differs");
            }
            let views = mongo_views(&uri, &clean.prefix, &new).await;
            assert!(!views.is_empty(), "{name}: the clean run built no view");
            let got = mongo_views(&uri, &applied.prefix, &new).await;
            let only = |a: &[String], b: &[String]| -> Vec<String> {
                a.iter().filter(|l| !b.contains(l)).cloned().collect()
            };
            assert!(
                got == views,
                "{name}: the single views differ\n--- only after the apply\n{}\n--- only in \
                 the clean run\n{}",
                only(&got, &views).join("\n"),
                only(&views, &got).join("\n")
            );
            // Applied: the new pipeline runs (nothing new to read).
            fdc_ok(vec![
                "run".into(),
                case.new.clone(),
                "--config".into(),
                config,
                "--initial-load".into(),
            ])
            .await;
            let _ = std::fs::remove_dir_all(&applied.dir);
            let _ = std::fs::remove_dir_all(&clean.dir);
            name
        }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        applied.push(t.await.expect("a case"));
    }
    eprintln!(
        "{} case(s) applied and compared in {:?}: {applied:?}",
        applied.len(),
        started.elapsed()
    );
}
