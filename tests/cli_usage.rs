//! The CLI's conventions across commands, through the binary: the one-line help of every
//! subcommand, default paths, the `error:` prefix, `fdc run --max-dead-letters`, and the
//! README's commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `fdc` in the repository root, with no Kafka or MongoDB settings inherited from the caller.
fn fdc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fdc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("FDC_MONGO_URI")
        .env_remove("FDC_KAFKA_BROKERS");
    c
}

fn run(args: &[&str]) -> Output {
    fdc().args(args).output().unwrap()
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    fdc().current_dir(dir).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory under the target dir, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli_usage_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The one-line description `fdc --help` gives a subcommand.
fn summary(help: &str, command: &str) -> String {
    let mut lines = help.lines().skip_while(|l| !l.starts_with("Commands:"));
    let mut out = String::new();
    let mut inside = false;
    for l in lines.by_ref() {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix(command).filter(|r| r.starts_with(' ')) {
            if l.starts_with("  ") && !l.starts_with("   ") {
                out.push_str(rest.trim());
                inside = true;
                continue;
            }
        }
        if inside {
            // clap indents a wrapped description under the first line.
            if l.starts_with("          ") {
                out.push(' ');
                out.push_str(t);
            } else {
                break;
            }
        }
    }
    out
}

#[test]
fn every_subcommand_has_an_accurate_one_line_help() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    let run_help = summary(&help, "run");
    // `run` is both the embedded default and the production command.
    assert!(
        run_help.contains("--input") && run_help.contains("--config"),
        "{run_help}\n{help}"
    );
    assert!(run_help.contains("Kafka"), "{run_help}");
    let refresh = summary(&help, "refresh");
    assert!(
        refresh.contains("--store") && refresh.contains("--config"),
        "{refresh}"
    );
    let status = summary(&help, "status");
    assert!(
        status.contains("production") && status.contains("--http"),
        "{status}"
    );
    for command in [
        "check", "run", "refresh", "inspect", "fmt", "graph", "explain", "test", "status",
    ] {
        assert!(!summary(&help, command).is_empty(), "{command}: {help}");
    }
}

/// Copies the regular files of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// A project: `pipelines/customer360` (formatted, compiles, its tests pass), and next to it a
/// directory of broken files that no default may pick up: `broken/` (a syntax error and a
/// failing test file) and `fixtures/` (unformatted, marked with `.fdcignore`).
fn project(name: &str) -> PathBuf {
    let dir = scratch(name);
    copy_dir(
        &root().join("pipelines/customer360"),
        &dir.join("pipelines/customer360"),
    );
    std::fs::create_dir_all(dir.join("broken")).unwrap();
    std::fs::write(dir.join("broken/bad.fdl"), "system {\n").unwrap();
    std::fs::write(
        dir.join("broken/bad.test.yaml"),
        "cases:\n  - name: x\n    when: []\n    expect: {}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("fixtures/messy")).unwrap();
    std::fs::write(dir.join("fixtures/.fdcignore"), "").unwrap();
    std::fs::write(
        dir.join("fixtures/messy/messy.fdl"),
        "system crm {\n  projection c from \"t\" as basic {\n key id\n    id int\n  }\n}\n",
    )
    .unwrap();
    dir
}

#[test]
fn every_command_defaults_to_the_pipelines_directory() {
    let dir = project("defaults");
    let check = run_in(&dir, &["check"]);
    let stderr = text(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("checked 1 pipeline(s), 3 file(s)"),
        "{stderr}"
    );

    let fmt = run_in(&dir, &["fmt", "--check"]);
    assert_eq!(fmt.status.code(), Some(0), "{}", text(&fmt.stderr));
    assert_eq!(text(&fmt.stdout), "");

    let test = run_in(&dir, &["test"]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test.stdout));
    assert!(text(&test.stdout).contains("customer_360.test.yaml"));
    assert!(!text(&test.stdout).contains("bad.test.yaml"));

    let graph = run_in(&dir, &["graph", "--format", "mermaid"]);
    assert_eq!(graph.status.code(), Some(0), "{}", text(&graph.stderr));
    assert!(text(&graph.stdout).contains("customer_360"));

    let explain = run_in(&dir, &["explain", "customer_360.name"]);
    assert_eq!(explain.status.code(), Some(0), "{}", text(&explain.stderr));
    assert!(text(&explain.stdout).contains("customers"));

    // Without a `pipelines/` directory the default is `.`.
    let inside = dir.join("pipelines/customer360");
    let graph = run_in(&inside, &["graph"]);
    assert_eq!(graph.status.code(), Some(0), "{}", text(&graph.stderr));
    let fmt = run_in(&inside, &["fmt", "--check"]);
    assert_eq!(fmt.status.code(), Some(0), "{}", text(&fmt.stderr));
}

