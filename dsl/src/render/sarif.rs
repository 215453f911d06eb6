//! SARIF 2.1.0 (the OASIS static-analysis format GitHub code scanning uploads).
//!
//! One run, tool `fdc` with one rule per diagnostic code that occurs (id = the code, help =
//! the first help text seen for it, default level from its severity), one result per
//! diagnostic with `ruleId`, `ruleIndex`, `level`, `message.text` and, when it points into a
//! file, a physical location: `artifactLocation.uri` relative to the base directory
//! (percent-encoded, `uriBaseId` `%SRCROOT%`) and a 1-based region whose `endColumn` is
//! exclusive, as the specification says.

use std::path::Path;

use serde_json::{json, Value};

use crate::{Diagnostics, Severity};

use super::{entries, relative_path};

/// The `$schema` the document names.
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Percent-encodes everything but unreserved characters and `/`.
fn uri(path: &str) -> String {
    let mut o = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The SARIF log of every diagnostic of `all`, paths relative to `base`.
pub fn sarif<'a>(all: impl IntoIterator<Item = &'a Diagnostics>, base: &Path) -> Value {
    let diags = entries(all);
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for d in &diags {
        let index = match rule_ids.iter().position(|r| *r == d.code) {
            Some(i) => i,
            None => {
                rule_ids.push(d.code.clone());
                let mut rule = json!({
                    "id": d.code,
                    "name": d.code.rsplit("::").next().unwrap_or(&d.code),
                    "shortDescription": { "text": d.code },
                    "defaultConfiguration": { "level": level(d.severity) },
                });
                if let Some(help) = &d.help {
                    rule["help"] = json!({ "text": help });
                }
                rules.push(rule);
                rule_ids.len() - 1
            }
        };
        let mut result = json!({
            "ruleId": d.code,
            "ruleIndex": index,
            "level": level(d.severity),
            "message": { "text": d.message },
        });
        if let Some(file) = &d.file {
            let mut region = serde_json::Map::new();
            let fields = [
                ("startLine", d.line),
                ("startColumn", d.column),
                ("endLine", d.end_line),
                ("endColumn", d.end_column),
            ];
            for (name, value) in fields {
                if let Some(v) = value {
                    region.insert(name.into(), json!(v));
                }
            }
            let mut physical = json!({
                "artifactLocation": {
                    "uri": uri(&relative_path(file, base)),
                    "uriBaseId": "%SRCROOT%",
                },
            });
            if region.contains_key("startLine") {
                physical["region"] = Value::Object(region);
            }
            result["locations"] = json!([{ "physicalLocation": physical }]);
        }
        results.push(result);
    }
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "fdc",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://example.invalid/fdc",
                    "rules": rules,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri("pipelines/my file.fdl"), "pipelines/my%20file.fdl");
        assert_eq!(uri("a/é.fdl"), "a/%C3%A9.fdl");
    }
}
