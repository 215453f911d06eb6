//! When a change happened at its source: the timestamp freshness is measured from.
//!
//! In: a [`ParsedMessage`] and its projection's [`Format`]. Out: epoch milliseconds, or `None`
//! when neither the message nor its source says.
//!
//! Rule, per format: Debezium — `source.ts_ms` (when the database made the change), else the
//! payload's `ts_ms` (when the connector read it), else the Kafka timestamp; GoldenGate —
//! `op_ts` (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC as the GoldenGate JSON formatter writes it, or
//! an ISO 8601 / RFC 3339 time), else the Kafka timestamp; `basic` and custom formats — the
//! Kafka timestamp (or a file line's `timestamp`).
//!
//! Guarantees: never fails (a malformed time falls back to the next candidate); reads only
//! fields the format's value shape keeps ([`super::shapes`]); negative times are ignored.

use fdc_plan::Format;

use super::ParsedMessage;
use crate::value::Value;

/// The source timestamp of `parsed` read as `format` (see the module docs).
pub fn source_ms(format: &Format, parsed: &ParsedMessage<'_>) -> Option<i64> {
    let own = match format {
        Format::Debezium => debezium(parsed),
        Format::GoldenGate => golden_gate(parsed),
        Format::Basic | Format::Custom(_) => None,
    };
    own.or(parsed.message.timestamp).filter(|t| *t >= 0)
}

fn millis(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) if *i >= 0 => Some(*i),
        Value::String(s) => s.parse::<i64>().ok().filter(|i| *i >= 0),
        _ => None,
    }
}

fn debezium(parsed: &ParsedMessage<'_>) -> Option<i64> {
    let value = parsed.value(Format::DEBEZIUM).ok()?;
    // The JSON converter's `{schema, payload}` envelope.
    let payload = match value.get("payload") {
        Value::Object(_) => value.get("payload"),
        _ => value,
    };
    millis(payload.get("source").get("ts_ms")).or_else(|| millis(payload.get("ts_ms")))
}

fn golden_gate(parsed: &ParsedMessage<'_>) -> Option<i64> {
    let value = parsed.value(Format::GOLDEN_GATE).ok()?;
    let Value::String(text) = value.get("op_ts") else {
        return None;
    };
    parse_time(text)
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` (UTC) or RFC 3339, as epoch milliseconds.
fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for pattern in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, pattern) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::test_util::message;
    use crate::decode::{shape::Shape, shapes};

    fn at(format: &Format, value: &str, kafka: Option<i64>) -> Option<i64> {
        let m = message(None, Some(value), kafka);
        // Through the same shapes the router parses with: the fields must be kept.
        let (value_shape, key_shape) = shapes(format, &Shape::nothing());
        source_ms(
            format,
            &ParsedMessage::with_shapes(&m, &value_shape, &key_shape),
        )
    }

    #[test]
    fn debezium_prefers_the_database_time_then_the_connector_time_then_kafka() {
        let f = Format::Debezium;
        let both = r#"{"op": "c", "after": {}, "source": {"ts_ms": 5}, "ts_ms": 9}"#;
        assert_eq!(at(&f, both, Some(1)), Some(5));
        assert_eq!(
            at(&f, r#"{"op": "c", "after": {}, "ts_ms": 9}"#, Some(1)),
            Some(9)
        );
        let enveloped = r#"{"schema": {}, "payload": {"op": "c", "source": {"ts_ms": 7}}}"#;
        assert_eq!(at(&f, enveloped, Some(1)), Some(7));
        assert_eq!(at(&f, r#"{"op": "c", "ts_ms": "x"}"#, Some(3)), Some(3));
        assert_eq!(at(&f, r#"{"op": "c"}"#, None), None);
        assert_eq!(at(&f, "not json", Some(4)), Some(4));
    }

    #[test]
    fn golden_gate_reads_op_ts_in_its_formats() {
        let f = Format::GoldenGate;
        let gg = |ts: &str| format!(r#"{{"op_type": "I", "pos": "1", "op_ts": "{ts}"}}"#);
        let expected = Some(1_700_000_000_123);
        assert_eq!(at(&f, &gg("2023-11-14 22:13:20.123000"), None), expected);
        assert_eq!(at(&f, &gg("2023-11-14T22:13:20.123Z"), None), expected);
        assert_eq!(at(&f, &gg("2023-11-14T23:13:20.123+01:00"), None), expected);
        assert_eq!(
            at(&f, &gg("2023-11-14 22:13:20"), None),
            Some(1_700_000_000_000)
        );
        assert_eq!(at(&f, &gg("yesterday"), Some(8)), Some(8));
        assert_eq!(at(&f, r#"{"op_type": "I", "pos": "1"}"#, Some(8)), Some(8));
    }

    #[test]
    fn other_formats_use_the_kafka_timestamp() {
        assert_eq!(at(&Format::Basic, r#"{"id": 1}"#, Some(11)), Some(11));
        assert_eq!(at(&Format::Basic, r#"{"id": 1}"#, Some(-1)), None);
    }
}
