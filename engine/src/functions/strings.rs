//! String functions: `trim`, `lowercase`, `uppercase`, `substring`, `replace`, `split`,
//! `concat`, `pad_left`, `length`, `starts_with`, `ends_with`, `contains`.
//!
//! In: argument values. Out: the documented result. Lengths and positions count Unicode scalar
//! values (`char`s), never bytes, so no call can split a character.

use super::{any_null, arity, int_arg, invalid, string_arg, type_error, FunctionError};
use crate::value::Value;

fn unary_string(
    name: &'static str,
    args: &[Value],
    f: impl FnOnce(&str) -> String,
) -> Result<Value, FunctionError> {
    arity(name, args, 1, Some(1), "1")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    Ok(Value::String(f(string_arg(name, args, 0)?)))
}

pub(super) fn trim(args: &[Value]) -> Result<Value, FunctionError> {
    unary_string("trim", args, |s| s.trim().to_owned())
}

pub(super) fn lowercase(args: &[Value]) -> Result<Value, FunctionError> {
    unary_string("lowercase", args, str::to_lowercase)
}

pub(super) fn uppercase(args: &[Value]) -> Result<Value, FunctionError> {
    unary_string("uppercase", args, str::to_uppercase)
}

pub(super) fn substring(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "substring";
    arity(NAME, args, 2, Some(3), "2 or 3")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = string_arg(NAME, args, 0)?;
    let start = int_arg(NAME, args, 1)?;
    if start < 0 {
        return Err(invalid(NAME, 1, &args[1], "a negative start"));
    }
    let length = match args.get(2) {
        Some(_) => {
            let l = int_arg(NAME, args, 2)?;
            if l < 0 {
                return Err(invalid(NAME, 2, &args[2], "a negative length"));
            }
            usize::try_from(l).unwrap_or(usize::MAX)
        }
        None => usize::MAX,
    };
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    Ok(Value::String(s.chars().skip(start).take(length).collect()))
}

pub(super) fn replace(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "replace";
    arity(NAME, args, 3, Some(3), "3")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = string_arg(NAME, args, 0)?;
    let from = string_arg(NAME, args, 1)?;
    let to = string_arg(NAME, args, 2)?;
    if from.is_empty() {
        return Err(invalid(NAME, 1, &args[1], "an empty `from`"));
    }
    Ok(Value::String(s.replace(from, to)))
}

pub(super) fn split(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "split";
    arity(NAME, args, 2, Some(2), "2")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = string_arg(NAME, args, 0)?;
    let sep = string_arg(NAME, args, 1)?;
    if sep.is_empty() {
        return Err(invalid(NAME, 1, &args[1], "an empty separator"));
    }
    Ok(Value::Array(
        s.split(sep).map(|p| Value::String(p.to_owned())).collect(),
    ))
}

pub(super) fn concat(args: &[Value]) -> Result<Value, FunctionError> {
    arity("concat", args, 1, None, "at least 1")?;
    let mut out = String::new();
    for v in args {
        match v {
            Value::Null => {}
            Value::String(s) => out.push_str(s),
            other => out.push_str(&super::to_string_value(other)),
        }
    }
    Ok(Value::String(out))
}

pub(super) fn pad_left(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "pad_left";
    arity(NAME, args, 3, Some(3), "3")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = string_arg(NAME, args, 0)?;
    let width = int_arg(NAME, args, 1)?;
    let fill = string_arg(NAME, args, 2)?;
    if width < 0 {
        return Err(invalid(NAME, 1, &args[1], "a negative width"));
    }
    let mut fill_chars = fill.chars();
    let (Some(fill), None) = (fill_chars.next(), fill_chars.next()) else {
        return Err(invalid(
            NAME,
            2,
            &args[2],
            "a fill that is not exactly one character",
        ));
    };
    let len = s.chars().count();
    let width = usize::try_from(width).unwrap_or(usize::MAX);
    if len >= width {
        return Ok(Value::String(s.to_owned()));
    }
    let mut out = String::with_capacity(s.len() + (width - len) * fill.len_utf8());
    out.extend(std::iter::repeat_n(fill, width - len));
    out.push_str(s);
    Ok(Value::String(out))
}

