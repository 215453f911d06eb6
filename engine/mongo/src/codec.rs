//! Value <-> BSON, with a type tag so every value reads back exactly as it was written.
//!
//! In: [`Value`]s (record fields, single-view documents, query constants). Out: BSON, and back.
//!
//! Mapping (the portable subset: FerretDB v1 has no Decimal128): int -> Int64, float -> Double,
//! bool, string, datetime -> BSON date (milliseconds), arrays and objects natural; decimal ->
//! its canonical string (`"12.50"`, scale kept), date -> `"YYYY-MM-DD"`.
//!
//! Decimals and dates are strings in the database, so a document also carries a *shape*: for
//! each top-level field holding a decimal or a date somewhere, a small BSON value mirroring the
//! value (`"decimal"`, `"date"`, an array of element shapes, a document of field shapes; `null`
//! where nothing needs a tag). Fields of plain types need no tag, so most documents carry none.
//! Reading with the shape gives back the exact [`Value`] (scale of decimals included); reading
//! foreign fields (written by someone else, no tag) gives their natural value.
//!
//! Guarantees: `value_from_bson(value_to_bson(v), shape_of(v)) == v` for every value
//! (tested); no function here fails on any input.

use chrono::{NaiveDate, TimeZone, Utc};
use mongodb::bson::{Bson, Document};
use rust_decimal::Decimal;

use fdc_core::value::{Map, Value};

const DECIMAL: &str = "decimal";
const DATE: &str = "date";

/// The BSON form of a value (see the module docs).
pub fn value_to_bson(v: &Value) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Int(i) => Bson::Int64(*i),
        Value::Float(f) => Bson::Double(*f),
        Value::Decimal(d) => Bson::String(d.to_string()),
        Value::String(s) => Bson::String(s.clone()),
        Value::Date(d) => Bson::String(d.format("%Y-%m-%d").to_string()),
        Value::Datetime(t) => {
            Bson::DateTime(mongodb::bson::DateTime::from_millis(t.timestamp_millis()))
        }
        Value::Array(items) => Bson::Array(items.iter().map(value_to_bson).collect()),
        Value::Object(map) => Bson::Document(map_to_document(map)),
    }
}

/// The BSON document of an object's fields (no shape).
pub fn map_to_document(map: &Map) -> Document {
    let mut d = Document::new();
    for (k, v) in map {
        d.insert(k.clone(), value_to_bson(v));
    }
    d
}

/// The shape of a value, `None` when it holds no decimal and no date.
pub fn shape_of(v: &Value) -> Option<Bson> {
    match v {
        Value::Decimal(_) => Some(Bson::String(DECIMAL.into())),
        Value::Date(_) => Some(Bson::String(DATE.into())),
        Value::Array(items) => {
            let shapes: Vec<Option<Bson>> = items.iter().map(shape_of).collect();
            if shapes.iter().all(Option::is_none) {
                return None;
            }
            Some(Bson::Array(
                shapes
                    .into_iter()
                    .map(|s| s.unwrap_or(Bson::Null))
                    .collect(),
            ))
        }
        Value::Object(map) => shapes_of(map).map(Bson::Document),
        _ => None,
    }
}

/// The shapes of an object's fields (only the fields that need one), `None` when none does.
pub fn shapes_of(map: &Map) -> Option<Document> {
    let mut d = Document::new();
    for (k, v) in map {
        if let Some(s) = shape_of(v) {
            d.insert(k.clone(), s);
        }
    }
    (!d.is_empty()).then_some(d)
}

/// The value of `b` read with `shape` (`None`: no tag, the natural value).
pub fn value_from_bson(b: &Bson, shape: Option<&Bson>) -> Value {
    match (b, shape) {
        (Bson::String(s), Some(Bson::String(tag))) if tag == DECIMAL => match s.parse() {
            Ok(d) => Value::Decimal(d),
            Err(_) => Value::String(s.clone()),
        },
        (Bson::String(s), Some(Bson::String(tag))) if tag == DATE => {
            match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Value::Date(d),
                Err(_) => Value::String(s.clone()),
            }
        }
        (Bson::Array(items), Some(Bson::Array(shapes))) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| value_from_bson(item, shapes.get(i).filter(|s| !is_null(s))))
                .collect(),
        ),
        (Bson::Document(d), Some(Bson::Document(shapes))) => {
            Value::Object(document_to_map(d, Some(shapes), &[]))
        }
        _ => natural(b),
    }
}

fn is_null(b: &Bson) -> bool {
    matches!(b, Bson::Null)
}

/// The fields of `d` (without the `skip` fields) read with their `shapes`.
pub fn document_to_map(d: &Document, shapes: Option<&Document>, skip: &[&str]) -> Map {
    let mut m = Map::with_capacity(d.len());
    for (k, v) in d {
        if skip.contains(&k.as_str()) {
            continue;
        }
        let shape = shapes.and_then(|s| s.get(k));
        m.insert(k.as_str().into(), value_from_bson(v, shape));
    }
    m
}

