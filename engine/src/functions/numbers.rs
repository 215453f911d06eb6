//! Numeric functions: `round`, `floor`, `ceil`, `abs`. Each returns the type of its first
//! argument (int, float or decimal).
//!
//! In: a number and, for `round`, an optional number of digits. Out: the rounded value.
//! Rounding is half away from zero; floats are rounded through their shortest decimal form so
//! that `round(2.675, 2)` is `2.68` as written, not `2.67` as the binary value would give.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::convert::float_to_decimal;
use super::{any_null, arity, int_arg, invalid, type_error, FunctionError};
use crate::value::Value;

const HALF_AWAY: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;

fn round_int(i: i64, digits: i64) -> Option<i64> {
    if digits >= 0 {
        return Some(i);
    }
    let p = 10i128.pow(u32::try_from(-digits).ok()?);
    let x = i128::from(i);
    let q = (x.abs() + p / 2) / p * p;
    i64::try_from(if x < 0 { -q } else { q }).ok()
}

fn round_decimal(d: Decimal, digits: i64) -> Option<Decimal> {
    if digits >= 0 {
        return Some(d.round_dp_with_strategy(u32::try_from(digits).ok()?, HALF_AWAY));
    }
    let p = Decimal::from(10i64.pow(u32::try_from(-digits).ok()?));
    d.checked_div(p)?
        .round_dp_with_strategy(0, HALF_AWAY)
        .checked_mul(p)
}

fn round_float(f: f64, digits: i64) -> f64 {
    match float_to_decimal(f).and_then(|d| round_decimal(d, digits)) {
        Some(d) => d.to_f64().unwrap_or(f),
        // Beyond the decimal range every float is already integral.
        None if digits >= 0 || !f.is_finite() => f,
        None => {
            let p = 10f64.powi(i32::try_from(-digits).unwrap_or(0));
            (f / p).round() * p
        }
    }
}

pub(super) fn round(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "round";
    arity(NAME, args, 1, Some(2), "1 or 2")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let digits = if args.len() == 2 {
        int_arg(NAME, args, 1)?
    } else {
        0
    };
    if !(-18..=18).contains(&digits) {
        return Err(invalid(NAME, 1, &args[1], "digits outside -18..=18"));
    }
    let overflow = || invalid(NAME, 0, &args[0], "the result overflows");
    match &args[0] {
        Value::Int(i) => round_int(*i, digits).map(Value::Int).ok_or_else(overflow),
        Value::Float(f) => Ok(Value::Float(round_float(*f, digits))),
        Value::Decimal(d) => round_decimal(*d, digits)
            .map(Value::Decimal)
            .ok_or_else(overflow),
        other => Err(type_error(NAME, 0, "int, float or decimal", other)),
    }
}

fn unary_numeric(
    name: &'static str,
    args: &[Value],
    int: fn(i64) -> Option<i64>,
    float: fn(f64) -> f64,
    dec: fn(Decimal) -> Decimal,
) -> Result<Value, FunctionError> {
    arity(name, args, 1, Some(1), "1")?;
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::Int(i) => int(*i)
            .map(Value::Int)
            .ok_or_else(|| invalid(name, 0, &args[0], "overflow (i64::MIN)")),
        Value::Float(f) => Ok(Value::Float(float(*f))),
        Value::Decimal(d) => Ok(Value::Decimal(dec(*d))),
        other => Err(type_error(name, 0, "int, float or decimal", other)),
    }
}

pub(super) fn floor(args: &[Value]) -> Result<Value, FunctionError> {
    unary_numeric("floor", args, Some, f64::floor, |d| d.floor())
}

pub(super) fn ceil(args: &[Value]) -> Result<Value, FunctionError> {
    unary_numeric("ceil", args, Some, f64::ceil, |d| d.ceil())
}

pub(super) fn abs(args: &[Value]) -> Result<Value, FunctionError> {
    unary_numeric("abs", args, i64::checked_abs, f64::abs, |d| d.abs())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::FunctionError;
    use crate::value::Value;

    #[test]
    fn round_half_away_from_zero_in_each_type() {
        assert_eq!(ok("round", &[Value::Float(2.5)]), Value::Float(3.0));
        assert_eq!(ok("round", &[Value::Float(-2.5)]), Value::Float(-3.0));
        assert_eq!(
            ok("round", &[Value::Float(2.675), Value::Int(2)]),
            Value::Float(2.68)
        );
        assert_eq!(
            ok("round", &[Value::Float(1234.5), Value::Int(-2)]),
            Value::Float(1200.0)
        );
        assert_eq!(
            ok("round", &[Value::Float(1e300), Value::Int(2)]),
            Value::Float(1e300)
        );
        assert_eq!(
            ok("round", &[dec("1.005"), Value::Int(2)]).to_json(),
            serde_json::json!("1.01")
        );
        assert_eq!(ok("round", &[dec("-1.5")]), dec("-2"));
        assert_eq!(ok("round", &[dec("1250"), Value::Int(-2)]), dec("1300"));
        assert_eq!(ok("round", &[Value::Int(17)]), Value::Int(17));
        assert_eq!(
            ok("round", &[Value::Int(-150), Value::Int(-2)]),
            Value::Int(-200)
        );
        assert_eq!(
            ok("round", &[Value::Int(149), Value::Int(-2)]),
            Value::Int(100)
        );
        assert!(matches!(
            err("round", &[Value::Int(i64::MAX), Value::Int(-1)]),
            FunctionError::Invalid { position: 1, .. }
        ));
        assert!(matches!(
            err("round", &[Value::Int(1), Value::Int(19)]),
            FunctionError::Invalid { position: 2, .. }
        ));
        assert!(matches!(
            err("round", &[s("1.5")]),
            FunctionError::Type { .. }
        ));
    }

    #[test]
    fn floor_ceil_abs_keep_the_type() {
        assert_eq!(ok("floor", &[Value::Float(-1.5)]), Value::Float(-2.0));
        assert_eq!(ok("ceil", &[Value::Float(-1.5)]), Value::Float(-1.0));
        assert_eq!(ok("floor", &[dec("1.99")]), dec("1"));
        assert_eq!(ok("ceil", &[dec("1.01")]), dec("2"));
        assert_eq!(ok("floor", &[Value::Int(3)]), Value::Int(3));
        assert_eq!(ok("abs", &[Value::Int(-3)]), Value::Int(3));
        assert_eq!(
            ok("abs", &[dec("-1.50")]).to_json(),
            serde_json::json!("1.50")
        );
        assert_eq!(ok("abs", &[Value::Float(-0.5)]), Value::Float(0.5));
        assert!(matches!(
            err("abs", &[Value::Int(i64::MIN)]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("ceil", &[Value::Bool(true)]),
            FunctionError::Type { .. }
        ));
    }
}
