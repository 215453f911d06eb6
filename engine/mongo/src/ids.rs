//! Document ids and versions as MongoDB stores them.
//!
//! In: a key tuple (projection primary key or single-view key), a record version. Out: the
//! document `_id` and the stored version string, and back.
//!
//! Guarantees:
//! - `_id` is the lowercase hex of [`key::encode`]: two keys get the same `_id` exactly when
//!   the engine's equality says they are equal (numbers by value across int/float/decimal), so
//!   an upsert by `_id` is one unique lookup; hex keeps the byte order of the encoding, so `_id`
//!   order is the embedded store's key order, and a scan by `_id` ranges pages like it;
//! - a version is a 39-digit zero-padded decimal string (`u128::MAX` has 39 digits), so
//!   MongoDB's string order is numeric order and `$lte` is a correct guard.

use chrono::NaiveDate;

use fdc_core::store::key;
use fdc_core::value::Value;

use super::codec::millis_to_value;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Digits of a stored version.
pub const VERSION_DIGITS: usize = 39;

/// The `_id` of a key tuple (`None` when a value is null).
pub fn id_of(key_values: &[Value]) -> Option<String> {
    let bytes = key::encode(key_values)?;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    Some(s)
}

/// The stored form of a version.
pub fn version_string(v: u128) -> String {
    format!("{v:0width$}", width = VERSION_DIGITS)
}

/// A version read back (`None` when the string is not one).
pub fn parse_version(s: &str) -> Option<u128> {
    s.parse().ok()
}

fn unhex(id: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let b = id.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// The key tuple an `_id` was made from, up to the engine's equality (an integral float reads
/// back as an int, a decimal in normalized form, arrays and objects untyped). Used only when
/// the key's field names are unknown (a collection read before `ensure_*`).
pub fn key_from_id(id: &str) -> Option<Vec<Value>> {
    let bytes = unhex(id)?;
    let mut out = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        let v = match tag {
            1 => {
                let (&b, tail) = rest.split_first()?;
                rest = tail;
                Value::Bool(b != 0)
            }
            2 | 3 | 7 => {
                let (n, tail) = rest.split_first_chunk::<8>()?;
                rest = tail;
                match tag {
                    2 => Value::Int(i64::from_be_bytes(*n)),
                    3 => Value::Float(f64::from_bits(u64::from_be_bytes(*n))),
                    _ => millis_to_value(i64::from_be_bytes(*n)),
                }
            }
            4..=6 | 8 => {
                let (len, tail) = rest.split_first_chunk::<4>()?;
                let len = u32::from_be_bytes(*len) as usize;
                if tail.len() < len {
                    return None;
                }
                let s = std::str::from_utf8(&tail[..len]).ok()?;
                rest = &tail[len..];
                match tag {
                    4 => Value::Decimal(s.parse().ok()?),
                    5 => Value::String(s.to_owned()),
                    6 => Value::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?),
                    _ => Value::from_json(&serde_json::from_str(s).ok()?),
                }
            }
            _ => return None,
        };
        out.push(v);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_engine_equality_and_decode() {
        let two = id_of(&[Value::Int(2)]).unwrap();
        assert_eq!(Some(two.clone()), id_of(&[Value::Float(2.0)]));
        assert_eq!(
            Some(two.clone()),
            id_of(&[Value::Decimal("2.00".parse().unwrap())])
        );
        assert_eq!(id_of(&[Value::Int(1), Value::Null]), None);
        let key = vec![
            Value::String("a\"b".into()),
            Value::Int(-5),
            Value::Bool(true),
            Value::Decimal("1.25".parse().unwrap()),
            Value::Date(NaiveDate::from_ymd_opt(2020, 1, 31).unwrap()),
            millis_to_value(1_600_000_000_000),
            Value::Float(0.5),
        ];
        assert_eq!(key_from_id(&id_of(&key).unwrap()), Some(key));
        assert_eq!(key_from_id("zz"), None);
        assert_eq!(key_from_id("05000000"), None);
    }

    #[test]
    fn version_strings_order_like_numbers() {
        let vs = [0u128, 9, 10, 1 << 70, u128::MAX];
        let strings: Vec<String> = vs.iter().map(|v| version_string(*v)).collect();
        for w in strings.windows(2) {
            assert!(w[0] < w[1]);
            assert_eq!(w[0].len(), VERSION_DIGITS);
        }
        assert_eq!(parse_version(&strings[4]), Some(u128::MAX));
    }

    #[test]
    fn hex_order_is_byte_order() {
        let a = id_of(&[Value::String("a".into())]).unwrap();
        let b = id_of(&[Value::String("b".into())]).unwrap();
        assert!(a < b);
        assert_eq!(
            key::encode(&[Value::String("a".into())]) < key::encode(&[Value::String("b".into())]),
            a < b
        );
    }
}
