//! Golden end-to-end cases and the `fdc test` command.
//!
//! Each folder of `tests/cases/<name>/` holds a pipeline (`*.fdl`), the input
//! (`events.jsonl`, file-source lines; a line that is not a JSON object with a `topic` is fed
//! as a raw poison line), the expected outcome (`expected.json`: the `expect` object of a test
//! case, see `schemas/test.schema.json`, usually `exhaustive` so every stored document is
//! listed; plus an optional `"batches"` list) and optionally `given.json` (`{"given": ...,
//! "given_views": ...}` as in a test case). Every case runs through the same harness as `fdc
//! test`, once with one message per batch and once with the whole input in one batch (unless
//! `batches` restricts it): the final state must not depend on batching.
//!
//! The expected documents are derived by hand from the semantics in `dsl/plan/src/lib.rs` and
//! DESIGN.md; the derivation of the less obvious values is written next to them in each case's
//! `README.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use fdc_topology::testing;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Builds the test case of folder `name` in batch mode `batch` and runs it.
fn run(name: &str) {
    let dir = cases_dir().join(name);
    let compiled = fdc_dsl::load(&dir).unwrap_or_else(|d| {
        let reports: Vec<String> = d.reports().iter().map(|r| format!("{r:?}")).collect();
        panic!(
            "{name}: the pipeline does not compile:\n{}",
            reports.join("\n")
        )
    });
    let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
    let when: Vec<serde_json::Value> = events
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) if v.get("topic").is_some() => v,
            _ => serde_json::json!({ "raw": l }),
        })
        .collect();
    let mut expect: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("expected.json is JSON");
    let batches = expect
        .as_object_mut()
        .and_then(|o| o.remove("batches"))
        .unwrap_or_else(|| serde_json::json!([1, "all"]));
    let given: serde_json::Value = match std::fs::read_to_string(dir.join("given.json")) {
        Ok(text) => serde_json::from_str(&text).expect("given.json is JSON"),
        Err(_) => serde_json::json!({}),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for batch in batches.as_array().expect("`batches` is a list") {
        let mut case = serde_json::json!({
            "name": format!("{name} (batch {batch})"),
            "batch": batch,
            "when": when,
            "expect": expect,
        });
        for part in ["given", "given_views"] {
            if let Some(v) = given.get(part) {
                case[part] = v.clone();
            }
        }
        let file_json = serde_json::json!({ "cases": [case] });
        let path = dir.join("expected.json");
        testing::validate(&path, &file_json, testing::SCHEMA)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let file: testing::TestFile = serde_json::from_value(file_json).expect("a test file");
        let result = runtime.block_on(testing::run_case(&compiled.plan, &file.cases[0]));
        assert!(
            result.passed(),
            "{}:\n{}{}",
            result.name,
            result.error.as_deref().unwrap_or_default(),
            result
                .failures
                .iter()
                .map(|f| format!("  {f}\n"))
                .collect::<String>()
        );
    }
}

macro_rules! golden {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*
        const LISTED: &[&str] = &[$(stringify!($name)),*];
    };
}

golden!(
    multi_hop_every_projection,
    foreign_key_moves_record,
    dependency_deleted,
    root_deleted_and_reinserted,
    root_mark_deleted,
    root_mark_deleted_and_reinserted,
    condition_flips,
    format_debezium,
    format_golden_gate,
    format_custom,
    primary_key_change,
    duplicates_and_out_of_order,
    poison_mid_stream,
    merge_write_mode,
    view_events_and_unchanged_documents,
    unique_value_taken,
    hard_delete_and_late_redelivery,
);

#[test]
fn every_case_folder_is_listed() {
    let mut folders: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("tests/cases")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut listed: Vec<String> = LISTED.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        folders, listed,
        "add each folder of tests/cases to golden!()"
    );
}

fn fdc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("fdc runs")
}

