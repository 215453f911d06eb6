//! Tests of the cast semantics, one behaviour per test.

use super::*;
use crate::decode::json::parse_str;
use serde_json::json;

/// A projection named `p` keyed by `key`, with fields given as plan JSON.
fn projection(key: &[&str], fields: serde_json::Value) -> Projection {
    serde_json::from_value(json!({
        "name": "p", "system": "s", "topic": "t", "format": {"kind": "basic"},
        "key": key, "fields": fields, "indexes": [], "delete": "soft", "events": null
    }))
    .expect("projection JSON")
}

fn field(name: &str, ty: serde_json::Value, nullable: bool, source: &str) -> serde_json::Value {
    json!({"name": name, "ty": ty, "nullable": nullable, "source": [source], "casts": [], "default": null})
}

fn compile(p: &Projection) -> CompiledProjection {
    CompiledProjection::new(0, p).expect("compiles")
}

fn row(text: &str) -> Value {
    parse_str(text).expect("row JSON")
}

fn one(
    ty: serde_json::Value,
    nullable: bool,
    input: serde_json::Value,
) -> Result<Value, CastError> {
    let p = projection(&[], json!([field("f", ty, nullable, "F")]));
    let c = compile(&p);
    c.cast_row(&Value::from_json(&json!({ "F": input })))
        .map(|mut m| m.shift_remove("f").expect("field present"))
}

#[test]
fn only_declared_fields_in_declaration_order_and_no_metadata() {
    let p = projection(
        &["id"],
        json!([
            field("name", json!({"kind": "string"}), true, "NAME"),
            field("id", json!({"kind": "int"}), false, "ID"),
            field("state", json!({"kind": "string"}), true, "__STATE__"),
        ]),
    );
    let c = compile(&p);
    let rec = c
        .cast_row(&row(
            r#"{"ID": 7, "NAME": "ada", "EXTRA": 1, "__STATE__": "DELETED"}"#,
        ))
        .expect("casts");
    assert_eq!(rec.keys().collect::<Vec<_>>(), ["name", "id", "state"]);
    assert_eq!(rec["state"], Value::Null, "metadata columns are never read");
    assert_eq!(c.key_of(&rec).expect("key"), vec![Value::Int(7)]);
    assert_eq!(c.key_fields().collect::<Vec<_>>(), ["id"]);
}

