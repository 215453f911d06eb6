//! Constants: literals in expressions, relation conditions and cast arguments, and field
//! defaults.
//!
//! In: AST literals. Out: their JSON representation (as documented on `fdc_plan::Type`: decimals
//! as strings with their scale, dates `YYYY-MM-DD`, datetimes RFC 3339 UTC with milliseconds) and
//! their type.
//!
//! Guarantees: invalid dates, datetimes and over-long decimals are reported (`bad_literal`); a
//! default is accepted only when it fits the field's type (`bad_default`).

use fdc_plan::Type;
use serde_json::Value as Json;

use super::types::Typed;
use super::{CheckError, Checker};
use crate::syntax::ast::{self, Span};

impl Checker<'_> {
    pub(super) fn default(
        &mut self,
        f: &ast::FieldDecl,
        ty: &Type,
        d: &ast::Literal,
    ) -> Option<Json> {
        let bad = |reason: &str| CheckError::BadDefault {
            field: f.name.name.clone(),
            ty: ty.to_string(),
            span: d.span.into(),
            reason: reason.into(),
        };
        let (json, t) = self.literal(d)?;
        let ok = match (&d.value, ty) {
            (ast::LitValue::Null, _) => {
                self.report(d.span, bad("a `null` default is the same as no default"));
                return None;
            }
            (_, Type::Any) => true,
            (ast::LitValue::String(s), Type::Date) => {
                return match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    Ok(_) => Some(json),
                    Err(_) => {
                        self.report(d.span, bad("not a date `YYYY-MM-DD`"));
                        None
                    }
                };
            }
            (ast::LitValue::String(s), Type::Datetime) => {
                return match normalize_datetime(s) {
                    Some(v) => Some(Json::String(v)),
                    None => {
                        self.report(d.span, bad("not an RFC 3339 datetime"));
                        None
                    }
                };
            }
            (ast::LitValue::Int(n), Type::Float) => return Some(Json::from(*n as f64)),
            (ast::LitValue::Int(n), Type::Decimal) => return Some(Json::String(n.to_string())),
            (ast::LitValue::Float(x), Type::Decimal) => return Some(Json::String(x.to_string())),
            (_, want) => t.plan_type() == *want,
        };
        if ok {
            Some(json)
        } else {
            self.report(d.span, bad(&format!("this is `{t}`")));
            None
        }
    }

    /// A literal's JSON representation and type, reporting invalid dates and decimals.
    pub(crate) fn literal(&mut self, l: &ast::Literal) -> Option<(Json, Typed)> {
        self.lit_value(&l.value, l.span)
    }

    pub(crate) fn lit_value(&mut self, v: &ast::LitValue, span: Span) -> Option<(Json, Typed)> {
        let bad = |kind: &str, reason: &str, help: &str| CheckError::BadLiteral {
            kind: kind.into(),
            reason: reason.into(),
            span: span.into(),
            help: Some(help.into()),
        };
        Some(match v {
            ast::LitValue::String(s) => (Json::String(s.clone()), Typed::of(Type::String)),
            ast::LitValue::Int(n) => (Json::from(*n), Typed::of(Type::Int)),
            ast::LitValue::Float(x) => (Json::from(*x), Typed::of(Type::Float)),
            ast::LitValue::Bool(b) => (Json::Bool(*b), Typed::of(Type::Bool)),
            ast::LitValue::Null => (Json::Null, Typed::null()),
            ast::LitValue::Decimal(d) => {
                let digits = d.trim_start_matches('-').replace('.', "");
                if digits.len() > 28 {
                    self.report(
                        span,
                        bad(
                            "decimal",
                            "more than 28 significant digits",
                            "decimals hold 28 digits",
                        ),
                    );
                    return None;
                }
                (Json::String(d.clone()), Typed::of(Type::Decimal))
            }
            ast::LitValue::Date(s) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => (
                    Json::String(d.format("%Y-%m-%d").to_string()),
                    Typed::of(Type::Date),
                ),
                Err(e) => {
                    self.report(
                        span,
                        bad(
                            "date",
                            &e.to_string(),
                            "write dates as `date \"2024-01-31\"`",
                        ),
                    );
                    return None;
                }
            },
            ast::LitValue::Datetime(s) => match normalize_datetime(s) {
                Some(v) => (Json::String(v), Typed::of(Type::Datetime)),
                None => {
                    self.report(
                        span,
                        bad(
                            "datetime",
                            "not an RFC 3339 datetime",
                            "write datetimes as `datetime \"2024-01-31T08:00:00Z\"`",
                        ),
                    );
                    return None;
                }
            },
        })
    }
}

/// RFC 3339 text to the plan's UTC millisecond form.
fn normalize_datetime(s: &str) -> Option<String> {
    let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(
        dt.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
    )
}
