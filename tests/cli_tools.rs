//! `fdc fmt`, `fdc graph` and `fdc explain` end to end through the binary: exit codes, what
//! they print for the example pipelines, and a reader that closes the pipe early.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fdc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fdc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    fdc().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory under the target dir, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli_tools_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const MESSY: &str = "// the CRM\nsystem crm {\n  projection customers from \"crm.customers\" as basic {\n key id\n    id int\n      name   string?   <- NAME|trim // shown on cards\n  }\n}\n";

#[test]
fn fmt_check_names_unformatted_files_and_fmt_rewrites_them_idempotently() {
    let dir = scratch("fmt");
    let file = dir.join("crm.fdl");
    std::fs::write(&file, MESSY).unwrap();
    let path = file.to_str().unwrap();

    let out = run(&["fmt", "--check", path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("crm.fdl"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("1 of 1 file(s) not formatted"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        MESSY,
        "--check wrote"
    );

    let out = run(&["fmt", "--check", "--diff", path]);
    assert_eq!(out.status.code(), Some(1));
    let diff = text(&out.stdout);
    assert!(
        diff.contains("\n- key id\n") || diff.contains("\n-key id\n") || diff.contains("- key id"),
        "{diff}"
    );
    assert!(diff.contains("+    key id"), "{diff}");

    let out = run(&["fmt", path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let formatted = std::fs::read_to_string(&file).unwrap();
    assert_ne!(formatted, MESSY);
    assert!(
        formatted.contains("// the CRM"),
        "comments are kept:\n{formatted}"
    );
    assert!(
        formatted.contains("// shown on cards"),
        "comments are kept:\n{formatted}"
    );
    assert!(formatted.contains("<- NAME | trim"), "{formatted}");

    let out = run(&["fmt", "--check", path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "formatting is idempotent:\n{formatted}"
    );
    run(&["fmt", path]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), formatted);
}

#[test]
fn fmt_reads_standard_input_and_rejects_a_syntax_error_without_writing() {
    let mut child = fdc()
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MESSY.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("<- NAME | trim"),
        "{}",
        text(&out.stdout)
    );

    let dir = scratch("fmt_bad");
    let file = dir.join("bad.fdl");
    let bad = "system crm {\n  projection customers from \"t\" as basic {\n    key id\n";
    std::fs::write(&file, bad).unwrap();
    let out = run(&["fmt", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("bad.fdl"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);
}

#[test]
fn the_example_pipelines_are_formatted() {
    let out = run(&["fmt", "--check", "pipelines/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn graph_draws_every_topic_projection_and_view_in_dot_and_mermaid() {
    let out = run(&["graph", "pipelines/customer360"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph fdc {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
    for node in [
        "\"topic:crm.public.customers\"",
        "\"topic:shop.order_items\"",
        "\"projection:products\"",
        "\"view:customer_360\"",
    ] {
        assert!(dot.contains(node), "{node} missing:\n{dot}");
    }
    assert!(
        dot.contains("\"projection:customers\" -> \"view:customer_360\"")
            || dot.contains("-> \"view:customer_360\""),
        "{dot}"
    );

    let out = run(&["graph", "--format", "mermaid", "pipelines/customer360"]);
    assert_eq!(out.status.code(), Some(0));
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("single view customer_360"), "{mermaid}");
    assert!(mermaid.contains("-->"), "{mermaid}");
}

#[test]
fn graph_of_one_view_leaves_out_the_others_and_names_the_known_views() {
    let all = text(&run(&["graph", "pipelines/fleet"]).stdout);
    assert!(
        all.contains("view:vehicle_status") && all.contains("view:driver_card"),
        "{all}"
    );
    let out = run(&["graph", "pipelines/fleet", "--view", "driver_card"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let one = text(&out.stdout);
    assert!(one.contains("view:driver_card"), "{one}");
    assert!(!one.contains("view:vehicle_status"), "{one}");

    let out = run(&["graph", "pipelines/fleet", "--view", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("vehicle_status") && err.contains("driver_card"),
        "{err}"
    );
}

#[test]
fn explain_a_field_traces_it_to_topic_column_and_casts() {
    let out = run(&[
        "explain",
        "pipelines/customer360",
        "customer_360.total_spent",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("single view customer_360"), "{t}");
    assert!(
        t.contains("find order_items where product_id $in [values of products.sku]"),
        "the multi-hop strategy is shown:\n{t}"
    );
    assert!(t.contains("lineage:"), "{t}");
    assert!(
        t.contains("customer_orders.total decimal <- topic \"shop.orders\" (basic) column TOTAL | to_decimal"),
        "{t}"
    );

    let out = run(&[
        "explain",
        "--format",
        "json",
        "pipelines/customer360",
        "customer_360.total_spent",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["view"], "customer_360");
    assert_eq!(json["root"], "customers");
    let strategies = json["strategies"].as_array().unwrap();
    assert!(
        strategies.iter().any(|s| s["projection"] == "products"),
        "{json}"
    );
}

#[test]
fn explain_an_unknown_view_or_field_fails_naming_what_exists() {
    let out = run(&["explain", "pipelines/fleet", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("vehicle_status, driver_card"), "{err}");

    let out = run(&["explain", "pipelines/customer360", "customer_360.nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

#[test]
fn a_reader_that_closes_the_pipe_early_is_not_a_crash() {
    for args in [
        &["explain", "pipelines/customer360", "customer_360"][..],
        &["graph", "pipelines/customer360"][..],
        &["fmt", "-"][..],
    ] {
        // The reader is gone before the first write: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut child = fdc()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(MESSY.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// The README's first command prints what the README shows: the summary and dead-letter
/// lines word for word, and each single view's line starting as shown (up to its `...`).
#[test]
fn the_readme_quickstart_prints_what_the_readme_shows() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let command = "cargo run -- run pipelines/customer360 --input pipelines/customer360/events.jsonl --print views";
    assert!(readme.contains(command), "the README's command changed");
    let start = readme
        .find("```text\nconsumed ")
        .expect("the README's output block")
        + 8;
    let block = &readme[start..start + readme[start..].find("```").unwrap()];
    let out = run(&[
        "run",
        "pipelines/customer360",
        "--input",
        "pipelines/customer360/events.jsonl",
        "--print",
        "views",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = format!("{}{}", text(&out.stderr), text(&out.stdout));
    let lines: Vec<&str> = printed.lines().collect();
    for shown in block.lines() {
        let head = shown.split(" ...").next().unwrap();
        assert!(
            lines.iter().any(|l| l.starts_with(head)),
            "README line not printed: {shown}\nprinted:\n{printed}"
        );
    }
    let views = lines.iter().filter(|l| l.starts_with("{\"view\"")).count();
    assert_eq!(
        views,
        block.lines().filter(|l| l.starts_with("{\"view\"")).count()
    );
    // Each shown document ends as printed.
    for shown in block.lines().filter(|l| l.starts_with("{\"view\"")) {
        let tail = shown.rsplit("...").next().unwrap();
        assert!(lines.iter().any(|l| l.ends_with(tail)), "{shown}");
    }
}
