//! The mapping-expression evaluator over the records loaded for a batch.
//!
//! In: a single view, the [`Loaded`] records of a batch, a root record index. Out: the
//! document (mapped fields in order) and a running count of mapping errors.
//!
//! Scope: a stack of `(node, record index)` bindings; the root is always bound. A field of an
//! unbound node is reached from its nearest bound ancestor through the first child (primary-key
//! order) at each step, or is null. `Collect` and `Aggregate` enumerate every chain of related
//! records from the nearest bound ancestor down to their node (intermediate many-hops are
//! flattened) and bind the whole chain for each element, so an element can read the
//! intermediate records too. Order: the sort keys (stable; nulls first ascending), then the
//! primary key of the element's record.

use std::cell::Cell;
use std::cmp::Ordering;

use fdc_plan::{AggregateFn, BinaryOp, Expr, Plan, SingleView, SortKey, Type};

use super::{compare_keys, ops, Loaded};
use crate::store::Record;
use crate::value::{Map, Value};

type Binding = (usize, usize);

/// Evaluates one view's mapping against the records of a batch.
pub(crate) struct Evaluator<'a> {
    plan: &'a Plan,
    view: &'a SingleView,
    loaded: &'a Loaded,
    errors: Cell<u64>,
}

impl<'a> Evaluator<'a> {
    pub fn new(plan: &'a Plan, view: &'a SingleView, loaded: &'a Loaded) -> Evaluator<'a> {
        Evaluator {
            plan,
            view,
            loaded,
            errors: Cell::new(0),
        }
    }

    /// Mapping-function errors so far.
    pub fn mapping_errors(&self) -> u64 {
        self.errors.get()
    }

    /// The document of the root record `root`.
    pub fn document(&self, root: usize) -> Map {
        let mut scope = vec![(0, root)];
        self.view
            .mapping
            .iter()
            .map(|f| (f.name.clone(), self.eval(&f.expr, &mut scope)))
            .collect()
    }

    fn record(&self, node: usize, index: usize) -> Option<&'a Record> {
        self.loaded.records.get(node).and_then(|r| r.get(index))
    }

    fn parent(&self, node: usize) -> Option<usize> {
        self.view.nodes.get(node).and_then(|n| n.parent)
    }

    /// The nearest bound ancestor-or-self of `node` and the chain of nodes below it down to
    /// `node` (top first).
    fn anchor(&self, node: usize, scope: &[Binding]) -> Option<(Binding, Vec<usize>)> {
        let mut chain = Vec::new();
        let mut current = node;
        loop {
            if let Some(b) = scope.iter().rev().find(|(n, _)| *n == current) {
                chain.reverse();
                return Some((*b, chain));
            }
            chain.push(current);
            current = self.parent(current)?;
        }
    }

