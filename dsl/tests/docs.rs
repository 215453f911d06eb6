//! `docs/language.md` cannot drift from the code: its function reference is generated from
//! `fdc_plan::functions::CATALOGUE` and its code list from the diagnostic enums. Regenerate with
//! `FDC_BLESS=1 cargo test -p fdc-dsl --test docs`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use fdc_plan::functions::CATALOGUE;

fn docs_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md")
}

fn functions_section() -> String {
    let mut out = String::new();
    for f in CATALOGUE {
        out.push_str(&format!(
            "#### `{}`\n\n`{}`{}\n\n{}.\n\n- on null: {}.\n- bad input: {}.\n\n",
            f.name,
            f.signature,
            if f.cast { " · cast" } else { "" },
            capitalize(f.summary),
            f.on_null,
            f.on_bad_input
        ));
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// (code, severity, doc comment) for every diagnostic variant, in source order.
fn codes() -> Vec<(String, &'static str, String)> {
    let sources = [
        include_str!("../src/load.rs"),
        include_str!("../src/syntax/mod.rs"),
        include_str!("../src/check/errors.rs"),
    ];
    let mut out = Vec::new();
    for src in sources {
        let lines: Vec<&str> = src.lines().collect();
        let mut doc: Vec<String> = Vec::new();
        let mut in_doc = false;
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            if let Some(d) = t.strip_prefix("///") {
                if !in_doc {
                    doc.clear();
                }
                in_doc = true;
                doc.push(d.trim().to_string());
                continue;
            }
            in_doc = false;
            if let Some(rest) = t.split("code(").nth(1).filter(|r| r.starts_with("fdl::")) {
                let code: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let warning = lines[i..(i + 4).min(lines.len())]
                    .iter()
                    .take_while(|l| !l.trim_end().ends_with('{'))
                    .any(|l| l.contains("severity(Warning)"));
                out.push((
                    code,
                    if warning { "warning" } else { "error" },
                    doc.join(" "),
                ));
            }
        }
    }
    out
}

fn codes_section() -> String {
    let mut out = String::from("| code | severity | when and why |\n|---|---|---|\n");
    for (code, severity, doc) in codes() {
        out.push_str(&format!(
            "| `{code}` | {severity} | {} |\n",
            doc.replace('|', "\\|")
        ));
    }
    out
}

fn replace_section(text: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- BEGIN {name}");
    let end = format!("<!-- END {name} -->");
    let b = text.find(&begin).unwrap();
    let b_end = b + text[b..].find("-->").unwrap() + 3;
    let e = text.find(&end).unwrap();
    format!("{}\n\n{}{}", &text[..b_end], body, &text[e..])
}

#[test]
fn language_reference_matches_the_catalogue_and_the_codes() {
    let path = docs_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let fresh = replace_section(&text, "functions", &functions_section());
    let fresh = replace_section(&fresh, "codes", &codes_section());
    if std::env::var_os("FDC_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text == fresh,
        "docs/language.md is stale: run `FDC_BLESS=1 cargo test -p fdc-dsl --test docs`"
    );
    for f in CATALOGUE {
        assert!(text.contains(f.signature), "{} is not documented", f.name);
    }
    let codes = codes();
    assert!(codes.len() > 40);
    for (code, _, doc) in &codes {
        assert!(!doc.is_empty(), "{code} has no doc comment");
    }
}
