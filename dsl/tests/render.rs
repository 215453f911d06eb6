//! GitHub annotations and SARIF 2.1.0 output of diagnostics: snapshots plus the structure the
//! consumers require (checked by hand: the official SARIF schema is not available offline, so
//! the required properties and types of the parts we emit are asserted one by one).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use fdc_dsl::render::{github, sarif};
use fdc_dsl::{compile_with, Diagnostics, MemoryLoader};
use serde_json::Value;

/// A pipeline with errors and a warning, some messages holding `,` and `:`.
const BROKEN: &str = r#"system crm {
  projection customers from "crm.customers" as debezium {
    key id
    id   int
    name string <- NAME | trimm
  }
  projection orders from "crm.orders" as basic {
    key id
    id          string
    customer_id int
  }
  projection unused from "crm.unused" as basic {
    key id
    id int
  }
}

relation customer_orders: customers.id -> many orders.customer_id

single view c360 {
  root customers
  key id = customers.id
  id     = customers.id
  name   = customers.nam
  orders = count(customer_orders)
}
"#;

fn diagnostics() -> Diagnostics {
    let loader = MemoryLoader::new()
        .with("work/pipelines/crm 360/a.fdl", BROKEN)
        .with("work/pipelines/bad/b.fdl", "system {");
    let mut all = Diagnostics::default();
    for root in ["work/pipelines/crm 360", "work/pipelines/bad"] {
        let d = match compile_with(&loader, &[PathBuf::from(root)]) {
            Ok(c) => c.diagnostics,
            Err(d) => d,
        };
        // Merge into one set; file ids are per set, so keep each set separately below.
        all.items.extend(d.items.iter().cloned().map(|mut i| {
            i.file = i
                .file
                .map(|f| fdc_dsl::syntax::FileId(f.0 + all.sources.files.len() as u32));
            i
        }));
        all.sources.files.extend(d.sources.files);
    }
    all
}

#[test]
fn github_annotations() {
    let d = diagnostics();
    assert!(d.items.len() >= 4, "{:?}", d.to_json());
    let out = github([&d], Path::new("work"));
    insta::assert_snapshot!(out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), d.items.len(), "one line per diagnostic");
    for (line, j) in lines.iter().zip(d.to_json()) {
        let level = if j.severity == fdc_dsl::Severity::Error {
            "::error "
        } else {
            "::warning "
        };
        assert!(line.starts_with(level), "{line}");
        let (props, message) = line[level.len()..].split_once("::").unwrap();
        assert!(!message.contains('\n'));
        let props: Vec<(&str, &str)> = props
            .split(',')
            .map(|p| p.split_once('=').unwrap())
            .collect();
        let get = |k: &str| props.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("title"), Some(j.code.replace(':', "%3A").as_str()));
        if let Some(file) = &j.file {
            let want = file.strip_prefix("work/").unwrap();
            assert_eq!(get("file"), Some(want));
            assert_eq!(get("line"), j.line.map(|l| l.to_string()).as_deref());
            assert_eq!(
                get("endColumn"),
                j.end_column.map(|l| l.to_string()).as_deref()
            );
        }
    }
}

fn obj<'a>(v: &'a Value, key: &str) -> &'a serde_json::Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("`{key}` is not an object in {v}"))
}

fn string<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

#[test]
fn sarif_log() {
    let d = diagnostics();
    let log = sarif([&d], Path::new("work"));
    insta::assert_json_snapshot!(log);

    // sarifLog: version "2.1.0", $schema a URI, runs an array.
    assert_eq!(string(&log, "version"), "2.1.0");
    assert!(string(&log, "$schema").starts_with("https://"));
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    // run.tool.driver.name is required; rules are reportingDescriptors with a string id.
    let driver = &run["tool"]["driver"];
    assert_eq!(string(driver, "name"), "fdc");
    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| string(r, "id")).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "rule ids are unique");
    for r in rules {
        assert!(["error", "warning", "note", "none"]
            .contains(&string(&r["defaultConfiguration"], "level")));
        if let Some(h) = r.get("help") {
            assert!(!string(h, "text").is_empty());
        }
    }
    // results: ruleId + ruleIndex agree, level in the enum, message.text required.
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), d.items.len());
    for (res, j) in results.iter().zip(d.to_json()) {
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(string(res, "ruleId"), ids[idx]);
        assert_eq!(string(res, "ruleId"), j.code);
        assert!(["error", "warning"].contains(&string(res, "level")));
        assert!(!string(&res["message"], "text").is_empty());
        let Some(locs) = res.get("locations") else {
            assert!(j.file.is_none());
            continue;
        };
        let phys = &locs[0]["physicalLocation"];
        let uri = string(&phys["artifactLocation"], "uri");
        assert!(
            !uri.starts_with('/') && !uri.contains(' ') && !uri.starts_with("work"),
            "{uri}"
        );
        let region = obj(phys, "region");
        for k in ["startLine", "startColumn", "endLine", "endColumn"] {
            assert!(region[k].as_u64().unwrap() >= 1, "{k} is 1-based");
        }
        let start = (region["startLine"].as_u64(), region["startColumn"].as_u64());
        let end = (region["endLine"].as_u64(), region["endColumn"].as_u64());
        assert!(start <= end, "region ends before it starts");
    }
    assert!(results.iter().any(|r| string(r, "level") == "warning"));
    let uris: Vec<&str> = results
        .iter()
        .filter_map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .collect();
    assert!(uris.contains(&"pipelines/crm%20360/a.fdl"), "{uris:?}");
}
