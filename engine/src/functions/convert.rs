//! Conversions: `to_string`, `to_int`, `to_float`, `to_decimal`, `to_bool`, `parse_json`.
//!
//! In: any value. Out: the value in the target type, or a [`FunctionError`] for the documented
//! bad input. Conversions never round silently where the catalogue says they fail (too many
//! decimal digits, a value outside i64, a non-finite float).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{any_null, arity, invalid, type_error, FunctionError};
use crate::value::Value;

/// A float in shortest round-trip form (`1.0`, `0.1`, `1e20`), the way JSON writes it.
pub fn float_to_string(f: f64) -> String {
    match serde_json::Number::from_f64(f) {
        Some(n) => n.to_string(),
        None => f.to_string(), // NaN, inf, -inf
    }
}

/// A scalar or composite value as `to_string` renders it (strings unchanged, null as "").
pub fn to_string_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_to_string(*f),
        Value::Decimal(d) => d.to_string(),
        Value::String(s) => s.clone(),
        Value::Date(_) | Value::Datetime(_) => match v.to_json() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        },
        Value::Array(_) | Value::Object(_) => v.to_json().to_string(),
    }
}

/// A float as an exact decimal through its shortest string form (`None`: not finite or out of
/// the decimal range).
pub(crate) fn float_to_decimal(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    parse_decimal(&float_to_string(f))
}

/// Parses decimal text exactly: plain (`-12.50`, scale kept) or scientific (`1.5e3`). `None`
/// when it is not a number or has more digits than a decimal holds.
pub(crate) fn parse_decimal(s: &str) -> Option<Decimal> {
    if s.contains(['e', 'E']) {
        return Decimal::from_scientific(s).ok();
    }
    // Reject things `from_str_exact` would accept but are not decimal numbers in JSON terms.
    if s.is_empty() || s.contains('_') || s.starts_with('+') && s.len() == 1 {
        return None;
    }
    Decimal::from_str_exact(s).ok()
}

pub(crate) fn to_string(args: &[Value]) -> Result<Value, FunctionError> {
    arity("to_string", args, 1, Some(1), "1")?;
    Ok(match &args[0] {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(to_string_value(other)),
    })
}

/// A float truncated to an int, or `None` when it is NaN, infinite or of magnitude 2^63 or more.
///
/// Both ends are open: `2^63` is past `i64::MAX`, and `-2^63`, although it is `i64::MIN`
/// exactly, is also the float nearest to every integer from `-2^63 - 1024` to `-2^63`. A JSON
/// integer below `i64::MIN` (`-9223372036854775809`) is parsed as that float, so accepting it
/// would silently clamp the number to `i64::MIN`. `i64::MIN` written as a JSON integer is an
/// int already and never comes here.
fn float_to_int(f: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let t = f.trunc();
    (t > -LIMIT && t < LIMIT).then_some(t as i64)
}

pub(crate) fn to_int(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "to_int";
    arity(NAME, args, 1, Some(1), "1")?;
    let v = &args[0];
    let out = match v {
        Value::Null => return Ok(Value::Null),
        Value::Int(i) => *i,
        Value::Bool(b) => i64::from(*b),
        Value::Float(f) => float_to_int(*f)
            .ok_or_else(|| invalid(NAME, 0, v, "NaN, infinity or outside the int range"))?,
        Value::Decimal(d) => d
            .trunc()
            .to_i64()
            .ok_or_else(|| invalid(NAME, 0, v, "outside the int range"))?,
        Value::String(s) => {
            let t = s.trim();
            match t.parse::<i64>() {
                Ok(i) => i,
                Err(_) => string_number_to_int(t)
                    .ok_or_else(|| invalid(NAME, 0, v, "not a number, or outside the int range"))?,
            }
        }
        other => {
            return Err(type_error(
                NAME,
                0,
                "int, float, decimal, bool or string",
                other,
            ))
        }
    };
    Ok(Value::Int(out))
}

fn string_number_to_int(t: &str) -> Option<i64> {
    if let Some(d) = parse_decimal(t) {
        return d.trunc().to_i64();
    }
    t.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(float_to_int)
}

