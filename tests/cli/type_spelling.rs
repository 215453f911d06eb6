//! A type prints the same in `fdc check` and in a dead letter of `fdc run`: both spell it as a
//! pipeline author writes it (`[int]`), through `fdc_plan::spelling`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

/// A pipeline whose `scores` field is an array of ints, with `default` after its source.
fn pipeline(default: &str) -> String {
    format!(
        "system crm {{\n  projection customers from \"crm.customers\" as basic {{\n    key id\n    id int\n    scores [int] <- SCORES{default}\n  }}\n}}\n"
    )
}

fn scratch(name: &str, fdl: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("type_spelling_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crm.fdl"), fdl).unwrap();
    dir
}

/// Everything `fdc ARGS` printed, stdout then stderr.
fn fdc(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("FDC_KAFKA_BROKERS")
        .args(args)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_array_type_is_spelled_alike_by_check_and_in_a_dead_letter_reason() {
    let bad = scratch("check", &pipeline(" = \"x\""));
    let checked = fdc(&bad, &["check", "crm.fdl"]);
    assert!(
        checked.contains("default value does not fit field `scores` of type `[int]`"),
        "{checked}"
    );

    let good = scratch("run", &pipeline(""));
    let line =
        r#"{"topic":"crm.customers","key":{"id":1},"value":{"id":1,"SCORES":["a"]},"timestamp":1}"#;
    std::fs::write(good.join("in.jsonl"), format!("{line}\n")).unwrap();
    let ran = fdc(&good, &["run", "crm.fdl", "--input", "in.jsonl"]);
    assert!(
        ran.contains("dead letter in the store: crm.customers[0]@1: basic: after image: field `scores`: expected [int], got array"),
        "{ran}"
    );
    for out in [&checked, &ran] {
        assert!(!out.contains("array of"), "{out}");
    }
}
