//! Evaluation of relation conditions (`field <op> constant`) on records.
//!
//! In: a record's fields and a [`FieldCondition`] from the plan. Out: whether it holds.
//!
//! Guarantees: the same answer in every store and in the engine (strategies, aggregation), so a
//! store that filters by conditions and the engine that re-checks them agree. The constant is
//! read in the type of the record's value (a string constant against a decimal, date or
//! datetime field is parsed as one); `==` / `!=` treat null as equal only to null; ordering
//! comparisons involving null are false.

use std::cmp::Ordering;

use fdc_plan::{CompareOp, FieldCondition};

use crate::value::{Map, Value};

/// Whether every condition holds on `fields`.
pub fn all_hold(fields: &Map, conditions: &[FieldCondition]) -> bool {
    conditions.iter().all(|c| holds(fields, c))
}

/// Whether `condition` holds on `fields`.
pub fn holds(fields: &Map, condition: &FieldCondition) -> bool {
    let value = crate::value::field(fields, &condition.field).unwrap_or(&Value::Null);
    let constant = constant_like(value, &condition.value);
    compare(value, condition.op, &constant)
}

/// `left <op> right` with the condition null rules.
pub fn compare(left: &Value, op: CompareOp, right: &Value) -> bool {
    let both_null = left.is_null() && right.is_null();
    let any_null = left.is_null() || right.is_null();
    match op {
        CompareOp::Eq => both_null || (!any_null && left.total_cmp(right) == Ordering::Equal),
        CompareOp::Ne => !(both_null || (!any_null && left.total_cmp(right) == Ordering::Equal)),
        _ if any_null => false,
        CompareOp::Lt => left.total_cmp(right) == Ordering::Less,
        CompareOp::Le => left.total_cmp(right) != Ordering::Greater,
        CompareOp::Gt => left.total_cmp(right) == Ordering::Greater,
        CompareOp::Ge => left.total_cmp(right) != Ordering::Less,
    }
}

/// The JSON constant read in the type of `like` (falls back to untyped JSON conversion).
pub fn constant_like(like: &Value, json: &serde_json::Value) -> Value {
    use fdc_plan::Type;
    let ty = match like {
        Value::Decimal(_) => Some(Type::Decimal),
        Value::Date(_) => Some(Type::Date),
        Value::Datetime(_) => Some(Type::Datetime),
        _ => None,
    };
    ty.and_then(|t| Value::from_json_typed(json, &t))
        .unwrap_or_else(|| Value::from_json(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(field: &str, op: CompareOp, value: serde_json::Value) -> FieldCondition {
        FieldCondition {
            field: field.into(),
            op,
            value,
        }
    }

    #[test]
    fn conditions_follow_the_null_rules_and_typed_constants() {
        let mut m = Map::default();
        m.insert("kind".into(), Value::String("billing".into()));
        m.insert("amount".into(), Value::Decimal("10.50".parse().unwrap()));
        m.insert("gone".into(), Value::Null);
        assert!(holds(&m, &cond("kind", CompareOp::Eq, json!("billing"))));
        assert!(!holds(&m, &cond("kind", CompareOp::Ne, json!("billing"))));
        assert!(holds(&m, &cond("amount", CompareOp::Gt, json!("10.4"))));
        assert!(holds(&m, &cond("gone", CompareOp::Eq, json!(null))));
        assert!(holds(&m, &cond("missing", CompareOp::Eq, json!(null))));
        assert!(!holds(&m, &cond("gone", CompareOp::Lt, json!(3))));
        assert!(holds(&m, &cond("gone", CompareOp::Ne, json!(3))));
    }
}
