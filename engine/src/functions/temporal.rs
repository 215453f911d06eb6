//! Date and time functions: `from_unix_millis`, `from_unix_seconds`, `to_unix_millis`,
//! `parse_datetime`, `parse_date`, `format_datetime`, `to_date`, `year`, `month`, `day`.
//!
//! In: argument values. Out: dates (`NaiveDate`) and datetimes (UTC, truncated to the
//! millisecond, years 0 to 9999). Never reads the clock; formatting never panics (chrono's
//! `to_string` on a failing format would: we write through `fmt::Write` instead).

use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::convert::{float_to_decimal, parse_decimal};
use super::{any_null, arity, invalid, string_arg, type_error, FunctionError};
use crate::value::Value;

/// Milliseconds since the epoch as a datetime within years 0..=9999.
pub(crate) fn datetime_from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).filter(|t| (0..=9999).contains(&t.year()))
}

/// Drops sub-millisecond precision (a `Value::Datetime` always has millisecond precision).
pub(crate) fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn valid_format(fmt: &str) -> bool {
    !StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error))
}

pub(crate) fn from_unix_millis(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "from_unix_millis";
    arity(NAME, args, 1, Some(1), "1")?;
    let v = &args[0];
    let ms = match v {
        Value::Null => return Ok(Value::Null),
        Value::Int(i) => *i,
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(NAME, 0, v, "a string that is not an integer"))?,
        other => return Err(type_error(NAME, 0, "int or digit string", other)),
    };
    datetime_from_millis(ms)
        .map(Value::Datetime)
        .ok_or_else(|| invalid(NAME, 0, v, "outside years 0..9999"))
}

pub(super) fn from_unix_seconds(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "from_unix_seconds";
    arity(NAME, args, 1, Some(1), "1")?;
    let v = &args[0];
    let out_of_range = || invalid(NAME, 0, v, "outside years 0..9999");
    let seconds = match v {
        Value::Null => return Ok(Value::Null),
        Value::Int(i) => Decimal::from(*i),
        Value::Decimal(d) => *d,
        Value::Float(f) => float_to_decimal(*f).ok_or_else(out_of_range)?,
        Value::String(s) => parse_decimal(s.trim())
            .ok_or_else(|| invalid(NAME, 0, v, "a string that is not a number"))?,
        other => {
            return Err(type_error(
                NAME,
                0,
                "int, float, decimal or numeric string",
                other,
            ))
        }
    };
    let ms = seconds
        .checked_mul(Decimal::from(1000))
        .map(|m| m.floor())
        .and_then(|m| m.to_i64())
        .ok_or_else(out_of_range)?;
    datetime_from_millis(ms)
        .map(Value::Datetime)
        .ok_or_else(out_of_range)
}

pub(super) fn to_unix_millis(args: &[Value]) -> Result<Value, FunctionError> {
    arity("to_unix_millis", args, 1, Some(1), "1")?;
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::Datetime(t) => Ok(Value::Int(t.timestamp_millis())),
        other => Err(type_error("to_unix_millis", 0, "datetime", other)),
    }
}

/// The optional format argument (index 1), validated.
fn format_arg<'a>(name: &'static str, args: &'a [Value]) -> Result<Option<&'a str>, FunctionError> {
    if args.len() < 2 {
        return Ok(None);
    }
    let fmt = string_arg(name, args, 1)?;
    if !valid_format(fmt) {
        return Err(invalid(name, 1, &args[1], "an invalid format"));
    }
    Ok(Some(fmt))
}

pub(crate) fn parse_datetime(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "parse_datetime";
    arity(NAME, args, 1, Some(2), "1 or 2")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = string_arg(NAME, args, 0)?;
    let fmt = format_arg(NAME, args)?;
    let parsed = match fmt {
        None => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                    .ok()
                    .map(|n| n.and_utc())
            }),
        Some(fmt) => DateTime::parse_from_str(s, fmt)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, fmt)
                    .ok()
                    .map(|n| n.and_utc())
            })
            // A date-only format gives midnight UTC.
            .or_else(|| {
                NaiveDate::parse_from_str(s, fmt)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|n| n.and_utc())
            }),
    };
    match parsed {
        Some(t) if (0..=9999).contains(&t.year()) => Ok(Value::Datetime(truncate_to_millis(t))),
        _ => Err(invalid(
            NAME,
            0,
            &args[0],
            "text that does not match the format",
        )),
    }
}

