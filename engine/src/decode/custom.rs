//! Declared (custom) formats: [`fdc_plan::CustomFormat`].
//!
//! In: the format (paths into the message's key, value, headers or timestamp) and a message.
//! Out: a decoded change, a skip, or an error.
//!
//! - operation: with an operation path, the code found there (a JSON scalar, stringified: `1`,
//!   `true`, `"I"`) is looked up in the insert/update/delete/skip lists; a code in none of them,
//!   or no code at all, dead-letters the message. Without an operation path, a null or absent
//!   after image is a delete, anything else an upsert;
//! - key: read from the after (or before) image; a delete without a before image falls back to
//!   the message key when that is a JSON object of the key columns;
//! - version: the position path's value, a non-negative integer or a string of digits; when the
//!   format declares no position path, or the value there is null or absent, the Kafka
//!   timestamp (0 without one). A position of any other shape dead-letters the message. The
//!   version is a time (checked against the clock) only when it is the Kafka timestamp.

use fdc_plan::{CustomFormat, MessagePart, MessagePath};

use super::{image, position, Decode, DecodeError, Decoded, Operation, ParsedMessage};
use crate::functions::float_to_string;
use crate::value::Value;

/// Follows a message path.
fn resolve<'a>(
    parsed: &'a ParsedMessage<'_>,
    path: &MessagePath,
    format: &str,
) -> Result<&'a Value, DecodeError> {
    let root = match &path.part {
        MessagePart::Key => parsed.key_lenient(),
        MessagePart::Value => parsed.value(format)?,
        MessagePart::Header(name) => parsed.header(name),
        MessagePart::Timestamp => parsed.timestamp(),
    };
    Ok(root.get_path(&path.path))
}

/// A readable name of a path for errors: `value.op`, `header row`, `key`.
fn describe(path: &MessagePath) -> String {
    let mut out = match &path.part {
        MessagePart::Key => "key".to_owned(),
        MessagePart::Value => "value".to_owned(),
        MessagePart::Header(name) => format!("header `{name}`"),
        MessagePart::Timestamp => "timestamp".to_owned(),
    };
    for p in &path.path {
        out.push('.');
        out.push_str(p);
    }
    out
}

enum Code {
    Upsert,
    Delete,
    Skip,
}

fn classify(format: &CustomFormat, code: &str) -> Option<Code> {
    let has = |list: &[String]| list.iter().any(|c| c == code);
    if has(&format.skips) {
        Some(Code::Skip)
    } else if has(&format.deletes) {
        Some(Code::Delete)
    } else if has(&format.inserts) || has(&format.updates) {
        Some(Code::Upsert)
    } else {
        None
    }
}

