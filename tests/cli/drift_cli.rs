//! Source drift end to end through the binary: `fdc run --input --store` over messages with a
//! column no field maps and without a mapped one, then `fdc plan --store` lists the first as
//! a candidate for a new field and the second as no longer arriving (human and JSON, exit
//! status unchanged); the counts survive further runs (merged with what the store holds), a
//! column that comes back is no longer listed, a new pipeline that maps the candidate no longer
//! lists it, and no value of a message is ever printed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fdc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("FDC_DEPLOYED_BY", "ci-bot")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("drift_cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PIPELINE: &str = "tests/plans/bases/customer360";
const EVENTS: &str = "pipelines/customer360/events.jsonl";

fn run(store: &Path, input: &Path) {
    let o = fdc(&[
        "run",
        PIPELINE,
        "--input",
        input.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// `fdc plan PIPELINE --store STORE` in `format`: exit status and stdout.
fn plan(pipeline: &str, store: &Path, format: &str) -> (i32, String) {
    let o = fdc(&[
        "plan",
        pipeline,
        "--store",
        store.to_str().unwrap(),
        "--format",
        format,
    ]);
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    (o.status.code().unwrap(), text(&o.stdout))
}

/// Lines of the file source holding `orders` messages (basic format: key, full row).
fn orders(dir: &Path, name: &str, rows: &[Value]) -> PathBuf {
    let path = dir.join(name);
    let lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            json!({"topic": "shop.orders", "key": {"id": row["id"]}, "value": row,
                   "timestamp": 1_709_683_600_000_i64 + i as i64})
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn order(id: &str, extra: Value) -> Value {
    let mut row = json!({"id": id, "CUSTOMER": 1, "STATUS": "paid", "TOTAL": "10.00",
                         "PLACED_AT": "2024-03-05T09:15:00Z"});
    if let (Some(r), Value::Object(more)) = (row.as_object_mut(), extra) {
        r.extend(more);
    }
    row
}

fn drift_of<'a>(report: &'a Value, projection: &str) -> &'a Value {
    report["source_drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["projection"] == projection)
        .unwrap_or_else(|| panic!("no drift of {projection}: {report}"))
}

#[test]
fn plan_lists_unmapped_and_missing_columns_that_runs_counted_in_the_store() {
    let dir = scratch("lists");
    let store = dir.join("store");
    run(&store, &root().join(EVENTS));
    // The example's messages match its projections: nothing to say.
    let (code, human) = plan(PIPELINE, &store, "human");
    assert_eq!(
        (code, human.contains("source drift")),
        (0, false),
        "{human}"
    );
    let (_, json_text) = plan(PIPELINE, &store, "json");
    let report: Value = serde_json::from_str(&json_text).unwrap();
    let before = drift_of(&report, "orders");
    assert!(before["messages"].as_u64().unwrap() > 0, "{before}");
    assert_eq!(before["candidates"], json!([]));
    assert_eq!(before["no_longer_arriving"], json!([]));

    // The shop starts sending CHANNEL and stops sending COUPON; a delete (null value) lacks
    // every column and counts as nothing missing.
    let drifted = orders(
        &dir,
        "drifted.jsonl",
        &[
            order("o-9001", json!({"CHANNEL": "app-secret-value"})),
            order("o-9002", json!({"CHANNEL": "web-secret-value"})),
        ],
    );
    std::fs::write(
        dir.join("delete.jsonl"),
        json!({"topic": "shop.orders", "key": {"id": "o-9002"}, "value": null,
               "timestamp": 1_709_683_700_000_i64})
        .to_string()
            + "\n",
    )
    .unwrap();
    run(&store, &drifted);
    run(&store, &dir.join("delete.jsonl"));

    let (code, human) = plan(PIPELINE, &store, "human");
    assert_eq!(code, 0, "informational: nothing to do stays 0\n{human}");
    assert!(human.contains("nothing to do\n"), "{human}");
    assert!(human.contains("source drift"), "{human}");
    assert!(human.contains("projection `orders`"), "{human}");
    assert!(
        human.contains("candidates for new fields (columns no field maps, in 2 message(s)):"),
        "{human}"
    );
    assert!(
        human.contains("- `CHANNEL`: in 2 message(s), first seen 20"),
        "{human}"
    );
    assert!(
        human.contains("no longer arriving (mapped columns the source stopped sending):"),
        "{human}"
    );
    assert!(
        human.contains("- `COUPON` (field `coupon`): missing since 20"),
        "{human}"
    );
    assert!(human.contains("in 2 message(s), last seen 20"), "{human}");
    assert!(!human.contains("projection `customers`"), "{human}");
    assert!(!human.contains("secret-value"), "never a value: {human}");

    let (code, json_text) = plan(PIPELINE, &store, "json");
    assert_eq!(code, 0);
    assert!(!json_text.contains("secret-value"), "never a value");
    let report: Value = serde_json::from_str(&json_text).unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/plan-report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let o = drift_of(&report, "orders");
    let messages = before["messages"].as_u64().unwrap();
    assert_eq!(
        o["messages"],
        json!(messages + 3),
        "merged across runs: {o}"
    );
    assert_eq!(o["unmapped_messages"], json!(2));
    assert_eq!(o["missing_messages"], json!(2));
    assert_eq!(o["candidates"].as_array().unwrap().len(), 1, "{o}");
    assert_eq!(o["candidates"][0]["column"], "CHANNEL");
    assert_eq!(o["candidates"][0]["messages"], json!(2));
    let first_seen = o["candidates"][0]["first_seen"].clone();
    assert_eq!(o["no_longer_arriving"].as_array().unwrap().len(), 1, "{o}");
    let coupon = &o["no_longer_arriving"][0];
    assert_eq!(coupon["column"], "COUPON");
    assert_eq!(coupon["fields"], json!(["coupon"]));
    assert_eq!(coupon["missing_messages"], json!(2));
    assert!(
        coupon["last_seen"].is_string(),
        "it came in the first run: {coupon}"
    );
    assert!(coupon["missing_since"].as_str().unwrap() >= coupon["last_seen"].as_str().unwrap());

    // A pipeline that maps CHANNEL no longer lists it (its plan has actions: exit 2 for them).
    let mapped = dir.join("mapped");
    std::fs::create_dir_all(&mapped).unwrap();
    for f in ["crm.fdl", "customer_360.fdl", "shop.fdl"] {
        let mut t = std::fs::read_to_string(root().join(PIPELINE).join(f)).unwrap();
        if f == "shop.fdl" {
            t = t.replacen(
                "    coupon      string?  <- COUPON\n",
                "    coupon      string?  <- COUPON\n    channel     string?  <- CHANNEL\n",
                1,
            );
        }
        std::fs::write(mapped.join(f), t).unwrap();
    }
    let (code, json_text) = plan(mapped.to_str().unwrap(), &store, "json");
    assert_eq!(code, 2, "a new field: re-ingest");
    let report: Value = serde_json::from_str(&json_text).unwrap();
    let o = drift_of(&report, "orders");
    assert_eq!(o["candidates"], json!([]), "{o}");
    assert_eq!(o["no_longer_arriving"][0]["column"], "COUPON");

    // COUPON comes back with a third run, CHANNEL once more: the store merges.
    let back = orders(
        &dir,
        "back.jsonl",
        &[order("o-9003", json!({"CHANNEL": "app", "COUPON": null}))],
    );
    run(&store, &back);
    let (code, json_text) = plan(PIPELINE, &store, "json");
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&json_text).unwrap();
    let o = drift_of(&report, "orders");
    assert_eq!(o["candidates"][0]["messages"], json!(3));
    assert_eq!(o["candidates"][0]["first_seen"], first_seen);
    assert_eq!(o["no_longer_arriving"], json!([]), "it arrives again: {o}");
    let (_, human) = plan(PIPELINE, &store, "human");
    assert!(!human.contains("no longer arriving"), "{human}");
}

#[test]
fn plan_without_a_store_has_no_source_drift() {
    let (code, json_text) = {
        let o = fdc(&["plan", PIPELINE, "--against", PIPELINE, "--format", "json"]);
        (o.status.code().unwrap(), text(&o.stdout))
    };
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(report["source_drift"], json!([]));
}
