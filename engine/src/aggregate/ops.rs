//! Operators and aggregate functions of mapping expressions, with the plan's null rules.
//!
//! In: evaluated operand values. Out: the result value.
//!
//! Guarantees (see [`fdc_plan::Expr`] and [`fdc_plan::BinaryOp`]): arithmetic and ordering
//! comparisons propagate null; `==`/`!=` treat null as equal only to null; `and`/`or`/`not`
//! read null as false; `??` coalesces. Int with int stays int (division truncates toward zero),
//! int or float with float gives float, anything with decimal gives decimal; `+` on two strings
//! concatenates. Division or remainder by zero, int overflow and non-finite floats give null.
//! Operands of types an operator does not take give null (the checker rejects such plans).

use std::borrow::Borrow;
use std::cmp::Ordering;

use fdc_plan::{AggregateFn, BinaryOp, CompareOp, UnaryOp};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;

use crate::store::condition;
use crate::value::Value;

/// `op value`.
pub fn unary(op: UnaryOp, v: Value) -> Value {
    match (op, v) {
        (UnaryOp::Not, v) => Value::Bool(!truthy(&v)),
        (UnaryOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int).unwrap_or(Value::Null),
        (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
        (UnaryOp::Neg, Value::Decimal(d)) => Value::Decimal(-d),
        (UnaryOp::Neg, _) => Value::Null,
    }
}

/// Whether a value counts as true (`Bool(true)` only).
pub fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

/// `left op right` for every operator except the short-circuiting `and`, `or` and `??`,
/// which the evaluator handles (they are also accepted here, evaluated eagerly).
pub fn binary(op: BinaryOp, left: Value, right: Value) -> Value {
    match op {
        BinaryOp::Coalesce if left.is_null() => right,
        BinaryOp::Coalesce => left,
        _ => binary_ref(op, &left, &right),
    }
}

/// [`binary`] on operands read in place (`??` copies the operand it returns).
pub fn binary_ref(op: BinaryOp, left: &Value, right: &Value) -> Value {
    let cmp = |o: CompareOp| {
        if left.is_null() || right.is_null() {
            Value::Null
        } else {
            Value::Bool(condition::compare(left, o, right))
        }
    };
    match op {
        BinaryOp::Eq => Value::Bool(condition::compare(left, CompareOp::Eq, right)),
        BinaryOp::Ne => Value::Bool(condition::compare(left, CompareOp::Ne, right)),
        BinaryOp::Lt => cmp(CompareOp::Lt),
        BinaryOp::Le => cmp(CompareOp::Le),
        BinaryOp::Gt => cmp(CompareOp::Gt),
        BinaryOp::Ge => cmp(CompareOp::Ge),
        BinaryOp::And => Value::Bool(truthy(left) && truthy(right)),
        BinaryOp::Or => Value::Bool(truthy(left) || truthy(right)),
        BinaryOp::Coalesce => {
            if left.is_null() {
                right.clone()
            } else {
                left.clone()
            }
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
            arith(op, left, right)
        }
    }
}

fn to_decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Int(i) => Some(Decimal::from(*i)),
        Value::Decimal(d) => Some(*d),
        Value::Float(f) => Decimal::from_f64(*f),
        _ => None,
    }
}

fn to_float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Decimal(d) => d.to_f64(),
        _ => None,
    }
}

/// Arithmetic with the type rules of the module docs.
pub fn arith(op: BinaryOp, a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => Value::Null,
        (Value::String(x), Value::String(y)) if op == BinaryOp::Add => {
            Value::String(format!("{x}{y}"))
        }
        (Value::Int(x), Value::Int(y)) => {
            let r = match op {
                BinaryOp::Add => x.checked_add(*y),
                BinaryOp::Sub => x.checked_sub(*y),
                BinaryOp::Mul => x.checked_mul(*y),
                BinaryOp::Div => x.checked_div(*y),
                BinaryOp::Rem => x.checked_rem(*y),
                _ => None,
            };
            r.map(Value::Int).unwrap_or(Value::Null)
        }
        (Value::Decimal(_), _) | (_, Value::Decimal(_)) => {
            let (Some(x), Some(y)) = (to_decimal(a), to_decimal(b)) else {
                return Value::Null;
            };
            let r = match op {
                BinaryOp::Add => x.checked_add(y),
                BinaryOp::Sub => x.checked_sub(y),
                BinaryOp::Mul => x.checked_mul(y),
                BinaryOp::Div => x.checked_div(y),
                BinaryOp::Rem => x.checked_rem(y),
                _ => None,
            };
            r.map(Value::Decimal).unwrap_or(Value::Null)
        }
        (Value::Float(_), _) | (_, Value::Float(_)) => {
            let (Some(x), Some(y)) = (to_float(a), to_float(b)) else {
                return Value::Null;
            };
            let r = match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div if y == 0.0 => return Value::Null,
                BinaryOp::Div => x / y,
                BinaryOp::Rem if y == 0.0 => return Value::Null,
                BinaryOp::Rem => x % y,
                _ => return Value::Null,
            };
            if r.is_finite() {
                Value::Float(r)
            } else {
                Value::Null
            }
        }
        _ => Value::Null,
    }
}

/// Applies an aggregate to the per-element values (already in the aggregate's order; `values`
/// is `None` per element for `count` without a value). `zero` is the empty `sum`.
pub fn aggregate(function: AggregateFn, values: Vec<Value>, counted: usize, zero: Value) -> Value {
    aggregate_ref(function, &values, counted, &zero)
}

