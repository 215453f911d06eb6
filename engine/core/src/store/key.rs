//! Canonical byte encoding of key and join tuples.
//!
//! In: a tuple of [`Value`]s (a primary key, a single-view key, the values of join fields).
//! Out: bytes that are equal exactly when the tuples are equal under the engine's equality
//! (numbers compare by value across int, float and decimal; decimals ignore trailing zeros).
//!
//! Guarantees: a tuple holding a null has no encoding ([`encode`] returns `None`), because null
//! never matches in a join; the encoding is stable across runs and platforms, so it can be used
//! as a key in persisted tables.

use crate::value::{field, Value};
use rust_decimal::prelude::ToPrimitive;

/// A map keyed by encoded tuples, with a fast hasher (foldhash): the engine's per-batch maps
/// hash every key of a batch, and SipHash was a visible share of the steady state.
pub type TupleMap<V> = std::collections::HashMap<Vec<u8>, V, foldhash::fast::RandomState>;

/// A set of encoded tuples (see [`TupleMap`]).
pub type TupleSet = std::collections::HashSet<Vec<u8>, foldhash::fast::RandomState>;

/// Encodes `values` (None when any is null).
pub fn encode(values: &[Value]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * 10);
    for v in values {
        if !encode_one(v, &mut out) {
            return None;
        }
    }
    Some(out)
}

/// Encodes the values of `fields` read from `record` (None when any is null or missing).
pub fn encode_fields(record: &crate::value::Map, fields: &[String]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(fields.len() * 10);
    for f in fields {
        if !encode_one(field(record, f).unwrap_or(&Value::Null), &mut out) {
            return None;
        }
    }
    Some(out)
}

/// [`encode_fields`] with each field looked up at its slot first (the position the field has
/// when the record holds its projection's fields in declaration order), by name when the slot
/// holds another field.
pub fn encode_slots(
    record: &crate::value::Map,
    fields: &[String],
    slots: &[Option<usize>],
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(fields.len() * 10);
    encode_slots_into(record, fields, slots, &mut out).then_some(out)
}

/// [`encode_slots`] appending to `out` (a buffer reused across records); `false` (with `out`
/// holding a partial encoding) when a value is null or missing.
pub fn encode_slots_into(
    record: &crate::value::Map,
    fields: &[String],
    slots: &[Option<usize>],
    out: &mut Vec<u8>,
) -> bool {
    for (i, f) in fields.iter().enumerate() {
        let slot = slots.get(i).copied().flatten();
        let v = match slot.and_then(|s| record.get_index(s)) {
            Some((k, v)) if k == f => v,
            _ => field(record, f).unwrap_or(&Value::Null),
        };
        if !encode_one(v, out) {
            return false;
        }
    }
    true
}

/// Appends the encoding of the values at `slots` of `record` to `out` (a missing slot is
/// null); `false` when a value is null. For records known to hold their declared fields in
/// declaration order (no name to check).
pub fn encode_at_into(
    record: &crate::value::Map,
    slots: impl IntoIterator<Item = usize>,
    out: &mut Vec<u8>,
) -> bool {
    slots.into_iter().all(|s| {
        let v = record.get_index(s).map_or(&Value::Null, |(_, v)| v);
        encode_one(v, out)
    })
}

/// The values of `fields` in `record` (missing fields are null).
pub fn tuple(record: &crate::value::Map, fields: &[String]) -> Vec<Value> {
    fields
        .iter()
        .map(|f| field(record, f).cloned().unwrap_or(Value::Null))
        .collect()
}

fn put_str(tag: u8, s: &str, out: &mut Vec<u8>) {
    out.push(tag);
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_one(v: &Value, out: &mut Vec<u8>) -> bool {
    match v {
        Value::Null => return false,
        Value::Bool(b) => {
            out.push(1);
            out.push(u8::from(*b));
        }
        Value::Int(i) => put_int(*i, out),
        Value::Float(f) => {
            if f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18 {
                put_int(*f as i64, out);
            } else {
                out.push(3);
                out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
        }
        Value::Decimal(d) => {
            let n = d.normalize();
            match (n.scale(), n.to_i64()) {
                (0, Some(i)) => put_int(i, out),
                _ => put_str(4, &n.to_string(), out),
            }
        }
        Value::String(s) => put_str(5, s, out),
        Value::Date(d) => put_str(6, &d.format("%Y-%m-%d").to_string(), out),
        Value::Datetime(t) => {
            out.push(7);
            out.extend_from_slice(&t.timestamp_millis().to_be_bytes());
        }
        Value::Array(_) | Value::Object(_) => put_str(8, &v.to_json().to_string(), out),
    }
    true
}

fn put_int(i: i64, out: &mut Vec<u8>) {
    out.push(2);
    out.extend_from_slice(&i.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_encode_by_value_and_null_has_no_encoding() {
        let d: rust_decimal::Decimal = "2.00".parse().unwrap();
        assert_eq!(encode(&[Value::Int(2)]), encode(&[Value::Decimal(d)]));
        assert_eq!(encode(&[Value::Int(2)]), encode(&[Value::Float(2.0)]));
        assert_ne!(
            encode(&[Value::Int(2)]),
            encode(&[Value::String("2".into())])
        );
        assert_eq!(encode(&[Value::Int(1), Value::Null]), None);
        // Length prefixes keep tuples unambiguous.
        assert_ne!(
            encode(&[Value::String("ab".into()), Value::String("c".into())]),
            encode(&[Value::String("a".into()), Value::String("bc".into())])
        );
    }

    #[test]
    fn slots_are_hints_checked_by_name() {
        let mut m = crate::value::Map::default();
        m.insert("a".into(), Value::Int(1));
        m.insert("b".into(), Value::String("x".into()));
        let fields = vec!["b".to_string(), "a".to_string()];
        let by_name = encode_fields(&m, &fields);
        assert!(by_name.is_some());
        assert_eq!(encode_slots(&m, &fields, &[Some(1), Some(0)]), by_name);
        // Wrong or missing slots fall back to the name.
        assert_eq!(encode_slots(&m, &fields, &[Some(0), None]), by_name);
        assert_eq!(encode_slots(&m, &fields, &[Some(9)]), by_name);
        m.insert("a".into(), Value::Null);
        assert_eq!(encode_slots(&m, &fields, &[Some(1), Some(0)]), None);
    }
}
