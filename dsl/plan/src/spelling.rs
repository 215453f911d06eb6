//! How the language spells the plan's vocabulary: one printer for types, message formats,
//! operators (of expressions and of conditions) and aggregate functions, and the lists of
//! built-in names (scalar types, formats, comparisons, aggregates) that the parser, the
//! checker and editor completion read, used by every message (`fdc check`, `fdc explain`,
//! `fdc fmt`, `fdc graph`, the dead-letter reasons of a run, `fdc test` reports).
//!
//! In: plan values. Out: their `.fdl` spelling (`Display`, and `&'static str` accessors where
//! a name is a keyword). Guarantees: a type, format, operator or function prints the same
//! everywhere, as a pipeline author writes it; [`AggregateFn::from_name`] reads back what
//! [`AggregateFn::name`] writes, [`Format::builtin`] what [`Format::name`] writes for a
//! built-in format, and [`CompareOp::from_symbol`] what [`CompareOp::symbol`] writes.

use std::fmt;

use crate::{AggregateFn, BinaryOp, CompareOp, Format, Type, UnaryOp};

impl Type {
    /// The scalar types (every type but arrays), in the order the docs list them.
    pub const SCALARS: [Type; 9] = [
        Type::String,
        Type::Int,
        Type::Float,
        Type::Decimal,
        Type::Bool,
        Type::Date,
        Type::Datetime,
        Type::Object,
        Type::Any,
    ];

    /// The keyword of a scalar type (`string`, `int`...); `None` for an array.
    pub fn keyword(&self) -> Option<&'static str> {
        Some(match self {
            Type::String => "string",
            Type::Int => "int",
            Type::Float => "float",
            Type::Decimal => "decimal",
            Type::Bool => "bool",
            Type::Date => "date",
            Type::Datetime => "datetime",
            Type::Object => "object",
            Type::Any => "any",
            Type::Array { .. } => return None,
        })
    }
}

impl fmt::Display for Type {
    /// As written in `.fdl`: `string`, `int`, `[decimal]`, `[[int]]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.keyword()) {
            (Type::Array { items }, _) => write!(f, "[{items}]"),
            (_, Some(keyword)) => f.write_str(keyword),
            (_, None) => Ok(()),
        }
    }
}

impl Format {
    /// The name of [`Format::Basic`].
    pub const BASIC: &'static str = "basic";
    /// The name of [`Format::Debezium`].
    pub const DEBEZIUM: &'static str = "debezium";
    /// The name of [`Format::GoldenGate`].
    pub const GOLDEN_GATE: &'static str = "golden-gate";
    /// The built-in formats (every format but declared ones).
    pub const BUILTIN: [Format; 3] = [Format::Basic, Format::Debezium, Format::GoldenGate];

    /// The format's name as written after `as`: `basic`, `debezium`, `golden-gate`, or a
    /// declared format's own name.
    pub fn name(&self) -> &str {
        match self {
            Format::Basic => Format::BASIC,
            Format::Debezium => Format::DEBEZIUM,
            Format::GoldenGate => Format::GOLDEN_GATE,
            Format::Custom(c) => &c.name,
        }
    }

    /// The built-in format named `name`, if it is one.
    pub fn builtin(name: &str) -> Option<Format> {
        Format::BUILTIN.into_iter().find(|f| f.name() == name)
    }
}

impl CompareOp {
    /// Every comparison, in the order the docs list them.
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
    ];

    /// The comparison as written in a condition: `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// The comparison written `symbol`, if it is one.
    pub fn from_symbol(symbol: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|c| c.symbol() == symbol)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl BinaryOp {
    /// The operator as written in an expression: `+`, `==`, `and`, `??`.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Coalesce => "??",
        }
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl UnaryOp {
    /// The operator as written before its operand: `not`, `-`.
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "not",
            UnaryOp::Neg => "-",
        }
    }
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl AggregateFn {
    /// Every aggregate function, in the order the docs list them.
    pub const ALL: [AggregateFn; 7] = [
        AggregateFn::Count,
        AggregateFn::Sum,
        AggregateFn::Min,
        AggregateFn::Max,
        AggregateFn::Avg,
        AggregateFn::First,
        AggregateFn::Last,
    ];

    /// The function's name as written in a mapping: `count`, `sum`...
    pub fn name(self) -> &'static str {
        match self {
            AggregateFn::Count => "count",
            AggregateFn::Sum => "sum",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
            AggregateFn::Avg => "avg",
            AggregateFn::First => "first",
            AggregateFn::Last => "last",
        }
    }

    /// The aggregate function named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<AggregateFn> {
        AggregateFn::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for AggregateFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_print_as_written_in_fdl() {
        let nested = Type::Array {
            items: Box::new(Type::Array {
                items: Box::new(Type::Decimal),
            }),
        };
        assert_eq!(nested.to_string(), "[[decimal]]");
        assert_eq!(Type::Datetime.to_string(), "datetime");
    }

    #[test]
    fn aggregate_names_read_back() {
        for a in AggregateFn::ALL {
            assert_eq!(AggregateFn::from_name(a.name()), Some(a));
        }
        assert_eq!(AggregateFn::from_name("median"), None);
    }

    #[test]
    fn scalar_keywords_formats_and_comparisons_read_back() {
        let keywords: Vec<&str> = Type::SCALARS.iter().filter_map(Type::keyword).collect();
        assert_eq!(keywords.len(), Type::SCALARS.len());
        assert_eq!(
            keywords.join(" "),
            "string int float decimal bool date datetime object any"
        );
        for f in Format::BUILTIN {
            assert_eq!(Format::builtin(f.name()), Some(f));
        }
        assert_eq!(Format::builtin("avro"), None);
        for c in CompareOp::ALL {
            assert_eq!(CompareOp::from_symbol(&c.to_string()), Some(c));
        }
        assert_eq!(CompareOp::from_symbol("=<"), None);
    }

    #[test]
    fn formats_and_operators_print_their_keywords() {
        assert_eq!(Format::GoldenGate.to_string(), "golden-gate");
        assert_eq!(BinaryOp::Coalesce.to_string(), "??");
        assert_eq!(UnaryOp::Not.to_string(), "not");
    }
}
