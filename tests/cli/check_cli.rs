//! `fdc check` end to end: exit codes, output formats, the example pipelines.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::Command;

fn fdc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fdc"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("NO_COLOR", "1");
    c
}

fn fixture(kind: &str, name: &str) -> String {
    format!("dsl/tests/fixtures/check/{kind}/{name}.fdl")
}

#[test]
fn examples_check_clean_with_deny_warnings() {
    let out = fdc()
        .args(["check", "pipelines/", "--deny-warnings"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("0 error(s), 0 warning(s)"), "{stderr}");
}

#[test]
fn errors_exit_1_and_render_the_source() {
    let out = fdc()
        .args(["check", &fixture("err", "unknown_field_suggests_similar")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fdl::check::unknown_field"), "{stderr}");
    assert!(stderr.contains("did you mean `name`?"), "{stderr}");
    assert!(stderr.contains("name = customers.nmae"), "{stderr}");
}

#[test]
fn warnings_pass_unless_denied() {
    let file = fixture("err", "missing_index_on_join_field");
    let out = fdc().args(["check", &file]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = fdc()
        .args(["check", &file, "--deny-warnings"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    let out = fdc().args(["check", "no/such/path"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = fdc().args(["check", "--format", "xml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_output_has_the_documented_shape() {
    let out = fdc()
        .args([
            "check",
            "--format",
            "json",
            &fixture("err", "unknown_field_suggests_similar"),
            "pipelines/fleet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["summary"]["errors"], 1);
    assert_eq!(doc["summary"]["pipelines"], 2);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "fdl::check::unknown_field");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["line"], 23);
    assert_eq!(d["column"], 20);
    assert_eq!(d["end_column"], 24);
    assert_eq!(d["help"], "did you mean `name`?");
    assert!(
        PathBuf::from(d["file"].as_str().unwrap()).ends_with("unknown_field_suggests_similar.fdl")
    );
    assert_eq!(d["labels"][0]["message"], "unknown field");
}
