//! `fdc run --input` end to end through the binary: what the embedded run does with input
//! that is not what it expects (lines that are not messages, bytes that are not UTF-8, pipes
//! and devices, a rerun on a store that already holds the input) and what it prints about it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PIPELINE: &str = "system crm {\n  projection customers from \"crm.customers\" as basic {\n    key id\n    id int\n    name string? <- NAME\n  }\n}\n";

/// A fresh directory under the target dir holding the pipeline `crm.fdl`.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("run_input_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crm.fdl"), PIPELINE).unwrap();
    dir
}

fn fdc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FDC_KAFKA_BROKERS")
        .arg("run")
        .arg("crm.fdl")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A `basic` line for customer `id`.
fn customer(id: i64, name: &str) -> String {
    format!(
        "{{\"topic\":\"crm.customers\",\"key\":{{\"id\":{id}}},\"value\":{{\"id\":{id},\"NAME\":\"{name}\"}},\"timestamp\":{id}}}\n"
    )
}

#[test]
fn a_line_that_is_not_a_message_is_reported_with_its_file_and_line() {
    let dir = scratch("not_a_message");
    let text = [customer(1, "a"), "not json\n".into(), customer(2, "b")].concat();
    std::fs::write(dir.join("in.jsonl"), text).unwrap();
    let out = fdc(&dir, &["--input", "in.jsonl", "--print", "projections"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let file = std::fs::canonicalize(dir.join("in.jsonl")).unwrap();
    let want = format!(
        "dead letter in the store: file:{}: input line 2: not JSON",
        file.display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn a_huge_topic_name_is_printed_cut() {
    let dir = scratch("huge_topic");
    let topic = "t".repeat(1024 * 1024);
    let line = format!("{{\"topic\":\"{topic}\",\"key\":{{\"id\":1}},\"value\":{{\"id\":1}}}}\n");
    std::fs::write(dir.join("in.jsonl"), line).unwrap();
    let out = fdc(&dir, &["--input", "in.jsonl"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{}", &err[..err.len().min(2000)]);
    assert!(
        err.contains("no projection reads topic"),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(
        err.contains("more bytes]"),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(err.len() < 8 * 1024, "{} bytes on stderr", err.len());
}

#[test]
fn dev_null_and_a_process_substitution_are_read_and_a_store_says_they_cannot_resume() {
    let dir = scratch("pipes");
    let out = fdc(&dir, &["--input", "/dev/null"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("consumed 0 message(s)"), "{err}");
    std::fs::write(
        dir.join("in.jsonl"),
        [customer(1, "a"), customer(2, "b")].concat(),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_fdc");
    for _ in 0..2 {
        let out = Command::new("bash")
            .current_dir(&dir)
            .env_remove("FDC_KAFKA_BROKERS")
            .arg("-c")
            .arg(format!(
                "'{bin}' run crm.fdl --input <(cat in.jsonl) --store store --print projections"
            ))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("(a pipe or a device) has no position to resume from"),
            "{err}"
        );
        // Read whole each time: a pipe's lines are not skipped by a position stored for it.
        assert!(err.contains("consumed 2 message(s)"), "{err}");
        assert!(!err.contains("resumed `"), "{err}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    }
    let out = fdc(&dir, &["--input", "missing.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read input `missing.jsonl`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_rerun_on_the_same_store_says_where_it_resumed() {
    let dir = scratch("resume");
    let input = dir.join("in.jsonl");
    std::fs::write(&input, [customer(1, "a"), customer(2, "b")].concat()).unwrap();
    let first = fdc(&dir, &["--input", "in.jsonl", "--store", "store"]);
    let err = stderr(&first);
    assert!(first.status.success(), "{err}");
    assert!(err.contains("consumed 2 message(s)"), "{err}");
    assert!(!err.contains("resumed `"), "{err}");
    let file = std::fs::canonicalize(&input).unwrap();
    let again = fdc(&dir, &["--input", "in.jsonl", "--store", "store"]);
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    let want = format!(
        "resumed `{}` at line 3: 2 line(s) already processed by an earlier run with this --store were skipped",
        file.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("consumed 0 message(s)"), "{err}");
    // A line appended since is the only one read.
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push_str(&customer(3, "c"));
    std::fs::write(&input, text).unwrap();
    let third = fdc(&dir, &["--input", "in.jsonl", "--store", "store"]);
    let err = stderr(&third);
    assert!(
        err.contains("at line 3: 2 line(s) already processed"),
        "{err}"
    );
    assert!(err.contains("consumed 1 message(s)"), "{err}");
    // A file now shorter than the stored position is said so.
    std::fs::write(&input, customer(4, "d")).unwrap();
    let shorter = fdc(&dir, &["--input", "in.jsonl", "--store", "store"]);
    let err = stderr(&shorter);
    assert!(
        err.contains("the store's position is line 3 but the file has only 1 line(s)"),
        "{err}"
    );
}

#[test]
fn a_timestamp_far_in_the_future_is_dead_lettered_and_does_not_freeze_the_record() {
    let dir = scratch("future");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let line = |name: &str, timestamp: i64| {
        format!(
            "{{\"topic\":\"crm.customers\",\"key\":{{\"id\":1}},\"value\":{{\"id\":1,\"NAME\":\"{name}\"}},\"timestamp\":{timestamp}}}\n"
        )
    };
    // Year 2500, then an ordinary update a minute ago.
    let text = [
        line("future", 16_725_225_600_000),
        line("now", now - 60_000),
    ]
    .concat();
    std::fs::write(dir.join("in.jsonl"), text).unwrap();
    let out = fdc(&dir, &["--input", "in.jsonl", "--print", "projections"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("basic: the version (a timestamp) is more than 3600000 ms ahead of the clock"),
        "{err}"
    );
    assert!(
        err.contains("1 change(s) applied, 0 stale, 0 skipped, 1 dead-lettered"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"name\":\"now\""));
    // Turned off, the year-2500 version wins and the later update is stale: what the bound
    // prevents.
    let out = fdc(
        &dir,
        &[
            "--input",
            "in.jsonl",
            "--print",
            "projections",
            "--max-clock-skew-ms",
            "0",
        ],
    );
    let err = stderr(&out);
    assert!(err.contains("1 change(s) applied, 1 stale"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"name\":\"future\""));
}
