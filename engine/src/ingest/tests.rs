//! End-to-end tests of the router: message bytes in, typed changes out, for every format.

use super::*;
use crate::change::Version;
use crate::value::Value;
use serde_json::json;

fn field(
    name: &str,
    ty: &str,
    nullable: bool,
    source: &str,
    casts: serde_json::Value,
) -> serde_json::Value {
    let ty: serde_json::Value = serde_json::from_str(ty).expect("type JSON");
    json!({"name": name, "ty": ty, "nullable": nullable, "source": [source], "casts": casts, "default": null})
}

fn projection(
    name: &str,
    topic: &str,
    format: serde_json::Value,
    key: &[&str],
    fields: Vec<serde_json::Value>,
) -> serde_json::Value {
    json!({"name": name, "system": "s", "topic": topic, "format": format, "key": key,
           "fields": fields, "indexes": [], "delete": "soft", "events": null})
}

const INT: &str = r#"{"kind": "int"}"#;
const STRING: &str = r#"{"kind": "string"}"#;
const DECIMAL: &str = r#"{"kind": "decimal"}"#;

fn plan() -> Plan {
    let custom = json!({"kind": "custom", "name": "mine",
        "operation": {"part": {"kind": "value"}, "path": ["op"]},
        "inserts": ["I"], "updates": ["U"], "deletes": ["D"], "skips": ["HEARTBEAT"],
        "before": {"part": {"kind": "value"}, "path": ["old"]},
        "after": {"part": {"kind": "value"}, "path": ["new"]},
        "position": {"part": {"kind": "header", "name": "seq"}, "path": []}});
    serde_json::from_value(json!({"version": 1, "single_views": [], "projections": [
        projection("accounts", "bank.accounts", json!({"kind": "basic"}), &["branch", "id"], vec![
            field("id", INT, false, "ACCOUNT_ID", json!([{"function": "to_int", "args": []}])),
            field("branch", STRING, false, "BRANCH", json!([{"function": "trim", "args": []}])),
            field("balance", DECIMAL, false, "BALANCE", json!([])),
            field("tags", r#"{"kind": "array", "items": {"kind": "string"}}"#, true, "TAGS", json!([])),
        ]),
        projection("customers", "crm.customers", json!({"kind": "debezium"}), &["id"], vec![
            field("id", INT, false, "id", json!([])),
            field("email", STRING, true, "email", json!([{"function": "lowercase", "args": []}])),
            field("signed_up", r#"{"kind": "datetime"}"#, false, "ts", json!([])),
        ]),
        projection("gg_accounts", "gg.accounts", json!({"kind": "golden_gate"}), &["id"], vec![
            field("id", INT, false, "ACCOUNT_ID", json!([])),
            field("balance", DECIMAL, false, "BALANCE", json!([])),
        ]),
        projection("things", "custom.things", custom, &["id"], vec![
            field("id", STRING, false, "id", json!([])),
        ]),
        projection("customer_emails", "crm.customers", json!({"kind": "debezium"}), &["email"], vec![
            field("email", STRING, false, "email", json!([])),
        ]),
    ]}))
    .expect("plan JSON")
}

fn router() -> Router {
    Router::new(&plan()).expect("router")
}

fn msg(topic: &str, key: Option<&str>, value: Option<&str>) -> Message {
    Message {
        topic: topic.into(),
        partition: 2,
        offset: 41,
        key: key.map(|k| k.as_bytes().to_vec()),
        value: value.map(|v| v.as_bytes().to_vec()),
        headers: vec![],
        timestamp: Some(1_000),
    }
}

fn changes(out: &MessageOutcome) -> &[Change] {
    match out {
        MessageOutcome::Changes(c) => c,
        other => panic!("changes expected, got {other:?}"),
    }
}

fn dead_letter(out: &MessageOutcome) -> &str {
    match out {
        MessageOutcome::DeadLetter { reason, .. } => reason,
        other => panic!("dead letter expected, got {other:?}"),
    }
}

fn s(x: &str) -> Value {
    Value::String(x.into())
}

fn dec(x: &str) -> Value {
    Value::Decimal(x.parse().expect("decimal"))
}

#[test]
fn unknown_topic_is_one_dead_letter_without_projection() {
    let out = router().route(&msg("nobody.reads", None, Some("{}")));
    assert_eq!(
        out,
        vec![MessageOutcome::DeadLetter {
            projection: None,
            reason: "no projection reads topic `nobody.reads`".into()
        }]
    );
}

#[test]
fn basic_upsert_casts_the_row_with_a_composite_key() {
    let out = router().route(&msg(
        "bank.accounts",
        Some(r#"{"ACCOUNT_ID": 7, "BRANCH": "TO01"}"#),
        Some(r#"{"ACCOUNT_ID": "7", "BRANCH": " TO01 ", "BALANCE": "120.50", "TAGS": ["a"], "__STATE__": "X", "OTHER": 1}"#),
    ));
    assert_eq!(out.len(), 1);
    let c = &changes(&out[0])[0];
    assert_eq!(
        (c.projection, c.op, c.version),
        (0, Op::Upsert, Version(1_000))
    );
    assert_eq!(c.key, vec![s("TO01"), Value::Int(7)]);
    let after = c.after.as_ref().expect("after");
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["id", "branch", "balance", "tags"]
    );
    assert_eq!(after["balance"].to_json(), json!("120.50"));
    assert_eq!(after["tags"], Value::Array(vec![s("a")]));
    assert_eq!(c.before, None);
    assert_eq!(
        c.origin,
        Origin {
            topic: "bank.accounts".into(),
            partition: 2,
            offset: 41,
            timestamp: Some(1_000),
            source_ms: Some(1_000)
        }
    );
}

#[test]
fn basic_delete_casts_the_key_object() {
    let out = router().route(&msg(
        "bank.accounts",
        Some(r#"{"ACCOUNT_ID": "7", "BRANCH": "TO01 "}"#),
        None,
    ));
    let c = &changes(&out[0])[0];
    assert_eq!(
        (c.op, &c.key),
        (Op::Delete, &vec![s("TO01"), Value::Int(7)])
    );
    assert_eq!((&c.before, &c.after), (&None, &None));
}

#[test]
fn basic_bad_input_is_dead_lettered_with_a_precise_reason() {
    let r = router();
    let cases = [
        (
            Some(r#"{"ACCOUNT_ID": 7}"#),
            None,
            "basic: message key: key field `branch` is null or missing",
        ),
        (
            Some("{}"),
            Some(r#"{"ACCOUNT_ID": 7, "BALANCE": "1"}"#),
            "basic: after image: field `branch`: null or missing",
        ),
        (
            Some("{}"),
            Some(r#"{"ACCOUNT_ID": "x7", "BRANCH": "B", "BALANCE": "1"}"#),
            "basic: after image: field `id`: `to_int` argument 1 (string)",
        ),
        (
            Some("{}"),
            Some(r#"{"ACCOUNT_ID": 7, "BRANCH": "B", "BALANCE": "1.2.3"}"#),
            "field `balance`: expected decimal, got string",
        ),
        (
            Some("{}"),
            Some(r#"{"ACCOUNT_ID": 7, "BRANCH": "B", "BALANCE": "1", "TAGS": [1, {}]}"#),
            "field `tags`: expected [string], got array (element 1 is object)",
        ),
        (
            Some("{}"),
            Some(r#"{"ACCOUNT_ID": 7, "BRANCH": "#),
            "basic: the message value is not valid JSON",
        ),
    ];
    for (key, value, want) in cases {
        let out = r.route(&msg("bank.accounts", key, value));
        let reason = dead_letter(&out[0]);
        assert!(reason.contains(want), "{reason}");
        assert!(
            !reason.contains("x7") && !reason.contains("1.2.3"),
            "no values: {reason}"
        );
        assert!(matches!(
            out[0],
            MessageOutcome::DeadLetter {
                projection: Some(0),
                ..
            }
        ));
    }
}

#[test]
fn debezium_update_passes_the_cast_before_image() {
    let value = r#"{"payload": {"op": "u", "ts_ms": 50,
        "before": {"id": 1, "email": "OLD@X", "ts": 5},
        "after": {"id": 1, "email": "NEW@X", "ts": 6}}, "schema": {}}"#;
    let out = router().route(&msg("crm.customers", Some(r#"{"id": 1}"#), Some(value)));
    assert_eq!(out.len(), 2, "two projections share the topic");
    let c = changes(&out[0]);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].version, Version(50));
    assert_eq!(c[0].before.as_ref().expect("before")["email"], s("old@x"));
    assert_eq!(c[0].after.as_ref().expect("after")["email"], s("new@x"));
    // The second projection keys by email: the update is a primary-key change there.
    let c = changes(&out[1]);
    assert_eq!(c.len(), 2);
    assert_eq!((c[0].op, &c[0].key), (Op::Delete, &vec![s("OLD@X")]));
    assert_eq!(c[0].after, None);
    assert_eq!((c[1].op, &c[1].key), (Op::Upsert, &vec![s("NEW@X")]));
    assert_eq!(c[1].before, None);
    assert_eq!(c[0].projection, 4);
}

#[test]
fn debezium_primary_key_change_is_delete_then_upsert() {
    let value = r#"{"op": "u", "ts_ms": 60, "before": {"id": 1, "email": "a", "ts": 5}, "after": {"id": 2, "email": "a", "ts": 6}}"#;
    let out = router().route(&msg("crm.customers", None, Some(value)));
    let c = changes(&out[0]);
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].op, &c[0].key, c[0].version),
        (Op::Delete, &vec![Value::Int(1)], Version(60))
    );
    assert!(c[0].before.is_some());
    assert_eq!((c[1].op, &c[1].key), (Op::Upsert, &vec![Value::Int(2)]));
    // Same email: no key change in the email-keyed projection.
    assert_eq!(changes(&out[1]).len(), 1);
}

#[test]
fn a_before_image_that_fails_to_cast_is_dropped_not_fatal() {
    let value = r#"{"op": "u", "ts_ms": 60, "before": {"id": 1, "ts": "garbage"}, "after": {"id": 1, "email": "a", "ts": 6}}"#;
    let out = router().route(&msg("crm.customers", None, Some(value)));
    let c = changes(&out[0]);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].before, None);
    assert_eq!(c[0].op, Op::Upsert);
    // A partial before image that still has its key detects a key change.
    let value = r#"{"op": "u", "ts_ms": 60, "before": {"id": 9}, "after": {"id": 1, "email": "a", "ts": 6}}"#;
    let out = router().route(&msg("crm.customers", None, Some(value)));
    let c = changes(&out[0]);
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].op, &c[0].key, &c[0].before),
        (Op::Delete, &vec![Value::Int(9)], &None)
    );
}

#[test]
fn debezium_delete_with_and_without_before() {
    let r = router();
    let out = r.route(&msg(
        "crm.customers",
        None,
        Some(r#"{"op": "d", "before": {"id": 3, "email": "e", "ts": 1}, "ts_ms": 7}"#),
    ));
    let c = &changes(&out[0])[0];
    assert_eq!((c.op, &c.key), (Op::Delete, &vec![Value::Int(3)]));
    assert!(c.before.is_some());
    let out = r.route(&msg(
        "crm.customers",
        Some(r#"{"schema": {}, "payload": {"id": 4}}"#),
        Some(r#"{"op": "d", "before": null, "ts_ms": 7}"#),
    ));
    let c = &changes(&out[0])[0];
    assert_eq!(
        (c.op, &c.key, &c.before),
        (Op::Delete, &vec![Value::Int(4)], &None)
    );
    // The email-keyed projection cannot find its key in the message key.
    assert!(dead_letter(&out[1])
        .contains("debezium: message key: key field `email` is null or missing"));
}

#[test]
fn debezium_tombstone_and_truncate_are_skipped_for_every_projection() {
    for value in [None, Some(r#"{"op": "t", "ts_ms": 1}"#)] {
        let out = router().route(&msg("crm.customers", Some(r#"{"id": 1}"#), value));
        assert_eq!(out.len(), 2);
        assert!(
            out.iter()
                .all(|o| matches!(o, MessageOutcome::Skipped { .. })),
            "{out:?}"
        );
    }
}

#[test]
fn debezium_datetime_from_unix_millis_and_non_nullable_null() {
    let out = router().route(&msg(
        "crm.customers",
        None,
        Some(r#"{"op": "c", "after": {"id": 1, "ts": 1709367303480}}"#),
    ));
    let after = changes(&out[0])[0].after.clone().expect("after");
    assert_eq!(
        after["signed_up"].to_json(),
        json!("2024-03-02T08:15:03.480Z")
    );
    assert_eq!(after["email"], Value::Null, "nullable");
    assert!(dead_letter(&out[1])
        .contains("field `email`: null or missing, but the field is a non-nullable string"));
}

#[test]
fn golden_gate_update_delete_and_key_change() {
    let r = router();
    let out = r.route(&msg("gg.accounts", Some("7_TO01"), Some(
        r#"{"table": "BANK.ACCOUNTS", "op_type": "U", "pos": "00000000000000012345", "op_ts": "2024-03-02 08:15:03.480000",
            "before": {"ACCOUNT_ID": 7, "BALANCE": "120.50"}, "after": {"ACCOUNT_ID": 7, "BALANCE": "99.00"}}"#,
    )));
    let c = changes(&out[0]);
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].key.clone(), c[0].version),
        (vec![Value::Int(7)], Version(12345))
    );
    assert_eq!(
        c[0].before.as_ref().expect("before")["balance"],
        dec("120.50")
    );
    assert_eq!(
        c[0].after.as_ref().expect("after")["balance"].to_json(),
        json!("99.00")
    );

    let out = r.route(&msg("gg.accounts", Some("x"), Some(
        r#"{"op_type": "U", "pos": "2", "before": {"ACCOUNT_ID": 7, "BALANCE": "1"}, "after": {"ACCOUNT_ID": 8, "BALANCE": "1"}}"#,
    )));
    let c = changes(&out[0]);
    assert_eq!(
        (c[0].op, c[0].key.clone(), c[1].op, c[1].key.clone()),
        (
            Op::Delete,
            vec![Value::Int(7)],
            Op::Upsert,
            vec![Value::Int(8)]
        )
    );

    let out = r.route(&msg(
        "gg.accounts",
        None,
        Some(r#"{"op_type": "D", "pos": "3", "before": {"ACCOUNT_ID": 7}}"#),
    ));
    let c = changes(&out[0]);
    assert_eq!(
        (c[0].op, c[0].key.clone(), c[0].before.clone()),
        (Op::Delete, vec![Value::Int(7)], None)
    );

    let out = r.route(&msg(
        "gg.accounts",
        None,
        Some(r#"{"op_type": "I", "pos": "4", "after": {"BALANCE": "1"}}"#),
    ));
    assert!(
        dead_letter(&out[0]).contains("golden-gate: after image: field `id`"),
        "{out:?}"
    );
}

#[test]
fn custom_codes_skip_and_dead_letter() {
    let r = router();
    let mut m = msg(
        "custom.things",
        None,
        Some(r#"{"op": "I", "new": {"id": "a"}}"#),
    );
    m.headers = vec![("seq".into(), b"\"0042\"".to_vec())];
    let out = r.route(&m);
    let c = &changes(&out[0])[0];
    assert_eq!(
        (c.op, c.key.clone(), c.version),
        (Op::Upsert, vec![s("a")], Version(42))
    );
    let out = r.route(&msg("custom.things", None, Some(r#"{"op": "HEARTBEAT"}"#)));
    assert!(matches!(
        out[0],
        MessageOutcome::Skipped { projection: 3, .. }
    ));
    let out = r.route(&msg("custom.things", None, Some(r#"{"op": "Z"}"#)));
    assert_eq!(
        dead_letter(&out[0]),
        "mine: unknown operation code in value.op"
    );
    let out = r.route(&msg(
        "custom.things",
        None,
        Some(r#"{"op": "D", "old": {"id": "a"}}"#),
    ));
    let c = &changes(&out[0])[0];
    assert_eq!(
        (c.op, c.key.clone(), c.version),
        (Op::Delete, vec![s("a")], Version(1_000))
    );
}

#[test]
fn router_reports_plan_problems() {
    let mut p = plan();
    p.projections[0].fields[0].casts[0].function = "nope".into();
    assert!(matches!(
        Router::new(&p),
        Err(PrepareError::UnknownFunction { .. })
    ));
    let r = router();
    assert!(r.reads("gg.accounts") && !r.reads("x"));
    assert_eq!(
        r.projection(2).map(|p| p.name.as_str()),
        Some("gg_accounts")
    );
}

#[test]
fn the_shaped_parse_routes_exactly_like_a_full_parse() {
    let r = router();
    let mut messages = vec![
        msg(
            "bank.accounts",
            Some(r#"{"ACCOUNT_ID": 7, "BRANCH": "B", "X": [1]}"#),
            Some(
                r#"{"ACCOUNT_ID": "7", "BRANCH": " TO01 ", "BALANCE": "120.50", "TAGS": ["a"], "NOISE": {"deep": [1, {"x": null}]}}"#,
            ),
        ),
        msg(
            "bank.accounts",
            Some(r#"{"ACCOUNT_ID": 7, "BRANCH": "B", "X": [1]}"#),
            None,
        ),
        msg(
            "crm.customers",
            Some(r#"{"schema": {"f": 1}, "payload": {"id": 4}}"#),
            Some(
                r#"{"schema": {"type": "struct", "fields": [{"a": 1}]}, "payload": {"op": "u", "source": {"ts_ms": 3, "db": "x"}, "before": {"id": 1, "email": "A", "ts": 1, "zz": 2}, "after": {"id": 2, "email": "B", "ts": 2}}}"#,
            ),
        ),
        msg(
            "crm.customers",
            Some(r#"{"id": 4}"#),
            Some(r#"{"op": "d", "before": null, "ts_ms": 7}"#),
        ),
        msg(
            "gg.accounts",
            Some("k"),
            Some(
                r#"{"table": "T", "op_type": "U", "pos": "0012", "op_ts": "x", "before": {"ACCOUNT_ID": 7, "BALANCE": "1", "Q": 1}, "after": {"ACCOUNT_ID": 8, "BALANCE": "2"}}"#,
            ),
        ),
        msg(
            "custom.things",
            None,
            Some(r#"{"op": "D", "old": {"id": "a", "other": [1]}, "junk": {"a": 1}}"#),
        ),
    ];
    // Byte-level mutations of each message, to compare failures too.
    let originals = messages.clone();
    for m in &originals {
        let value = m.value.clone().unwrap_or_default();
        for at in (0..value.len()).step_by(7) {
            for b in [b'}', b'"', b'x', b' '] {
                let mut v = value.clone();
                v[at] = b;
                let mut mutated = m.clone();
                mutated.value = Some(v);
                messages.push(mutated);
            }
        }
    }
    for m in &messages {
        let topic = &r.topics[&m.topic];
        let full = r.route_parsed(topic, &ParsedMessage::new(m), 0, None);
        assert_eq!(
            r.route(m),
            full,
            "{:?}",
            String::from_utf8_lossy(m.value.as_deref().unwrap_or(b""))
        );
    }
}

#[test]
fn shapes_keep_only_what_the_topic_reads() {
    let r = router();
    let topic = &r.topics["crm.customers"];
    let m = msg(
        "crm.customers",
        None,
        Some(
            r#"{"schema": {"big": [1, 2]}, "payload": {"op": "c", "source": {"db": "x", "ts_ms": 1}, "after": {"id": 1, "email": "e", "ts": 1, "unused": "u"}}}"#,
        ),
    );
    let parsed = ParsedMessage::with_shapes(&m, &topic.value_shape, &topic.key_shape);
    assert_eq!(
        parsed.value("debezium").expect("value").to_json(),
        json!({"schema": {}, "payload": {"op": "c", "source": {"ts_ms": 1}, "after": {"id": 1, "email": "e", "ts": 1}}})
    );
}

#[test]
fn a_timestamp_version_too_far_ahead_of_the_clock_is_dead_lettered() {
    const HOUR: u128 = 3_600_000;
    let now: u128 = 1_765_000_000_000;
    let r = router().with_max_clock_skew(Some(std::time::Duration::from_secs(3600)));
    let at = |topic: &str, value: &str, timestamp: i64| {
        let mut m = msg(topic, Some(r#"{"id": 1}"#), Some(value));
        m.timestamp = Some(timestamp);
        m
    };
    let account = r#"{"ACCOUNT_ID": 1, "BRANCH": "b", "BALANCE": "1.00"}"#;
    let within = (now + HOUR) as i64;
    let beyond = (now + HOUR + 1) as i64;
    // `basic`: the Kafka timestamp is the version.
    assert!(matches!(
        r.route_at(&at("bank.accounts", account, within), now)[0],
        MessageOutcome::Changes(_)
    ));
    let out = r.route_at(&at("bank.accounts", account, beyond), now);
    let reason = dead_letter(&out[0]);
    assert!(
        reason.starts_with(
            "basic: the version (a timestamp) is more than 3600000 ms ahead of the clock"
        ),
        "{reason}"
    );
    // Year 2500 as well, and the same message passes when the check is off.
    let far = at("bank.accounts", account, 16_725_225_600_000);
    assert!(matches!(
        r.route_at(&far, now)[0],
        MessageOutcome::DeadLetter { .. }
    ));
    assert!(matches!(
        router().route_at(&far, now)[0],
        MessageOutcome::Changes(_)
    ));
    // Debezium: `ts_ms`.
    let dbz = |ts: u128| format!(r#"{{"op": "c", "after": {{"id": 1, "ts": 0}}, "ts_ms": {ts}}}"#);
    let out = r.route_at(&at("crm.customers", &dbz(now + 2 * HOUR), 0), now);
    assert!(
        out.iter()
            .all(|o| matches!(o, MessageOutcome::DeadLetter { .. })),
        "{out:?}"
    );
    let out = r.route_at(&at("crm.customers", &dbz(now - HOUR), 0), now);
    assert!(matches!(out[0], MessageOutcome::Changes(_)), "{out:?}");
    // GoldenGate `pos` is a trail position, not a time: never compared with the clock.
    let gg = r#"{"op_type": "I", "pos": "99999999999999999999", "after": {"ACCOUNT_ID": 1, "BALANCE": "2"}}"#;
    assert!(matches!(
        r.route_at(&at("gg.accounts", gg, beyond), now)[0],
        MessageOutcome::Changes(_)
    ));
    // A custom format's declared position is not a time either.
    let mut thing = at(
        "custom.things",
        r#"{"op": "I", "new": {"id": "x"}}"#,
        beyond,
    );
    thing.headers = vec![("seq".into(), b"99999999999999999".to_vec())];
    assert!(matches!(
        r.route_at(&thing, now)[0],
        MessageOutcome::Changes(_)
    ));
    // Without the declared position it falls back to the Kafka timestamp, a time.
    thing.headers.clear();
    assert!(matches!(
        r.route_at(&thing, now)[0],
        MessageOutcome::DeadLetter { .. }
    ));
}

#[test]
fn an_upsert_whose_message_key_names_another_record_is_dead_lettered() {
    let r = router();
    let row = r#"{"ACCOUNT_ID": 7, "BRANCH": "TO01", "BALANCE": "1.00"}"#;
    let route = |key: Option<&str>, value: &str| r.route(&msg("bank.accounts", key, Some(value)));
    // The key is cast like the row's key fields before it is compared.
    for key in [
        r#"{"ACCOUNT_ID": 7, "BRANCH": "TO01"}"#,
        r#"{"ACCOUNT_ID": "7", "BRANCH": " TO01 ", "EXTRA": 1}"#,
    ] {
        assert!(
            matches!(route(Some(key), row)[0], MessageOutcome::Changes(_)),
            "{key}"
        );
    }
    let other = route(Some(r#"{"ACCOUNT_ID": 8, "BRANCH": "TO01"}"#), row);
    assert_eq!(
        dead_letter(&other[0]),
        "basic: the message key names another record than the after image (key field `id` differs)"
    );
    // A row whose key field casts to another record's key (true is 1 as an int).
    let flipped = route(
        Some(r#"{"ACCOUNT_ID": 7, "BRANCH": "TO02"}"#),
        r#"{"ACCOUNT_ID": true, "BRANCH": "TO01", "BALANCE": "1.00"}"#,
    );
    assert_eq!(
        dead_letter(&flipped[0]),
        "basic: the message key names another record than the after image (key field `branch`, `id` differs)"
    );
    let cases = [
        (None, "basic: missing the message key"),
        (
            Some("\"7_TO01\""),
            "basic: the message key should be an object",
        ),
        (
            Some("{\"ACCOUNT_ID\": \"x\", \"BRANCH\": \"TO01\"}"),
            "basic: message key: field `id`",
        ),
        (
            Some("{\"ACCOUNT_ID\": 8}"),
            "basic: the message key names another record than the after image (key field `id` differs)",
        ),
    ];
    for (key, want) in cases {
        let out = route(key, row);
        let reason = dead_letter(&out[0]);
        assert!(reason.starts_with(want), "{key:?}: {reason}");
        assert!(!reason.contains("TO01"), "no values in reasons: {reason}");
    }
    // Debezium: the key (plain or in its envelope) is compared; a null key (a table without a
    // primary key) is not.
    let dbz = r#"{"op": "u", "after": {"id": 1, "email": "A@x", "ts": 0}, "ts_ms": 5}"#;
    let customers = |key: Option<&str>| r.route(&msg("crm.customers", key, Some(dbz)));
    for key in [
        None,
        Some(r#"{"id": 1}"#),
        Some(r#"{"schema": {}, "payload": {"id": 1}}"#),
    ] {
        assert!(
            matches!(customers(key)[0], MessageOutcome::Changes(_)),
            "{key:?}"
        );
    }
    let out = customers(Some(r#"{"schema": {}, "payload": {"id": 2}}"#));
    assert_eq!(
        dead_letter(&out[0]),
        "debezium: the message key names another record than the after image (key field `id` differs)"
    );
    // A key change keyed by the old key names the record too (delete old, upsert new).
    let moved = r#"{"op": "u", "before": {"id": 2, "email": "a@x", "ts": 0}, "after": {"id": 1, "email": "a@x", "ts": 0}, "ts_ms": 5}"#;
    let out = r.route(&msg("crm.customers", Some(r#"{"id": 2}"#), Some(moved)));
    assert_eq!(changes(&out[0]).len(), 2, "{out:?}");
    // customer_emails is keyed by email, which the message key does not hold: not compared.
    assert!(matches!(out[1], MessageOutcome::Changes(_)), "{out:?}");
    // A key holding only some of the key fields is compared on those.
    let part = route(Some(r#"{"ACCOUNT_ID": 7}"#), row);
    assert!(matches!(part[0], MessageOutcome::Changes(_)), "{part:?}");
    // GoldenGate: the key may be any string; it is not compared.
    let gg = r#"{"op_type": "I", "pos": "1", "after": {"ACCOUNT_ID": 1, "BALANCE": "2"}}"#;
    let out = r.route(&msg("gg.accounts", Some("\"2_anything\""), Some(gg)));
    assert!(matches!(out[0], MessageOutcome::Changes(_)));
}
