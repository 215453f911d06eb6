//! The built-in function library: names, signatures and exact behaviour.
//!
//! In: nothing. Out: [`CATALOGUE`], the single source of truth that the checker types calls
//! with and that the engine implements (a test in the engine asserts every entry has an
//! implementation, and the language reference is checked against it).
//!
//! Two rules hold for every function unless its entry says otherwise:
//! - **null in, null out**: if any required argument is null the result is null;
//! - **bad input**: a value the function cannot handle (`to_int("abc")`, an invalid date) is a
//!   *cast failure* inside a projection cast chain (the message is dead-lettered with the
//!   reason) and gives null inside a single-view mapping (counted as a mapping error).
//!
//! No function reads the clock or any other ambient state: a rebuild from the same records
//! always gives the same document.

/// The class of types a parameter accepts or a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeClass {
    String,
    Int,
    Float,
    Decimal,
    Bool,
    Date,
    Datetime,
    Object,
    /// An array of anything.
    Array,
    /// An array of strings.
    StringArray,
    /// int, float or decimal.
    Numeric,
    /// date or datetime.
    Temporal,
    /// string or array.
    Sized,
    /// Any type.
    Any,
}

/// What type a call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// Always this class (never `Numeric`, `Temporal`, `Sized` or `Any` here, except `Any`
    /// for `parse_json`).
    Fixed(TypeClass),
    /// The type of the first argument (`round(decimal)` is decimal).
    SameAsFirst,
    /// The common type of all arguments (`coalesce`): int and float unify to float, int or
    /// float and decimal to decimal; other mixes are a type error.
    Common,
}

/// One function of the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    /// Human signature for docs and diagnostics.
    pub signature: &'static str,
    /// Parameter classes in order.
    pub params: &'static [TypeClass],
    /// How many trailing `params` may be omitted.
    pub optional: usize,
    /// Whether the last parameter repeats (`concat(a, b, c, ...)`).
    pub variadic: bool,
    pub returns: Returns,
    /// Usable in a projection cast chain (`<- COL | trim | to_int`), where the running value
    /// is the first argument and the others must be constants.
    pub cast: bool,
    /// What it does.
    pub summary: &'static str,
    /// Behaviour on null arguments.
    pub on_null: &'static str,
    /// What counts as bad input.
    pub on_bad_input: &'static str,
}

impl Function {
    /// Minimum number of arguments.
    pub fn min_args(&self) -> usize {
        self.params.len() - self.optional
    }

    /// Maximum number of arguments (`None`: unbounded).
    pub fn max_args(&self) -> Option<usize> {
        if self.variadic {
            None
        } else {
            Some(self.params.len())
        }
    }
}

/// The function named `name`, if any.
pub fn lookup(name: &str) -> Option<&'static Function> {
    CATALOGUE.iter().find(|f| f.name == name)
}

/// Every function name, for "did you mean" suggestions.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|f| f.name)
}

use TypeClass as T;

const NULL_IN_NULL_OUT: &str = "null if any argument is null";
const NEVER_BAD: &str = "none: every input of the accepted types is handled";

