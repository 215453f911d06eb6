//! `fdc plan` end to end through the binary: golden plans for each kind of change, exit
//! codes, the saved deployment record, its stability across processes, and broken pipelines.
//!
//! Each folder of `tests/plans/<case>/` (a fixtures directory: `.fdcignore` keeps `fdc check`
//! and the examples' searches out of it) holds the new pipeline in `new/`, the old one in
//! `base/` or the path of a base in the file `base` (`tests/plans/bases/`: copies of the
//! example pipelines, frozen so that an edit of an example changes no golden file), optional
//! extra arguments in `args`,
//! and the expected outputs: `expected.txt` (the exit status, then the human output) and
//! `expected.json` (`--format json`, which must validate against
//! `schemas/plan-report.schema.json`). Regenerate them after a deliberate change with
//! `FDC_BLESS=1 cargo test --features integration --test cli plan_cli::` and review the diff.
//! The same cases planned against a deployment of their base on Kafka + FerretDB have the
//! golden files `production.txt` and `production.json` (and, optionally, a file `retention`
//! of records deleted there): `tests/production/production_plan.rs`. The golden comparison
//! and the case reader are shared in `tests/support/mod.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{self, golden};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fdc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory under the target dir, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("plan_cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn schema(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas").join(name)).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn validates(validator: &jsonschema::Validator, json: &serde_json::Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:?}");
}

/// `(new, base, extra args)` of a case, as paths relative to the repository root.
fn case(name: &str) -> (String, String, Vec<String>) {
    let c = support::PlanCase::read(name);
    (c.new, c.base, c.args)
}

fn plan(new: &str, against: &[&str], extra: &[String], format: &str) -> Output {
    let mut args = vec!["plan", new];
    args.extend_from_slice(against);
    args.extend(extra.iter().map(String::as_str));
    args.extend(["--format", format]);
    fdc(&args)
}

#[test]
fn every_case_plans_as_its_golden_files_say() {
    let report_schema = schema("plan-report.schema.json");
    let names = support::plan_cases();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let (new, base, extra) = case(&name);
        let dir = root().join("tests/plans").join(&name);

        let human = plan(&new, &["--against", &base], &extra, "human");
        assert!(human.stderr.is_empty(), "{name}: {}", text(&human.stderr));
        let code = human.status.code().unwrap();
        golden(
            &dir.join("expected.txt"),
            &format!("exit status: {code}\n{}", text(&human.stdout)),
        );

        let json = plan(&new, &["--against", &base], &extra, "json");
        assert_eq!(
            json.status.code(),
            Some(code),
            "{name}: json and human differ"
        );
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        validates(&report_schema, &doc, &name);
        // The exit status is the report's own verdict.
        let nothing = doc["nothing_to_do"].as_bool().unwrap();
        assert_eq!(code, if nothing { 0 } else { 2 }, "{name}");
        assert_eq!(nothing, doc["actions"].as_array().unwrap().is_empty());
        golden(&dir.join("expected.json"), &text(&json.stdout));
    }
}

#[test]
fn a_pipeline_against_itself_has_nothing_to_do_and_says_nothing_else() {
    for example in ["pipelines/customer360", "pipelines/fleet"] {
        let out = fdc(&["plan", example, "--against", example]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            format!("plan: `{example}` against pipeline `{example}`\nnothing to do\n")
        );
    }
}

#[test]
fn a_saved_record_plans_like_the_pipeline_it_was_written_from() {
    let dir = scratch("record");
    for name in [
        "projection_casts_and_fields_changed",
        "merge_fields_added_and_changed",
        "nothing_relation_renamed",
        "view_removed_prune",
    ] {
        let (new, base, extra) = case(name);
        let file = dir.join(format!("{name}.json"));
        let file = file.to_str().unwrap();
        let wrote = fdc(&["plan", &base, "--write-record", file]);
        assert_eq!(wrote.status.code(), Some(0), "{}", text(&wrote.stderr));
        assert!(wrote.stdout.is_empty());

        let by_pipeline = plan(&new, &["--against", &base], &extra, "json");
        let by_record = plan(&new, &["--deployed", file], &extra, "json");
        assert_eq!(by_record.status.code(), by_pipeline.status.code(), "{name}");
        let a: serde_json::Value = serde_json::from_slice(&by_pipeline.stdout).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&by_record.stdout).unwrap();
        assert_eq!(b["against"], "record");
        assert_eq!(b["deployed"]["path"].as_str(), Some(file));
        for part in ["actions", "unchanged", "nothing_to_do", "planned"] {
            assert_eq!(a[part], b[part], "{name}: {part}");
        }
        assert_eq!(a["deployed"]["text_hash"], b["deployed"]["text_hash"]);
    }
}

