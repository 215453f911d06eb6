//! The Oracle GoldenGate JSON format.
//!
//! In: value with `op_type` (`I` insert, `U` update, `D` delete, `T` truncate), `before`,
//! `after`, `pos`, `op_ts`, `table`. The Kafka key may be any string (often the key values
//! joined by `_`) and is not used: the primary key is read from the after (or before) image.
//! Out: an upsert (after image, and the before image of an update), a delete (before image),
//! or a skip for a truncate.
//!
//! Version: `pos`, a string of digits (or an integer) compared as an unsigned number, so
//! `"00000000000000012345"` is 12345. A missing or malformed `pos` dead-letters the message:
//! without it the order of changes is unknown.

use super::{image, position, Decode, DecodeError, Decoded, Operation, ParsedMessage};
use crate::value::Value;

const FORMAT: &str = fdc_plan::Format::GOLDEN_GATE;

/// Decodes a GoldenGate message.
pub fn decode<'a>(parsed: &'a ParsedMessage<'_>) -> Result<Decode<'a>, DecodeError> {
    let value = parsed.value(FORMAT)?;
    match value {
        Value::Object(_) => {}
        Value::Null => {
            return Err(DecodeError::Missing {
                format: FORMAT.into(),
                what: "the message value".into(),
            })
        }
        other => {
            return Err(DecodeError::WrongType {
                format: FORMAT.into(),
                what: "the message value".into(),
                expected: "an object",
                got: other.type_name(),
            })
        }
    }
    let operation = match value.get("op_type") {
        Value::String(op) => match op.as_str() {
            "I" | "U" => Operation::Upsert,
            "D" => Operation::Delete,
            "T" => return Ok(Decode::Skip("golden-gate: truncate".into())),
            _ => {
                return Err(DecodeError::UnknownOperation {
                    format: FORMAT.into(),
                    what: "`op_type`".into(),
                })
            }
        },
        Value::Null => {
            return Err(DecodeError::Missing {
                format: FORMAT.into(),
                what: "`op_type`".into(),
            })
        }
        other => {
            return Err(DecodeError::WrongType {
                format: FORMAT.into(),
                what: "`op_type`".into(),
                expected: "a string",
                got: other.type_name(),
            })
        }
    };
    let version = match value.get("pos") {
        Value::Null => {
            return Err(DecodeError::Missing {
                format: FORMAT.into(),
                what: "`pos`".into(),
            })
        }
        pos => position(pos).ok_or_else(|| DecodeError::WrongType {
            format: FORMAT.into(),
            what: "`pos`".into(),
            expected: "a string of at most 38 digits",
            got: pos.type_name(),
        })?,
    };
    let before = image(FORMAT, "`before`", value.get("before"))?;
    let after = image(FORMAT, "`after`", value.get("after"))?;
    match operation {
        Operation::Upsert if after.is_none() => Err(DecodeError::Missing {
            format: FORMAT.into(),
            what: "`after` (an insert or update needs the after image)".into(),
        }),
        Operation::Delete if before.is_none() => Err(DecodeError::Missing {
            format: FORMAT.into(),
            what: "`before` (a delete needs the before image for its key)".into(),
        }),
        Operation::Upsert => Ok(Decode::Change(Decoded {
            operation,
            key: None,
            before,
            after,
            version,
            // `pos` is a position in the trail, not a time.
            timed: false,
            // The key may be any string (often the key values joined by `_`): not compared.
            named_key: None,
        })),
        Operation::Delete => Ok(Decode::Change(Decoded {
            operation,
            key: None,
            before,
            after: None,
            version,
            timed: false,
            named_key: None,
        })),
    }
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
    fn insert_update_delete() {
        let m = message(
            Some("7_TO01"),
            Some(
                r#"{"table": "BANK.ACCOUNTS", "op_type": "I", "pos": "00000000000000012345",
                     "after": {"ACCOUNT_ID": 7}}"#,
            ),
            Some(1),
        );
        let p = ParsedMessage::new(&m);
        let d = change(&p);
        assert_eq!(d.operation, Operation::Upsert);
        assert_eq!(d.version, Version(12345));
        assert_eq!(d.before, None);

        let m = message(
            Some("7_TO01"),
            Some(
                r#"{"op_type": "U", "pos": "00000000000000012346",
                     "before": {"ACCOUNT_ID": 7, "B": "1"}, "after": {"ACCOUNT_ID": 7, "B": "2"}}"#,
            ),
            None,
        );
        let p = ParsedMessage::new(&m);
        let d = change(&p);
        assert_eq!(
            d.before.expect("before").get("B"),
            &Value::String("1".into())
        );
        assert_eq!(d.after.expect("after").get("B"), &Value::String("2".into()));

        let m = message(
            None,
            Some(r#"{"op_type": "D", "pos": 12347, "before": {"ACCOUNT_ID": 7}}"#),
            None,
        );
        let p = ParsedMessage::new(&m);
        let d = change(&p);
        assert_eq!(d.operation, Operation::Delete);
        assert_eq!(d.version, Version(12347));
        assert_eq!(d.after, None);
    }

    #[test]
    fn truncate_is_skipped() {
        let m = message(None, Some(r#"{"op_type": "T", "pos": "1"}"#), None);
        assert!(matches!(
            decode(&ParsedMessage::new(&m)),
            Ok(Decode::Skip(_))
        ));
    }

    #[test]
    fn bad_messages_are_errors() {
        let cases = [
            (None, "missing the message value"),
            (
                Some(r#"{"op_type": "X", "pos": "1"}"#),
                "unknown operation code in `op_type`",
            ),
            (Some(r#"{"pos": "1"}"#), "missing `op_type`"),
            (Some(r#"{"op_type": "I", "after": {}}"#), "missing `pos`"),
            (
                Some(r#"{"op_type": "I", "pos": "12a", "after": {}}"#),
                "`pos` should be a string of at most 38 digits, got string",
            ),
            (
                Some(r#"{"op_type": "I", "pos": -1, "after": {}}"#),
                "`pos` should be",
            ),
            (Some(r#"{"op_type": "I", "pos": "1"}"#), "missing `after`"),
            (
                Some(r#"{"op_type": "D", "pos": "1", "after": {}}"#),
                "missing `before`",
            ),
            (
                Some(r#"{"op_type": "U", "pos": "1", "after": [1]}"#),
                "`after` should be an object, got array",
            ),
            (
                Some(r#""x""#),
                "the message value should be an object, got string",
            ),
        ];
        for (value, want) in cases {
            let m = message(Some("k"), value, None);
            let err = decode(&ParsedMessage::new(&m))
                .expect_err("fails")
                .to_string();
            assert!(err.contains(want), "{value:?}: {err}");
            assert!(err.starts_with("golden-gate: "), "{err}");
        }
    }
}
