//! Decoders: from a raw [`Message`] to a format-neutral decoded change.
//!
//! In: a [`ParsedMessage`] (the message with its value parsed once, its key and headers parsed
//! on first use) and the projection's [`fdc_plan::Format`]. Out: a [`Decoded`] change (upsert or
//! delete, the optional key object, before/after row images borrowed from the parsed message,
//! the ordering [`Version`]), a skip with its reason, or a [`DecodeError`].
//!
//! Guarantees: a message is parsed at most once however many projections read it; row images
//! in a `Decoded` are objects (never null); errors name the format, the part and the types
//! involved, never message contents.

pub mod basic;
pub mod custom;
pub mod debezium;
pub mod golden_gate;
pub mod json;
pub mod shape;
pub mod source_time;

use std::cell::OnceCell;

use fdc_plan::{Format, MessagePart};

use self::shape::Shape;

use crate::change::{Message, Version};
use crate::value::Value;

/// What a decoded change does (insert and update are both upserts for the projection writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Upsert,
    Delete,
}

/// One decoded change, borrowing from the [`ParsedMessage`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<'a> {
    pub operation: Operation,
    /// A key object holding the primary key's *source columns*, when the format takes the key
    /// from the message key (`basic`, Debezium and custom deletes without a before image).
    pub key: Option<&'a Value>,
    /// The row image before the change (an object), when the message has one.
    pub before: Option<&'a Value>,
    /// The row image after the change (an object); always present for upserts.
    pub after: Option<&'a Value>,
    pub version: Version,
    /// Whether `version` is a time (epoch milliseconds: the Kafka timestamp, Debezium
    /// `ts_ms`), which the router may check against the clock; false for a log position
    /// (GoldenGate `pos`, a custom format's declared position), which has no relation to it.
    pub timed: bool,
    /// On an upsert, the message key when it names the record (`basic`, Debezium): an object
    /// of the primary key's source columns, which the router casts and compares with the key
    /// of the after image. `None` when the format's key is not compared (GoldenGate: any
    /// string; custom formats; a Debezium table without a primary key has a null key).
    pub named_key: Option<&'a Value>,
}

/// The result of decoding a message that is not an error.
#[derive(Debug, Clone, PartialEq)]
pub enum Decode<'a> {
    Change(Decoded<'a>),
    /// Deliberately ignored (tombstone, truncate, a skip code), with the reason.
    Skip(String),
}

/// Why a message could not be decoded. Names the format and parts, never contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The key or value bytes are not JSON.
    #[error("{format}: the message {part} is not valid JSON ({detail})")]
    InvalidJson {
        format: String,
        part: &'static str,
        detail: String,
    },
    /// A required part is missing or null.
    #[error("{format}: missing {what}")]
    Missing { format: String, what: String },
    /// A part has the wrong JSON type.
    #[error("{format}: {what} should be {expected}, got {got}")]
    WrongType {
        format: String,
        what: String,
        expected: &'static str,
        got: &'static str,
    },
    /// An operation code that the format does not know.
    #[error("{format}: unknown operation code in {what}")]
    UnknownOperation { format: String, what: String },
}

/// A message with its value parsed (once) and its key and headers parsed on first use.
#[derive(Debug)]
pub struct ParsedMessage<'m> {
    pub message: &'m Message,
    /// What to keep of the key when it is parsed.
    key_shape: &'m Shape,
    /// The parsed value (`Null` for a Kafka null value), or the parse error's description.
    value: Result<Value, String>,
    /// The keys of row images in the value that no projection of the topic reads (source
    /// drift), borrowed from the value's bytes.
    skipped: shape::Skipped<'m>,
    key: OnceCell<KeyPart>,
    headers: OnceCell<Vec<Value>>,
    timestamp: Value,
}

/// The parsed key: its value (a non-JSON key as a string) and the parse error, if any.
#[derive(Debug)]
struct KeyPart {
    value: Value,
    error: Option<String>,
}

/// A serde_json error as category and position (its `Display` could quote input).
fn json_error_detail(e: &serde_json::Error) -> String {
    let category = match e.classify() {
        serde_json::error::Category::Io => "io error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "data error",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{category} at line {} column {}", e.line(), e.column())
}

impl<'m> ParsedMessage<'m> {
    /// Parses the message's value whole (the key and headers wait until a decoder asks).
    pub fn new(message: &'m Message) -> ParsedMessage<'m> {
        ParsedMessage::with_shapes(message, &ALL, &ALL)
    }

    /// Parses the message's value, keeping only `value_shape`; the key, when a decoder asks for
    /// it, keeps only `key_shape` (see [`shapes`]).
    pub fn with_shapes(
        message: &'m Message,
        value_shape: &Shape,
        key_shape: &'m Shape,
    ) -> ParsedMessage<'m> {
        let mut skipped = shape::Skipped::default();
        let value = match &message.value {
            None => Ok(Value::Null),
            Some(bytes) => shape::parse_slice_recording(bytes, value_shape, &mut skipped)
                .map_err(|e| json_error_detail(&e)),
        };
        ParsedMessage {
            message,
            key_shape,
            value,
            skipped,
            key: OnceCell::new(),
            headers: OnceCell::new(),
            timestamp: message.timestamp.map_or(Value::Null, Value::Int),
        }
    }

