//! `fdc fmt`: fixture snapshots, idempotence and tree equality on every fixture and example.
//!
//! Each `tests/fixtures/fmt/<behaviour>.fdl` is formatted and the output snapshotted. Every
//! `.fdl` file under `tests/fixtures/` and `pipelines/` that parses must format to text that
//! (a) formats to itself, (b) parses to the same tree with spans erased, (c) keeps every
//! comment.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use fdc_dsl::fmt::format_source;
use fdc_dsl::syntax::{self, FileId};
use serde_json::Value;

fn fdl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            fdl_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "fdl") {
            out.push(p);
        }
    }
}

/// The serialized tree with every span removed and comments reduced to their trimmed text.
fn erased(text: &str) -> Option<Value> {
    let file = syntax::parse(FileId(0), text).ok()?;
    let mut v = serde_json::to_value(&file).unwrap();
    erase(&mut v);
    if let Some(comments) = v.get_mut("comments") {
        let texts: Vec<Value> = comments
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let t = c["text"].as_str().unwrap().replace("\r\n", "\n");
                let lines: Vec<&str> = t.split('\n').map(str::trim_end).collect();
                Value::String(lines.join("\n"))
            })
            .collect();
        *comments = Value::Array(texts);
    }
    Some(v)
}

fn erase(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("span");
            for (_, child) in map.iter_mut() {
                erase(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(erase),
        _ => {}
    }
}

/// Formats `text` and asserts the three invariants; returns the formatted text.
fn check_invariants(name: &str, text: &str) -> Option<String> {
    let before = erased(text)?;
    let once = format_source(text).unwrap();
    let after =
        erased(&once).unwrap_or_else(|| panic!("{name}: formatted text does not parse:\n{once}"));
    assert_eq!(before, after, "{name}: the tree changed:\n{once}");
    let twice = format_source(&once).unwrap();
    assert_eq!(once, twice, "{name}: formatting is not idempotent");
    Some(once)
}

#[test]
fn fixtures_format_to_their_snapshots() {
    insta::glob!("fixtures/fmt/*.fdl", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let out = check_invariants(&path.display().to_string(), &text)
            .unwrap_or_else(|| panic!("{}: does not parse", path.display()));
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(out);
        });
    });
}

#[test]
fn formatting_is_idempotent_and_keeps_the_tree_on_every_fixture_and_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    fdl_files(&root.join("tests/fixtures"), &mut files);
    fdl_files(&root.join("../pipelines"), &mut files);
    let mut formatted = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if check_invariants(&f.display().to_string(), &text).is_some() {
            formatted += 1;
        }
    }
    assert!(formatted >= 10, "only {formatted} files parsed");
}

#[test]
fn examples_are_canonical() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let mut files = Vec::new();
    fdl_files(&root, &mut files);
    assert!(!files.is_empty());
    let mut changed = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if format_source(&text).unwrap() != text {
            changed.push(f.display().to_string());
        }
    }
    assert!(changed.is_empty(), "not formatted: {changed:?}");
}

/// Alignment widths come from the file's names and patterns, which have no length limit:
/// `std::fmt` panics on a width above `u16::MAX` ("Formatting argument out of range"), so a
/// 70,000-character name or match pattern must still format, keep its tree and be idempotent.
#[test]
fn names_and_patterns_longer_than_any_format_width_are_aligned() {
    let long = format!("n{}", "x".repeat(70_000));
    let text = format!(
        "system s {{\n  projection p from \"t\" as basic {{\n    key id\n    id int\n    {long} string <- A\n    b int\n  }}\n}}\n\
         single view v {{\n  root p\n  key id = p.id\n  {long} = 1\n  short = match p.id {{ \"{long}\" => 1, 2 => 2 else => 3 }}\n  obj = {{ {long} = 1, b = match {{ p.b > 1 => 1 else => 2 }} }}\n}}\n"
    );
    let once = check_invariants("long names", &text).unwrap();
    // The short names are padded to the long one's width, so the columns line up.
    let pad = " ".repeat(long.len() - 2);
    assert!(
        once.contains(&format!("    id{pad} int\n")),
        "{}",
        &once[..200]
    );
    assert!(once.contains(&format!("  short{} = match", " ".repeat(long.len() - 5))));
    assert!(once.contains(&format!("\"{long}\" => 1,")));
}