/// Decodes a message of a declared format.
pub fn decode<'a>(
    format: &CustomFormat,
    parsed: &'a ParsedMessage<'_>,
) -> Result<Decode<'a>, DecodeError> {
    let name = format.name.as_str();
    let operation = match &format.operation {
        None => None,
        Some(path) => {
            let what = describe(path);
            let code = match resolve(parsed, path, name)? {
                Value::String(s) => classify(format, s),
                Value::Int(i) => classify(format, &i.to_string()),
                Value::Bool(b) => classify(format, if *b { "true" } else { "false" }),
                Value::Float(f) => classify(format, &float_to_string(*f)),
                Value::Null => {
                    return Err(DecodeError::Missing {
                        format: name.into(),
                        what: format!("the operation code at {what}"),
                    })
                }
                other => {
                    return Err(DecodeError::WrongType {
                        format: name.into(),
                        what: format!("the operation code at {what}"),
                        expected: "a string or a number",
                        got: other.type_name(),
                    })
                }
            };
            match code {
                Some(Code::Skip) => {
                    return Ok(Decode::Skip(format!(
                        "{name}: a skip operation code at {what}"
                    )))
                }
                Some(Code::Upsert) => Some(Operation::Upsert),
                Some(Code::Delete) => Some(Operation::Delete),
                None => {
                    return Err(DecodeError::UnknownOperation {
                        format: name.into(),
                        what,
                    })
                }
            }
        }
    };
    let after = image(
        name,
        &describe(&format.after),
        resolve(parsed, &format.after, name)?,
    )?;
    let before = match &format.before {
        Some(path) => image(name, &describe(path), resolve(parsed, path, name)?)?,
        None => None,
    };
    let operation = operation.unwrap_or(if after.is_some() {
        Operation::Upsert
    } else {
        Operation::Delete
    });
    // The Kafka timestamp is a time; a declared position is one only when it is the timestamp.
    let (version, timed) = match &format.position {
        None => (parsed.timestamp_version(), true),
        Some(path) => match resolve(parsed, path, name)? {
            Value::Null => (parsed.timestamp_version(), true),
            v => (
                position(v).ok_or_else(|| DecodeError::WrongType {
                    format: name.into(),
                    what: format!("the position at {}", describe(path)),
                    expected: "a non-negative integer or a string of digits",
                    got: v.type_name(),
                })?,
                matches!(path.part, MessagePart::Timestamp),
            ),
        },
    };
    match operation {
        Operation::Upsert => {
            if after.is_none() {
                return Err(DecodeError::Missing {
                    format: name.into(),
                    what: format!("the after image at {}", describe(&format.after)),
                });
            }
            Ok(Decode::Change(Decoded {
                operation,
                key: None,
                before,
                after,
                version,
                timed,
                named_key: None,
            }))
        }
        Operation::Delete => {
            let key = match (before, parsed.key_lenient()) {
                (Some(_), _) => None,
                (None, k @ Value::Object(_)) => Some(k),
                (None, _) => {
                    return Err(DecodeError::Missing {
                        format: name.into(),
                        what: "a before image or a key object (a delete needs the key)".into(),
                    })
                }
            };
            Ok(Decode::Change(Decoded {
                operation,
                key,
                before,
                after: None,
                version,
                timed,
                named_key: None,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::message;
    use super::*;
    use crate::change::Version;
    use serde_json::json;

    fn format(spec: serde_json::Value) -> CustomFormat {
        let mut base = json!({
            "name": "mine", "operation": {"part": {"kind": "value"}, "path": ["op"]},
            "inserts": ["I", "1"], "updates": ["U"], "deletes": ["D", "true"], "skips": ["S"],
            "before": {"part": {"kind": "value"}, "path": ["old"]},
            "after": {"part": {"kind": "value"}, "path": ["new"]},
            "position": {"part": {"kind": "value"}, "path": ["seq"]}
        });
        if let (Some(b), Some(s)) = (base.as_object_mut(), spec.as_object()) {
            for (k, v) in s {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).expect("custom format JSON")
    }

    fn run<'a>(f: &CustomFormat, p: &'a ParsedMessage<'_>) -> Result<Decode<'a>, DecodeError> {
        decode(f, p)
    }

    #[test]
    fn operation_codes_map_to_operations() {
        let f = format(json!({}));
        let cases = [
            (
                r#"{"op": "I", "new": {"id": 1}, "seq": 5}"#,
                Some(Operation::Upsert),
            ),
            (
                r#"{"op": 1, "new": {"id": 1}, "seq": "0005"}"#,
                Some(Operation::Upsert),
            ),
            (
                r#"{"op": "U", "old": {"id": 1}, "new": {"id": 1}, "seq": 5}"#,
                Some(Operation::Upsert),
            ),
            (
                r#"{"op": "D", "old": {"id": 1}, "seq": 5}"#,
                Some(Operation::Delete),
            ),
            (
                r#"{"op": true, "old": {"id": 1}, "seq": 5}"#,
                Some(Operation::Delete),
            ),
            (r#"{"op": "S"}"#, None),
        ];
        for (value, want) in cases {
            let m = message(None, Some(value), Some(1));
            let p = ParsedMessage::new(&m);
            match (run(&f, &p).expect(value), want) {
                (Decode::Change(d), Some(op)) => {
                    assert_eq!(d.operation, op, "{value}");
                    assert_eq!(d.version, Version(5), "{value}");
                }
                (Decode::Skip(reason), None) => assert!(reason.contains("value.op"), "{reason}"),
                (got, _) => panic!("{value}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn without_an_operation_path_a_null_after_is_a_delete() {
        let f = format(json!({"operation": null, "before": null, "position": null}));
        let m = message(None, Some(r#"{"new": {"id": 1}}"#), Some(42));
        let p = ParsedMessage::new(&m);
        let Ok(Decode::Change(d)) = run(&f, &p) else {
            panic!("change expected")
        };
        assert_eq!((d.operation, d.version), (Operation::Upsert, Version(42)));

        let m = message(Some(r#"{"id": 1}"#), Some(r#"{"new": null}"#), Some(43));
        let p = ParsedMessage::new(&m);
        let Ok(Decode::Change(d)) = run(&f, &p) else {
            panic!("change expected")
        };
        assert_eq!(d.operation, Operation::Delete);
        assert_eq!(
            d.key.expect("key from the message key").get("id"),
            &Value::Int(1)
        );
    }

    #[test]
    fn paths_into_headers_key_and_timestamp() {
        let f = format(json!({
            "operation": {"part": {"kind": "header", "name": "op"}, "path": []},
            "after": {"part": {"kind": "value"}, "path": []},
            "before": {"part": {"kind": "key"}, "path": ["prev"]},
            "position": {"part": {"kind": "timestamp"}, "path": []},
        }));
        let mut m = message(
            Some(r#"{"prev": {"id": 0}}"#),
            Some(r#"{"id": 1}"#),
            Some(99),
        );
        m.headers = vec![("op".into(), b"U".to_vec())];
        let p = ParsedMessage::new(&m);
        let Ok(Decode::Change(d)) = run(&f, &p) else {
            panic!("change expected")
        };
        assert_eq!(d.after.expect("after").get("id"), &Value::Int(1));
        assert_eq!(d.before.expect("before").get("id"), &Value::Int(0));
        assert_eq!(d.version, Version(99));
    }

    #[test]
    fn position_null_falls_back_to_the_timestamp_and_bad_shapes_fail() {
        let f = format(json!({}));
        let m = message(None, Some(r#"{"op": "I", "new": {"id": 1}}"#), Some(8));
        let p = ParsedMessage::new(&m);
        let Ok(Decode::Change(d)) = run(&f, &p) else {
            panic!("change expected")
        };
        assert_eq!(d.version, Version(8));
        for seq in [r#""1.5""#, "-1", "1.5", "{}"] {
            let text = format!(r#"{{"op": "I", "new": {{"id": 1}}, "seq": {seq}}}"#);
            let m = message(None, Some(&text), Some(8));
            let err = run(&f, &ParsedMessage::new(&m))
                .expect_err("fails")
                .to_string();
            assert!(err.contains("the position at value.seq"), "{err}");
        }
    }

    #[test]
    fn bad_messages_are_errors() {
        let f = format(json!({}));
        let cases = [
            (
                r#"{"op": "X", "new": {}}"#,
                "mine: unknown operation code in value.op",
            ),
            (r#"{"new": {}}"#, "missing the operation code at value.op"),
            (
                r#"{"op": [1], "new": {}}"#,
                "should be a string or a number, got array",
            ),
            (
                r#"{"op": "I", "seq": 1}"#,
                "missing the after image at value.new",
            ),
            (
                r#"{"op": "I", "new": 5}"#,
                "value.new should be an object, got int",
            ),
            (
                r#"{"op": "D", "seq": 1}"#,
                "missing a before image or a key object",
            ),
            (r#"{"op": "#, "value is not valid JSON"),
        ];
        for (value, want) in cases {
            let m = message(Some("plain-key"), Some(value), None);
            let err = run(&f, &ParsedMessage::new(&m))
                .expect_err("fails")
                .to_string();
            assert!(err.contains(want), "{value}: {err}");
        }
    }
}
