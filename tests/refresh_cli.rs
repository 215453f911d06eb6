//! `fdc run --initial-load` then `fdc refresh` end to end on the embedded store: the views
//! they build equal the ones the steady state builds; usage errors exit 2.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PIPELINE: &str = "pipelines/customer360";
const EVENTS: &str = "pipelines/customer360/events.jsonl";

/// Runs `fdc` with MongoDB and Kafka settings in the environment that point nowhere: an
/// explicit `--input` / `--store` must win over them (and the test does not depend on what the
/// caller exported, e.g. the integration suite's service addresses).
fn fdc(args: &[&str]) -> Output {
    fdc_with(
        args,
        &[
            (
                "FDC_MONGO_URI",
                "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300",
            ),
            ("FDC_KAFKA_BROKERS", "127.0.0.1:9"),
        ],
    )
}

fn fdc_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fdc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("FDC_MONGO_URI")
        .env_remove("FDC_KAFKA_BROKERS")
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fdc-refresh-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The single views of a store, one JSON line each, sorted.
fn views(store: &Path, empty_input: &Path) -> Vec<String> {
    let out = fdc(&[
        "run",
        PIPELINE,
        "--input",
        empty_input.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--print",
        "views",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn an_initial_load_then_a_refresh_builds_what_the_steady_state_builds() {
    let dir = scratch("same");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let steady = dir.join("steady");
    let loaded = dir.join("loaded");

    let out = fdc(&[
        "run",
        PIPELINE,
        "--input",
        EVENTS,
        "--store",
        steady.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = views(&steady, &empty);
    assert!(!expected.is_empty());

    let out = fdc(&[
        "run",
        PIPELINE,
        "--input",
        EVENTS,
        "--store",
        loaded.to_str().unwrap(),
        "--initial-load",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("single views not built"), "{stderr}");
    assert!(stderr.contains("0 triggered"), "{stderr}");
    assert!(views(&loaded, &empty).is_empty());

    let out = fdc(&[
        "refresh",
        PIPELINE,
        "customer_360",
        "--store",
        loaded.to_str().unwrap(),
        "--page",
        "1",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Not a terminal: the final progress line, with the count and the rate.
    assert!(stderr.contains("refresh customer_360: "), "{stderr}");
    assert!(stderr.contains("records/s"), "{stderr}");
    // The roots pass counts against the roots to scan; the orphans pass is counted apart, so
    // the count never exceeds the total (it used to add both passes: twice the total).
    let line = stderr
        .lines()
        .rfind(|l| l.starts_with("refresh customer_360: "))
        .unwrap();
    let words: Vec<&str> = line.split(' ').collect();
    let (count, total): (u64, u64) = (words[2].parse().unwrap(), words[5].parse().unwrap());
    assert_eq!(words[3..5], ["records", "of"], "{line}");
    assert_eq!(count, total, "{line}");
    assert!(line.contains(" (100 %), then "), "{line}");
    assert!(
        line.contains("stored document(s) checked for a gone root"),
        "{line}"
    );
    assert!(
        !loaded.join("refresh-customer_360.cursor.json").exists(),
        "a complete refresh removes its cursor"
    );
    assert_eq!(views(&loaded, &empty), expected);

    // Nothing changed since: a second refresh writes nothing.
    let out = fdc(&[
        "refresh",
        PIPELINE,
        "customer_360",
        "--store",
        loaded.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("0 inserted, 0 updated"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_filters_unknown_views_and_missing_stores_are_usage_errors() {
    let dir = scratch("usage");
    let store = dir.join("store");
    let out = fdc(&[
        "run",
        PIPELINE,
        "--input",
        EVENTS,
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = store.to_str().unwrap();
    let missing = dir.join("missing");
    let missing = missing.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "refresh",
                PIPELINE,
                "customer_360",
                "--store",
                s,
                "--filter",
                "tier",
            ],
            "expected FIELD OP VALUE",
        ),
        (
            &[
                "refresh",
                PIPELINE,
                "customer_360",
                "--store",
                s,
                "--filter",
                "colour == 1",
            ],
            "is not a field of the root projection",
        ),
        (
            &["refresh", PIPELINE, "nope", "--store", s],
            "no single view named `nope`",
        ),
        (
            &["refresh", PIPELINE, "customer_360", "--store", missing],
            "does not exist",
        ),
    ];
    for (args, message) in cases {
        let out = fdc(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let out = fdc_with(&["refresh", PIPELINE, "customer_360"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("give --store DIR"),
        "{}",
        text(&out.stderr)
    );
    let out = fdc(&[
        "refresh",
        PIPELINE,
        "customer_360",
        "--store",
        s,
        "--config",
        "fdc.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2), "--store and --config conflict");
    std::fs::remove_dir_all(&dir).unwrap();
}