#[test]
fn records_are_byte_identical_across_processes_and_ignore_comments_formatting_and_order() {
    let dir = scratch("stable");
    let record_schema = schema("deployment.schema.json");
    let write = |pipeline: &str, file: &str| -> serde_json::Value {
        let path = dir.join(file);
        let out = fdc(&["plan", pipeline, "--write-record", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        validates(&record_schema, &json, file);
        json
    };
    for example in ["tests/plans/bases/customer360", "tests/plans/bases/fleet"] {
        let a = write(example, "a.json");
        let b = write(example, "b.json");
        assert_eq!(
            std::fs::read(dir.join("a.json")).unwrap(),
            std::fs::read(dir.join("b.json")).unwrap(),
            "{example}: two processes wrote different records"
        );
        assert_eq!(a["format"], 1);
        assert!(a["applied_at"].is_null() && a["applied_by"].is_null());
        assert_eq!(a, b);
    }
    let original = write("tests/plans/bases/customer360", "original.json");
    for variant in [
        "nothing_comments_formatting_order",
        "nothing_relation_renamed",
    ] {
        let edited = write(&format!("tests/plans/{variant}/new"), "edited.json");
        assert_ne!(original["text_hash"], edited["text_hash"], "{variant}");
        assert_eq!(
            original["plan_fingerprint"], edited["plan_fingerprint"],
            "{variant}"
        );
        assert_eq!(original["projections"], edited["projections"], "{variant}");
        assert_eq!(
            original["views"]["customer_360"]["fingerprint"],
            edited["views"]["customer_360"]["fingerprint"],
            "{variant}"
        );
    }
}

#[test]
fn a_broken_pipeline_gets_the_diagnostics_of_fdc_check_and_exit_1() {
    let dir = scratch("broken");
    let file = dir.join("broken.fdl");
    std::fs::write(
        &file,
        "system s {\n  projection p from \"t\" as basic {\n    key id\n    id int\n    n strin\n  }\n}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let check = fdc(&["check", path]);
    assert_eq!(check.status.code(), Some(1));
    for (new, against) in [(path, "pipelines/fleet"), ("pipelines/fleet", path)] {
        let out = fdc(&["plan", new, "--against", against]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with(&text(&check.stderr)),
            "not check's diagnostics:\n{stderr}\n--- check:\n{}",
            text(&check.stderr)
        );
        assert!(
            stderr.ends_with("does not compile (1 error(s))\n"),
            "{stderr}"
        );
    }
    let check_json = fdc(&["check", path, "--format", "json"]);
    let out = fdc(&[
        "plan",
        path,
        "--against",
        "pipelines/fleet",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), text(&check_json.stdout));
}

#[test]
fn usage_problems_and_bad_records_exit_1_with_a_reason() {
    let dir = scratch("errors");
    let other_format = dir.join("other.json");
    std::fs::write(&other_format, "{\"format\": 99}").unwrap();
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "[1, 2").unwrap();
    let cases: [(Vec<&str>, &str); 5] = [
        (vec!["plan", "pipelines/fleet"], "nothing to compare"),
        (
            vec!["plan", "no/such/dir", "--against", "pipelines/fleet"],
            "no such file or directory",
        ),
        (
            vec!["plan", "pipelines/fleet", "--deployed", "no/such.json"],
            "cannot read",
        ),
        (
            vec![
                "plan",
                "pipelines/fleet",
                "--deployed",
                other_format.to_str().unwrap(),
            ],
            "deployment record format 99 is not supported",
        ),
        (
            vec![
                "plan",
                "pipelines/fleet",
                "--deployed",
                not_json.to_str().unwrap(),
            ],
            "not a deployment record",
        ),
    ];
    for (args, message) in cases {
        let out = fdc(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).starts_with("error: "), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_committed_schemas_are_generated_from_the_types() {
    for (file, schema) in [
        (
            "plan-report.schema.json",
            schemars::schema_for!(fdc_plan::deployment::report::Report),
        ),
        (
            "deployment.schema.json",
            schemars::schema_for!(fdc_plan::deployment::Deployment),
        ),
    ] {
        let fresh = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
        golden(&root().join("schemas").join(file), &fresh);
    }
}

#[test]
fn a_usage_error_of_plan_exits_1_not_2_but_help_exits_0() {
    for args in [
        vec!["plan", "pipelines/fleet", "--no-such-option"],
        vec![
            "--log-format",
            "json",
            "plan",
            "pipelines/fleet",
            "--format",
            "yaml",
        ],
        vec!["--log-keys", "plan"],
        vec![
            "plan",
            "pipelines/fleet",
            "--against",
            "pipelines/fleet",
            "--deployed",
            "x.json",
        ],
    ] {
        let out = fdc(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).starts_with("error: "), "{args:?}");
    }
    let help = fdc(&["plan", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("--against"));
    // Other commands keep clap's status 2 for usage errors.
    let other = fdc(&["check", "--no-such-option"]);
    assert_eq!(other.status.code(), Some(2));
}
