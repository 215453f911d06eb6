//! How the language spells the plan's vocabulary: one printer for types, message formats,
//! operators and aggregate functions, used by every message (`fdc check`, `fdc explain`,
//! `fdc fmt`, `fdc graph`, the dead-letter reasons of a run, `fdc test` reports).
//!
//! In: plan values. Out: their `.fdl` spelling (`Display`, and `&'static str` accessors where
//! a name is a keyword). Guarantees: a type, format, operator or function prints the same
//! everywhere, as a pipeline author writes it; [`AggregateFn::from_name`] reads back what
//! [`AggregateFn::name`] writes.

use std::fmt;

use crate::{AggregateFn, BinaryOp, CompareOp, Format, Type, UnaryOp};

impl fmt::Display for Type {
    /// As written in `.fdl`: `string`, `int`, `[decimal]`, `[[int]]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::Decimal => f.write_str("decimal"),
            Type::Bool => f.write_str("bool"),
            Type::Date => f.write_str("date"),
            Type::Datetime => f.write_str("datetime"),
            Type::Object => f.write_str("object"),
            Type::Any => f.write_str("any"),
            Type::Array { items } => write!(f, "[{items}]"),
        }
    }
}

impl Format {
    /// The format's name as written after `as`: `basic`, `debezium`, `golden-gate`, or a
    /// declared format's own name.
    pub fn name(&self) -> &str {
        match self {
            Format::Basic => "basic",
            Format::Debezium => "debezium",
            Format::GoldenGate => "golden-gate",
            Format::Custom(c) => &c.name,
        }
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

impl CompareOp {
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
    fn formats_and_operators_print_their_keywords() {
        assert_eq!(Format::GoldenGate.to_string(), "golden-gate");
        assert_eq!(BinaryOp::Coalesce.to_string(), "??");
        assert_eq!(UnaryOp::Not.to_string(), "not");
    }
}