    fn children(&self, node: usize, parent_index: usize) -> &'a [usize] {
        self.loaded
            .children
            .get(node)
            .and_then(|c| c.get(parent_index))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The record of a one-node as seen from `scope`.
    fn reach(&self, node: usize, scope: &[Binding]) -> Option<&'a Record> {
        let ((_, mut index), chain) = self.anchor(node, scope)?;
        for n in &chain {
            index = *self.children(*n, index).first()?;
        }
        self.record(node, index)
    }

    /// Every chain of related records from the scope down to `node`.
    fn elements(&self, node: usize, scope: &[Binding]) -> Vec<Vec<Binding>> {
        let Some(((_, start), chain)) = self.anchor(node, scope) else {
            return Vec::new();
        };
        let mut paths: Vec<(Vec<Binding>, usize)> = vec![(Vec::new(), start)];
        for n in &chain {
            let mut next = Vec::new();
            for (path, end) in paths {
                for &c in self.children(*n, end) {
                    let mut p = path.clone();
                    p.push((*n, c));
                    next.push((p, c));
                }
            }
            paths = next;
        }
        paths.into_iter().map(|(p, _)| p).collect()
    }

    fn with<T>(
        &self,
        scope: &mut Vec<Binding>,
        bindings: &[Binding],
        f: impl FnOnce(&Self, &mut Vec<Binding>) -> T,
    ) -> T {
        let depth = scope.len();
        scope.extend_from_slice(bindings);
        let out = f(self, scope);
        scope.truncate(depth);
        out
    }

    /// The related elements of `node`, filtered and sorted.
    fn ordered(
        &self,
        node: usize,
        filter: Option<&Expr>,
        sort: &[SortKey],
        scope: &mut Vec<Binding>,
    ) -> Vec<Vec<Binding>> {
        let mut items: Vec<(Vec<Value>, Vec<Binding>)> = Vec::new();
        for element in self.elements(node, scope) {
            let keep = match filter {
                Some(f) => self.with(scope, &element, |s, sc| ops::truthy(&s.eval(f, sc))),
                None => true,
            };
            if !keep {
                continue;
            }
            let keys = self.with(scope, &element, |s, sc| {
                sort.iter().map(|k| s.eval(&k.expr, sc)).collect()
            });
            items.push((keys, element));
        }
        let pk = |e: &Vec<Binding>| -> &'a [Value] {
            e.last()
                .and_then(|(n, i)| self.record(*n, *i))
                .map(|r| r.key.as_slice())
                .unwrap_or(&[])
        };
        items.sort_by(|(ka, ea), (kb, eb)| {
            for ((a, b), s) in ka.iter().zip(kb).zip(sort) {
                let o = a.total_cmp(b);
                let o = if s.descending { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            compare_keys(pk(ea), pk(eb))
        });
        items.into_iter().map(|(_, e)| e).collect()
    }

    fn eval(&self, expr: &Expr, scope: &mut Vec<Binding>) -> Value {
        match expr {
            Expr::Literal { value, ty } => {
                Value::from_json_typed(value, ty).unwrap_or_else(|| Value::from_json(value))
            }
            Expr::Field { node, path } => match self.reach(*node, scope) {
                None => Value::Null,
                Some(r) => match path.split_first() {
                    None => Value::Object(r.fields.clone()),
                    Some((first, rest)) => r
                        .fields
                        .get(first.as_str())
                        .map(|v| v.get_path(rest).clone())
                        .unwrap_or(Value::Null),
                },
            },
            Expr::Unary { op, expr } => ops::unary(*op, self.eval(expr, scope)),
            Expr::Binary { op, left, right } => {
                let l = self.eval(left, scope);
                match op {
                    BinaryOp::And if !ops::truthy(&l) => Value::Bool(false),
                    BinaryOp::Or if ops::truthy(&l) => Value::Bool(true),
                    BinaryOp::Coalesce if !l.is_null() => l,
                    _ => ops::binary(*op, l, self.eval(right, scope)),
                }
            }
            Expr::Call { function, args } => {
                let values: Vec<Value> = args.iter().map(|a| self.eval(a, scope)).collect();
                match crate::functions::resolve(function).map(|f| f(&values)) {
                    Some(Ok(v)) => v,
                    _ => {
                        self.errors.set(self.errors.get() + 1);
                        Value::Null
                    }
                }
            }
            Expr::If {
                branches,
                otherwise,
            } => {
                for b in branches {
                    if ops::truthy(&self.eval(&b.when, scope)) {
                        return self.eval(&b.then, scope);
                    }
                }
                self.eval(otherwise, scope)
            }
            Expr::Object { fields } => Value::Object(
                fields
                    .iter()
                    .map(|f| (f.name.clone(), self.eval(&f.expr, scope)))
                    .collect(),
            ),
            Expr::Collect {
                node,
                filter,
                sort,
                limit,
                element,
            } => {
                let mut elements = self.ordered(*node, filter.as_deref(), sort, scope);
                if let Some(l) = limit {
                    elements.truncate(usize::try_from(*l).unwrap_or(usize::MAX));
                }
                Value::Array(
                    elements
                        .iter()
                        .map(|e| self.with(scope, e, |s, sc| s.eval(element, sc)))
                        .collect(),
                )
            }
            Expr::Aggregate {
                function,
                node,
                filter,
                sort,
                value,
            } => {
                let elements = self.ordered(*node, filter.as_deref(), sort, scope);
                let values: Vec<Value> = match value {
                    Some(v) => elements
                        .iter()
                        .map(|e| self.with(scope, e, |s, sc| s.eval(v, sc)))
                        .collect(),
                    None => Vec::new(),
                };
                let counted = match (function, value) {
                    (AggregateFn::Count, Some(_)) => values.iter().filter(|v| !v.is_null()).count(),
                    _ => elements.len(),
                };
                let zero = value
                    .as_deref()
                    .map(|v| zero_of(&self.static_type(v)))
                    .unwrap_or(Value::Int(0));
                ops::aggregate(*function, values, counted, zero)
            }
        }
    }

    /// The type of `expr` where it can be told without evaluating (for the empty `sum`).
    fn static_type(&self, expr: &Expr) -> Type {
        match expr {
            Expr::Literal { ty, .. } => ty.clone(),
            Expr::Field { node, path } if path.len() == 1 => self
                .view
                .nodes
                .get(*node)
                .and_then(|n| self.plan.projection(&n.projection))
                .and_then(|p| p.field(&path[0]))
                .map(|f| f.ty.clone())
                .unwrap_or(Type::Any),
            Expr::Unary { expr, .. } => self.static_type(expr),
            Expr::Binary { left, right, .. } => {
                match (self.static_type(left), self.static_type(right)) {
                    (Type::Decimal, _) | (_, Type::Decimal) => Type::Decimal,
                    (Type::Float, _) | (_, Type::Float) => Type::Float,
                    (Type::Int, Type::Int) => Type::Int,
                    _ => Type::Any,
                }
            }
            Expr::Aggregate {
                function: AggregateFn::Count,
                ..
            } => Type::Int,
            Expr::Aggregate { value: Some(v), .. } => self.static_type(v),
            Expr::If { otherwise, .. } => self.static_type(otherwise),
            _ => Type::Any,
        }
    }
}

fn zero_of(ty: &Type) -> Value {
    match ty {
        Type::Float => Value::Float(0.0),
        Type::Decimal => Value::Decimal(rust_decimal::Decimal::ZERO),
        _ => Value::Int(0),
    }
}
