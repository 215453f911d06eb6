//! Every example parses, and every AST node's span lies inside its parent's span.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use fdc_dsl::syntax::{self, FileId};
use serde_json::Value;

/// Walks the serialized AST: each object with a `span` must contain the spans of the objects
/// below it.
pub fn assert_spans_nest(node: &Value, parent: Option<(u64, u64)>, text: &str) {
    match node {
        Value::Object(map) => {
            let own = map
                .get("span")
                .and_then(|s| Some((s.get("start")?.as_u64()?, s.get("end")?.as_u64()?)));
            if let (Some((s, e)), Some((ps, pe))) = (own, parent) {
                assert!(
                    ps <= s && e <= pe,
                    "span {s}..{e} ({:?}) escapes its parent {ps}..{pe} ({:?})",
                    &text[s as usize..e as usize],
                    &text[ps as usize..pe as usize]
                );
            }
            let next = own.or(parent);
            for (k, v) in map {
                if k != "span" {
                    assert_spans_nest(v, next, text);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                assert_spans_nest(v, parent, text);
            }
        }
        _ => {}
    }
}

#[test]
fn example_pipelines_parse_and_spans_nest() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines");
    let mut count = 0;
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "fdl") {
                let text = std::fs::read_to_string(&f).unwrap();
                let file = syntax::parse(FileId(0), &text)
                    .unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
                let json = serde_json::to_value(&file).unwrap();
                assert_spans_nest(&json, None, &text);
                count += 1;
            }
        }
    }
    assert!(count >= 3, "found only {count} example files");
}
