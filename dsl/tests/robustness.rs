//! The parser and checker never panic, never overflow the stack and never hang: on every
//! truncation of the examples, and on pathologically deep input (which gets a diagnostic).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use fdc_dsl::{compile_with, MemoryLoader};

fn compile_text(text: &str) -> Vec<String> {
    let loader = MemoryLoader::new().with("p.fdl", text);
    match compile_with(&loader, &[PathBuf::from("p.fdl")]) {
        Ok(c) => c.diagnostics.items.iter().map(|d| d.code()).collect(),
        Err(d) => d.items.iter().map(|d| d.code()).collect(),
    }
}

#[test]
fn every_truncation_of_the_examples_is_handled() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let mut texts = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "fdl") {
                texts.push(std::fs::read_to_string(f).unwrap());
            }
        }
    }
    assert!(!texts.is_empty());
    let mut runs = 0;
    for text in &texts {
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(5).collect();
        for cut in cuts {
            compile_text(&text[..cut]);
            runs += 1;
        }
    }
    assert!(runs > 500, "only {runs} truncations");
}

#[test]
fn deep_input_is_a_diagnostic_not_a_crash() {
    let head = "system s { projection p from \"t\" as basic { key id id int } }\n\
                single view v { root p key id = p.id x = ";
    let cases = [
        format!("{head}{}1{} }}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{head}{}true }}", "not ".repeat(50_000)),
        format!("{head}{}1 }}", "- ".repeat(50_000)),
        format!("{head}{} }}", vec!["1"; 50_000].join(" + ")),
        format!(
            "{head}{}1{} }}",
            "if true then ".repeat(10_000),
            " else 2".repeat(10_000)
        ),
        format!(
            "{head}{}1{} }}",
            "{ a = ".repeat(10_000),
            " }".repeat(10_000)
        ),
        format!("{head}{}", "[".repeat(100_000)),
    ];
    // Run on a thread with a small stack: the limit must hold well within it.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            cases
                .iter()
                .map(|c| compile_text(c))
                .collect::<Vec<Vec<String>>>()
        })
        .unwrap();
    for codes in handle.join().unwrap() {
        assert!(
            codes.iter().any(|c| c == "fdl::parse::too_deep"),
            "expected too_deep, got {codes:?}"
        );
    }
}

#[test]
fn garbage_input_is_a_syntax_error() {
    for text in [
        "\u{0}\u{ffff}",
        "system {",
        "\"unterminated",
        "/* open",
        "single view v {",
    ] {
        let codes = compile_text(text);
        assert!(
            codes.iter().any(|c| c.starts_with("fdl::parse::")),
            "{text:?}: {codes:?}"
        );
    }
}
