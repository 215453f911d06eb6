//! The `basic` format (IBM InfoSphere / db2 style).
//!
//! In: key = a JSON object of the primary key's source columns; value = the full row, or a
//! Kafka null value (or JSON `null`) for a delete. Out: an upsert with the value as the after
//! image and the key object as the key that names the record (the router checks that the row
//! has that key; a null or non-object key is an error), or a delete carrying the key object.
//! No before image.
//!
//! Version: the Kafka message timestamp (a time: checked against the clock, see
//! [`crate::ingest::Router::with_max_clock_skew`]); a message without a timestamp gets version
//! 0, so it is never skipped as stale (it is applied as a replay of whatever is stored).

use super::{image, required_key, Decode, DecodeError, Decoded, Operation, ParsedMessage};

const FORMAT: &str = fdc_plan::Format::BASIC;

/// Decodes a `basic` message.
pub fn decode<'a>(parsed: &'a ParsedMessage<'_>) -> Result<Decode<'a>, DecodeError> {
    let version = parsed.timestamp_version();
    let value = parsed.value(FORMAT)?;
    if value.is_null() {
        let key = required_key(
            FORMAT,
            parsed.key_json(FORMAT)?,
            "the message key (a delete needs the key object)",
        )?;
        return Ok(Decode::Change(Decoded {
            operation: Operation::Delete,
            key: Some(key),
            before: None,
            after: None,
            version,
            timed: true,
            named_key: None,
        }));
    }
    let after = image(FORMAT, "the message value", value)?;
    // The key routes the message (the incumbent's rule): an upsert whose key is missing, of
    // another shape, or names another record than its row is not applied.
    let named_key = required_key(
        FORMAT,
        parsed.key_json(FORMAT)?,
        "the message key (an upsert's key names its record: an object of the primary-key \
         columns)",
    )?;
    Ok(Decode::Change(Decoded {
        operation: Operation::Upsert,
        key: None,
        before: None,
        after,
        version,
        timed: true,
        named_key: Some(named_key),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::message;
    use super::*;
    use crate::change::Version;
    use crate::value::Value;

    #[test]
    fn value_is_an_upsert_versioned_by_timestamp() {
        let m = message(
            Some(r#"{"ID": 7}"#),
            Some(r#"{"ID": 7, "N": "a"}"#),
            Some(1_709_367_303_480),
        );
        let p = ParsedMessage::new(&m);
        let Decode::Change(d) = decode(&p).expect("decodes") else {
            panic!("change expected")
        };
        assert_eq!(d.operation, Operation::Upsert);
        assert_eq!(d.after.expect("after").get("N"), &Value::String("a".into()));
        assert_eq!((d.before, d.key), (None, None));
        assert_eq!(d.version, Version(1_709_367_303_480));
    }

    #[test]
    fn null_value_is_a_delete_by_key_object() {
        for value in [None, Some("null")] {
            let m = message(Some(r#"{"ID": 7}"#), value, None);
            let p = ParsedMessage::new(&m);
            let Decode::Change(d) = decode(&p).expect("decodes") else {
                panic!("change expected")
            };
            assert_eq!(d.operation, Operation::Delete);
            assert_eq!(d.key.expect("key").get("ID"), &Value::Int(7));
            assert_eq!(d.version, Version(0), "no timestamp: version 0");
        }
    }

    #[test]
    fn bad_messages_are_errors() {
        let cases = [
            (None, None, "missing the message key"),
            (
                Some("\"7_TO01\""),
                None,
                "the message key should be an object",
            ),
            (Some("{nope"), None, "key is not valid JSON"),
            (
                Some("{}"),
                Some("[1]"),
                "the message value should be an object, got array",
            ),
            (Some("{}"), Some("{\"a\": "), "value is not valid JSON"),
        ];
        for (key, value, want) in cases {
            let m = message(key, value, None);
            let p = ParsedMessage::new(&m);
            let err = decode(&p).expect_err("fails").to_string();
            assert!(err.contains(want), "{err}");
            assert!(err.starts_with("basic: "), "{err}");
        }
    }
}