    /// The columns of the value's row images that no projection of the topic reads (at most
    /// [`shape::Skipped::LIMIT`] names), and whether there were more.
    pub fn skipped_columns(&self) -> &shape::Skipped<'m> {
        &self.skipped
    }

    /// The parsed value (`Null` for a null value), or an `InvalidJson` error for `format`.
    pub fn value(&self, format: &str) -> Result<&Value, DecodeError> {
        self.value
            .as_ref()
            .map_err(|detail| DecodeError::InvalidJson {
                format: format.to_owned(),
                part: "value",
                detail: detail.clone(),
            })
    }

    fn key_part(&self) -> &KeyPart {
        self.key.get_or_init(|| match &self.message.key {
            None => KeyPart {
                value: Value::Null,
                error: None,
            },
            Some(bytes) => match shape::parse_slice_shaped(bytes, self.key_shape) {
                Ok(value) => KeyPart { value, error: None },
                Err(e) => KeyPart {
                    value: Value::String(String::from_utf8_lossy(bytes).into_owned()),
                    error: Some(json_error_detail(&e)),
                },
            },
        })
    }

    /// The key parsed as JSON (`Null` when there is no key), or an `InvalidJson` error.
    pub fn key_json(&self, format: &str) -> Result<&Value, DecodeError> {
        let part = self.key_part();
        match &part.error {
            None => Ok(&part.value),
            Some(detail) => Err(DecodeError::InvalidJson {
                format: format.to_owned(),
                part: "key",
                detail: detail.clone(),
            }),
        }
    }

    /// The key parsed as JSON, a non-JSON key as a string (custom formats).
    pub fn key_lenient(&self) -> &Value {
        &self.key_part().value
    }

    /// Header `name` (the last one of that name) parsed as JSON, or as a string when it is not
    /// JSON; `Null` when absent.
    pub fn header(&self, name: &str) -> &Value {
        let parsed = self.headers.get_or_init(|| {
            self.message
                .headers
                .iter()
                .map(|(_, bytes)| {
                    json::parse_slice(bytes).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(bytes).into_owned())
                    })
                })
                .collect()
        });
        self.message
            .headers
            .iter()
            .rposition(|(n, _)| n == name)
            .and_then(|i| parsed.get(i))
            .unwrap_or(&NULL)
    }

    /// The message timestamp as an `Int` (`Null` when absent).
    pub fn timestamp(&self) -> &Value {
        &self.timestamp
    }

    /// The Kafka timestamp as a version; a missing (or negative) timestamp is version 0, which
    /// is never newer than anything stored, so such messages are applied as replays.
    pub fn timestamp_version(&self) -> Version {
        Version(
            self.message
                .timestamp
                .and_then(|t| u128::try_from(t).ok())
                .unwrap_or(0),
        )
    }
}

static NULL: Value = Value::Null;
static ALL: Shape = Shape::All;

/// What decoding `format` needs of a message's value and key, for a projection whose casts
/// read `row` (see [`crate::cast::CompiledProjection::row_shape`]): the format's own parts
/// (operation, position, envelope) and the row's columns inside each row image.
pub fn shapes(format: &Format, row: &Shape) -> (Shape, Shape) {
    let all = Shape::All;
    match format {
        Format::Basic => (row.clone(), row.clone()),
        Format::Debezium => {
            let change = Shape::nothing()
                .with("op", Shape::All)
                .with("ts_ms", Shape::All)
                .with("source", Shape::nothing().with("ts_ms", Shape::All))
                .with("before", row.clone())
                .with("after", row.clone());
            let envelope = |inner: Shape| {
                let mut s = inner.clone();
                s.merge(
                    &Shape::nothing()
                        .with("schema", Shape::nothing())
                        .with("payload", inner),
                );
                s
            };
            (envelope(change), envelope(row.clone()))
        }
        Format::GoldenGate => (
            Shape::nothing()
                .with("op_type", Shape::All)
                .with("pos", Shape::All)
                // The source time freshness is measured from (`source_time`).
                .with("op_ts", Shape::All)
                .with("before", row.clone())
                .with("after", row.clone()),
            Shape::nothing(),
        ),
        Format::Custom(custom) => {
            let mut value = Shape::nothing();
            // A delete without a before image may read the key columns from the message key.
            let mut key = row.clone();
            let paths = [
                (custom.operation.as_ref(), &all),
                (custom.position.as_ref(), &all),
                (custom.before.as_ref(), row),
                (Some(&custom.after), row),
            ];
            for (path, leaf) in paths {
                match path.map(|p| (&p.part, &p.path)) {
                    Some((MessagePart::Value, path)) => value.keep(path, leaf),
                    Some((MessagePart::Key, path)) => key.keep(path, leaf),
                    _ => {}
                }
            }
            (value, key)
        }
    }
}

