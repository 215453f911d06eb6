//! The checker's type algebra: expression types with nullability, coercion and unification.
//!
//! In: plan types, catalogue type classes, literals. Out: [`Typed`] values and yes/no answers
//! (`accepts`, `coercible`, `unify`).
//!
//! Guarantees: the rules here are the ones the language reference documents ("Types") and the
//! ones `fdc_plan::Field` and `fdc_plan::Expr` state for the engine.

use std::fmt;

use fdc_plan::functions::TypeClass;
use fdc_plan::Type;

/// A type as the checker sees it: a plan type, or the type of the `null` literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// Only `null` (the `null` literal); unifies with everything.
    Null,
    Of(Type),
}

/// A type and whether the value may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    pub ty: Ty,
    pub nullable: bool,
}

impl Typed {
    /// A type that is never null.
    pub fn of(t: Type) -> Self {
        Typed {
            ty: Ty::Of(t),
            nullable: false,
        }
    }

    /// A type that may be null.
    pub fn nullable(t: Type) -> Self {
        Typed {
            ty: Ty::Of(t),
            nullable: true,
        }
    }

    /// The `null` literal.
    pub fn null() -> Self {
        Typed {
            ty: Ty::Null,
            nullable: true,
        }
    }

    /// The same type, nullable if `n` or already nullable.
    pub fn or_null(mut self, n: bool) -> Self {
        self.nullable |= n;
        self
    }

    /// The plan type (`Any` for the null type).
    pub fn plan_type(&self) -> Type {
        match &self.ty {
            Ty::Null => Type::Any,
            Ty::Of(t) => t.clone(),
        }
    }

    /// Whether this is `any` or the null type (nothing can be proven about it).
    pub fn is_unknown(&self) -> bool {
        matches!(self.ty, Ty::Null | Ty::Of(Type::Any))
    }
}

impl fmt::Display for Typed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ty {
            Ty::Null => write!(f, "null"),
            Ty::Of(t) => write!(f, "{t}{}", if self.nullable { "?" } else { "" }),
        }
    }
}

/// The phrase for a type class ("a number").
pub fn class_name(c: TypeClass) -> &'static str {
    match c {
        TypeClass::String => "a string",
        TypeClass::Int => "an int",
        TypeClass::Float => "a float",
        TypeClass::Decimal => "a decimal",
        TypeClass::Bool => "a bool",
        TypeClass::Date => "a date",
        TypeClass::Datetime => "a datetime",
        TypeClass::Object => "an object",
        TypeClass::Array => "an array",
        TypeClass::StringArray => "an array of strings",
        TypeClass::Numeric => "a number (int, float or decimal)",
        TypeClass::Temporal => "a date or datetime",
        TypeClass::Sized => "a string or an array",
        TypeClass::Any => "any value",
    }
}

/// Whether a value of type `t` can be passed where `class` is expected. `any` and `null` are
/// accepted everywhere (they are checked at run time).
pub fn accepts(class: TypeClass, t: &Typed) -> bool {
    let Ty::Of(ty) = &t.ty else {
        return true;
    };
    match (class, ty) {
        (_, Type::Any) | (TypeClass::Any, _) => true,
        (TypeClass::String, Type::String)
        | (TypeClass::Int, Type::Int)
        | (TypeClass::Float, Type::Float)
        | (TypeClass::Decimal, Type::Decimal)
        | (TypeClass::Bool, Type::Bool)
        | (TypeClass::Date, Type::Date)
        | (TypeClass::Datetime, Type::Datetime)
        | (TypeClass::Object, Type::Object)
        | (TypeClass::Array, Type::Array { .. }) => true,
        (TypeClass::StringArray, Type::Array { items }) => {
            matches!(**items, Type::String | Type::Any)
        }
        (TypeClass::Numeric, t) => is_numeric(t),
        (TypeClass::Temporal, Type::Date | Type::Datetime) => true,
        (TypeClass::Sized, Type::String | Type::Array { .. }) => true,
        _ => false,
    }
}

/// The type a function returning `class` gives.
pub fn class_type(class: TypeClass) -> Type {
    match class {
        TypeClass::String => Type::String,
        TypeClass::Int => Type::Int,
        TypeClass::Float => Type::Float,
        TypeClass::Decimal => Type::Decimal,
        TypeClass::Bool => Type::Bool,
        TypeClass::Date => Type::Date,
        TypeClass::Datetime => Type::Datetime,
        TypeClass::Object => Type::Object,
        TypeClass::StringArray => Type::Array {
            items: Box::new(Type::String),
        },
        TypeClass::Array => Type::Array {
            items: Box::new(Type::Any),
        },
        TypeClass::Numeric | TypeClass::Temporal | TypeClass::Sized | TypeClass::Any => Type::Any,
    }
}

