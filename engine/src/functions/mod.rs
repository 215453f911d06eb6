//! The function library: one implementation per entry of [`fdc_plan::functions::CATALOGUE`].
//!
//! In: a function name (resolved once, when a plan is loaded) and argument [`Value`]s. Out: the
//! result value, or a [`FunctionError`] saying which argument was wrong and why.
//!
//! Guarantees:
//! - every catalogue name resolves (a test checks it), nothing else does;
//! - null in, null out, unless the catalogue entry says otherwise (`concat`, `coalesce`,
//!   `is_null`): a null argument, required or optional, gives a null result;
//! - an argument of a type the parameter does not accept is an error, as is the documented bad
//!   input; errors carry type names and fixed reasons, never argument values (values can be
//!   personal data);
//! - no function reads the clock or any ambient state; no function panics.
//!
//! What an error means is the caller's business: a cast failure in a projection cast chain, a
//! null (and a counted mapping error) in a single-view expression.

pub(crate) mod convert;
mod numbers;
mod strings;
pub(crate) mod temporal;

use crate::value::Value;

/// The signature every implementation has: the arguments in order, the result.
pub type FnImpl = fn(&[Value]) -> Result<Value, FunctionError>;

/// What was wrong with a call. Names argument positions (1-based) and types, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionError {
    /// The name is not in the catalogue.
    #[error("unknown function `{name}`")]
    Unknown { name: String },
    /// Too few or too many arguments.
    #[error("`{function}` takes {expected} argument(s), got {got}")]
    Arity {
        function: &'static str,
        expected: &'static str,
        got: usize,
    },
    /// An argument of a type the parameter does not accept.
    #[error("`{function}` argument {position}: expected {expected}, got {got}")]
    Type {
        function: &'static str,
        position: usize,
        expected: &'static str,
        got: &'static str,
    },
    /// An argument of an accepted type that the function cannot handle (the catalogue's
    /// "bad input").
    #[error("`{function}` argument {position} ({got}): {reason}")]
    Invalid {
        function: &'static str,
        position: usize,
        got: &'static str,
        reason: &'static str,
    },
}

/// The implementation of catalogue function `name`, if it exists.
pub fn resolve(name: &str) -> Option<FnImpl> {
    let f: FnImpl = match name {
        "trim" => strings::trim,
        "lowercase" => strings::lowercase,
        "uppercase" => strings::uppercase,
        "substring" => strings::substring,
        "replace" => strings::replace,
        "split" => strings::split,
        "concat" => strings::concat,
        "pad_left" => strings::pad_left,
        "length" => strings::length,
        "starts_with" => strings::starts_with,
        "ends_with" => strings::ends_with,
        "contains" => strings::contains,
        "to_string" => convert::to_string,
        "to_int" => convert::to_int,
        "to_float" => convert::to_float,
        "to_decimal" => convert::to_decimal,
        "to_bool" => convert::to_bool,
        "parse_json" => convert::parse_json,
        "from_unix_millis" => temporal::from_unix_millis,
        "from_unix_seconds" => temporal::from_unix_seconds,
        "to_unix_millis" => temporal::to_unix_millis,
        "parse_datetime" => temporal::parse_datetime,
        "parse_date" => temporal::parse_date,
        "format_datetime" => temporal::format_datetime,
        "to_date" => temporal::to_date,
        "year" => temporal::year,
        "month" => temporal::month,
        "day" => temporal::day,
        "round" => numbers::round,
        "floor" => numbers::floor,
        "ceil" => numbers::ceil,
        "abs" => numbers::abs,
        "coalesce" => coalesce,
        "is_null" => is_null,
        _ => return None,
    };
    Some(f)
}

/// Calls function `name` (resolving it on every call: use [`resolve`] on hot paths).
pub fn call(name: &str, args: &[Value]) -> Result<Value, FunctionError> {
    match resolve(name) {
        Some(f) => f(args),
        None => Err(FunctionError::Unknown {
            name: name.to_owned(),
        }),
    }
}