#[test]
fn fdc_test_passes_on_every_example_pipeline() {
    let out = fdc(&["test", "pipelines/"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fdc test pipelines/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("customer_360.test.yaml"), "{stdout}");
    assert!(stdout.contains("fleet.test.yaml"), "{stdout}");
    assert!(stdout.contains("0 failed, 0 error(s)"), "{stdout}");
}

#[test]
fn fdc_test_reports_failures_with_exit_1_and_formats_for_ci() {
    let dir = std::env::temp_dir().join(format!("fdc-golden-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360");
    let file = dir.join("wrong.test.yaml");
    std::fs::write(
        &file,
        format!(
            "pipeline: {}\ncases:\n  - name: right\n    when:\n      - {{projection: customers, op: insert, after: {{CUSTOMER_ID: 1, FIRST_NAME: A, LAST_NAME: B, SIGNUP_TS: 0}}}}\n    expect:\n      views:\n        customer_360:\n          - {{key: 1, fields: {{name: A B}}}}\n  - name: wrong <&>\n    when:\n      - {{projection: customers, op: insert, after: {{CUSTOMER_ID: 1, FIRST_NAME: A, LAST_NAME: B, SIGNUP_TS: 0}}}}\n    expect:\n      views:\n        customer_360:\n          - {{key: 1, fields: {{name: A C, email: nobody}}}}\n",
            pipeline.display()
        ),
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();

    let out = fdc(&["test", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // Every difference of the document, each with both values.
    assert!(
        stdout.contains(
            "  FAIL  wrong <&> (2 difference(s); - expected, + actual)\n        \
             customer_360[1].name\n          - \"A C\"\n          + \"A B\"\n        \
             customer_360[1].email\n          - \"nobody\"\n          + \"unknown\"\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");

    let out = fdc(&["test", &path, "--filter", "right"]);
    assert_eq!(out.status.code(), Some(0));

    let out = fdc(&["test", &path, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        (json["passed"].as_u64(), json["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let failures = &json["files"][0]["cases"][1]["failures"];
    assert_eq!(failures[1]["path"], "customer_360[1].email", "{json}");

    let out = fdc(&["test", &path, "--format", "junit"]);
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("name=\"wrong &lt;&amp;&gt;\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");

    // Setup errors exit 2: no test file, an invalid one.
    assert_eq!(fdc(&["test", "does/not/exist"]).status.code(), Some(2));
    std::fs::write(&file, "cases: []\n").expect("write");
    let out = fdc(&["test", &path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("schemas/test.schema.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every line of the examples' `events.jsonl` is a valid file-source line, and every message
/// matches the JSON Schema of its topic's format except the deliberate structural poison
/// messages (which the runs dead-letter).
#[test]
fn example_events_match_the_message_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = |name: &str| {
        std::fs::read_to_string(root.join(format!("schemas/formats/{name}.schema.json")))
            .expect("schema")
    };
    let line_schema = schema("file-message");
    // (pipeline, messages that deliberately break their format's shape)
    for (pipeline, poison) in [("customer360", 1), ("fleet", 1)] {
        let dir = root.join("pipelines").join(pipeline);
        let plan = fdc_dsl::load(&dir).expect("the example compiles").plan;
        let events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
        let lines: Vec<&str> = events.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            (20..=60).contains(&lines.len()),
            "{pipeline}: {} messages",
            lines.len()
        );
        let mut broken = Vec::new();
        let mut topics = std::collections::BTreeSet::new();
        for (i, line) in lines.iter().enumerate() {
            let json: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let at = dir.join(format!("events.jsonl:{}", i + 1));
            testing::validate(&at, &json, &line_schema).unwrap_or_else(|e| panic!("{e}"));
            let topic = json["topic"].as_str().unwrap_or_default().to_owned();
            let projection = plan
                .projections
                .iter()
                .find(|p| p.topic == topic)
                .unwrap_or_else(|| panic!("{pipeline}: no projection reads {topic}"));
            topics.insert(topic);
            let name = match &projection.format {
                fdc_plan::Format::Basic => "basic",
                fdc_plan::Format::Debezium => "debezium",
                fdc_plan::Format::GoldenGate => "golden-gate",
                fdc_plan::Format::Custom(_) => continue,
            };
            if testing::validate(&at, &json, &schema(name)).is_err() {
                broken.push(i + 1);
            }
        }
        assert_eq!(broken.len(), poison, "{pipeline}: lines {broken:?}");
        assert_eq!(
            topics.len(),
            plan.topics().len(),
            "{pipeline}: every topic of the pipeline has messages"
        );
    }
}