#[test]
fn a_marked_directory_is_skipped_by_walks_unless_named() {
    let dir = project("marked");
    std::fs::remove_dir_all(dir.join("broken")).unwrap();
    // `.` holds the fixtures, but their directory carries the marker.
    let fmt = run_in(&dir, &["fmt", "--check", "."]);
    assert_eq!(fmt.status.code(), Some(0), "{}", text(&fmt.stdout));
    let check = run_in(&dir, &["check", "."]);
    assert!(
        text(&check.stderr).contains("checked 1 pipeline(s)"),
        "{}",
        text(&check.stderr)
    );
    // Named, the marked directory is processed.
    let fmt = run_in(&dir, &["fmt", "--check", "fixtures"]);
    assert_eq!(fmt.status.code(), Some(1));
    assert_eq!(text(&fmt.stdout), "fixtures/messy/messy.fdl\n");
    // `fdc fmt .` leaves the fixtures as they are.
    let before = std::fs::read_to_string(dir.join("fixtures/messy/messy.fdl")).unwrap();
    assert_eq!(run_in(&dir, &["fmt", "."]).status.code(), Some(0));
    let after = std::fs::read_to_string(dir.join("fixtures/messy/messy.fdl")).unwrap();
    assert_eq!(before, after);
}

#[test]
fn fmt_check_at_the_repository_root_touches_no_fixture() {
    for args in [&["fmt", "--check"][..], &["fmt", "--check", "."][..]] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
}

