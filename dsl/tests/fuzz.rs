//! Robustness as a property: random text, random soups of the grammar's tokens, and random
//! truncations and byte mutations of every example and fixture go through parse, check,
//! compile and fmt without a panic, a hang or a stack overflow. Whenever an input parses, the
//! formatter's invariants must hold on it too: its output parses to the same tree (spans
//! aside), keeps every comment and formats to itself.
//!
//! Inputs are bounded in size (a few KiB, or one name lengthened past 65,535 characters:
//! alignment widths come from names, and `std::fmt` widths stop there), so every
//! case is fast; nesting beyond the parser's depth limit must come back as a diagnostic, which
//! the deep cases check on a 2 MiB stack.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fdc_dsl::fmt::format_source;
use fdc_dsl::syntax::{self, FileId};
use fdc_dsl::{compile_with, MemoryLoader};
use proptest::prelude::*;
use serde_json::Value;

/// Every `.fdl` file of the examples and fixtures.
fn corpus() -> &'static Vec<String> {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        walk(&root.join("../pipelines"), &mut files);
        walk(&root.join("tests/fixtures"), &mut files);
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "fdl") {
            out.push(p);
        }
    }
}

const TOKENS: &[&str] = &[
    "system",
    "projection",
    "from",
    "as",
    "basic",
    "debezium",
    "golden-gate",
    "key",
    "index",
    "unique",
    "delete",
    "hard",
    "soft",
    "publish",
    "updates",
    "to",
    "with",
    "before",
    "after",
    "relation",
    "where",
    "and",
    "or",
    "not",
    "many",
    "one",
    "single",
    "view",
    "root",
    "on",
    "write",
    "replace",
    "merge",
    "validate",
    "strategy",
    "via",
    "sort",
    "by",
    "asc",
    "desc",
    "limit",
    "of",
    "if",
    "then",
    "else",
    "match",
    "format",
    "operation",
    "position",
    "insert",
    "update",
    "skip",
    "header",
    "value",
    "timestamp",
    "import",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "first",
    "last",
    "string",
    "int",
    "float",
    "decimal",
    "bool",
    "date",
    "datetime",
    "object",
    "any",
    "true",
    "false",
    "null",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    ":",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "??",
    "|",
    "<-",
    "->",
    "=>",
    "?",
    "\"t\"",
    "\"a\\\"b\"",
    "1",
    "2.5",
    "12.50d",
    "1e3",
    "a",
    "b",
    "p",
    "x",
    "id",
    "// c\n",
    "/* c */",
    "\n",
];

/// Parses, checks and compiles `text` as a one-file pipeline, then formats it when it parses
/// and checks the formatter's invariants.
fn exercise(text: &str) {
    let loader = MemoryLoader::new().with("p.fdl", text);
    let _ = compile_with(&loader, &[PathBuf::from("p.fdl")]);
    let Ok(file) = syntax::parse(FileId(0), text) else {
        return;
    };
    let once = format_source(text).unwrap();
    let tree = |f: &syntax::File| {
        let mut v = serde_json::to_value(f).unwrap();
        erase(&mut v);
        if let Some(c) = v.get_mut("comments") {
            let texts: Vec<Value> = c
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let t = c["text"].as_str().unwrap().replace("\r\n", "\n");
                    let lines: Vec<&str> = t.split('\n').map(str::trim_end).collect();
                    Value::String(lines.join("\n"))
                })
                .collect();
            *c = Value::Array(texts);
        }
        v
    };
    let reparsed = syntax::parse(FileId(0), &once).unwrap_or_else(|e| {
        panic!("formatted text does not parse: {e:?}\n--- input\n{text}\n--- output\n{once}")
    });
    assert_eq!(
        tree(&file),
        tree(&reparsed),
        "tree changed\n--- input\n{text}\n--- output\n{once}"
    );
    let twice = format_source(&once).unwrap();
    assert_eq!(once, twice, "not idempotent\n--- input\n{text}");
}

fn erase(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("span");
            map.values_mut().for_each(erase);
        }
        Value::Array(items) => items.iter_mut().for_each(erase),
        _ => {}
    }
}

/// The largest char boundary at or below `i`.
fn floor(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, usize),
    Replace(usize, u8),
    Duplicate(usize, usize),
    /// Lengthens one name or string literal (picked among all) past 65,535 characters.
    Lengthen(usize, usize),
}