pub use convert::{float_to_string, to_string_value};

// ---- shared helpers of the implementations

/// Checks the argument count.
fn arity(
    function: &'static str,
    args: &[Value],
    min: usize,
    max: Option<usize>,
    expected: &'static str,
) -> Result<(), FunctionError> {
    let n = args.len();
    if n < min || max.is_some_and(|m| n > m) {
        return Err(FunctionError::Arity {
            function,
            expected,
            got: n,
        });
    }
    Ok(())
}

/// Whether any argument is null (the null-in-null-out rule).
fn any_null(args: &[Value]) -> bool {
    args.iter().any(Value::is_null)
}

fn type_error(
    function: &'static str,
    index: usize,
    expected: &'static str,
    got: &Value,
) -> FunctionError {
    FunctionError::Type {
        function,
        position: index + 1,
        expected,
        got: got.type_name(),
    }
}

fn invalid(
    function: &'static str,
    index: usize,
    got: &Value,
    reason: &'static str,
) -> FunctionError {
    FunctionError::Invalid {
        function,
        position: index + 1,
        got: got.type_name(),
        reason,
    }
}

/// Argument `index` as a string.
fn string_arg<'a>(
    function: &'static str,
    args: &'a [Value],
    index: usize,
) -> Result<&'a str, FunctionError> {
    match &args[index] {
        Value::String(s) => Ok(s),
        other => Err(type_error(function, index, "string", other)),
    }
}

/// Argument `index` as an int.
fn int_arg(function: &'static str, args: &[Value], index: usize) -> Result<i64, FunctionError> {
    match &args[index] {
        Value::Int(i) => Ok(*i),
        other => Err(type_error(function, index, "int", other)),
    }
}

fn coalesce(args: &[Value]) -> Result<Value, FunctionError> {
    arity("coalesce", args, 2, None, "at least 2")?;
    // The checker typed the call with the common type of all arguments: int and float unify
    // to float, numbers and decimal to decimal. Follow it on the values actually present.
    let first = args
        .iter()
        .find(|v| !v.is_null())
        .cloned()
        .unwrap_or(Value::Null);
    let has_decimal = args.iter().any(|v| matches!(v, Value::Decimal(_)));
    let has_float = args.iter().any(|v| matches!(v, Value::Float(_)));
    Ok(match first {
        Value::Int(i) if has_decimal => Value::Decimal(i.into()),
        Value::Float(f) if has_decimal => match convert::float_to_decimal(f) {
            Some(d) => Value::Decimal(d),
            None => Value::Float(f),
        },
        Value::Int(i) if has_float => Value::Float(i as f64),
        other => other,
    })
}

