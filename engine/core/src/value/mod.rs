//! The runtime value model: what decoded fields, projection records and single-view documents
//! are made of.
//!
//! In: JSON from messages and files, typed values from casts and expressions. Out: JSON in the
//! representation documented on [`fdc_plan::Type`] (and, in the MongoDB adapter, BSON).
//!
//! Guarantees: [`Value::to_json`] and [`Value::from_json_typed`] round-trip every value of a
//! declared type; [`Value::total_cmp`] is a total order (used by `sort by`, min/max and version
//! comparison) that is consistent with `==` on values of one type.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub mod map;

pub use map::Map;

/// A field name: inline up to 24 bytes, so that copying a name into a document or record
/// allocates nothing.
pub type Name = compact_str::CompactString;

/// The field `name` of `map` (what `map.get(name)` returns).
pub fn field<'m>(map: &'m Map, name: &str) -> Option<&'m Value> {
    map.get(name)
}

/// One value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    String(String),
    Date(NaiveDate),
    /// Always UTC, millisecond precision.
    Datetime(DateTime<Utc>),
    Array(Vec<Value>),
    Object(Map),
}

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The field `name` of an object (`Null` for a missing field or a non-object).
    pub fn get(&self, name: &str) -> &Value {
        match self {
            Value::Object(map) => field(map, name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Follows `path` through nested objects (`Null` when any step is missing).
    pub fn get_path(&self, path: &[String]) -> &Value {
        path.iter().fold(self, |v, key| v.get(key))
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages (never the value itself: values
    /// can be personal data).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Decimal(_) => "decimal",
            Value::String(_) => "string",
            Value::Date(_) => "date",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Untyped conversion from JSON: integers that fit i64 become `Int`, other numbers
    /// `Float`, strings stay strings (a decimal or date sent as a string is recognised only
    /// by a typed cast).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.as_str().into(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Typed conversion from the documented JSON representation of `ty` (used for plan
    /// literals and defaults, and for records read back from JSON files). Returns `None` when
    /// the JSON does not have that representation.
    pub fn from_json_typed(json: &serde_json::Value, ty: &fdc_plan::Type) -> Option<Value> {
        use fdc_plan::Type as T;
        if json.is_null() {
            return Some(Value::Null);
        }
        Some(match ty {
            T::String => Value::String(json.as_str()?.to_owned()),
            T::Int => Value::Int(json.as_i64()?),
            T::Float => Value::Float(json.as_f64()?),
            T::Decimal => match json {
                serde_json::Value::String(s) => Value::Decimal(s.parse().ok()?),
                serde_json::Value::Number(n) => Value::Decimal(n.to_string().parse().ok()?),
                _ => return None,
            },
            T::Bool => Value::Bool(json.as_bool()?),
            T::Date => Value::Date(NaiveDate::parse_from_str(json.as_str()?, "%Y-%m-%d").ok()?),
            T::Datetime => Value::Datetime(
                DateTime::parse_from_rfc3339(json.as_str()?)
                    .ok()?
                    .with_timezone(&Utc),
            ),
            T::Object => match json {
                serde_json::Value::Object(_) => Value::from_json(json),
                _ => return None,
            },
            T::Array { items } => Value::Array(
                json.as_array()?
                    .iter()
                    .map(|item| Value::from_json_typed(item, items))
                    .collect::<Option<Vec<_>>>()?,
            ),
            T::Any => Value::from_json(json),
        })
    }

    /// The documented JSON representation.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Decimal(d) => serde_json::Value::String(d.to_string()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Date(d) => serde_json::Value::String(d.format("%Y-%m-%d").to_string()),
            Value::Datetime(t) => {
                serde_json::Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
            }
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A total order across all values: null first, then by type rank (bool < numbers <
    /// string < date/datetime < array < object), numbers compared by value across int, float
    /// and decimal (NaN last), temporals chronologically (a date is its midnight UTC).
    pub fn total_cmp(&self, other: &Value) -> Ordering {
        fn rank(v: &Value) -> u8 {
            match v {
                Value::Null => 0,
                Value::Bool(_) => 1,
                Value::Int(_) | Value::Float(_) | Value::Decimal(_) => 2,
                Value::String(_) => 3,
                Value::Date(_) | Value::Datetime(_) => 4,
                Value::Array(_) => 5,
                Value::Object(_) => 6,
            }
        }
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Decimal(a), Value::Decimal(b)) => a.cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            (Value::Datetime(a), Value::Datetime(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = x.total_cmp(y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Value::Object(a), Value::Object(b)) => {
                for ((ka, va), (kb, vb)) in a.iter().zip(b) {
                    let o = ka.cmp(kb).then_with(|| va.total_cmp(vb));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            (a, b) if rank(a) == 2 && rank(b) == 2 => compare_numbers(a, b),
            (a, b) if rank(a) == 4 && rank(b) == 4 => as_datetime(a).cmp(&as_datetime(b)),
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }
}

static NULL: Value = Value::Null;

fn as_datetime(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Datetime(t) => Some(*t),
        Value::Date(d) => d.and_hms_opt(0, 0, 0).map(|n| n.and_utc()),
        _ => None,
    }
}

fn compare_numbers(a: &Value, b: &Value) -> Ordering {
    // Exact where possible (int/decimal), through f64 when a float is involved.
    fn dec(v: &Value) -> Option<Decimal> {
        match v {
            Value::Int(i) => Some(Decimal::from(*i)),
            Value::Decimal(d) => Some(*d),
            _ => None,
        }
    }
    fn float(v: &Value) -> f64 {
        use rust_decimal::prelude::ToPrimitive;
        match v {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Decimal(d) => d.to_f64().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }
    match (dec(a), dec(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => float(a).total_cmp(&float(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_plan::Type;

    #[test]
    fn typed_json_round_trips() {
        let cases = [
            (serde_json::json!("12.50"), Type::Decimal),
            (serde_json::json!("2024-03-02"), Type::Date),
            (
                serde_json::json!("2024-03-02T08:15:03.480Z"),
                Type::Datetime,
            ),
            (
                serde_json::json!([1, 2]),
                Type::Array {
                    items: Box::new(Type::Int),
                },
            ),
            (serde_json::json!({"a": [1, "x"]}), Type::Object),
        ];
        for (json, ty) in cases {
            let v = Value::from_json_typed(&json, &ty).expect("parses");
            assert_eq!(v.to_json(), json, "{ty:?}");
        }
    }

    #[test]
    fn numbers_compare_across_types() {
        assert_eq!(
            Value::Int(2).total_cmp(&Value::Float(1.5)),
            Ordering::Greater
        );
        let d: Decimal = "2.00".parse().expect("decimal");
        assert_eq!(Value::Int(2).total_cmp(&Value::Decimal(d)), Ordering::Equal);
        assert_eq!(Value::Null.total_cmp(&Value::Bool(false)), Ordering::Less);
    }
}