fn mutate(text: &str, m: &Mutation) -> String {
    let n = text.len().max(1);
    match *m {
        Mutation::Truncate(at) => text[..floor(text, at % n)].to_string(),
        Mutation::Delete(at, len) => {
            let a = floor(text, at % n);
            let b = floor(text, a + len % 40);
            format!("{}{}", &text[..a], &text[b..])
        }
        Mutation::Insert(at, tok) => {
            let a = floor(text, at % n);
            format!(
                "{} {} {}",
                &text[..a],
                TOKENS[tok % TOKENS.len()],
                &text[a..]
            )
        }
        Mutation::Replace(at, byte) => {
            let a = floor(text, at % n);
            let b = floor(text, a + 1).max(a);
            let b = if b == a && a < text.len() {
                floor(text, a + 4)
            } else {
                b
            };
            format!(
                "{}{}{}",
                &text[..a],
                (byte % 95 + 32) as char,
                &text[b.min(text.len())..]
            )
        }
        Mutation::Duplicate(at, len) => {
            let a = floor(text, at % n);
            let b = floor(text, a + len % 200);
            format!("{}{}{}", &text[..b], &text[a..b], &text[b..])
        }
        Mutation::Lengthen(pick, extra) => {
            let points = growth_points(text);
            if points.is_empty() {
                return text.to_string();
            }
            let i = points[pick % points.len()];
            let long = "x".repeat(usize::from(u16::MAX) + extra % 100);
            format!("{}{long}{}", &text[..i], &text[i..])
        }
    }
}

/// Where a name or a string literal of `text` can grow and still parse: the end of every
/// identifier, and the place before the closing quote of every string.
fn growth_points(text: &str) -> Vec<usize> {
    fn walk(v: &Value, text: &str, out: &mut Vec<usize>) {
        match v {
            Value::Object(map) => {
                let span = map.get("span").and_then(|s| {
                    Some((
                        s.get("start")?.as_u64()? as usize,
                        s.get("end")?.as_u64()? as usize,
                    ))
                });
                if let Some((start, end)) = span {
                    let written = &text[start..end];
                    if map.get("name").is_some_and(Value::is_string) {
                        out.push(end);
                    } else if written.len() >= 2
                        && written.starts_with('"')
                        && written.ends_with('"')
                    {
                        out.push(end - 1);
                    }
                }
                map.values().for_each(|c| walk(c, text, out));
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, text, out)),
            _ => {}
        }
    }
    let Ok(file) = syntax::parse(FileId(0), text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&serde_json::to_value(&file).unwrap(), text, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Mutation::Delete(a, l)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Replace(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Mutation::Duplicate(a, l)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        exercise(&text);
    }

    #[test]
    fn token_soups_never_panic(picks in prop::collection::vec(0..TOKENS.len(), 0..80), glue in any::<bool>()) {
        let words: Vec<&str> = picks.iter().map(|&i| TOKENS[i]).collect();
        exercise(&words.join(if glue { " " } else { "" }));
    }

    #[test]
    fn mutated_examples_and_fixtures_never_panic(file in any::<usize>(), edits in prop::collection::vec(mutation(), 1..4)) {
        let corpus = corpus();
        let mut text = corpus[file % corpus.len()].clone();
        for m in &edits {
            text = mutate(&text, m);
        }
        exercise(&text);
    }
}

proptest! {
    // Few cases: each input is over 64 KiB.
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_long_name_anywhere_in_an_example_or_fixture_never_panics(file in any::<usize>(), at in any::<usize>(), extra in any::<usize>()) {
        let corpus = corpus();
        exercise(&mutate(&corpus[file % corpus.len()], &Mutation::Lengthen(at, extra)));
    }
}

#[test]
fn every_example_and_fixture_passes_unchanged() {
    assert!(corpus().len() >= 10);
    for text in corpus() {
        exercise(text);
    }
}

#[test]
fn deep_input_is_a_diagnostic_for_the_formatter_too() {
    let head = "single view v { root p key id = p.id x = ";
    let cases = [
        format!("{head}{}1{} }}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{head}{} }}", vec!["1"; 100_000].join(" + ")),
        format!("{head}{}1 }}", "not -".repeat(50_000)),
        format!("{head}{}1{} }}", "f(".repeat(50_000), ")".repeat(50_000)),
        format!("{head}{}1 }}", "if a then ".repeat(50_000)),
        format!("{head}{}", "{ a = ".repeat(100_000)),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            cases
                .iter()
                .map(|c| {
                    exercise(c);
                    format_source(c).is_err()
                })
                .collect::<Vec<bool>>()
        })
        .unwrap();
    let rejected = handle.join().unwrap();
    assert!(
        rejected.iter().all(|r| *r),
        "deep input was accepted: {rejected:?}"
    );
    // Just below the limit still formats, and to the same tree.
    let ok = format!("{head}{}1{} }}", "(".repeat(60), ")".repeat(60));
    exercise(&ok);
}

/// Comments and blank lines dropped at every place of every example: each variant that still
/// parses must keep the formatter's invariants (comment placement is where a formatter is most
/// likely to move text across a token or lose idempotence).
#[test]
fn comments_and_blank_lines_anywhere_keep_the_formatter_invariants() {
    let inserts = ["/* c */", "// c\n", "\n\n", " /* a\n b */ "];
    let mut parsed = 0;
    for text in corpus().iter().take(6) {
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(7).collect();
        for (k, cut) in cuts.into_iter().enumerate() {
            let ins = inserts[k % inserts.len()];
            let variant = format!("{}{ins}{}", &text[..cut], &text[cut..]);
            if syntax::parse(FileId(0), &variant).is_ok() {
                parsed += 1;
                exercise(&variant);
            }
        }
    }
    assert!(parsed > 300, "only {parsed} variants parsed");
}