/// The whole library, in documentation order.
pub const CATALOGUE: &[Function] = &[
    // ---- strings
    Function {
        name: "trim",
        signature: "trim(string) -> string",
        params: &[T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "removes leading and trailing Unicode white space",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "lowercase",
        signature: "lowercase(string) -> string",
        params: &[T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "Unicode lower case",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "uppercase",
        signature: "uppercase(string) -> string",
        params: &[T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "Unicode upper case",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "substring",
        signature: "substring(string, start: int, length?: int) -> string",
        params: &[T::String, T::Int, T::Int],
        optional: 1,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "the characters from `start` (0-based, in Unicode scalar values) for `length` \
                  characters or to the end; a range past the end is cut short (possibly to \"\")",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a negative `start` or `length`",
    },
    Function {
        name: "replace",
        signature: "replace(string, from: string, to: string) -> string",
        params: &[T::String, T::String, T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "replaces every occurrence of `from` by `to`",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "an empty `from`",
    },
    Function {
        name: "split",
        signature: "split(string, separator: string) -> [string]",
        params: &[T::String, T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::StringArray),
        cast: true,
        summary: "splits on every occurrence of `separator`; \"\" gives [\"\"]",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "an empty `separator`",
    },
    Function {
        name: "concat",
        signature: "concat(any, any, ...) -> string",
        params: &[T::Any, T::Any],
        optional: 1,
        variadic: true,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "joins the arguments, each converted as by `to_string`",
        on_null: "null arguments count as \"\"; the result is never null",
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "pad_left",
        signature: "pad_left(string, width: int, fill: string) -> string",
        params: &[T::String, T::Int, T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "prepends `fill` (one character) until the string is `width` characters long; \
                  a longer string is returned unchanged",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a `fill` that is not exactly one character, or a negative `width`",
    },
    Function {
        name: "length",
        signature: "length(string | array) -> int",
        params: &[T::Sized],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Int),
        cast: true,
        summary: "number of characters (Unicode scalar values) of a string, or of elements of \
                  an array",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "starts_with",
        signature: "starts_with(string, prefix: string) -> bool",
        params: &[T::String, T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Bool),
        cast: false,
        summary: "whether the string begins with `prefix`",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "ends_with",
        signature: "ends_with(string, suffix: string) -> bool",
        params: &[T::String, T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Bool),
        cast: false,
        summary: "whether the string ends with `suffix`",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "contains",
        signature: "contains(string | array, needle: any) -> bool",
        params: &[T::Sized, T::Any],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Bool),
        cast: false,
        summary: "substring test on a string (needle must be a string); element equality on an \
                  array",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a non-string needle for a string",
    },
    // ---- conversions
    Function {
        name: "to_string",
        signature: "to_string(any) -> string",
        params: &[T::Any],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "numbers in shortest round-trip form (decimals keep their scale), booleans as \
                  true/false, dates and datetimes in their JSON form, objects and arrays as \
                  compact JSON",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "to_int",
        signature: "to_int(any) -> int",
        params: &[T::Any],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Int),
        cast: true,
        summary: "int unchanged; float and decimal truncated toward zero; bool 1/0; a string \
                  is trimmed and parsed as a base-10 integer, or as a number then truncated",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a string that is not a number, NaN or infinity, a value outside i64, an \
                       object, an array, a date",
    },
    Function {
        name: "to_float",
        signature: "to_float(any) -> float",
        params: &[T::Any],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Float),
        cast: true,
        summary: "int, float and decimal as the nearest f64; a trimmed string parsed as a number",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a string that is not a finite number, a bool, an object, an array, a date",
    },
    Function {
        name: "to_decimal",
        signature: "to_decimal(any) -> decimal",
        params: &[T::Any],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Decimal),
        cast: true,
        summary: "exact decimal (28 significant digits); a string keeps its scale (\"1.50\" \
                  stays 1.50); a float is converted through its shortest string form",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a string that is not a decimal number, NaN or infinity, too many digits, \
                       a bool, an object, an array, a date",
    },
    Function {
        name: "to_bool",
        signature: "to_bool(any) -> bool",
        params: &[T::Any],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Bool),
        cast: true,
        summary: "bool unchanged; numbers: 0 is false, 1 is true; strings (trimmed, any case): \
                  true/false, yes/no, y/n, 1/0",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "any other number or string, an object, an array, a date",
    },
    Function {
        name: "parse_json",
        signature: "parse_json(string) -> any",
        params: &[T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Any),
        cast: true,
        summary: "parses JSON text (a nested document sent as a string)",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "text that is not JSON",
    },
    // ---- dates and times
    Function {
        name: "from_unix_millis",
        signature: "from_unix_millis(int) -> datetime",
        params: &[T::Int],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Datetime),
        cast: true,
        summary: "milliseconds since 1970-01-01T00:00:00Z; a digit string is accepted",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a value outside years 0..9999, a string that is not an integer",
    },
    Function {
        name: "from_unix_seconds",
        signature: "from_unix_seconds(int | float) -> datetime",
        params: &[T::Numeric],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Datetime),
        cast: true,
        summary: "seconds since the epoch, fractions kept to the millisecond; a numeric string \
                  is accepted",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "a value outside years 0..9999, a string that is not a number",
    },
    Function {
        name: "to_unix_millis",
        signature: "to_unix_millis(datetime) -> int",
        params: &[T::Datetime],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Int),
        cast: false,
        summary: "milliseconds since the epoch",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "parse_datetime",
        signature: "parse_datetime(string, format?: string) -> datetime",
        params: &[T::String, T::String],
        optional: 1,
        variadic: false,
        returns: Returns::Fixed(T::Datetime),
        cast: true,
        summary: "without a format: RFC 3339 (an offset is converted to UTC) or \
                  `YYYY-MM-DD HH:MM:SS[.fff]` taken as UTC; with a strftime format (`%d/%m/%Y \
                  %H:%M`), a time without offset is taken as UTC",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "text that does not match the format, an invalid format",
    },
    Function {
        name: "parse_date",
        signature: "parse_date(string, format?: string) -> date",
        params: &[T::String, T::String],
        optional: 1,
        variadic: false,
        returns: Returns::Fixed(T::Date),
        cast: true,
        summary: "without a format: `YYYY-MM-DD`, or the date part of an RFC 3339 datetime; with \
                  a strftime format (`%d/%m/%Y`)",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "text that does not match the format, an impossible date, an invalid format",
    },
    Function {
        name: "format_datetime",
        signature: "format_datetime(date | datetime, format: string) -> string",
        params: &[T::Temporal, T::String],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::String),
        cast: true,
        summary: "formats with a strftime format, in UTC",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "an invalid format, or a time specifier applied to a date",
    },
    Function {
        name: "to_date",
        signature: "to_date(datetime) -> date",
        params: &[T::Datetime],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Date),
        cast: true,
        summary: "the UTC calendar date of a datetime",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "year",
        signature: "year(date | datetime) -> int",
        params: &[T::Temporal],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Int),
        cast: false,
        summary: "the UTC year",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "month",
        signature: "month(date | datetime) -> int",
        params: &[T::Temporal],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Int),
        cast: false,
        summary: "the UTC month, 1 to 12",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "day",
        signature: "day(date | datetime) -> int",
        params: &[T::Temporal],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Int),
        cast: false,
        summary: "the UTC day of the month, 1 to 31",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    // ---- numbers
    Function {
        name: "round",
        signature: "round(number, digits?: int) -> number",
        params: &[T::Numeric, T::Int],
        optional: 1,
        variadic: false,
        returns: Returns::SameAsFirst,
        cast: true,
        summary: "rounds half away from zero to `digits` decimal places (default 0; negative \
                  rounds to tens, hundreds...); an int stays an int",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "`digits` outside -18..=18",
    },
    Function {
        name: "floor",
        signature: "floor(number) -> number",
        params: &[T::Numeric],
        optional: 0,
        variadic: false,
        returns: Returns::SameAsFirst,
        cast: true,
        summary: "largest integral value not above the argument, same type",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "ceil",
        signature: "ceil(number) -> number",
        params: &[T::Numeric],
        optional: 0,
        variadic: false,
        returns: Returns::SameAsFirst,
        cast: true,
        summary: "smallest integral value not below the argument, same type",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "abs",
        signature: "abs(number) -> number",
        params: &[T::Numeric],
        optional: 0,
        variadic: false,
        returns: Returns::SameAsFirst,
        cast: true,
        summary: "absolute value, same type",
        on_null: NULL_IN_NULL_OUT,
        on_bad_input: "i64::MIN (overflow)",
    },
    // ---- null handling
    Function {
        name: "coalesce",
        signature: "coalesce(T, T, ...) -> T",
        params: &[T::Any, T::Any],
        optional: 0,
        variadic: true,
        returns: Returns::Common,
        cast: false,
        summary: "the first argument that is not null",
        on_null: "null only when every argument is null",
        on_bad_input: NEVER_BAD,
    },
    Function {
        name: "is_null",
        signature: "is_null(any) -> bool",
        params: &[T::Any],
        optional: 0,
        variadic: false,
        returns: Returns::Fixed(T::Bool),
        cast: false,
        summary: "whether the argument is null (a missing field is null)",
        on_null: "true; never returns null",
        on_bad_input: NEVER_BAD,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_signatures_start_with_the_name() {
        let mut seen = std::collections::HashSet::new();
        for f in CATALOGUE {
            assert!(seen.insert(f.name), "duplicate function {}", f.name);
            assert!(
                f.signature.starts_with(&format!("{}(", f.name)),
                "{}",
                f.name
            );
            assert!(f.optional <= f.params.len(), "{}", f.name);
        }
        assert_eq!(lookup("trim").map(|f| f.min_args()), Some(1));
        assert_eq!(lookup("concat").and_then(|f| f.max_args()), None);
    }
}
