//! Casting a source row image into a typed projection record.
//!
//! In: a [`fdc_plan::Projection`] (prepared once into a [`CompiledProjection`]: functions
//! resolved, defaults and constant arguments converted) and, per message, a row image (an
//! object [`Value`]). Out: the record as a [`Map`] of the declared fields in declaration order,
//! or a [`CastError`] naming the field and the reason.
//!
//! Guarantees: exactly the numbered semantics documented on [`fdc_plan::Field`]; only declared
//! fields reach the record; a source column whose name starts with `__` (`__STATE__` and other
//! metadata) is never read, so metadata cannot be injected from the source; errors name fields
//! and types, never values.

use fdc_plan::{Projection, Type};

use crate::decode::shape::Shape;
use crate::functions::{self, convert, temporal, FnImpl, FunctionError};
use crate::value::{Map, Value};

/// A plan problem found while preparing a projection (a checked plan never has one).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrepareError {
    #[error("projection `{projection}`, field `{field}`: unknown function `{function}`")]
    UnknownFunction {
        projection: String,
        field: String,
        function: String,
    },
    #[error("projection `{projection}`: key field `{field}` is not a declared field")]
    UnknownKeyField { projection: String, field: String },
    #[error("projection `{projection}`, field `{field}`: the default is not a {ty}")]
    BadDefault {
        projection: String,
        field: String,
        ty: String,
    },
}

/// Why a row could not be cast. Names the field and types, never values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CastError {
    /// The row image is not a JSON object.
    #[error("the row image is {got}, not an object")]
    NotAnObject { got: &'static str },
    /// A cast-chain function failed.
    #[error("field `{field}`: {source}")]
    Function {
        field: String,
        #[source]
        source: FunctionError,
    },
    /// The value could not be coerced to the declared type.
    #[error("field `{field}`: expected {expected}, got {got}{detail}")]
    Coerce {
        field: String,
        expected: String,
        got: &'static str,
        /// Empty, or `" (<reason>)"`.
        detail: String,
    },
    /// Null (or missing) for a field that is not nullable.
    #[error("field `{field}`: null or missing, but the field is a non-nullable {expected}")]
    Null { field: String, expected: String },
    /// A primary-key field is null or missing.
    #[error("key field `{field}` is null or missing")]
    MissingKey { field: String },
}

/// One resolved cast-chain step.
#[derive(Debug, Clone)]
struct Step {
    function: FnImpl,
    /// Constant arguments after the running value.
    args: Vec<Value>,
}

/// One field, ready to cast.
#[derive(Debug, Clone)]
struct CompiledField {
    name: crate::value::Name,
    ty: Type,
    type_name: String,
    nullable: bool,
    /// Empty when the source is a metadata column (never read).
    source: Vec<String>,
    steps: Vec<Step>,
    default: Option<Value>,
}

/// A projection prepared for casting: build once per plan, use for every message.
#[derive(Debug, Clone)]
pub struct CompiledProjection {
    /// Index in `Plan::projections`.
    pub index: usize,
    /// The projection's name.
    pub name: String,
    fields: Vec<CompiledField>,
    /// Indexes into `fields`, in key order.
    key: Vec<usize>,
}

