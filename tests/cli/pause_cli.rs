//! `fdc pause --store` / `fdc resume --store` and `fdc run --store` on the embedded store:
//! a paused projection stops the input at its first message (kept for the next run), a paused
//! single view keeps its triggers in the store and rebuilds them once resumed, `--paused`
//! reads nothing and stays paused on the next run; in the end the single views equal those of
//! a run that was never paused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/customer360")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pause_cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fdc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("FDC_LOG", "warn")
        .env("FDC_DEPLOYED_BY", "cli-test")
        .env_remove("FDC_KAFKA_BROKERS")
        .args(args)
        .output()
        .unwrap()
}

/// `fdc run` of the example on its events into `store`, printing the views.
fn run(dir: &Path, store: &str, extra: &[&str]) -> Output {
    let root = root();
    let input = root.join("events.jsonl");
    let mut args = vec![
        "run",
        root.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--store",
        store,
        "--print",
        "views",
    ];
    args.extend_from_slice(extra);
    fdc(dir, &args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sorted_lines(o: &Output) -> Vec<String> {
    let mut lines: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout) + &text(&o.stderr)
}

#[test]
fn paused_items_on_a_store_hold_the_next_runs_until_resumed() {
    let dir = scratch("store");
    let reference = run(&dir, "ref", &[]);
    let expected = sorted_lines(&reference);
    assert_eq!(expected.len(), 3, "{}", text(&reference.stderr));

    // --paused: nothing is read, and the next run is paused too.
    let first = ok(&run(&dir, "s", &["--paused"]));
    assert!(first.contains("consumed 0 message(s)"), "{first}");
    assert!(first.contains("paused: the whole process"), "{first}");
    let again = ok(&run(&dir, "s", &[]));
    assert!(again.contains("consumed 0 message(s)"), "{again}");

    // A projection and a view paused instead.
    let out = ok(&fdc(&dir, &["resume", "--all", "--store", "s"]));
    assert!(out.contains("resumed the whole process"), "{out}");
    let out = ok(&fdc(
        &dir,
        &[
            "pause",
            "--view",
            "customer_360",
            "--store",
            "s",
            "--reason",
            "backfill",
        ],
    ));
    assert!(out.contains("paused view `customer_360`"), "{out}");
    ok(&fdc(
        &dir,
        &["pause", "--projection", "orders", "--store", "s"],
    ));
    let unknown = fdc(&dir, &["pause", "--projection", "nope", "--store", "s"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown.stderr));

    // The input stops at the first order; the customers' triggers are kept, not rebuilt.
    let held = run(&dir, "s", &[]);
    let out = ok(&held);
    assert!(sorted_lines(&held).is_empty(), "{out}");
    assert!(
        out.contains("projection `orders`, view `customer_360`"),
        "{out}"
    );
    assert!(out.contains("3 trigger(s) of paused views kept"), "{out}");
    let consumed = |o: &str| -> u64 {
        o.lines()
            .find_map(|l| l.strip_prefix("consumed "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    let before = consumed(&out);
    let lines = std::fs::read_to_string(root().join("events.jsonl")).unwrap();
    assert!(
        before > 0 && (before as usize) < lines.lines().count(),
        "{out}"
    );

    // The orders released: the rest of the input is read, the view still waits.
    ok(&fdc(
        &dir,
        &["resume", "--projection", "orders", "--store", "s"],
    ));
    let rest = run(&dir, "s", &[]);
    let out = ok(&rest);
    assert_eq!(
        before + consumed(&out),
        lines.lines().filter(|l| !l.trim().is_empty()).count() as u64,
        "{out}"
    );
    assert!(sorted_lines(&rest).is_empty(), "{out}");

    // The view resumed: its kept triggers are rebuilt, the views equal the reference.
    let out = ok(&fdc(
        &dir,
        &["resume", "--view", "customer_360", "--store", "s"],
    ));
    assert!(out.contains("resumed view `customer_360`"), "{out}");
    let last = run(&dir, "s", &[]);
    ok(&last);
    assert_eq!(sorted_lines(&last), expected);
    let out = ok(&fdc(&dir, &["resume", "--all", "--store", "s"]));
    assert!(out.contains("nothing was paused"), "{out}");
}

#[test]
fn pause_needs_one_target_and_one_place() {
    let dir = scratch("usage");
    for args in [
        &["pause", "--store", "s"][..],
        &["pause", "--all"],
        &["pause", "--all", "--view", "v", "--store", "s"],
        &["resume", "--all", "--store", "s", "--addr", "127.0.0.1:1"],
    ] {
        let o = fdc(&dir, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    }
    let missing = fdc(&dir, &["pause", "--all", "--store", "absent"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    assert!(text(&missing.stderr).contains("does not exist"));
}
