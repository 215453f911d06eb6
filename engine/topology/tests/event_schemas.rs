//! Everything the engine writes out validates against its JSON Schema in `schemas/events/`:
//! single-view and projection update events, dead letters, single-view failures, projection
//! records, and the input lines the file source reads.

use std::path::{Path, PathBuf};

use fdc_embedded::DiskOptions;
use fdc_engine::runtime::{RuntimeConfig, Shutdown};
use fdc_file::FileInput;
use fdc_plan::Plan;
use fdc_topology::{build, Deployment};
use serde_json::{json, Value};

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas/events")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("schema file");
    let json: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&json).expect("schema compiles")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("output file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn assert_valid(v: &jsonschema::Validator, instance: &Value, what: &str) {
    if let Err(e) = v.validate(instance) {
        panic!("{what} does not validate: {e}\n{instance}");
    }
}

#[tokio::test]
async fn outputs_validate_against_their_schemas() {
    let plan: Plan = serde_json::from_str(include_str!("../../tests/fixtures/shop.plan.json"))
        .expect("fixture plan");
    let dir: PathBuf =
        std::env::temp_dir().join(format!("fdc-event-schemas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let input = [
        json!({"topic": "shop.customers", "key": {"id": 1}, "value": {"id": 1, "name": "Ann", "country": "IT"}, "timestamp": 1}),
        json!({"topic": "shop.orders", "key": {"id": 5}, "value": {"id": 5, "customer_id": 1, "status": "PAID", "total": "3.10"}, "timestamp": "2024-01-01T00:00:00Z", "headers": {"h": "x"}}),
        json!({"topic": "shop.orders", "key": {"id": 6}, "value": {"id": 6, "customer_id": 1, "status": "INVALID", "total": "1"}, "timestamp": 2, "partition": 0, "offset": 77}),
        json!({"topic": "shop.customers", "key": {"id": 1}, "value": {"id": 1, "name": "Ann B", "country": null}, "timestamp": 3}),
        json!({"topic": "shop.orders", "key": {"id": 7}, "value": {"id": 7, "customer_id": "not an int", "status": "NEW", "total": "1"}, "timestamp": 3}),
        json!({"topic": "shop.customers", "key": {"id": 1}, "value": null, "timestamp": 4}),
    ];
    let input_schema = schema("input-line.schema.json");
    for line in &input {
        assert_valid(&input_schema, line, "input line");
    }
    assert!(
        !input_schema.is_valid(&json!({"key": 1})),
        "topic is required"
    );
    let mut text: String = input.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("not json at all\n");
    std::fs::write(dir.join("in.jsonl"), text).expect("write input");

    let out = dir.join("out");
    let mut deployment = Deployment::embedded(
        plan.clone(),
        FileInput::File(dir.join("in.jsonl")),
        None,
        DiskOptions::default(),
        Some(&out),
    );
    // One message per batch, so that every step shows up as its own event.
    deployment.runtime = RuntimeConfig {
        batch_size: 1,
        ..RuntimeConfig::default()
    };
    let mut built = build(deployment).await.expect("build");
    let summary = built.run(&Shutdown::new()).await.expect("run");
    let store = built.store.embedded().expect("the embedded store");
    fdc_topology::export::export(&plan, store, &out).expect("export");
    assert_eq!(summary.dead_lettered, 2);
    // Order 6's view fails its schema on every rebuild: its insert, and the two changes of
    // customer 1 that its view reads.
    assert_eq!(summary.views.failed, 3);

    let sv = schema("single-view-update.schema.json");
    let pu = schema("projection-update.schema.json");
    let events = lines(&dir.join("out/events.jsonl"));
    let mut kinds = (0, 0);
    for e in &events {
        match e["kind"].as_str() {
            Some("single_view_update") => {
                kinds.0 += 1;
                assert_valid(&sv, e, "single-view update");
                assert!(!pu.is_valid(e));
            }
            Some("projection_update") => {
                kinds.1 += 1;
                assert_valid(&pu, e, "projection update");
            }
            other => panic!("unknown event kind {other:?}"),
        }
    }
    assert!(kinds.0 >= 3 && kinds.1 == 3, "{kinds:?}");
    let mut bad = events[0].clone();
    bad["op"] = json!("upsert");
    assert!(!sv.is_valid(&bad) && !pu.is_valid(&bad));

    let dl = schema("dead-letter.schema.json");
    let dead = lines(&dir.join("out/dead-letters.jsonl"));
    assert_eq!(dead.len(), 2);
    for d in &dead {
        assert_valid(&dl, d, "dead letter");
    }

    let pr = schema("projection-record.schema.json");
    for p in ["customers", "orders"] {
        for l in lines(&dir.join(format!("out/projections/{p}.jsonl"))) {
            assert_valid(&pr, &l["record"], "projection record");
        }
    }

    let vf = schema("view-failure.schema.json");
    let failures = built
        .store
        .embedded()
        .expect("embedded")
        .view_failures()
        .expect("failures");
    assert_eq!(failures.len(), 3);
    for f in &failures {
        assert_valid(&vf, f, "view failure");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