/// The natural value of untagged BSON (types fdc never writes are read as best fits).
fn natural(b: &Bson) -> Value {
    match b {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(x) => Value::Bool(*x),
        Bson::Int32(i) => Value::Int(i64::from(*i)),
        Bson::Int64(i) => Value::Int(*i),
        Bson::Double(f) => Value::Float(*f),
        Bson::String(s) | Bson::Symbol(s) => Value::String(s.clone()),
        Bson::DateTime(t) => millis_to_value(t.timestamp_millis()),
        Bson::Array(items) => Value::Array(items.iter().map(natural).collect()),
        Bson::Document(d) => Value::Object(document_to_map(d, None, &[])),
        // A real MongoDB's Decimal128 (written by another application) reads as a decimal.
        Bson::Decimal128(d) => match d.to_string().parse::<Decimal>() {
            Ok(x) => Value::Decimal(x),
            Err(_) => Value::String(d.to_string()),
        },
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        other => Value::from_json(&other.clone().into_relaxed_extjson()),
    }
}

/// A datetime value from epoch milliseconds (out of chrono's range: null).
pub fn millis_to_value(ms: i64) -> Value {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => Value::Datetime(t),
        None => Value::Null,
    }
}

/// The BSON values that equal `v` under the engine's equality, as stored by this module: the
/// candidates of a `$in` lookup. Decimals are strings, so a decimal matches its stored forms
/// of up to four more trailing zeros than its normalized form, and an integral decimal also
/// matches a stored number.
pub fn lookup_candidates(v: &Value, out: &mut Vec<Bson>) {
    match v {
        Value::Decimal(d) => {
            let n = d.normalize();
            let mut seen: Vec<String> = Vec::with_capacity(6);
            let original = d.to_string();
            seen.push(original);
            for extra in 0..=4u32 {
                let scale = n.scale() + extra;
                if scale > 28 {
                    break;
                }
                let mut r = n;
                r.rescale(scale);
                let s = r.to_string();
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            out.extend(seen.into_iter().map(Bson::String));
            if n.scale() == 0 {
                if let Ok(i) = i64::try_from(n) {
                    out.push(Bson::Int64(i));
                }
            }
        }
        other => out.push(value_to_bson(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) {
        let b = value_to_bson(&v);
        let shape = shape_of(&v);
        assert_eq!(value_from_bson(&b, shape.as_ref()), v);
    }

    #[test]
    fn every_value_reads_back_exactly() {
        let dec: Decimal = "12.50".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        let dt = Utc
            .timestamp_millis_opt(1_700_000_000_123)
            .single()
            .unwrap();
        roundtrip(Value::Null);
        roundtrip(Value::Bool(true));
        roundtrip(Value::Int(-7));
        roundtrip(Value::Float(2.5));
        roundtrip(Value::Decimal(dec));
        roundtrip(Value::String("12.50".into()));
        roundtrip(Value::Date(date));
        roundtrip(Value::Datetime(dt));
        let mut inner = Map::default();
        inner.insert("total".into(), Value::Decimal(dec));
        inner.insert("name".into(), Value::String("x".into()));
        inner.insert("when".into(), Value::Date(date));
        roundtrip(Value::Array(vec![
            Value::Object(inner.clone()),
            Value::Int(1),
            Value::Array(vec![Value::Decimal(dec), Value::Null]),
        ]));
        roundtrip(Value::Object(inner));
        assert_eq!(shape_of(&Value::Array(vec![Value::Int(1)])), None);
    }

    #[test]
    fn strings_stay_strings_without_a_tag() {
        assert_eq!(
            value_from_bson(&Bson::String("1.5".into()), None),
            Value::String("1.5".into())
        );
        assert_eq!(value_from_bson(&Bson::Int32(3), None), Value::Int(3));
    }

    #[test]
    fn decimal_candidates_cover_scales_and_integers() {
        let mut out = Vec::new();
        lookup_candidates(&Value::Decimal("2.50".parse().unwrap()), &mut out);
        let strings: Vec<String> = out
            .iter()
            .filter_map(|b| b.as_str().map(str::to_owned))
            .collect();
        assert!(strings.contains(&"2.5".to_owned()));
        assert!(strings.contains(&"2.50".to_owned()));
        assert!(strings.contains(&"2.500".to_owned()));
        let mut out = Vec::new();
        lookup_candidates(&Value::Decimal("3.0".parse().unwrap()), &mut out);
        assert!(out.contains(&Bson::Int64(3)));
        assert!(out.contains(&Bson::String("3".into())));
    }
}