pub(crate) fn parse_date(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "parse_date";
    arity(NAME, args, 1, Some(2), "1 or 2")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let s = string_arg(NAME, args, 0)?;
    let parsed = match format_arg(NAME, args)? {
        None => iso_date(s)
            .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|t| t.date_naive())),
        Some(fmt) => NaiveDate::parse_from_str(s, fmt).ok(),
    };
    parsed.map(Value::Date).ok_or_else(|| {
        invalid(
            NAME,
            0,
            &args[0],
            "text that does not match the format, or an impossible date",
        )
    })
}

/// Fast path for the common `YYYY-MM-DD` shape (same result as the `%Y-%m-%d` parse).
fn iso_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

pub(super) fn format_datetime(args: &[Value]) -> Result<Value, FunctionError> {
    const NAME: &str = "format_datetime";
    arity(NAME, args, 2, Some(2), "2")?;
    if any_null(args) {
        return Ok(Value::Null);
    }
    let fmt = string_arg(NAME, args, 1)?;
    if !valid_format(fmt) {
        return Err(invalid(NAME, 1, &args[1], "an invalid format"));
    }
    let mut out = String::new();
    let written = match &args[0] {
        Value::Datetime(t) => write!(out, "{}", t.format_with_items(StrftimeItems::new(fmt))),
        Value::Date(d) => write!(out, "{}", d.format_with_items(StrftimeItems::new(fmt))),
        other => return Err(type_error(NAME, 0, "date or datetime", other)),
    };
    match written {
        Ok(()) => Ok(Value::String(out)),
        Err(_) => Err(invalid(
            NAME,
            1,
            &args[1],
            "a time specifier applied to a date",
        )),
    }
}

pub(super) fn to_date(args: &[Value]) -> Result<Value, FunctionError> {
    arity("to_date", args, 1, Some(1), "1")?;
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::Datetime(t) => Ok(Value::Date(t.date_naive())),
        other => Err(type_error("to_date", 0, "datetime", other)),
    }
}

fn date_part(
    name: &'static str,
    args: &[Value],
    part: fn(NaiveDate) -> i64,
) -> Result<Value, FunctionError> {
    arity(name, args, 1, Some(1), "1")?;
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::Date(d) => Ok(Value::Int(part(*d))),
        Value::Datetime(t) => Ok(Value::Int(part(t.date_naive()))),
        other => Err(type_error(name, 0, "date or datetime", other)),
    }
}

pub(super) fn year(args: &[Value]) -> Result<Value, FunctionError> {
    date_part("year", args, |d| i64::from(d.year()))
}

pub(super) fn month(args: &[Value]) -> Result<Value, FunctionError> {
    date_part("month", args, |d| i64::from(d.month()))
}