/// Parses a trimmed string as a finite f64 (Rust's parser also accepts "inf" and "NaN":
/// those are rejected).
pub(crate) fn parse_finite_float(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

pub(crate) fn to_float(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "to_float";
    arity(NAME, args, 1, Some(1), "1")?;
    let v = &args[0];
    let out = match v {
        Value::Null => return Ok(Value::Null),
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Decimal(d) => d
            .to_f64()
            .ok_or_else(|| invalid(NAME, 0, v, "not representable as a float"))?,
        Value::String(s) => {
            parse_finite_float(s).ok_or_else(|| invalid(NAME, 0, v, "not a finite number"))?
        }
        other => return Err(type_error(NAME, 0, "int, float, decimal or string", other)),
    };
    Ok(Value::Float(out))
}

pub(crate) fn to_decimal(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "to_decimal";
    arity(NAME, args, 1, Some(1), "1")?;
    let v = &args[0];
    let out = match v {
        Value::Null => return Ok(Value::Null),
        Value::Decimal(d) => *d,
        Value::Int(i) => Decimal::from(*i),
        Value::Float(f) => float_to_decimal(*f)
            .ok_or_else(|| invalid(NAME, 0, v, "NaN, infinity or outside the decimal range"))?,
        Value::String(s) => parse_decimal(s.trim())
            .ok_or_else(|| invalid(NAME, 0, v, "not a decimal number, or too many digits"))?,
        other => return Err(type_error(NAME, 0, "int, float, decimal or string", other)),
    };
    Ok(Value::Decimal(out))
}

pub(crate) fn to_bool(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "to_bool";
    arity(NAME, args, 1, Some(1), "1")?;
    let v = &args[0];
    let bad = || invalid(NAME, 0, v, "not one of true/false, yes/no, y/n, 1/0");
    let out = match v {
        Value::Null => return Ok(Value::Null),
        Value::Bool(b) => *b,
        Value::Int(0) => false,
        Value::Int(1) => true,
        Value::Float(f) if *f == 0.0 => false,
        Value::Float(f) if *f == 1.0 => true,
        Value::Decimal(d) if d.is_zero() => false,
        Value::Decimal(d) if *d == Decimal::ONE => true,
        Value::Int(_) | Value::Float(_) | Value::Decimal(_) => return Err(bad()),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => true,
            "false" | "no" | "n" | "0" => false,
            _ => return Err(bad()),
        },
        other => return Err(type_error(NAME, 0, "bool, number or string", other)),
    };
    Ok(Value::Bool(out))
}

