//! JSON text straight into [`Value`], without an intermediate `serde_json::Value`.
//!
//! In: JSON bytes or text. Out: the untyped [`Value`] that [`Value::from_json`] would give for
//! the same text (integers that fit i64 become `Int`, other numbers `Float`, objects keep their
//! key order, a repeated key keeps its last value), or the parser's error.
//!
//! Guarantees: one pass, no intermediate tree; nesting depth is bounded by serde_json's
//! recursion limit (128), so hostile input cannot overflow the stack.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::value::{Map, Name, Value};

/// Parses JSON bytes into a [`Value`].
pub fn parse_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Json>(bytes).map(|j| j.0)
}

/// Parses JSON text into a [`Value`].
pub fn parse_str(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Json>(text).map(|j| j.0)
}

/// A [`Value`] deserialized from JSON's natural representation (the derived `Deserialize` of
/// `Value` is the externally tagged serde form, not plain JSON).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Json(pub Value);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(Json)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(JsonVisitor)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(u as f64),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Json(v)) = seq.next_element::<Json>()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        // Collect first, then build the map at its final size: the parser gives no size hint,
        // and growing the hash index step by step (rehashing every key) costs more than a Vec.
        let mut entries: Vec<(Name, Value)> = Vec::with_capacity(8);
        while let Some(key) = access.next_key::<Name>()? {
            let Json(v) = access.next_value::<Json>()?;
            entries.push((key, v));
        }
        let map: Map = entries.into_iter().collect();
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_from_json() {
        let text = r#"{"b": 1, "a": [true, null, -5, 18446744073709551615, 1.5, "é\n"],
                      "o": {"x": {}}, "b": 2}"#;
        let via_tree = Value::from_json(&serde_json::from_str(text).expect("json"));
        assert_eq!(parse_str(text).expect("json"), via_tree);
        let Value::Object(map) = parse_str(text).expect("json") else {
            panic!("object expected")
        };
        assert_eq!(map.keys().collect::<Vec<_>>(), ["b", "a", "o"]);
        assert_eq!(map["b"], Value::Int(2));
    }

    #[test]
    fn rejects_bad_json_and_deep_nesting() {
        assert!(parse_slice(b"{\"a\":").is_err());
        assert!(parse_slice(b"nul").is_err());
        assert!(parse_slice(b"1 2").is_err());
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_str(&deep).is_err());
    }
}