/// Decodes `parsed` as `format`.
pub fn decode<'a>(
    format: &Format,
    parsed: &'a ParsedMessage<'_>,
) -> Result<Decode<'a>, DecodeError> {
    match format {
        Format::Basic => basic::decode(parsed),
        Format::Debezium => debezium::decode(parsed),
        Format::GoldenGate => golden_gate::decode(parsed),
        Format::Custom(custom) => custom::decode(custom, parsed),
    }
}

/// A row image: `None` when absent or null, the object otherwise, an error for other types.
pub(crate) fn image<'a>(
    format: &str,
    what: &str,
    v: &'a Value,
) -> Result<Option<&'a Value>, DecodeError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(_) => Ok(Some(v)),
        other => Err(DecodeError::WrongType {
            format: format.to_owned(),
            what: what.to_owned(),
            expected: "an object",
            got: other.type_name(),
        }),
    }
}

/// A message key that names a record: `None` when null, the key object otherwise, an error
/// for any other shape.
pub(crate) fn key_object<'a>(
    format: &str,
    key: &'a Value,
) -> Result<Option<&'a Value>, DecodeError> {
    match key {
        Value::Null => Ok(None),
        Value::Object(_) => Ok(Some(key)),
        other => Err(DecodeError::WrongType {
            format: format.to_owned(),
            what: "the message key".into(),
            expected: "an object of the primary-key columns",
            got: other.type_name(),
        }),
    }
}

/// [`key_object`] where a key is required: a null key is the error that `missing` (what the
/// message needed) describes.
pub(crate) fn required_key<'a>(
    format: &str,
    key: &'a Value,
    missing: &str,
) -> Result<&'a Value, DecodeError> {
    key_object(format, key)?.ok_or_else(|| DecodeError::Missing {
        format: format.to_owned(),
        what: missing.to_owned(),
    })
}

/// An ordering position: a non-negative integer or a string of digits (compared as an unsigned
/// number, so leading zeros do not matter). `None` when it is neither.
pub(crate) fn position(v: &Value) -> Option<Version> {
    match v {
        Value::Int(i) => u128::try_from(*i).ok().map(Version),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u128>().ok().map(Version)
        }
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::change::Message;

    /// A message on topic `t` with JSON text key and value.
    pub fn message(key: Option<&str>, value: Option<&str>, timestamp: Option<i64>) -> Message {
        Message {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: vec![],
            timestamp,
        }
    }

    /// The change a decoder produced; panics (in tests) on anything else.
    pub fn expect_change<'a>(
        decoded: Result<super::Decode<'a>, super::DecodeError>,
    ) -> super::Decoded<'a> {
        match decoded {
            Ok(super::Decode::Change(d)) => d,
            other => panic!("change expected, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::message;
    use super::*;

    #[test]
    fn positions_compare_as_unsigned_numbers() {
        assert_eq!(
            position(&Value::String("00000000000000012345".into())),
            Some(Version(12345))
        );
        assert_eq!(position(&Value::Int(7)), Some(Version(7)));
        assert_eq!(position(&Value::Int(-7)), None);
        assert_eq!(position(&Value::String("12a".into())), None);
        assert_eq!(position(&Value::String("".into())), None);
        assert_eq!(position(&Value::String("9".repeat(40))), None);
        assert!(position(&Value::String("100".into())) > position(&Value::String("0099".into())));
    }

    #[test]
    fn parsed_message_parts() {
        let mut m = message(Some("not json"), Some(r#"{"a": 1}"#), Some(5));
        m.headers = vec![
            ("h".into(), b"{\"x\": 1}".to_vec()),
            ("s".into(), b"plain".to_vec()),
            ("h".into(), b"2".to_vec()),
        ];
        let p = ParsedMessage::new(&m);
        assert_eq!(p.value("f").expect("value").get("a"), &Value::Int(1));
        assert!(matches!(
            p.key_json("f"),
            Err(DecodeError::InvalidJson { part: "key", .. })
        ));
        assert_eq!(p.key_lenient(), &Value::String("not json".into()));
        assert_eq!(
            p.header("h"),
            &Value::Int(2),
            "the last header of a name wins"
        );
        assert_eq!(p.header("s"), &Value::String("plain".into()));
        assert_eq!(p.header("none"), &Value::Null);
        assert_eq!(p.timestamp(), &Value::Int(5));
        assert_eq!(p.timestamp_version(), Version(5));
        let m = message(None, Some("{\"secret\": "), None);
        let p = ParsedMessage::new(&m);
        let err = p.value("basic").expect_err("bad json").to_string();
        assert!(
            err.starts_with("basic: the message value is not valid JSON"),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
        assert_eq!(p.timestamp_version(), Version(0));
    }
}