/// [`aggregate`] on values read in place (the result copies at most the value it returns).
pub fn aggregate_ref<V: Borrow<Value>>(
    function: AggregateFn,
    values: &[V],
    counted: usize,
    zero: &Value,
) -> Value {
    let non_null = || values.iter().map(Borrow::borrow).filter(|v| !v.is_null());
    match function {
        AggregateFn::Count => Value::Int(counted as i64),
        AggregateFn::Sum => {
            let mut acc: Option<Value> = None;
            for v in non_null() {
                acc = Some(match acc {
                    None => v.clone(),
                    Some(a) => arith(BinaryOp::Add, &a, v),
                });
            }
            acc.unwrap_or_else(|| zero.clone())
        }
        AggregateFn::Min => non_null()
            .min_by(|a, b| a.total_cmp(b))
            .cloned()
            .unwrap_or(Value::Null),
        AggregateFn::Max => non_null()
            .reduce(|a, b| {
                if b.total_cmp(a) == Ordering::Greater {
                    b
                } else {
                    a
                }
            })
            .cloned()
            .unwrap_or(Value::Null),
        AggregateFn::Avg => {
            let n = non_null().count();
            if n == 0 {
                return Value::Null;
            }
            let any_decimal = non_null().any(|v| matches!(v, Value::Decimal(_)));
            let any_float = non_null().any(|v| matches!(v, Value::Float(_)));
            if any_decimal && !any_float {
                let sum: Option<Decimal> =
                    non_null().try_fold(Decimal::ZERO, |acc, v| acc.checked_add(to_decimal(v)?));
                sum.and_then(|s| s.checked_div(Decimal::from(n as u64)))
                    .map(Value::Decimal)
                    .unwrap_or(Value::Null)
            } else {
                let sum: Option<f64> = non_null().map(to_float).sum();
                match sum.map(|s| s / n as f64) {
                    Some(f) if f.is_finite() => Value::Float(f),
                    _ => Value::Null,
                }
            }
        }
        AggregateFn::First => non_null().next().cloned().unwrap_or(Value::Null),
        AggregateFn::Last => non_null().last().cloned().unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    #[test]
    fn arithmetic_follows_the_type_and_null_rules() {
        assert_eq!(
            arith(BinaryOp::Add, &Value::Int(1), &Value::Int(2)),
            Value::Int(3)
        );
        assert_eq!(
            arith(BinaryOp::Div, &Value::Int(7), &Value::Int(2)),
            Value::Int(3)
        );
        assert_eq!(
            arith(BinaryOp::Div, &Value::Int(7), &Value::Int(0)),
            Value::Null
        );
        assert_eq!(
            arith(BinaryOp::Rem, &Value::Int(7), &Value::Int(0)),
            Value::Null
        );
        assert_eq!(
            arith(BinaryOp::Add, &Value::Int(i64::MAX), &Value::Int(1)),
            Value::Null
        );
        assert_eq!(
            arith(BinaryOp::Mul, &Value::Int(2), &dec("1.25")),
            dec("2.50")
        );
        assert_eq!(arith(BinaryOp::Div, &dec("1"), &dec("0")), Value::Null);
        assert_eq!(
            arith(BinaryOp::Add, &Value::Int(1), &Value::Float(0.5)),
            Value::Float(1.5)
        );
        assert_eq!(
            arith(BinaryOp::Div, &Value::Float(1.0), &Value::Int(0)),
            Value::Null
        );
        assert_eq!(
            arith(BinaryOp::Add, &Value::Null, &Value::Int(1)),
            Value::Null
        );
        assert_eq!(
            arith(
                BinaryOp::Add,
                &Value::String("a".into()),
                &Value::String("b".into())
            ),
            Value::String("ab".into())
        );
        assert_eq!(
            binary(BinaryOp::Eq, Value::Null, Value::Null),
            Value::Bool(true)
        );
        assert_eq!(
            binary(BinaryOp::Ne, Value::Null, Value::Int(1)),
            Value::Bool(true)
        );
        assert_eq!(
            binary(BinaryOp::Lt, Value::Null, Value::Int(1)),
            Value::Null
        );
        assert_eq!(
            binary(BinaryOp::Or, Value::Null, Value::Bool(true)),
            Value::Bool(true)
        );
        assert_eq!(unary(UnaryOp::Not, Value::Null), Value::Bool(true));
        assert_eq!(
            binary(BinaryOp::Coalesce, Value::Null, Value::Int(4)),
            Value::Int(4)
        );
    }

    #[test]
    fn aggregates_skip_nulls_and_handle_empty_input() {
        let vals = vec![Value::Int(3), Value::Null, Value::Int(1)];
        assert_eq!(
            aggregate(AggregateFn::Sum, vals.clone(), 3, Value::Int(0)),
            Value::Int(4)
        );
        assert_eq!(
            aggregate(AggregateFn::Min, vals.clone(), 3, Value::Int(0)),
            Value::Int(1)
        );
        assert_eq!(
            aggregate(AggregateFn::Max, vals.clone(), 3, Value::Int(0)),
            Value::Int(3)
        );
        assert_eq!(
            aggregate(AggregateFn::Avg, vals.clone(), 3, Value::Int(0)),
            Value::Float(2.0)
        );
        assert_eq!(
            aggregate(AggregateFn::First, vals.clone(), 3, Value::Int(0)),
            Value::Int(3)
        );
        assert_eq!(
            aggregate(AggregateFn::Last, vals, 3, Value::Int(0)),
            Value::Int(1)
        );
        assert_eq!(aggregate(AggregateFn::Sum, vec![], 0, dec("0")), dec("0"));
        assert_eq!(
            aggregate(AggregateFn::Avg, vec![], 0, Value::Int(0)),
            Value::Null
        );
        assert_eq!(
            aggregate(AggregateFn::Avg, vec![dec("1"), dec("2")], 2, Value::Int(0)),
            dec("1.5")
        );
    }
}
