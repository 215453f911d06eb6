//! Comparing expected and actual JSON: the path of every difference.
//!
//! In: an expected and an actual JSON value and the path of their place
//! (`customer_360[1]`). Out: every [`Difference`] in document order (empty when they are
//! equal): `customer_360[1].recent_orders[0].total: expected "12.50", got "12.5"`.
//!
//! Equality is exact on the documented JSON representation: strings (so decimals keep their
//! scale: `"12.50"` is not `"12.5"`), booleans, null; numbers compare by value (`2` equals
//! `2.0`); objects by their fields whatever the order; arrays element by element.

use serde_json::Value;

/// Where two values first differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub path: String,
    /// The expected value as JSON text, or `(missing)`.
    pub expected: String,
    /// The actual value as JSON text, or `(missing)`.
    pub actual: String,
}

/// Text for "no such field" in a difference.
pub const MISSING: &str = "(missing)";

/// The first difference between `expected` and `actual` at `path`.
pub fn first_difference(path: &str, expected: &Value, actual: &Value) -> Option<Difference> {
    differences(path, expected, actual).into_iter().next()
}

/// Every difference between `expected` and `actual` at `path`, in document order: each
/// differing leaf, each field only one side has, each array element past the shorter side's
/// end. Empty when they are equal.
pub fn differences(path: &str, expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    collect(path, expected, actual, &mut out);
    out
}

fn collect(path: &str, expected: &Value, actual: &Value, out: &mut Vec<Difference>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = field_path(path, k);
                match a.get(k) {
                    Some(av) => collect(&p, ev, av, out),
                    None => out.push(Difference {
                        path: p,
                        expected: short(ev),
                        actual: MISSING.into(),
                    }),
                }
            }
            for (k, av) in a.iter().filter(|(k, _)| !e.contains_key(*k)) {
                out.push(Difference {
                    path: field_path(path, k),
                    expected: MISSING.into(),
                    actual: short(av),
                });
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                collect(&format!("{path}[{i}]"), ev, av, out);
            }
            for i in e.len().min(a.len())..e.len().max(a.len()) {
                out.push(Difference {
                    path: format!("{path}[{i}]"),
                    expected: e.get(i).map(short).unwrap_or_else(|| MISSING.into()),
                    actual: a.get(i).map(short).unwrap_or_else(|| MISSING.into()),
                });
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            let same = match (e.as_i64(), a.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => e.as_f64() == a.as_f64(),
            };
            if !same {
                out.push(leaf(path, expected, actual));
            }
        }
        _ if expected == actual => {}
        _ => out.push(leaf(path, expected, actual)),
    }
}

fn leaf(path: &str, expected: &Value, actual: &Value) -> Difference {
    Difference {
        path: path.to_owned(),
        expected: short(expected),
        actual: short(actual),
    }
}

/// `path.field` (or `path["odd key"]` when the name is not an identifier).
pub fn field_path(path: &str, field: &str) -> String {
    let plain = !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match (path.is_empty(), plain) {
        (true, true) => field.to_owned(),
        (_, true) => format!("{path}.{field}"),
        _ => format!("{path}[{}]", Value::String(field.to_owned())),
    }
}

/// JSON text of a value, shortened past 120 characters.
pub fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 120 {
        let cut: String = text.chars().take(117).collect();
        format!("{cut}...")
    } else {
        text
    }
}
