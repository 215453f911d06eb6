//! `fdc run --store` against the plan deployed on the store, and `fdc plan --store`, through
//! the binary: the first run deploys, an unchanged (or only reformatted) pipeline runs, a
//! changed one is refused with exit 2 before reading anything, `--apply` records a change that
//! needs no data work and refuses one that does, `--mark-applied` records whatever was done by
//! hand, and `fdc plan --store` lists the actions with the store's counts.
//!
//! The changed pipelines are the golden variants of `tests/plans/` (their `base` files name
//! `tests/plans/bases/fleet` or `customer360`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh store directory under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deploy_cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("store")
}

const FLEET: &str = "tests/plans/bases/fleet";
const FLEET_EVENTS: &str = "pipelines/fleet/events.jsonl";

/// Runs `pipeline` on the store with `input` and extra arguments.
fn run(pipeline: &str, store: &Path, input: &str, extra: &[&str]) -> Output {
    let store = store.to_str().unwrap();
    let mut args = vec!["run", pipeline, "--input", input, "--store", store];
    args.extend_from_slice(extra);
    fdc(&args)
}

/// Documents of `view` in the store (`fdc run --print views` over no input).
fn views(pipeline: &str, store: &Path) -> String {
    let o = run(pipeline, store, "/dev/null", &["--print", "views"]);
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A store on which the fleet base ran over its events (the first run deploys).
fn deployed(name: &str) -> PathBuf {
    let store = scratch(name);
    let o = run(FLEET, &store, FLEET_EVENTS, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("deployed: first run on this store"),
        "{}",
        stderr(&o)
    );
    store
}

#[test]
fn the_first_run_deploys_and_an_unchanged_pipeline_runs() {
    let store = deployed("unchanged");
    let o = run(FLEET, &store, "/dev/null", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("deployed:"), "{}", stderr(&o));
    // The stored record names who applied it.
    let o = fdc(&[
        "plan",
        FLEET,
        "--store",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["deployed"]["applied_by"], "ci-bot");
    assert!(report["deployed"]["applied_at"].is_string());
}

#[test]
fn a_reformatted_pipeline_runs_on_the_deployed_plan() {
    let store = scratch("reformatted");
    let base = "tests/plans/bases/customer360";
    let o = run(base, &store, "pipelines/customer360/events.jsonl", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        "tests/plans/nothing_comments_formatting_order/new",
        &store,
        "/dev/null",
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_changed_pipeline_is_refused_before_reading_anything() {
    let store = deployed("refused");
    let before = views(FLEET, &store);
    let changed = "tests/plans/merge_fields_added_and_changed/new";
    // Input that would change the stored views if it were read.
    let o = run(changed, &store, FLEET_EVENTS, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("differs from the plan deployed on this store"),
        "{err}"
    );
    assert!(err.contains("by ci-bot"), "{err}");
    assert!(
        err.contains("refresh fields of single view: vehicle_status"),
        "{err}"
    );
    assert!(
        err.contains(&format!("fdc plan {changed} --store")),
        "{err}"
    );
    assert!(
        err.contains(&format!("fdc apply {changed} --store")),
        "{err}"
    );
    assert!(!err.contains("consumed"), "{err}");
    // Nothing was read or recorded: the views are as they were and the refusal repeats.
    assert_eq!(views(FLEET, &store), before);
    let again = run(changed, &store, "/dev/null", &[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    // Done by hand, then marked applied: the new plan runs from then on.
    let o = run(changed, &store, "/dev/null", &["--mark-applied"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("marked applied"), "{}", stderr(&o));
    let o = run(changed, &store, "/dev/null", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    // And the old one is now the change.
    assert_eq!(run(FLEET, &store, "/dev/null", &[]).status.code(), Some(2));
}

#[test]
fn apply_records_a_change_that_needs_no_data_work_and_runs() {
    let store = deployed("apply");
    let changed = "tests/plans/view_removed/new";
    let o = run(changed, &store, "/dev/null", &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("leave removed single view's collection: driver_card"),
        "{err}"
    );
    assert!(err.contains("rerun with `--apply`"), "{err}");
    let o = run(changed, &store, FLEET_EVENTS, &["--apply"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("applied: 1 action(s) done"), "{err}");
    assert!(err.contains("consumed"), "{err}");
    let o = run(changed, &store, "/dev/null", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn apply_performs_the_data_work_before_running() {
    let store = deployed("apply_work");
    let changed = "tests/plans/merge_fields_added_and_changed/new";
    let o = run(changed, &store, "/dev/null", &["--apply"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("refresh fields of single view: vehicle_status"),
        "{err}"
    );
    assert!(err.contains("applied: 1 action(s) done"), "{err}");
    assert!(views(changed, &store).contains("\"trip_count\""));
    // A re-ingest needs the history, which a run's input is not: refused, nothing changed.
    let changed = "tests/plans/format_and_delete_mode_changed/new";
    let o = run(changed, &store, "/dev/null", &["--apply"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("`alerts`, `trips`"), "{err}");
    assert!(
        err.contains("fdc apply tests/plans/format_and_delete_mode_changed/new --store"),
        "{err}"
    );
}

#[test]
fn an_in_memory_run_has_nothing_deployed() {
    let o = fdc(&[
        "run",
        "tests/plans/view_removed/new",
        "--input",
        "/dev/null",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("deployed"), "{}", stderr(&o));
}

#[test]
fn plan_against_a_store_estimates_with_its_counts() {
    let store = deployed("plan");
    let s = store.to_str().unwrap();
    let o = fdc(&[
        "plan",
        "tests/plans/merge_fields_added_and_changed/new",
        "--store",
        s,
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["against"], "record");
    let actions = report["actions"].as_array().unwrap();
    let refresh = actions
        .iter()
        .find(|a| a["kind"] == "refresh_fields")
        .expect("a field refresh");
    assert_eq!(refresh["target"], "vehicle_status");
    // The fleet events leave 3 vehicle_status documents in the store (`--print views`).
    let stored = views(FLEET, &store)
        .lines()
        .filter(|l| l.contains("\"vehicle_status\""))
        .count() as u64;
    assert!(stored > 0);
    assert_eq!(refresh["estimate"]["count"], stored);
    // Human output says it too; a store without a record is an error.
    let o = fdc(&[
        "plan",
        "tests/plans/merge_fields_added_and_changed/new",
        "--store",
        s,
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains(&format!("cost: {stored} documents")), "{out}");
    let empty = scratch("plan_empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = fdc(&["plan", FLEET, "--store", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no plan is deployed on this store"),
        "{}",
        stderr(&o)
    );
}