/// int, float or decimal.
pub fn is_numeric(t: &Type) -> bool {
    matches!(t, Type::Int | Type::Float | Type::Decimal)
}

/// The common type of two types, if any: equal types; int and float give float; int or float
/// and decimal give decimal; `any` and `null` give the other.
pub fn unify(a: &Typed, b: &Typed) -> Option<Typed> {
    let nullable = a.nullable || b.nullable;
    let ty = match (&a.ty, &b.ty) {
        (Ty::Null, other) | (other, Ty::Null) => other.clone(),
        (Ty::Of(Type::Any), _) | (_, Ty::Of(Type::Any)) => Ty::Of(Type::Any),
        (Ty::Of(x), Ty::Of(y)) if x == y => Ty::Of(x.clone()),
        (Ty::Of(x), Ty::Of(y)) if is_numeric(x) && is_numeric(y) => {
            if *x == Type::Decimal || *y == Type::Decimal {
                Ty::Of(Type::Decimal)
            } else {
                Ty::Of(Type::Float)
            }
        }
        (Ty::Of(Type::Array { items: x }), Ty::Of(Type::Array { items: y })) => {
            let inner = unify(&Typed::of((**x).clone()), &Typed::of((**y).clone()))?;
            Ty::Of(Type::Array {
                items: Box::new(inner.plan_type()),
            })
        }
        _ => return None,
    };
    Some(Typed { ty, nullable })
}

/// Whether two types can be compared with `<`, `==`...: numbers with numbers, otherwise the
/// same type (`any` and `null` with anything).
pub fn comparable(a: &Typed, b: &Typed) -> bool {
    match (&a.ty, &b.ty) {
        (Ty::Null, _) | (_, Ty::Null) => true,
        (Ty::Of(Type::Any), _) | (_, Ty::Of(Type::Any)) => true,
        (Ty::Of(x), Ty::Of(y)) => x == y || (is_numeric(x) && is_numeric(y)),
    }
}

/// Whether a value of type `t` can be ordered (sort keys, `<`, min/max).
pub fn orderable(t: &Typed) -> bool {
    !matches!(t.ty, Ty::Of(Type::Object | Type::Array { .. }))
}

/// Whether the engine's final coercion (documented on `fdc_plan::Field`) can turn a value of
/// type `from` into a field of type `to` for some inputs.
pub fn coercible(from: &Type, to: &Type) -> bool {
    use Type as T;
    let scalar = |t: &Type| !matches!(t, T::Object | T::Array { .. });
    match (from, to) {
        (T::Any, _) | (_, T::Any) => true,
        (f, t) if f == t => true,
        (f, T::String) => scalar(f),
        (T::Float | T::Decimal | T::Bool | T::String, T::Int) => true,
        (T::Int | T::Decimal | T::String, T::Float) => true,
        (T::Int | T::Float | T::String, T::Decimal) => true,
        (T::Int | T::Float | T::Decimal | T::String, T::Bool) => true,
        (T::String, T::Date) => true,
        (T::String | T::Int, T::Datetime) => true,
        (T::String, T::Object) => true,
        (T::String, T::Array { .. }) => true,
        (T::Array { items: f }, T::Array { items: t }) => coercible(f, t),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unify_follows_numeric_widening() {
        let int = Typed::of(Type::Int);
        let float = Typed::of(Type::Float);
        let dec = Typed::nullable(Type::Decimal);
        assert_eq!(unify(&int, &float), Some(Typed::of(Type::Float)));
        assert_eq!(unify(&float, &dec), Some(Typed::nullable(Type::Decimal)));
        assert_eq!(unify(&int, &Typed::of(Type::String)), None);
        assert_eq!(
            unify(&Typed::null(), &int),
            Some(Typed::nullable(Type::Int))
        );
    }

    #[test]
    fn coercion_table() {
        assert!(coercible(&Type::String, &Type::Date));
        assert!(coercible(&Type::Int, &Type::Datetime));
        assert!(!coercible(&Type::Bool, &Type::Date));
        assert!(!coercible(&Type::Object, &Type::String));
        assert!(!coercible(&Type::Datetime, &Type::Date));
        assert!(coercible(&Type::Date, &Type::String));
    }

    #[test]
    fn classes_accept_their_types() {
        assert!(accepts(TypeClass::Numeric, &Typed::of(Type::Decimal)));
        assert!(!accepts(TypeClass::Numeric, &Typed::of(Type::String)));
        assert!(accepts(TypeClass::Temporal, &Typed::of(Type::Date)));
        assert!(accepts(TypeClass::Int, &Typed::of(Type::Any)));
        assert!(accepts(TypeClass::String, &Typed::null()));
    }
}