fn is_null(args: &[Value]) -> Result<Value, FunctionError> {
    arity("is_null", args, 1, Some(1), "1")?;
    Ok(Value::Bool(args[0].is_null()))
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub fn s(x: &str) -> Value {
        Value::String(x.to_owned())
    }

    pub fn dec(x: &str) -> Value {
        Value::Decimal(x.parse().expect("decimal literal"))
    }

    /// Calls and expects success.
    pub fn ok(name: &str, args: &[Value]) -> Value {
        match call(name, args) {
            Ok(v) => v,
            Err(e) => panic!("{name}: unexpected error {e}"),
        }
    }

    /// Calls and expects an error; returns its message.
    pub fn err(name: &str, args: &[Value]) -> FunctionError {
        match call(name, args) {
            Ok(v) => panic!("{name}: expected an error, got {v:?}"),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;
    use fdc_plan::functions::CATALOGUE;

    #[test]
    fn every_catalogue_function_resolves_and_nothing_else() {
        for f in CATALOGUE {
            assert!(
                resolve(f.name).is_some(),
                "{} has no implementation",
                f.name
            );
        }
        assert!(resolve("no_such_function").is_none());
        assert!(matches!(
            call("nope", &[]),
            Err(FunctionError::Unknown { .. })
        ));
    }

    /// A sample non-null argument of each parameter class, to probe the null rule generically.
    fn sample(class: fdc_plan::functions::TypeClass, name: &str, index: usize) -> Value {
        use fdc_plan::functions::TypeClass as T;
        match class {
            T::String => match name {
                "parse_date" | "parse_datetime" if index == 1 => s("%Y-%m-%d"),
                "parse_json" => s("1"),
                "format_datetime" => s("%Y"),
                "replace" | "split" | "pad_left" => s("x"),
                _ => s("2024-03-02"),
            },
            T::Int => Value::Int(1),
            T::Float | T::Numeric => Value::Float(1.5),
            T::Decimal => dec("1.5"),
            T::Bool => Value::Bool(true),
            T::Date | T::Temporal => {
                Value::Date(chrono::NaiveDate::from_ymd_opt(2024, 3, 2).expect("date"))
            }
            T::Datetime => Value::Datetime(chrono::DateTime::UNIX_EPOCH),
            T::Object => Value::Object(Default::default()),
            T::Array | T::StringArray | T::Sized => Value::Array(vec![s("a")]),
            T::Any => s("1"),
        }
    }

    #[test]
    fn null_in_null_out_holds_for_every_function_without_an_exception() {
        for f in CATALOGUE {
            let args: Vec<Value> = f
                .params
                .iter()
                .enumerate()
                .map(|(i, c)| sample(*c, f.name, i))
                .collect();
            // Sanity: the sample call itself works.
            let base = call(f.name, &args);
            assert!(base.is_ok(), "{}: sample call failed: {base:?}", f.name);
            for i in 0..args.len() {
                let mut with_null = args.clone();
                with_null[i] = Value::Null;
                let got = call(f.name, &with_null);
                match f.name {
                    "concat" => assert!(matches!(got, Ok(Value::String(_))), "{}", f.name),
                    "coalesce" => assert!(matches!(got, Ok(ref v) if !v.is_null())),
                    "is_null" => assert_eq!(got, Ok(Value::Bool(true))),
                    _ => assert_eq!(got, Ok(Value::Null), "{} with null argument {i}", f.name),
                }
            }
        }
    }

    #[test]
    fn arity_is_checked() {
        for f in CATALOGUE {
            let too_few: Vec<Value> = vec![Value::Int(1); f.min_args().saturating_sub(1)];
            if f.min_args() > 0 {
                assert!(
                    matches!(call(f.name, &too_few), Err(FunctionError::Arity { .. })),
                    "{}",
                    f.name
                );
            }
            if let Some(max) = f.max_args() {
                let too_many = vec![Value::Int(1); max + 1];
                assert!(
                    matches!(call(f.name, &too_many), Err(FunctionError::Arity { .. })),
                    "{}",
                    f.name
                );
            }
        }
    }

    #[test]
    fn coalesce_and_is_null() {
        assert_eq!(ok("coalesce", &[Value::Null, Value::Int(2)]), Value::Int(2));
        assert_eq!(ok("coalesce", &[Value::Null, Value::Null]), Value::Null);
        assert_eq!(ok("coalesce", &[s("a"), s("b")]), s("a"));
        assert_eq!(
            ok("coalesce", &[Value::Int(2), Value::Float(1.5)]),
            Value::Float(2.0)
        );
        assert_eq!(ok("coalesce", &[Value::Int(2), dec("1.5")]), dec("2"));
        assert_eq!(ok("is_null", &[Value::Null]), Value::Bool(true));
        assert_eq!(ok("is_null", &[Value::Int(0)]), Value::Bool(false));
    }

    #[test]
    fn errors_name_types_never_values() {
        let e = err("to_int", &[s("secret-value")]);
        let text = e.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("to_int") && text.contains("string"), "{text}");
    }
}
