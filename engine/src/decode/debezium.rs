//! The Debezium format, with or without the `{schema, payload}` envelope of the JSON converter.
//!
//! In: value with `op` (`c`/`r` insert, `u` update, `d` delete, `t` truncate), `before`,
//! `after`, `source`, `ts_ms`; key = an object of the primary-key columns (possibly itself in
//! an envelope). Out: an upsert (after image, and the before image of an update), a delete
//! (before image, or the key object when `before` is null), or a skip for a tombstone (null
//! value) and a truncate. An upsert's key object, when the key is not null, is the key that
//! names the record (compared with the after image by the router); a key that is neither null
//! nor an object is an error.
//!
//! Version: `ts_ms`, else `source.ts_ms`, else the Kafka timestamp, else 0 (all times: checked
//! against the clock).

use super::{
    image, key_object, position, required_key, Decode, DecodeError, Decoded, Operation,
    ParsedMessage,
};
use crate::value::Value;

const FORMAT: &str = fdc_plan::Format::DEBEZIUM;

/// `{schema, payload}` -> payload; anything else unchanged.
fn unwrap_envelope(v: &Value) -> &Value {
    match v {
        Value::Object(map) if map.contains_key("payload") && map.contains_key("schema") => {
            v.get("payload")
        }
        _ => v,
    }
}