pub(super) fn length(args: &[Value]) -> Result<Value, FunctionError> {
    arity("length", args, 1, Some(1), "1")?;
    let n = match &args[0] {
        Value::Null => return Ok(Value::Null),
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.len(),
        other => return Err(type_error("length", 0, "string or array", other)),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn affix(
    name: &'static str,
    args: &[Value],
    test: fn(&str, &str) -> bool,
) -> Result<Value, FunctionError> {
    arity(name, args, 2, Some(2), "2")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = string_arg(name, args, 0)?;
    let a = string_arg(name, args, 1)?;
    Ok(Value::Bool(test(s, a)))
}

pub(super) fn starts_with(args: &[Value]) -> Result<Value, FunctionError> {
    affix("starts_with", args, |s, p| s.starts_with(p))
}

pub(super) fn ends_with(args: &[Value]) -> Result<Value, FunctionError> {
    affix("ends_with", args, |s, p| s.ends_with(p))
}

pub(super) fn contains(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "contains";
    arity(NAME, args, 2, Some(2), "2")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    match (&args[0], &args[1]) {
        (Value::String(s), Value::String(needle)) => Ok(Value::Bool(s.contains(needle.as_str()))),
        (Value::String(_), other) => {
            Err(invalid(NAME, 1, other, "a non-string needle for a string"))
        }
        (Value::Array(items), needle) => Ok(Value::Bool(
            items
                .iter()
                .any(|i| i.total_cmp(needle) == std::cmp::Ordering::Equal),
        )),
        (other, _) => Err(type_error(NAME, 0, "string or array", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::FunctionError;
    use crate::value::Value;

    #[test]
    fn trim_and_case() {
        assert_eq!(ok("trim", &[s("\u{a0} a b\t\n")]), s("a b"));
        assert_eq!(ok("lowercase", &[s("ÀB")]), s("àb"));
        assert_eq!(ok("uppercase", &[s("straße")]), s("STRASSE"));
        assert!(matches!(
            err("trim", &[Value::Int(3)]),
            FunctionError::Type {
                expected: "string",
                got: "int",
                ..
            }
        ));
    }

    #[test]
    fn substring_counts_characters_and_cuts_short() {
        assert_eq!(
            ok("substring", &[s("héllo"), Value::Int(1), Value::Int(3)]),
            s("éll")
        );
        assert_eq!(ok("substring", &[s("héllo"), Value::Int(2)]), s("llo"));
        assert_eq!(ok("substring", &[s("abc"), Value::Int(5)]), s(""));
        assert_eq!(
            ok("substring", &[s("abc"), Value::Int(1), Value::Int(99)]),
            s("bc")
        );
        assert!(matches!(
            err("substring", &[s("abc"), Value::Int(-1)]),
            FunctionError::Invalid { position: 2, .. }
        ));
        assert!(matches!(
            err("substring", &[s("abc"), Value::Int(0), Value::Int(-2)]),
            FunctionError::Invalid { position: 3, .. }
        ));
    }

    #[test]
    fn replace_and_split() {
        assert_eq!(ok("replace", &[s("a-b-c"), s("-"), s("")]), s("abc"));
        assert!(matches!(
            err("replace", &[s("abc"), s(""), s("x")]),
            FunctionError::Invalid { .. }
        ));
        assert_eq!(
            ok("split", &[s("a,b,,c"), s(",")]),
            Value::Array(vec![s("a"), s("b"), s(""), s("c")])
        );
        assert_eq!(ok("split", &[s(""), s(",")]), Value::Array(vec![s("")]));
        assert!(matches!(
            err("split", &[s("a"), s("")]),
            FunctionError::Invalid { .. }
        ));
    }

    #[test]
    fn concat_converts_and_skips_nulls() {
        assert_eq!(
            ok(
                "concat",
                &[
                    s("a"),
                    Value::Int(1),
                    Value::Null,
                    Value::Bool(true),
                    dec("1.50")
                ]
            ),
            s("a1true1.50")
        );
        assert_eq!(ok("concat", &[Value::Null, Value::Null]), s(""));
    }

    #[test]
    fn pad_left_pads_by_characters() {
        assert_eq!(ok("pad_left", &[s("7"), Value::Int(3), s("0")]), s("007"));
        assert_eq!(
            ok("pad_left", &[s("1234"), Value::Int(3), s("0")]),
            s("1234")
        );
        assert_eq!(ok("pad_left", &[s("é"), Value::Int(2), s("·")]), s("·é"));
        assert!(matches!(
            err("pad_left", &[s("7"), Value::Int(3), s("00")]),
            FunctionError::Invalid { position: 3, .. }
        ));
        assert!(matches!(
            err("pad_left", &[s("7"), Value::Int(3), s("")]),
            FunctionError::Invalid { position: 3, .. }
        ));
        assert!(matches!(
            err("pad_left", &[s("7"), Value::Int(-3), s("0")]),
            FunctionError::Invalid { position: 2, .. }
        ));
    }

    #[test]
    fn length_and_affixes_and_contains() {
        assert_eq!(ok("length", &[s("héllo")]), Value::Int(5));
        assert_eq!(
            ok("length", &[Value::Array(vec![Value::Null, Value::Int(1)])]),
            Value::Int(2)
        );
        assert!(matches!(
            err("length", &[Value::Int(1)]),
            FunctionError::Type { .. }
        ));
        assert_eq!(ok("starts_with", &[s("abc"), s("ab")]), Value::Bool(true));
        assert_eq!(ok("ends_with", &[s("abc"), s("ab")]), Value::Bool(false));
        assert_eq!(ok("contains", &[s("abc"), s("bc")]), Value::Bool(true));
        assert!(matches!(
            err("contains", &[s("abc"), Value::Int(1)]),
            FunctionError::Invalid { position: 2, .. }
        ));
        let arr = Value::Array(vec![Value::Int(1), s("x")]);
        assert_eq!(
            ok("contains", &[arr.clone(), Value::Float(1.0)]),
            Value::Bool(true)
        );
        assert_eq!(ok("contains", &[arr, s("y")]), Value::Bool(false));
        assert!(matches!(
            err("contains", &[Value::Int(1), s("y")]),
            FunctionError::Type { .. }
        ));
    }
}
