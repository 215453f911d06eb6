//! The JSON Schemas of the input message formats (`schemas/formats/`) agree with the decoders:
//! every example the schema accepts is decoded without a dead letter, every example it rejects
//! is dead-lettered, and every schema is itself a valid JSON Schema.

use fdc_engine::change::{Message, MessageOutcome};
use fdc_engine::ingest::Router;
use fdc_plan::Plan;
use serde_json::{json, Value};

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!(
        "{}/../schemas/formats/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::validator_for(&json).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A file-message line as a Message (the same encoding as the file source).
fn message(line: &Value) -> Message {
    let encode = |v: Option<&Value>| match v {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.to_string().into_bytes()),
    };
    Message {
        topic: line["topic"].as_str().expect("topic").to_owned(),
        partition: 0,
        offset: 1,
        key: encode(line.get("key")),
        value: encode(line.get("value")),
        headers: vec![],
        timestamp: line.get("timestamp").and_then(Value::as_i64),
    }
}

fn router() -> Router {
    let projection = |topic: &str, format: Value| {
        json!({"name": topic, "system": "s", "topic": topic, "format": format, "key": ["id"],
               "fields": [{"name": "id", "ty": {"kind": "int"}, "nullable": false, "source": ["id"],
                           "casts": [], "default": null}],
               "indexes": [], "delete": "soft", "events": null})
    };
    let plan: Plan =
        serde_json::from_value(json!({"version": 1, "single_views": [], "projections": [
            projection("basic", json!({"kind": "basic"})),
            projection("debezium", json!({"kind": "debezium"})),
            projection("golden-gate", json!({"kind": "golden_gate"})),
        ]}))
        .expect("plan");
    Router::new(&plan).expect("router")
}

/// Checks the schema verdict and the router's verdict on each example.
fn check(format: &str, examples: &[(Value, bool)]) {
    let validator = schema(format);
    let line = schema("file-message");
    let router = router();
    for (example, valid) in examples {
        assert_eq!(
            validator.is_valid(example),
            *valid,
            "{format} schema on {example}"
        );
        assert!(line.is_valid(example), "file-message schema on {example}");
        let out = router.route(&message(example));
        let dead = out
            .iter()
            .any(|o| matches!(o, MessageOutcome::DeadLetter { .. }));
        assert_eq!(dead, !*valid, "{format} decoder on {example}: {out:?}");
    }
}

#[test]
fn basic_schema_agrees_with_the_decoder() {
    check(
        "basic",
        &[
            (
                json!({"topic": "basic", "key": {"id": 7}, "value": {"id": 7, "x": "a"}, "timestamp": 5}),
                true,
            ),
            // An upsert's key names its record: required.
            (json!({"topic": "basic", "value": {"id": 7}}), false),
            (
                json!({"topic": "basic", "key": null, "value": {"id": 7}}),
                false,
            ),
            (
                json!({"topic": "basic", "key": {"id": 7}, "value": null}),
                true,
            ),
            (json!({"topic": "basic", "key": {"id": 7}}), true),
            (json!({"topic": "basic", "value": null}), false),
            (json!({"topic": "basic", "key": "7", "value": null}), false),
            (
                json!({"topic": "basic", "key": {"id": 7}, "value": [1]}),
                false,
            ),
        ],
    );
}

#[test]
fn debezium_schema_agrees_with_the_decoder() {
    let change = |op: &str| json!({"op": op, "before": {"id": 1}, "after": {"id": 2}, "source": {"ts_ms": 1}, "ts_ms": 2});
    check(
        "debezium",
        &[
            (
                json!({"topic": "debezium", "key": {"id": 1}, "value": change("c")}),
                true,
            ),
            (
                json!({"topic": "debezium", "key": {"id": 1}, "value": change("r")}),
                true,
            ),
            (
                json!({"topic": "debezium", "key": {"id": 1}, "value": change("u")}),
                true,
            ),
            (
                json!({"topic": "debezium", "key": {"id": 1}, "value": change("d")}),
                true,
            ),
            (
                json!({"topic": "debezium", "key": {"id": 1}, "value": change("t")}),
                true,
            ),
            (
                json!({"topic": "debezium", "key": {"id": 1}, "value": {"schema": {}, "payload": change("u")}}),
                true,
            ),
            (
                json!({"topic": "debezium", "key": {"id": 1}, "value": null}),
                true,
            ),
            (
                json!({"topic": "debezium", "key": {"schema": {}, "payload": {"id": 1}},
                "value": {"op": "d", "before": null, "ts_ms": 3}}),
                true,
            ),
            (json!({"topic": "debezium", "value": change("x")}), false),
            (
                json!({"topic": "debezium", "value": {"op": "c", "after": null}}),
                false,
            ),
            (
                json!({"topic": "debezium", "value": {"op": "u", "after": "row"}}),
                false,
            ),
            (
                json!({"topic": "debezium", "value": {"after": {"id": 1}}}),
                false,
            ),
            (json!({"topic": "debezium", "value": [1]}), false),
        ],
    );
}

#[test]
fn golden_gate_schema_agrees_with_the_decoder() {
    check(
        "golden-gate",
        &[
            (
                json!({"topic": "golden-gate", "key": "7_TO01", "value": {"table": "BANK.ACCOUNTS", "op_type": "I",
                "op_ts": "2024-03-02 08:15:03.480000", "pos": "00000000000000012345", "after": {"id": 7}}}),
                true,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "U", "pos": "2", "before": {"id": 7}, "after": {"id": 8}}}),
                true,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "D", "pos": 3, "before": {"id": 7}}}),
                true,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "T", "pos": "4"}}),
                true,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "X", "pos": "4", "after": {"id": 1}}}),
                false,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "I", "pos": "12a", "after": {"id": 1}}}),
                false,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "I", "after": {"id": 1}}}),
                false,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "D", "pos": "5"}}),
                false,
            ),
            (
                json!({"topic": "golden-gate", "value": {"op_type": "U", "pos": "5", "after": null}}),
                false,
            ),
            (json!({"topic": "golden-gate", "value": null}), false),
        ],
    );
}

#[test]
fn file_message_schema_accepts_the_documented_line_shape_only() {
    let line = schema("file-message");
    for ok in [
        json!({"topic": "t"}),
        json!({"topic": "t", "key": "k", "value": null}),
        json!({"topic": "t", "key": {"id": 1}, "value": {"a": 1}, "headers": {"h": "x", "j": {"n": 1}},
               "timestamp": "2024-01-01T00:00:00Z", "partition": 3, "offset": 9}),
        json!({"topic": "t", "value": 1, "timestamp": 1704067200000_i64}),
    ] {
        assert!(line.is_valid(&ok), "{ok}");
    }
    for bad in [
        json!({"key": 1}),
        json!({"topic": ""}),
        json!({"topic": "t", "offset": "x"}),
        json!({"topic": "t", "partition": -1}),
        json!({"topic": "t", "headers": [1]}),
        json!({"topic": "t", "timestamp": 1.5}),
        json!({"topic": "t", "extra": 1}),
        json!([1]),
    ] {
        assert!(!line.is_valid(&bad), "{bad}");
    }
}