/// Decodes a Debezium message.
pub fn decode<'a>(parsed: &'a ParsedMessage<'_>) -> Result<Decode<'a>, DecodeError> {
    let payload = unwrap_envelope(parsed.value(FORMAT)?);
    if payload.is_null() {
        return Ok(Decode::Skip("debezium: tombstone (null value)".into()));
    }
    if !matches!(payload, Value::Object(_)) {
        return Err(DecodeError::WrongType {
            format: FORMAT.into(),
            what: "the message value".into(),
            expected: "an object",
            got: payload.type_name(),
        });
    }
    let operation = match payload.get("op") {
        Value::String(op) => match op.as_str() {
            "c" | "r" | "u" => Operation::Upsert,
            "d" => Operation::Delete,
            "t" => return Ok(Decode::Skip("debezium: truncate".into())),
            _ => {
                return Err(DecodeError::UnknownOperation {
                    format: FORMAT.into(),
                    what: "`op`".into(),
                })
            }
        },
        Value::Null => {
            return Err(DecodeError::Missing {
                format: FORMAT.into(),
                what: "`op`".into(),
            })
        }
        other => {
            return Err(DecodeError::WrongType {
                format: FORMAT.into(),
                what: "`op`".into(),
                expected: "a string",
                got: other.type_name(),
            })
        }
    };
    let before = image(FORMAT, "`before`", payload.get("before"))?;
    let after = image(FORMAT, "`after`", payload.get("after"))?;
    let version = position(payload.get("ts_ms"))
        .or_else(|| position(payload.get("source").get("ts_ms")))
        .unwrap_or_else(|| parsed.timestamp_version());
    let mut named_key = None;
    let key = match operation {
        Operation::Upsert => {
            if after.is_none() {
                return Err(DecodeError::Missing {
                    format: FORMAT.into(),
                    what: "`after` (an insert or update needs the after image)".into(),
                });
            }
            // The key names the record: compared with the after image by the router. A table
            // without a primary key has a null key: nothing to compare.
            named_key = key_object(FORMAT, unwrap_envelope(parsed.key_json(FORMAT)?))?;
            None
        }
        Operation::Delete if before.is_some() => None,
        Operation::Delete => Some(required_key(
            FORMAT,
            unwrap_envelope(parsed.key_json(FORMAT)?),
            "`before` and the message key (a delete needs one of them)",
        )?),
    };
    Ok(Decode::Change(Decoded {
        operation,
        key,
        before,
        after: if operation == Operation::Delete {
            None
        } else {
            after
        },
        version,
        timed: true,
        named_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::message;
    use super::*;
    use crate::change::Version;

    fn change<'a>(p: &'a ParsedMessage<'_>) -> Decoded<'a> {
        super::super::test_util::expect_change(decode(p))
    }

    #[test]
    fn every_operation_with_and_without_envelope() {
        let plain = r#"{"op": "OP", "before": BEFORE, "after": {"id": 1, "v": "n"}, "source": {"ts_ms": 5}, "ts_ms": 9}"#;
        for (op, want) in [
            ("c", Operation::Upsert),
            ("r", Operation::Upsert),
            ("u", Operation::Upsert),
        ] {
            let text = plain
                .replace("OP", op)
                .replace("BEFORE", r#"{"id": 1, "v": "o"}"#);
            let wrapped = format!(r#"{{"schema": {{"type": "struct"}}, "payload": {text}}}"#);
            for value in [text.clone(), wrapped] {
                let m = message(Some(r#"{"id": 1}"#), Some(&value), Some(3));
                let p = ParsedMessage::new(&m);
                let d = change(&p);
                assert_eq!(d.operation, want);
                assert_eq!(d.after.expect("after").get("v"), &Value::String("n".into()));
                assert_eq!(
                    d.before.expect("before").get("v"),
                    &Value::String("o".into())
                );
                assert_eq!(d.version, Version(9));
                assert_eq!(d.key, None);
            }
        }
    }

    #[test]
    fn delete_takes_before_or_the_key_object() {
        let m = message(
            None,
            Some(r#"{"op": "d", "before": {"id": 1}, "after": null, "ts_ms": 4}"#),
            None,
        );
        let p = ParsedMessage::new(&m);
        let d = change(&p);
        assert_eq!(d.operation, Operation::Delete);
        assert_eq!(d.before.expect("before").get("id"), &Value::Int(1));
        assert_eq!((d.after, d.key), (None, None));

        for key in [r#"{"id": 2}"#, r#"{"schema": {}, "payload": {"id": 2}}"#] {
            let m = message(
                Some(key),
                Some(r#"{"op": "d", "before": null, "source": {"ts_ms": 6}}"#),
                None,
            );
            let p = ParsedMessage::new(&m);
            let d = change(&p);
            assert_eq!(d.key.expect("key").get("id"), &Value::Int(2));
            assert_eq!(d.version, Version(6), "falls back to source.ts_ms");
        }
    }

    #[test]
    fn version_falls_back_to_the_kafka_timestamp_then_zero() {
        let value = r#"{"op": "c", "after": {"id": 1}}"#;
        let m = message(None, Some(value), Some(77));
        assert_eq!(change(&ParsedMessage::new(&m)).version, Version(77));
        let m = message(None, Some(value), None);
        assert_eq!(change(&ParsedMessage::new(&m)).version, Version(0));
    }

    #[test]
    fn tombstones_and_truncates_are_skipped() {
        for value in [
            None,
            Some("null"),
            Some(r#"{"schema": {}, "payload": null}"#),
            Some(r#"{"op": "t"}"#),
        ] {
            let m = message(Some(r#"{"id": 1}"#), value, None);
            let p = ParsedMessage::new(&m);
            assert!(matches!(decode(&p), Ok(Decode::Skip(_))), "{value:?}");
        }
    }

    #[test]
    fn bad_messages_are_errors() {
        let cases = [
            (
                None,
                r#"{"op": "x", "after": {}}"#,
                "unknown operation code in `op`",
            ),
            (None, r#"{"after": {}}"#, "missing `op`"),
            (None, r#"{"op": 1}"#, "`op` should be a string, got int"),
            (None, r#"{"op": "c", "after": null}"#, "missing `after`"),
            (
                None,
                r#"{"op": "u", "after": "x"}"#,
                "`after` should be an object, got string",
            ),
            (
                None,
                r#"{"op": "d", "before": null}"#,
                "missing `before` and the message key",
            ),
            (
                Some("[1]"),
                r#"{"op": "d"}"#,
                "the message key should be an object",
            ),
            (Some("{x"), r#"{"op": "d"}"#, "key is not valid JSON"),
            (
                None,
                r#"[1]"#,
                "the message value should be an object, got array",
            ),
            (None, r#"{"op""#, "value is not valid JSON"),
        ];
        for (key, value, want) in cases {
            let m = message(key, Some(value), None);
            let p = ParsedMessage::new(&m);
            let err = decode(&p).expect_err("fails").to_string();
            assert!(err.contains(want), "{value}: {err}");
        }
    }
}