pub(crate) fn parse_json(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "parse_json";
    arity(NAME, args, 1, Some(1), "1")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = super::string_arg(NAME, args, 0)?;
    crate::decode::json::parse_str(s)
        .map_err(|_| invalid(NAME, 0, &args[0], "text that is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::FunctionError;
    use crate::value::Value;
    use chrono::NaiveDate;

    fn date() -> Value {
        Value::Date(NaiveDate::from_ymd_opt(2024, 3, 2).expect("date"))
    }

    #[test]
    fn to_string_forms() {
        assert_eq!(ok("to_string", &[Value::Int(-7)]), s("-7"));
        assert_eq!(ok("to_string", &[Value::Float(1.0)]), s("1.0"));
        assert_eq!(ok("to_string", &[Value::Float(0.1)]), s("0.1"));
        assert_eq!(ok("to_string", &[dec("12.50")]), s("12.50"));
        assert_eq!(ok("to_string", &[Value::Bool(false)]), s("false"));
        assert_eq!(ok("to_string", &[date()]), s("2024-03-02"));
        let dt = chrono::DateTime::from_timestamp_millis(1_709_367_303_480).expect("ts");
        assert_eq!(
            ok("to_string", &[Value::Datetime(dt)]),
            s("2024-03-02T08:15:03.480Z")
        );
        let obj = crate::decode::json::parse_str(r#"{"a":[1,"x"]}"#).expect("json");
        assert_eq!(ok("to_string", &[obj]), s(r#"{"a":[1,"x"]}"#));
    }

    #[test]
    fn to_int_conversions_and_failures() {
        assert_eq!(ok("to_int", &[Value::Float(-2.9)]), Value::Int(-2));
        assert_eq!(ok("to_int", &[dec("7.99")]), Value::Int(7));
        assert_eq!(ok("to_int", &[Value::Bool(true)]), Value::Int(1));
        assert_eq!(ok("to_int", &[s(" 42 ")]), Value::Int(42));
        assert_eq!(ok("to_int", &[s("42.9")]), Value::Int(42));
        assert_eq!(ok("to_int", &[s("1e3")]), Value::Int(1000));
        assert_eq!(
            ok("to_int", &[s("-9223372036854775808")]),
            Value::Int(i64::MIN)
        );
        for bad in ["abc", "", "NaN", "inf", "9223372036854775808", "1e30"] {
            assert!(
                matches!(err("to_int", &[s(bad)]), FunctionError::Invalid { .. }),
                "{bad}"
            );
        }
        assert!(matches!(
            err("to_int", &[Value::Float(f64::NAN)]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("to_int", &[Value::Float(1e19)]),
            FunctionError::Invalid { .. }
        ));
        // -2^63 as a float is also the nearest float to integers below i64::MIN: refused.
        for edge in [-9_223_372_036_854_775_808.0, 9_223_372_036_854_775_808.0] {
            assert!(
                matches!(
                    err("to_int", &[Value::Float(edge)]),
                    FunctionError::Invalid { .. }
                ),
                "{edge}"
            );
        }
        assert_eq!(
            ok("to_int", &[Value::Float(-9_223_372_036_854_774_784.0)]),
            Value::Int(-9_223_372_036_854_774_784)
        );
        assert!(matches!(
            err("to_int", &[date()]),
            FunctionError::Type { .. }
        ));
        assert!(matches!(
            err("to_int", &[Value::Array(vec![])]),
            FunctionError::Type { .. }
        ));
    }

    #[test]
    fn to_float_conversions_and_failures() {
        assert_eq!(ok("to_float", &[Value::Int(3)]), Value::Float(3.0));
        assert_eq!(ok("to_float", &[dec("0.25")]), Value::Float(0.25));
        assert_eq!(ok("to_float", &[s(" -1.5e2 ")]), Value::Float(-150.0));
        assert!(matches!(
            err("to_float", &[s("inf")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("to_float", &[s("x")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("to_float", &[Value::Bool(true)]),
            FunctionError::Type { .. }
        ));
    }

    #[test]
    fn to_decimal_keeps_scale_and_rejects_too_many_digits() {
        assert_eq!(
            ok("to_decimal", &[s("1.50")]).to_json(),
            serde_json::json!("1.50")
        );
        assert_eq!(
            ok("to_decimal", &[Value::Float(0.1)]).to_json(),
            serde_json::json!("0.1")
        );
        assert_eq!(ok("to_decimal", &[Value::Int(5)]), dec("5"));
        assert_eq!(ok("to_decimal", &[s("1.5e2")]), dec("150"));
        for bad in [
            "abc",
            "NaN",
            "1.2.3",
            "123456789012345678901234567890",
            "0.12345678901234567890123456789",
        ] {
            assert!(
                matches!(err("to_decimal", &[s(bad)]), FunctionError::Invalid { .. }),
                "{bad}"
            );
        }
        assert!(matches!(
            err("to_decimal", &[Value::Float(f64::INFINITY)]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("to_decimal", &[Value::Bool(true)]),
            FunctionError::Type { .. }
        ));
    }

    #[test]
    fn to_bool_accepts_the_documented_spellings_only() {
        for t in ["true", " YES ", "y", "1", "True"] {
            assert_eq!(ok("to_bool", &[s(t)]), Value::Bool(true), "{t}");
        }
        for f in ["false", "No", "n", "0"] {
            assert_eq!(ok("to_bool", &[s(f)]), Value::Bool(false), "{f}");
        }
        assert_eq!(ok("to_bool", &[Value::Int(0)]), Value::Bool(false));
        assert_eq!(ok("to_bool", &[dec("1.0")]), Value::Bool(true));
        assert!(matches!(
            err("to_bool", &[Value::Int(2)]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("to_bool", &[s("maybe")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("to_bool", &[date()]),
            FunctionError::Type { .. }
        ));
    }

    #[test]
    fn parse_json_parses_or_fails() {
        let v = ok("parse_json", &[s(r#"{"a": [1, 2.5, null]}"#)]);
        assert_eq!(v.to_json(), serde_json::json!({"a": [1, 2.5, null]}));
        assert!(matches!(
            err("parse_json", &[s("{nope")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("parse_json", &[Value::Int(1)]),
            FunctionError::Type { .. }
        ));
    }
}