#[test]
fn nested_source_paths_are_followed() {
    let mut f = field("city", json!({"kind": "string"}), false, "ADDRESS");
    f["source"] = json!(["ADDRESS", "CITY"]);
    let c = compile(&projection(&[], json!([f])));
    let rec = c
        .cast_row(&row(r#"{"ADDRESS": {"CITY": "Turin"}}"#))
        .expect("casts");
    assert_eq!(rec["city"], Value::String("Turin".into()));
    let err = c
        .cast_row(&row(r#"{"ADDRESS": "x"}"#))
        .expect_err("missing");
    assert!(
        matches!(err, CastError::Null { ref field, .. } if field == "city"),
        "{err}"
    );
}

#[test]
fn default_replaces_null_and_skips_casts() {
    let mut f = field("qty", json!({"kind": "int"}), false, "QTY");
    f["default"] = json!(0);
    f["casts"] = json!([{"function": "to_int", "args": []}]);
    let c = compile(&projection(&[], json!([f])));
    assert_eq!(
        c.cast_row(&row(r#"{}"#)).expect("casts")["qty"],
        Value::Int(0)
    );
    assert_eq!(
        c.cast_row(&row(r#"{"QTY": null}"#)).expect("casts")["qty"],
        Value::Int(0)
    );
    assert_eq!(
        c.cast_row(&row(r#"{"QTY": " 5 "}"#)).expect("casts")["qty"],
        Value::Int(5)
    );
}

#[test]
fn cast_chain_runs_in_order_with_constant_arguments() {
    let mut f = field("code", json!({"kind": "string"}), false, "CODE");
    f["casts"] = json!([
        {"function": "trim", "args": []},
        {"function": "replace", "args": ["-", ""]},
        {"function": "pad_left", "args": [6, "0"]},
    ]);
    let c = compile(&projection(&[], json!([f])));
    let rec = c.cast_row(&row(r#"{"CODE": " 1-2-3 "}"#)).expect("casts");
    assert_eq!(rec["code"], Value::String("000123".into()));
}

#[test]
fn a_failing_cast_names_the_field_and_the_function_never_the_value() {
    let mut f = field("id", json!({"kind": "int"}), true, "ID");
    f["casts"] = json!([{"function": "to_int", "args": []}]);
    let c = compile(&projection(&[], json!([f])));
    let err = c
        .cast_row(&row(r#"{"ID": "secret-abc"}"#))
        .expect_err("fails even when nullable");
    let text = err.to_string();
    assert!(text.contains("`id`") && text.contains("to_int"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn null_for_a_non_nullable_field_fails_and_nullable_accepts_it() {
    assert!(matches!(
        one(json!({"kind": "string"}), false, json!(null)),
        Err(CastError::Null { .. })
    ));
    assert_eq!(
        one(json!({"kind": "string"}), true, json!(null)),
        Ok(Value::Null)
    );
}

#[test]
fn coercion_to_every_type() {
    let dt = chrono::DateTime::from_timestamp_millis(1_709_367_303_480).expect("ts");
    let d = chrono::NaiveDate::from_ymd_opt(2024, 3, 2).expect("date");
    let cases: Vec<(serde_json::Value, serde_json::Value, Value)> = vec![
        (
            json!({"kind": "string"}),
            json!("x"),
            Value::String("x".into()),
        ),
        (
            json!({"kind": "string"}),
            json!(12),
            Value::String("12".into()),
        ),
        (
            json!({"kind": "string"}),
            json!(true),
            Value::String("true".into()),
        ),
        (json!({"kind": "int"}), json!(12), Value::Int(12)),
        (json!({"kind": "int"}), json!(12.0), Value::Int(12)),
        (json!({"kind": "int"}), json!(" 12 "), Value::Int(12)),
        (json!({"kind": "int"}), json!("12.00"), Value::Int(12)),
        (json!({"kind": "int"}), json!(true), Value::Int(1)),
        (json!({"kind": "float"}), json!(1), Value::Float(1.0)),
        (json!({"kind": "float"}), json!("2.5"), Value::Float(2.5)),
        (
            json!({"kind": "decimal"}),
            json!("12.50"),
            Value::Decimal("12.50".parse().expect("d")),
        ),
        (
            json!({"kind": "decimal"}),
            json!(0.1),
            Value::Decimal("0.1".parse().expect("d")),
        ),
        (
            json!({"kind": "decimal"}),
            json!(7),
            Value::Decimal(7.into()),
        ),
        (json!({"kind": "bool"}), json!("yes"), Value::Bool(true)),
        (json!({"kind": "bool"}), json!(0), Value::Bool(false)),
        (json!({"kind": "date"}), json!("2024-03-02"), Value::Date(d)),
        (
            json!({"kind": "datetime"}),
            json!("2024-03-02T08:15:03.480Z"),
            Value::Datetime(dt),
        ),
        (
            json!({"kind": "datetime"}),
            json!(1_709_367_303_480_i64),
            Value::Datetime(dt),
        ),
        (
            json!({"kind": "object"}),
            json!({"a": 1}),
            Value::from_json(&json!({"a": 1})),
        ),
        (
            json!({"kind": "object"}),
            json!("{\"a\": 1}"),
            Value::from_json(&json!({"a": 1})),
        ),
        (
            json!({"kind": "any"}),
            json!([1, "x"]),
            Value::from_json(&json!([1, "x"])),
        ),
        (
            json!({"kind": "array", "items": {"kind": "int"}}),
            json!([1, "2", 3.0]),
            Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
        ),
        (
            json!({"kind": "array", "items": {"kind": "decimal"}}),
            json!("[\"1.50\", 2]"),
            Value::Array(vec![
                Value::Decimal("1.50".parse().expect("d")),
                Value::Decimal(2.into()),
            ]),
        ),
        (
            json!({"kind": "array", "items": {"kind": "array", "items": {"kind": "string"}}}),
            json!([["a"], []]),
            Value::Array(vec![
                Value::Array(vec![Value::String("a".into())]),
                Value::Array(vec![]),
            ]),
        ),
        (
            json!({"kind": "array", "items": {"kind": "any"}}),
            json!([null, 1]),
            Value::Array(vec![Value::Null, Value::Int(1)]),
        ),
    ];
    for (ty, input, want) in cases {
        assert_eq!(
            one(ty.clone(), false, input.clone()),
            Ok(want),
            "{ty} <- {input}"
        );
    }
}

#[test]
fn decimal_keeps_its_scale_through_the_record() {
    let v = one(json!({"kind": "decimal"}), false, json!("12.500")).expect("casts");
    assert_eq!(v.to_json(), json!("12.500"));
}

#[test]
fn coercion_failures_name_expected_and_got() {
    let cases: Vec<(serde_json::Value, serde_json::Value, &str)> = vec![
        (
            json!({"kind": "int"}),
            json!(1.5),
            "expected int, got float",
        ),
        (
            json!({"kind": "int"}),
            json!("1.5"),
            "expected int, got string",
        ),
        (
            json!({"kind": "int"}),
            json!("abc"),
            "expected int, got string",
        ),
        (
            json!({"kind": "int"}),
            json!([1]),
            "expected int, got array",
        ),
        (
            json!({"kind": "string"}),
            json!({"a": 1}),
            "expected string, got object",
        ),
        (
            json!({"kind": "bool"}),
            json!("maybe"),
            "expected bool, got string",
        ),
        (
            json!({"kind": "float"}),
            json!(true),
            "expected float, got bool",
        ),
        (
            json!({"kind": "decimal"}),
            json!("1e"),
            "expected decimal, got string",
        ),
        (
            json!({"kind": "date"}),
            json!("2024-02-30"),
            "expected date, got string",
        ),
        (
            json!({"kind": "date"}),
            json!(20240302),
            "expected date, got int",
        ),
        (
            json!({"kind": "datetime"}),
            json!("tomorrow"),
            "expected datetime, got string",
        ),
        (
            json!({"kind": "datetime"}),
            json!(1.5),
            "expected datetime, got float",
        ),
        (
            json!({"kind": "object"}),
            json!("[1]"),
            "expected object, got string",
        ),
        (
            json!({"kind": "object"}),
            json!(3),
            "expected object, got int",
        ),
        (
            json!({"kind": "array", "items": {"kind": "int"}}),
            json!([1, "x"]),
            "expected [int], got array (element 1 is string",
        ),
        (
            json!({"kind": "array", "items": {"kind": "int"}}),
            json!([1, null]),
            "element 1 is null",
        ),
        (
            json!({"kind": "array", "items": {"kind": "int"}}),
            json!("{}"),
            "the JSON text is object",
        ),
    ];
    for (ty, input, want) in cases {
        let err = one(ty.clone(), true, input.clone()).expect_err("fails");
        let text = err.to_string();
        assert!(text.contains(want), "{ty} <- {input}: {text}");
        assert!(text.contains("`f`"), "{text}");
    }
}

#[test]
fn key_cast_from_a_key_object_and_missing_key_fields() {
    let mut id = field("id", json!({"kind": "int"}), false, "ID");
    id["casts"] = json!([{"function": "to_int", "args": []}]);
    let p = projection(
        &["branch", "id"],
        json!([
            id,
            field("branch", json!({"kind": "string"}), true, "BRANCH"),
            field("balance", json!({"kind": "decimal"}), false, "BALANCE")
        ]),
    );
    let c = compile(&p);
    assert_eq!(
        c.cast_key(&row(r#"{"ID": "7", "BRANCH": "TO01"}"#))
            .expect("key"),
        vec![Value::String("TO01".into()), Value::Int(7)]
    );
    let err = c.cast_key(&row(r#"{"ID": 7}"#)).expect_err("missing");
    assert_eq!(
        err,
        CastError::MissingKey {
            field: "branch".into()
        }
    );
    let err = c
        .cast_key(&row(r#"{"ID": "x", "BRANCH": "b"}"#))
        .expect_err("bad");
    assert!(matches!(err, CastError::Function { .. }));
    assert!(matches!(
        c.cast_key(&row("3")),
        Err(CastError::NotAnObject { got: "int" })
    ));
    // A nullable key field that is null still has no key.
    let rec = c
        .cast_row(&row(r#"{"ID": 1, "BALANCE": "1"}"#))
        .expect("casts");
    assert_eq!(
        c.key_of(&rec),
        Err(CastError::MissingKey {
            field: "branch".into()
        })
    );
}

#[test]
fn preparing_rejects_unknown_functions_keys_and_bad_defaults() {
    let mut f = field("a", json!({"kind": "int"}), false, "A");
    f["casts"] = json!([{"function": "nope", "args": []}]);
    assert!(matches!(
        CompiledProjection::new(0, &projection(&[], json!([f]))),
        Err(PrepareError::UnknownFunction { .. })
    ));
    let f = field("a", json!({"kind": "int"}), false, "A");
    assert!(matches!(
        CompiledProjection::new(0, &projection(&["b"], json!([f]))),
        Err(PrepareError::UnknownKeyField { .. })
    ));
    let mut f = field("a", json!({"kind": "int"}), false, "A");
    f["default"] = json!("x");
    assert!(matches!(
        CompiledProjection::new(0, &projection(&[], json!([f]))),
        Err(PrepareError::BadDefault { .. })
    ));
}

#[test]
fn json_integers_outside_the_int_range_fail_at_both_ends() {
    // Read from JSON text, as a message is: integers beyond i64 arrive as floats.
    let p = projection(&[], json!([field("n", json!({"kind": "int"}), false, "N")]));
    let c = compile(&p);
    let cast = |number: &str| {
        c.cast_row(&row(&format!(r#"{{"N": {number}}}"#)))
            .map(|m| m["n"].clone())
    };
    for (text, want) in [
        ("-9223372036854775808", i64::MIN),
        ("-9223372036854775807", i64::MIN + 1),
        ("9223372036854775807", i64::MAX),
        ("9223372036854775806", i64::MAX - 1),
        ("-9223372036854774784.0", -9_223_372_036_854_774_784),
    ] {
        assert_eq!(cast(text), Ok(Value::Int(want)), "{text}");
    }
    for text in [
        "-9223372036854775809",
        "-9223372036854775810",
        "-9223372036854777856",
        "-9223372036854775808.0",
        "-1e19",
        "9223372036854775808",
        "9223372036854775809",
        "1e19",
    ] {
        match cast(text) {
            Err(CastError::Coerce { field, .. }) => assert_eq!(field, "n", "{text}"),
            other => panic!("{text}: should fail, got {other:?}"),
        }
    }
}