impl CompiledProjection {
    /// Prepares `projection` (the plan's projection number `index`).
    pub fn new(index: usize, projection: &Projection) -> Result<CompiledProjection, PrepareError> {
        let mut fields = Vec::with_capacity(projection.fields.len());
        for f in &projection.fields {
            let mut steps = Vec::with_capacity(f.casts.len());
            for call in &f.casts {
                let function = functions::resolve(&call.function).ok_or_else(|| {
                    PrepareError::UnknownFunction {
                        projection: projection.name.clone(),
                        field: f.name.clone(),
                        function: call.function.clone(),
                    }
                })?;
                steps.push(Step {
                    function,
                    args: call.args.iter().map(Value::from_json).collect(),
                });
            }
            let default = match &f.default {
                None => None,
                Some(json) => Some(
                    Value::from_json_typed(json, &f.ty)
                        .filter(|v| !v.is_null())
                        .ok_or_else(|| PrepareError::BadDefault {
                            projection: projection.name.clone(),
                            field: f.name.clone(),
                            ty: f.ty.to_string(),
                        })?,
                ),
            };
            let source = if f.source.is_empty() {
                vec![f.name.clone()]
            } else {
                f.source.clone()
            };
            let metadata = source.first().is_some_and(|s| s.starts_with("__"));
            fields.push(CompiledField {
                name: f.name.as_str().into(),
                type_name: f.ty.to_string(),
                ty: f.ty.clone(),
                nullable: f.nullable,
                source: if metadata { Vec::new() } else { source },
                steps,
                default,
            });
        }
        let key = projection
            .key
            .iter()
            .map(|k| {
                fields.iter().position(|f| f.name == *k).ok_or_else(|| {
                    PrepareError::UnknownKeyField {
                        projection: projection.name.clone(),
                        field: k.clone(),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledProjection {
            index,
            name: projection.name.clone(),
            fields,
            key,
        })
    }

    /// Casts a whole row image into a record (every declared field, in declaration order).
    pub fn cast_row(&self, row: &Value) -> Result<Map, CastError> {
        let Value::Object(_) = row else {
            return Err(CastError::NotAnObject {
                got: row.type_name(),
            });
        };
        let mut out = Map::with_capacity(self.fields.len());
        for f in &self.fields {
            out.insert(f.name.clone(), f.cast(row)?);
        }
        Ok(out)
    }

    /// Casts only the primary-key fields of a row image (or of a message key object that
    /// holds the key's source columns), in key order. A null key value is an error.
    pub fn cast_key(&self, row: &Value) -> Result<Vec<Value>, CastError> {
        let Value::Object(_) = row else {
            return Err(CastError::NotAnObject {
                got: row.type_name(),
            });
        };
        self.key
            .iter()
            .map(|&i| {
                let f = &self.fields[i];
                match f.cast(row) {
                    Ok(Value::Null) | Err(CastError::Null { .. }) => Err(CastError::MissingKey {
                        field: f.name.to_string(),
                    }),
                    other => other,
                }
            })
            .collect()
    }

    /// The primary-key fields whose source column `object` (a message key object) holds, not
    /// null, each cast like the row's field: `(position in the key, value)`, in key order. A
    /// key field the object does not hold is left out: a message key holds the source table's
    /// primary key, which need not cover the key of every projection reading the topic.
    pub fn cast_key_fields_held(&self, object: &Value) -> Result<Vec<(usize, Value)>, CastError> {
        let Value::Object(_) = object else {
            return Err(CastError::NotAnObject {
                got: object.type_name(),
            });
        };
        let mut held = Vec::with_capacity(self.key.len());
        for (position, &i) in self.key.iter().enumerate() {
            let f = &self.fields[i];
            if f.source.is_empty() || object.get_path(&f.source).is_null() {
                continue;
            }
            match f.cast(object) {
                Ok(Value::Null) | Err(CastError::Null { .. }) => {
                    return Err(CastError::MissingKey {
                        field: f.name.to_string(),
                    })
                }
                Ok(v) => held.push((position, v)),
                Err(e) => return Err(e),
            }
        }
        Ok(held)
    }

    /// The primary key of a cast record, in key order. A null key value is an error.
    pub fn key_of(&self, record: &Map) -> Result<Vec<Value>, CastError> {
        self.key
            .iter()
            .map(|&i| {
                let name = &self.fields[i].name;
                match record.get(name) {
                    Some(v) if !v.is_null() => Ok(v.clone()),
                    _ => Err(CastError::MissingKey {
                        field: name.to_string(),
                    }),
                }
            })
            .collect()
    }

    /// The columns of a row image this projection reads (for a parse that skips the rest).
    pub fn row_shape(&self) -> Shape {
        let mut shape = Shape::row();
        for f in self.fields.iter().filter(|f| !f.source.is_empty()) {
            shape.keep(&f.source, &Shape::All);
        }
        shape
    }

    /// The primary-key field names, in key order.
    pub fn key_fields(&self) -> impl Iterator<Item = &str> {
        self.key.iter().map(|&i| self.fields[i].name.as_str())
    }
}

impl CompiledField {
    fn cast(&self, row: &Value) -> Result<Value, CastError> {
        // 1. read the source (missing and null are both null; metadata columns are never read).
        let raw = if self.source.is_empty() {
            &Value::Null
        } else {
            row.get_path(&self.source)
        };
        // 2. default.
        if raw.is_null() {
            if let Some(d) = &self.default {
                return Ok(d.clone());
            }
        }
        // 3. cast chain. The first step reads the row's value in place (no copy).
        let mut steps = self.steps.iter();
        let mut v = match steps.next() {
            None => raw.clone(),
            Some(step) => self.apply(step, raw)?,
        };
        for step in steps {
            v = self.apply(step, &v)?;
        }
        // 4. coercion; 5. nullability.
        if v.is_null() {
            return if self.nullable {
                Ok(Value::Null)
            } else {
                Err(CastError::Null {
                    field: self.name.to_string(),
                    expected: self.type_name.clone(),
                })
            };
        }
        coerce(v, &self.ty).map_err(|(got, detail)| CastError::Coerce {
            field: self.name.to_string(),
            expected: self.type_name.clone(),
            got,
            detail: detail.map(|d| format!(" ({d})")).unwrap_or_default(),
        })
    }
}

impl CompiledField {
    /// Runs one cast-chain step on `v`.
    fn apply(&self, step: &Step, v: &Value) -> Result<Value, CastError> {
        let result = if step.args.is_empty() {
            (step.function)(std::slice::from_ref(v))
        } else {
            let mut args = Vec::with_capacity(1 + step.args.len());
            args.push(v.clone());
            args.extend(step.args.iter().cloned());
            (step.function)(&args)
        };
        result.map_err(|source| CastError::Function {
            field: self.name.to_string(),
            source,
        })
    }
}

/// A failed coercion: the type of the value found, and an optional reason.
type CoerceFailure = (&'static str, Option<String>);

fn via(function: FnImpl, v: Value) -> Result<Value, CoerceFailure> {
    let got = v.type_name();
    function(std::slice::from_ref(&v)).map_err(|e| (got, Some(reason_of(&e))))
}

fn reason_of(e: &FunctionError) -> String {
    match e {
        FunctionError::Invalid { reason, .. } => (*reason).to_owned(),
        other => other.to_string(),
    }
}

/// Coerces a non-null value to `ty` (step 4 of the cast semantics).
///
/// One reading to note: "no silent truncation" for int also covers a numeric string with a
/// fraction (`"12.5"` fails, `"12.00"` gives 12), as it does for a float or decimal value; an
/// explicit `to_int` in the cast chain truncates on purpose.
fn coerce(v: Value, ty: &Type) -> Result<Value, CoerceFailure> {
    let got = v.type_name();
    let mismatch = || (got, None);
    match (ty, v) {
        (Type::Any, v) => Ok(v),
        (Type::String, v @ Value::String(_)) => Ok(v),
        (Type::String, Value::Array(_) | Value::Object(_)) => Err(mismatch()),
        (Type::String, v) => via(convert::to_string, v),
        (Type::Int, v @ Value::Int(_)) => Ok(v),
        (Type::Int, Value::Float(f)) if f.fract() != 0.0 => {
            Err((got, Some("a fraction would be truncated".into())))
        }
        (Type::Int, Value::Decimal(d)) if !d.fract().is_zero() => {
            Err((got, Some("a fraction would be truncated".into())))
        }
        (Type::Int, Value::String(s)) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::Int(i));
            }
            match convert::to_decimal(&[Value::String(s)]) {
                Ok(Value::Decimal(d)) if !d.fract().is_zero() => {
                    Err((got, Some("a fraction would be truncated".into())))
                }
                Ok(d) => via(convert::to_int, d),
                Err(e) => Err((got, Some(reason_of(&e)))),
            }
        }
        (Type::Int, v) => via(convert::to_int, v),
        (Type::Float, v) => via(convert::to_float, v),
        (Type::Decimal, v) => via(convert::to_decimal, v),
        (Type::Bool, v) => via(convert::to_bool, v),
        (Type::Date, v @ Value::Date(_)) => Ok(v),
        (Type::Date, v @ Value::String(_)) => via(temporal::parse_date, v),
        (Type::Datetime, v @ Value::Datetime(_)) => Ok(v),
        (Type::Datetime, v @ Value::String(_)) => via(temporal::parse_datetime, v),
        (Type::Datetime, v @ Value::Int(_)) => via(temporal::from_unix_millis, v),
        (Type::Object, v @ Value::Object(_)) => Ok(v),
        (Type::Object, v @ Value::String(_)) => match via(convert::parse_json, v)? {
            o @ Value::Object(_) => Ok(o),
            other => Err((got, Some(format!("the JSON text is {}", other.type_name())))),
        },
        (Type::Array { items }, Value::Array(elements)) => coerce_elements(elements, items),
        (Type::Array { items }, v @ Value::String(_)) => match via(convert::parse_json, v)? {
            Value::Array(elements) => coerce_elements(elements, items),
            other => Err((got, Some(format!("the JSON text is {}", other.type_name())))),
        },
        (_, _) => Err(mismatch()),
    }
}

fn coerce_elements(elements: Vec<Value>, items: &Type) -> Result<Value, CoerceFailure> {
    let mut out = Vec::with_capacity(elements.len());
    for (i, e) in elements.into_iter().enumerate() {
        if e.is_null() {
            if matches!(items, Type::Any) {
                out.push(e);
                continue;
            }
            return Err(("array", Some(format!("element {i} is null"))));
        }
        let got = e.type_name();
        match coerce(e, items) {
            Ok(v) => out.push(v),
            Err((_, detail)) => {
                let detail = match detail {
                    Some(d) => format!("element {i} is {got}: {d}"),
                    None => format!("element {i} is {got}"),
                };
                return Err(("array", Some(detail)));
            }
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests;