#[test]
fn graph_and_explain_name_the_pipelines_of_a_directory_that_holds_several() {
    let out = run(&["graph"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: `pipelines` holds 2 pipelines (pipelines/customer360, pipelines/fleet)"
        ),
        "{stderr}"
    );
    let out = run(&["explain", "pipelines", "customer_360"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("pipelines/fleet"));
}

#[test]
fn explain_without_a_view_names_the_views_of_the_pipeline() {
    let out = run(&["explain", "pipelines/customer360"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: missing SINGLE_VIEW; single views in `pipelines/customer360`: customer_360"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("usage: fdc explain pipelines/customer360 customer_360[.FIELD]"),
        "{stderr}"
    );
    let out = run(&["explain", "pipelines/fleet/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("vehicle_status"),
        "{}",
        text(&out.stderr)
    );
}

const CUSTOMER360: &str = "pipelines/customer360";
const EVENTS: &str = "pipelines/customer360/events.jsonl";

#[test]
fn run_exits_3_when_more_messages_than_allowed_are_dead_lettered() {
    // The example's input has 2 broken messages.
    let out = run(&[
        "run",
        CUSTOMER360,
        "--input",
        EVENTS,
        "--max-dead-letters",
        "1",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error: 2 message(s) dead-lettered, more than --max-dead-letters 1"),
        "{stderr}"
    );
    // The run still completed: the summary is printed.
    assert!(stderr.contains("consumed 33 message(s)"), "{stderr}");
    let out = run(&[
        "run",
        CUSTOMER360,
        "--input",
        EVENTS,
        "--max-dead-letters",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Every message dead-lettered: without the option the run exits 0, with 0 allowed it fails.
    let dir = scratch("dead_letters");
    let input = dir.join("bad.jsonl");
    std::fs::write(
        &input,
        "{\"topic\":\"shop.orders\",\"value\":\"not an object\"}\n{\"topic\":\"shop.orders\",\"value\":7}\n",
    )
    .unwrap();
    let input = input.to_str().unwrap();
    let out = run(&["run", CUSTOMER360, "--input", input]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("2 dead-lettered"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "run",
        CUSTOMER360,
        "--input",
        input,
        "--max-dead-letters",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[test]
fn max_dead_letters_is_refused_for_a_production_run() {
    let out = run(&[
        "run",
        CUSTOMER360,
        "--config",
        "fdc.yaml",
        "--max-dead-letters",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Production selected by the environment alone.
    let out = fdc()
        .env("FDC_KAFKA_BROKERS", "127.0.0.1:9")
        .args(["run", CUSTOMER360, "--max-dead-letters", "1"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: --max-dead-letters is for an embedded run"),
        "{stderr}"
    );
}

/// Every failing command ends its stderr with a line that starts with `error: ` (lowercase,
/// as clap's usage errors), miette reports of a pipeline that does not compile included.
#[test]
fn every_command_reports_errors_with_one_prefix() {
    let bad = "dsl/tests/fixtures/check/err/unknown_field_suggests_similar.fdl";
    let syntax = "dsl/tests/fixtures/parse/err";
    let syntax_file = std::fs::read_dir(root().join(syntax))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "fdl"))
        .unwrap();
    let syntax_file = syntax_file.to_str().unwrap();
    let dir = scratch("errors");
    let broken_test = dir.join("broken.test.yaml");
    std::fs::write(
        &broken_test,
        "pipeline: nowhere\ncases:\n  - name: x\n    when: []\n    expect: {}\n",
    )
    .unwrap();
    let broken_test = broken_test.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["run", bad, "--input", EVENTS],
        vec!["run", CUSTOMER360],
        vec!["run", CUSTOMER360, "--input", "nope.jsonl"],
        vec!["refresh", bad, "customer_360", "--store", "."],
        vec!["inspect", bad, "--store", ".", "view", "v", "1"],
        vec!["graph", bad],
        vec!["explain", bad, "customer_360"],
        vec!["check", "nope"],
        vec!["fmt", "--check", syntax_file],
        vec!["test", "nope"],
        vec!["test", broken_test],
        vec!["status", "--addr", "127.0.0.1:9"],
    ];
    for args in cases {
        let out = run(&args);
        let stderr = text(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {stderr}");
        let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(
            last.starts_with("error: "),
            "{args:?}: the last line is `{last}`:\n{stderr}"
        );
        assert!(
            !stderr.lines().any(|l| l.trim_start().starts_with("Error")),
            "{args:?}: {stderr}"
        );
    }
    // clap's usage errors start with the same prefix (then the usage).
    let out = run(&["nosuchcommand"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: "),
        "{}",
        text(&out.stderr)
    );
}

/// A build without the cargo feature `production` refuses every production option, naming the
/// feature; with it, the same options reach the production launch.
#[test]
fn production_options_name_the_production_feature_when_it_is_missing() {
    let cases: [&[&str]; 4] = [
        &["run", CUSTOMER360, "--config", "no-such-fdc.yaml"],
        &["run", CUSTOMER360, "--input", EVENTS, "--role", "ingest"],
        &[
            "refresh",
            CUSTOMER360,
            "customer_360",
            "--config",
            "no-such-fdc.yaml",
        ],
        &["refresh", CUSTOMER360, "customer_360"],
    ];
    for args in cases {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let names_feature = stderr.contains(
            "this fdc was built without the production adapters (Kafka, MongoDB); rebuild with \
             `--features production`",
        );
        if cfg!(feature = "production") {
            assert!(!names_feature, "{args:?}: {stderr}");
        } else {
            assert!(names_feature, "{args:?}: {stderr}");
        }
    }
    if cfg!(feature = "production") {
        let out = run(&["run", CUSTOMER360, "--config", "no-such-fdc.yaml"]);
        assert!(
            text(&out.stderr).contains("cannot read the configuration `no-such-fdc.yaml`"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// The crates `fdc` links by default (`cargo tree -e normal`): the Kafka and MongoDB clients
/// come only with the feature `production`, so the README's first command compiles neither.
fn linked_crates(features: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "-p",
            "fdc",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .args(features)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_default_build_links_no_kafka_or_mongodb_client() {
    let clients = ["rdkafka", "rdkafka-sys", "mongodb"];
    let default = linked_crates(&[]);
    assert!(default.iter().any(|c| c == "fdc-engine"), "{default:?}");
    for c in clients {
        assert!(!default.iter().any(|d| d == c), "{c} in the default build");
    }
    let production = linked_crates(&["--features", "production"]);
    for c in clients {
        assert!(
            production.iter().any(|d| d == c),
            "{c} missing with production"
        );
    }
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

/// The lines of each of the README's code blocks in `lang`.
fn readme_blocks(lang: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    // The block being read: whether it is in `lang`, and its lines.
    let mut open: Option<(bool, Vec<String>)> = None;
    for line in readme().lines() {
        if let Some(tag) = line.strip_prefix("```") {
            match open.take() {
                Some((true, lines)) => blocks.push(lines),
                Some((false, _)) => {}
                None => open = Some((tag == lang, Vec::new())),
            }
            continue;
        }
        if let Some((_, lines)) = open.as_mut() {
            lines.push(line.to_string());
        }
    }
    blocks
}

/// Every `fdc ...` and `cargo run -- ...` line of the README's `sh` blocks that needs no
/// service runs and exits 0 (production commands, which need Kafka and MongoDB, are left to
/// the integration tests).
#[test]
fn the_readme_commands_run() {
    let mut ran = Vec::new();
    for block in readme_blocks("sh") {
        for line in block {
            let line = line.split(" #").next().unwrap().trim().to_string();
            let Some(rest) = line
                .strip_prefix("fdc ")
                .or_else(|| line.strip_prefix("cargo run -- "))
            else {
                continue;
            };
            let needs_services = ["--config", "--http", "--role", "status"]
                .iter()
                .any(|o| rest.split_whitespace().any(|w| w == *o));
            if needs_services {
                continue;
            }
            let args: Vec<&str> = rest.split_whitespace().collect();
            let out = run(&args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "README: `{line}`\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            ran.push(line);
        }
    }
    assert!(
        ran.iter()
            .any(|l| l.starts_with("fdc explain pipelines/customer360 customer_360.")),
        "{ran:?}"
    );
    assert!(ran.len() >= 5, "{ran:?}");
}

/// The README's language sample compiles, and is a shortened example: every field of its
/// single view is a field of the example's, so `fdc explain` on a name read there works.
#[test]
fn the_readme_pipeline_compiles_and_names_the_example_fields() {
    let blocks = readme_blocks("fdl");
    assert_eq!(blocks.len(), 1, "one fdl sample");
    let sample = blocks[0].join("\n") + "\n";
    let dir = scratch("readme_sample");
    std::fs::write(dir.join("sample.fdl"), &sample).unwrap();
    let out = run_in(&dir, &["check", "sample.fdl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let view = sample
        .split("single view customer_360 {")
        .nth(1)
        .expect("the sample's single view");
    let mut fields = Vec::new();
    for line in view.lines() {
        // `name = ...` at the view's top level (two spaces in).
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        let Some((name, _)) = rest.split_once(" =") else {
            continue;
        };
        let name = name.trim();
        if !name.is_empty()
            && !rest.starts_with(' ')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            fields.push(name.to_string());
        }
    }
    assert!(fields.len() >= 4, "{fields:?}");
    for field in fields {
        let target = format!("customer_360.{field}");
        let out = run(&["explain", CUSTOMER360, &target]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "README field `{field}`: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn status_watch_refuses_a_standard_output_that_is_not_a_terminal() {
    // The test harness captures the output: a pipe, not a terminal. Nothing is drawn, nothing
    // is asked of the (absent) endpoint, and the error says what to use instead.
    let started = std::time::Instant::now();
    let out = run(&[
        "status",
        "--watch",
        "--interval",
        "0.5",
        "--addr",
        "127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("needs a terminal"), "{stderr}");
    assert!(stderr.contains("fdc status --json"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no escape codes written: {:?}",
        out.stdout
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // `--interval` needs `--watch`, and a sensible number.
    let bad = run(&["status", "--watch", "--interval", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("--interval"),
        "{}",
        text(&bad.stderr)
    );
    let alone = run(&["status", "--interval", "1"]);
    assert_eq!(alone.status.code(), Some(2), "{}", text(&alone.stderr));
}
