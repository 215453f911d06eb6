//! Fixture snapshot tests: `fixtures/{parse,check}/{ok,err}/<behaviour>.fdl`.
//!
//! Each fixture is compiled from an in-memory loader holding only that file (named by its file
//! name, so reports do not depend on the machine). Directives in leading comments:
//! `// roots: a, b` compiles those paths instead of the fixture, `// file: path` adds an empty
//! extra file, `// with: name` adds the file `name` next to the fixture with its content,
//! `// text: path = text` adds a one-line file, `// allow: dir` lets imports read `dir`
//! (`--allow-imports-from`). `ok` fixtures must give no diagnostic; `err` fixtures must give at least one,
//! and their snapshot holds the source and the rendered report. Every diagnostic code declared
//! in the crate must appear in some fixture, and every AST's spans must nest.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod spans;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fdc_dsl::syntax::{self, FileId};
use fdc_dsl::{compile_with_options, Diagnostics, LoadOptions, MemoryLoader};

fn render(d: &Diagnostics) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for r in d.reports() {
        handler.render_report(&mut out, r.as_ref()).unwrap();
        out.push('\n');
    }
    out
}

/// Compiles a fixture; returns the diagnostics (empty when it compiled clean).
fn run_fixture(path: &Path) -> Diagnostics {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut loader = MemoryLoader::new().with(&name, text.clone());
    let mut roots = vec![PathBuf::from(&name)];
    let mut options = LoadOptions::default();
    for line in text.lines().take_while(|l| l.starts_with("//")) {
        if let Some(r) = line.strip_prefix("// roots:") {
            roots = r.split(',').map(|s| PathBuf::from(s.trim())).collect();
        }
        if let Some(f) = line.strip_prefix("// file:") {
            loader = loader.with(f.trim(), "");
        }
        if let Some(f) = line.strip_prefix("// with:") {
            let beside = path.with_file_name(f.trim());
            loader = loader.with(f.trim(), std::fs::read_to_string(beside).unwrap());
        }
        if let Some((f, t)) = line
            .strip_prefix("// text:")
            .and_then(|l| l.split_once('='))
        {
            loader = loader.with(f.trim(), t.trim());
        }
        if let Some(d) = line.strip_prefix("// allow:") {
            options.allowed.push(PathBuf::from(d.trim()));
        }
    }
    match compile_with_options(&loader, &roots, &options) {
        Ok(c) => c.diagnostics,
        Err(d) => d,
    }
}

fn codes(d: &Diagnostics) -> Vec<String> {
    d.items.iter().map(|i| i.code()).collect()
}

fn snapshot(path: &Path, d: &Diagnostics) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    format!(
        "---- source ----\n{text}\n---- codes ----\n{}\n\n---- report ----\n{}",
        codes(d).join("\n"),
        render(d)
    )
}

#[test]
fn parse_ok() {
    insta::glob!("fixtures/parse/ok/*.fdl", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let file = syntax::parse(FileId(0), &text).unwrap_or_else(|e| panic!("{e:?}"));
        spans::assert_spans_nest(&serde_json::to_value(&file).unwrap(), None, &text);
        let summary = format!(
            "---- source ----\n{text}\n---- parsed ----\n{} items, {} comments: {:?}",
            file.items.len(),
            file.comments.len(),
            file.comments
                .iter()
                .map(|c| c.text.as_str())
                .collect::<Vec<_>>()
        );
        insta::assert_snapshot!(summary);
    });
}

#[test]
fn parse_err() {
    insta::glob!("fixtures/parse/err/*.fdl", |path| {
        let d = run_fixture(path);
        assert!(
            d.items.iter().any(|i| i.code().starts_with("fdl::parse::")),
            "{}: expected a parse error, got {:?}",
            path.display(),
            codes(&d)
        );
        insta::assert_snapshot!(snapshot(path, &d));
    });
}

#[test]
fn check_ok() {
    insta::glob!("fixtures/check/ok/*.fdl", |path| {
        let d = run_fixture(path);
        assert!(d.items.is_empty(), "{}:\n{}", path.display(), render(&d));
        let text = std::fs::read_to_string(path).unwrap();
        let file = syntax::parse(FileId(0), &text).unwrap();
        spans::assert_spans_nest(&serde_json::to_value(&file).unwrap(), None, &text);
    });
}

#[test]
fn check_err() {
    insta::glob!("fixtures/check/err/*.fdl", |path| {
        let d = run_fixture(path);
        assert!(
            !d.items.is_empty(),
            "{}: expected diagnostics",
            path.display()
        );
        let text = std::fs::read_to_string(path).unwrap();
        if let Ok(file) = syntax::parse(FileId(0), &text) {
            spans::assert_spans_nest(&serde_json::to_value(&file).unwrap(), None, &text);
        }
        insta::assert_snapshot!(snapshot(path, &d));
    });
}

/// Every `code(fdl::...)` declared in the crate's sources.
pub fn declared_codes() -> BTreeSet<String> {
    let sources = [
        include_str!("../src/syntax/mod.rs"),
        include_str!("../src/load.rs"),
        include_str!("../src/check/errors.rs"),
    ];
    let mut out = BTreeSet::new();
    for s in sources {
        for part in s.split("code(").skip(1) {
            let code: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if code.starts_with("fdl::") {
                out.insert(code);
            }
        }
    }
    out
}

#[test]
fn every_diagnostic_code_has_a_fixture() {
    let declared = declared_codes();
    assert!(declared.len() > 40, "found only {declared:?}");
    let mut seen = BTreeSet::new();
    for kind in ["parse", "check"] {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{kind}/err"));
        for f in std::fs::read_dir(dir).unwrap() {
            seen.extend(codes(&run_fixture(&f.unwrap().path())));
        }
    }
    let missing: Vec<&String> = declared.difference(&seen).collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}
