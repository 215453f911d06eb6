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
