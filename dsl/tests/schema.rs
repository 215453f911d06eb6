//! `schemas/plan.schema.json` is generated from the `fdc-plan` types, and every example and
//! fixture plan validates against it.
//!
//! Regenerate the committed schema after changing `fdc-plan`:
//! `FDC_BLESS=1 cargo test -p fdc-dsl --test schema`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use fdc_dsl::{compile_with, pipelines, FsLoader, MemoryLoader};

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/plan.schema.json")
}

fn generated() -> String {
    let schema = schemars::schema_for!(fdc_plan::Plan);
    format!("{}\n", serde_json::to_string_pretty(&schema).unwrap())
}

#[test]
fn committed_schema_is_generated_from_the_plan_types() {
    let path = schema_path();
    let fresh = generated();
    if std::env::var_os("FDC_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "schemas/plan.schema.json is stale: run `FDC_BLESS=1 cargo test -p fdc-dsl --test schema`"
    );
}

#[test]
fn every_example_and_fixture_plan_validates() {
    let schema: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut plans = Vec::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    for dir in pipelines(&FsLoader, &root) {
        let c = compile_with(&FsLoader, std::slice::from_ref(&dir)).unwrap();
        plans.push((dir.display().to_string(), c.plan));
    }
    let ok = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/check/ok");
    for f in std::fs::read_dir(ok).unwrap() {
        let f = f.unwrap().path();
        let loader = MemoryLoader::new().with("p.fdl", std::fs::read_to_string(&f).unwrap());
        let c = compile_with(&loader, &[PathBuf::from("p.fdl")]).unwrap();
        plans.push((f.display().to_string(), c.plan));
    }
    assert!(plans.len() >= 4);
    for (name, plan) in plans {
        let json = serde_json::to_value(&plan).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        // And the schema is not vacuous: a broken plan fails.
        let mut broken = json.clone();
        broken["version"] = serde_json::json!("one");
        assert!(
            !validator.is_valid(&broken),
            "{name}: schema accepts a string version"
        );
    }
}