pub(super) fn day(args: &[Value]) -> Result<Value, FunctionError> {
    date_part("day", args, |d| i64::from(d.day()))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::FunctionError;
    use crate::value::Value;
    use chrono::NaiveDate;

    fn dt(ms: i64) -> Value {
        Value::Datetime(chrono::DateTime::from_timestamp_millis(ms).expect("ts"))
    }

    fn date(y: i32, m: u32, d: u32) -> Value {
        Value::Date(NaiveDate::from_ymd_opt(y, m, d).expect("date"))
    }

    #[test]
    fn unix_conversions() {
        assert_eq!(
            ok("from_unix_millis", &[Value::Int(1_709_367_303_480)]),
            dt(1_709_367_303_480)
        );
        assert_eq!(
            ok("from_unix_millis", &[s("1709367303480")]),
            dt(1_709_367_303_480)
        );
        assert!(matches!(
            err("from_unix_millis", &[s("12a")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("from_unix_millis", &[Value::Int(i64::MAX)]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("from_unix_millis", &[Value::Float(1.0)]),
            FunctionError::Type { .. }
        ));
        assert_eq!(ok("from_unix_seconds", &[Value::Float(1.0015)]), dt(1001));
        assert_eq!(ok("from_unix_seconds", &[Value::Int(2)]), dt(2000));
        assert_eq!(ok("from_unix_seconds", &[s("-1.5")]), dt(-1500));
        assert_eq!(ok("from_unix_seconds", &[dec("0.0019")]), dt(1));
        assert!(matches!(
            err("from_unix_seconds", &[s("x")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("from_unix_seconds", &[Value::Float(1e300)]),
            FunctionError::Invalid { .. }
        ));
        assert_eq!(ok("to_unix_millis", &[dt(1234)]), Value::Int(1234));
        assert!(matches!(
            err("to_unix_millis", &[date(2024, 1, 1)]),
            FunctionError::Type { .. }
        ));
    }

    #[test]
    fn parse_datetime_defaults_and_formats() {
        let want = dt(1_709_367_303_480);
        assert_eq!(ok("parse_datetime", &[s("2024-03-02T08:15:03.480Z")]), want);
        assert_eq!(
            ok("parse_datetime", &[s("2024-03-02T09:15:03.480+01:00")]),
            want
        );
        assert_eq!(ok("parse_datetime", &[s("2024-03-02 08:15:03.480")]), want);
        // Sub-millisecond digits are truncated.
        assert_eq!(
            ok("parse_datetime", &[s("2024-03-02T08:15:03.480999Z")]),
            want
        );
        assert_eq!(
            ok(
                "parse_datetime",
                &[s("02/03/2024 08:15"), s("%d/%m/%Y %H:%M")]
            ),
            dt(1_709_367_300_000)
        );
        assert_eq!(
            ok("parse_datetime", &[s("02/03/2024"), s("%d/%m/%Y")]),
            dt(1_709_337_600_000)
        );
        assert!(matches!(
            err("parse_datetime", &[s("yesterday")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("parse_datetime", &[s("2024"), s("%Q")]),
            FunctionError::Invalid { position: 2, .. }
        ));
    }

    #[test]
    fn parse_date_defaults_and_formats() {
        assert_eq!(ok("parse_date", &[s("2024-03-02")]), date(2024, 3, 2));
        assert_eq!(
            ok("parse_date", &[s("2024-03-02T23:30:00-05:00")]),
            date(2024, 3, 2)
        );
        assert_eq!(
            ok("parse_date", &[s("02/03/2024"), s("%d/%m/%Y")]),
            date(2024, 3, 2)
        );
        assert!(matches!(
            err("parse_date", &[s("2024-02-30")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("parse_date", &[s("x"), s("%")]),
            FunctionError::Invalid { position: 2, .. }
        ));
    }

    #[test]
    fn format_and_parts() {
        let t = dt(1_709_367_303_480);
        assert_eq!(
            ok("format_datetime", &[t.clone(), s("%d/%m/%Y %H:%M")]),
            s("02/03/2024 08:15")
        );
        assert_eq!(
            ok("format_datetime", &[date(2024, 3, 2), s("%Y%m%d")]),
            s("20240302")
        );
        assert!(matches!(
            err("format_datetime", &[date(2024, 3, 2), s("%H")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("format_datetime", &[t.clone(), s("%Q")]),
            FunctionError::Invalid { .. }
        ));
        assert!(matches!(
            err("format_datetime", &[s("x"), s("%Y")]),
            FunctionError::Type { .. }
        ));
        assert_eq!(ok("to_date", std::slice::from_ref(&t)), date(2024, 3, 2));
        assert_eq!(ok("year", std::slice::from_ref(&t)), Value::Int(2024));
        assert_eq!(ok("month", &[date(2024, 3, 2)]), Value::Int(3));
        assert_eq!(ok("day", &[t]), Value::Int(2));
        assert!(matches!(
            err("day", &[s("2024-03-02")]),
            FunctionError::Type { .. }
        ));
    }
}
