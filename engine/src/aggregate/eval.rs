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

use std::borrow::Cow;
use std::cell::Cell;
use std::cmp::Ordering;

use fdc_plan::{AggregateFn, BinaryOp, Expr, Plan, SingleView, Type, UnaryOp};

use super::{ops, Loaded, NO_GROUP};
use crate::functions::FnImpl;
use crate::store::Record;
use crate::value::{Map, Name, Value};

type Binding = (usize, usize);

static NULL: Value = Value::Null;

/// A mapping expression resolved against the plan once per batch, so that evaluating it per
/// document does no name lookups: literals are parsed, functions resolved, field names turned
/// into the slot the field has in its projection's records (declaration order), and the zero
/// of every `sum` typed.
enum Compiled {
    Literal(Value),
    /// A whole record (`path` empty) or a field of it, then nested fields.
    Field {
        node: usize,
        name: Option<String>,
        slot: Option<usize>,
        rest: Vec<String>,
    },
    Unary(UnaryOp, Box<Compiled>),
    Binary(BinaryOp, Box<Compiled>, Box<Compiled>),
    /// `None`: a function the engine does not implement (every call is a mapping error).
    Call(Option<FnImpl>, Vec<Compiled>),
    If(Vec<(Compiled, Compiled)>, Box<Compiled>),
    Object(Vec<(Name, Compiled)>),
    Collect {
        node: usize,
        filter: Option<Box<Compiled>>,
        sort: Vec<(Compiled, bool)>,
        limit: Option<usize>,
        element: Box<Compiled>,
    },
    Aggregate {
        function: AggregateFn,
        node: usize,
        filter: Option<Box<Compiled>>,
        sort: Vec<(Compiled, bool)>,
        value: Option<Box<Compiled>>,
        zero: Value,
    },
}

/// The value of field `name` in `fields`, looked up at `slot` first (records hold their
/// fields in declaration order), by name when the slot holds another field.
fn slot_field<'r>(fields: &'r Map, slot: Option<usize>, name: &str) -> Option<&'r Value> {
    match slot.and_then(|i| fields.get_index(i)) {
        Some((k, v)) if k == name => Some(v),
        _ => crate::value::field(fields, name),
    }
}

/// The chains of related records a `Collect` or `Aggregate` ranges over: `count` chains of
/// `stride` bindings each, stored one after the other.
#[derive(Default)]
struct Elements {
    stride: usize,
    count: usize,
    flat: Vec<Binding>,
}

impl Elements {
    fn get(&self, i: usize) -> &[Binding] {
        &self.flat[i * self.stride..(i + 1) * self.stride]
    }
}

/// Evaluates one view's mapping against the records of a batch.
pub(crate) struct Evaluator<'a> {
    loaded: &'a Loaded,
    /// `ancestors[node]`: the node, its parent, ... up to the root.
    ancestors: Vec<Vec<usize>>,
    /// Per node: every loaded record holds exactly the projection's declared fields in
    /// declaration order (checked once per batch), so a field's slot needs no name check.
    exact: Vec<bool>,
    mapping: Vec<(Name, Compiled)>,
    errors: Cell<u64>,
}

impl<'a> Evaluator<'a> {
    pub fn new(plan: &'a Plan, view: &'a SingleView, loaded: &'a Loaded) -> Evaluator<'a> {
        let compiler = Compiler { plan, view };
        Evaluator {
            loaded,
            ancestors: (0..view.nodes.len())
                .map(|mut node| {
                    let mut up = vec![node];
                    // Bounded by the node count, in case a plan's parents were cyclic.
                    while let Some(parent) = view.nodes.get(node).and_then(|n| n.parent) {
                        if up.len() > view.nodes.len() {
                            break;
                        }
                        up.push(parent);
                        node = parent;
                    }
                    up
                })
                .collect(),
            exact: loaded.exact.clone(),
            mapping: view
                .mapping
                .iter()
                .map(|f| (f.name.as_str().into(), compiler.compile(&f.expr)))
                .collect(),
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
        let mut doc = Map::with_capacity(self.mapping.len());
        for (name, expr) in &self.mapping {
            let v = self.eval(expr, &mut scope);
            doc.insert(name.clone(), v);
        }
        doc
    }

    fn record(&self, node: usize, index: usize) -> Option<&'a Record> {
        self.loaded
            .records
            .get(node)
            .and_then(|r| r.get(index))
            .map(|r| &**r)
    }

    /// The nearest bound ancestor-or-self of `node` and the chain of nodes below it down to
    /// `node`, bottom first (`node` itself first, unless it is bound: then the chain is empty).
    fn anchor(&self, node: usize, scope: &[Binding]) -> Option<(Binding, &[usize])> {
        let up = self.ancestors.get(node)?;
        for (depth, current) in up.iter().enumerate() {
            if let Some(b) = scope.iter().rev().find(|(n, _)| n == current) {
                return Some((*b, &up[..depth]));
            }
        }
        None
    }

    fn children(&self, node: usize, parent_index: usize) -> &'a [usize] {
        let group = self
            .loaded
            .group_of
            .get(node)
            .and_then(|g| g.get(parent_index))
            .copied()
            .unwrap_or(NO_GROUP);
        if group == NO_GROUP {
            return &[];
        }
        self.loaded
            .groups
            .get(node)
            .and_then(|g| g.get(group as usize))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The record of a one-node as seen from `scope`.
    fn reach(&self, node: usize, scope: &[Binding]) -> Option<&'a Record> {
        let ((_, mut index), chain) = self.anchor(node, scope)?;
        for n in chain.iter().rev() {
            index = *self.children(*n, index).first()?;
        }
        self.record(node, index)
    }

    /// Every chain of related records from the scope down to `node`.
    fn elements(&self, node: usize, scope: &[Binding]) -> Elements {
        let Some(((_, start), chain)) = self.anchor(node, scope) else {
            return Elements::default();
        };
        if let [n] = chain {
            // One hop (the common case): the children themselves.
            let flat: Vec<Binding> = self.children(*n, start).iter().map(|&c| (*n, c)).collect();
            return Elements {
                stride: 1,
                count: flat.len(),
                flat,
            };
        }
        // Chains grow one node at a time; all have the same length, so they are stored flat.
        let mut flat: Vec<Binding> = Vec::new();
        let mut ends: Vec<usize> = vec![start];
        for (depth, n) in chain.iter().rev().enumerate() {
            let mut next_flat = Vec::new();
            let mut next_ends = Vec::new();
            for (i, end) in ends.iter().enumerate() {
                for &c in self.children(*n, *end) {
                    next_flat.extend_from_slice(&flat[i * depth..(i + 1) * depth]);
                    next_flat.push((*n, c));
                    next_ends.push(c);
                }
            }
            flat = next_flat;
            ends = next_ends;
        }
        Elements {
            stride: chain.len(),
            count: ends.len(),
            flat,
        }
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

    /// The related elements of `node`, filtered and (when `sorted`: a `count` needs no
    /// order) sorted, and the order to read them in.
    fn ordered(
        &self,
        node: usize,
        filter: Option<&Compiled>,
        sort: &[(Compiled, bool)],
        sorted: bool,
        scope: &mut Vec<Binding>,
    ) -> (Elements, Vec<usize>) {
        let elements = self.elements(node, scope);
        let sort = if sorted { sort } else { &[] };
        // `(element, offset of its sort keys in keys)`; the keys are read in place where they
        // are fields or literals (no copy of a string to sort by it).
        let mut items: Vec<(usize, usize)> = Vec::with_capacity(elements.count);
        let mut keys: Vec<Cow<'_, Value>> = Vec::with_capacity(elements.count * sort.len());
        for i in 0..elements.count {
            let element = elements.get(i);
            let depth = scope.len();
            scope.extend_from_slice(element);
            let keep = filter.is_none_or(|f| ops::truthy(&self.eval_cow(f, scope)));
            if keep {
                items.push((i, keys.len()));
                for (k, _) in sort {
                    keys.push(self.eval_cow(k, scope));
                }
            }
            scope.truncate(depth);
        }
        // One-hop children are loaded in primary-key order already: nothing to sort.
        if sorted && !(sort.is_empty() && elements.stride <= 1) {
            // The primary-key order of the elements' records is the order of their indexes:
            // a child node's records are loaded sorted by primary key (unique), and the last
            // record of a chain is never the root's.
            let pk = |i: usize| elements.get(i).last().map(|(_, r)| *r);
            let n = sort.len();
            items.sort_by(|(ea, ka), (eb, kb)| {
                for ((a, b), (_, descending)) in
                    keys[*ka..*ka + n].iter().zip(&keys[*kb..*kb + n]).zip(sort)
                {
                    let o = a.total_cmp(b);
                    let o = if *descending { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                pk(*ea).cmp(&pk(*eb))
            });
        }
        let order = items.into_iter().map(|(i, _)| i).collect();
        (elements, order)
    }

    /// The value of field `name` (at `slot`, then `rest`) of the `node` record in scope, read
    /// in place (null when the record is not reached or the field is missing).
    fn field_ref(
        &self,
        node: usize,
        name: &str,
        slot: Option<usize>,
        rest: &[String],
        scope: &[Binding],
    ) -> &'a Value {
        let Some(r) = self.reach(node, scope) else {
            return &NULL;
        };
        let value = match slot {
            Some(i) if self.exact.get(node).copied().unwrap_or(false) => {
                r.fields.get_index(i).map(|(_, v)| v)
            }
            _ => slot_field(&r.fields, slot, name),
        };
        value.map_or(&NULL, |v| v.get_path(rest))
    }

    /// [`Evaluator::eval`] without copying what can be read in place (fields, literals): for
    /// operands, filters, sort keys and aggregated values, which are read and dropped.
    fn eval_cow<'s>(&'s self, expr: &'s Compiled, scope: &mut Vec<Binding>) -> Cow<'s, Value> {
        match expr {
            Compiled::Literal(v) => Cow::Borrowed(v),
            Compiled::Field {
                node,
                name: Some(name),
                slot,
                rest,
            } => Cow::Borrowed(self.field_ref(*node, name, *slot, rest, scope)),
            _ => Cow::Owned(self.eval(expr, scope)),
        }
    }

    /// How many chains of related records lead from the scope down to `node` (what
    /// [`Evaluator::elements`] would list), without listing them.
    fn count(&self, node: usize, scope: &[Binding]) -> usize {
        match self.anchor(node, scope) {
            Some(((_, start), chain)) => self.count_below(chain, start),
            None => 0,
        }
    }

    /// The chains below record `index` through `chain` (bottom first).
    fn count_below(&self, chain: &[usize], index: usize) -> usize {
        match chain.split_last() {
            None => 1,
            Some((top, below)) => self
                .children(*top, index)
                .iter()
                .map(|c| self.count_below(below, *c))
                .sum(),
        }
    }

    fn eval(&self, expr: &Compiled, scope: &mut Vec<Binding>) -> Value {
        match expr {
            Compiled::Literal(v) => v.clone(),
            Compiled::Field {
                node,
                name,
                slot,
                rest,
            } => match name {
                None => match self.reach(*node, scope) {
                    None => Value::Null,
                    Some(r) => Value::Object(r.fields.clone()),
                },
                Some(name) => self.field_ref(*node, name, *slot, rest, scope).clone(),
            },
            Compiled::Unary(op, expr) => ops::unary(*op, self.eval(expr, scope)),
            Compiled::Binary(op, left, right) => {
                let l = self.eval_cow(left, scope);
                match op {
                    BinaryOp::And if !ops::truthy(&l) => Value::Bool(false),
                    BinaryOp::Or if ops::truthy(&l) => Value::Bool(true),
                    BinaryOp::Coalesce if !l.is_null() => l.into_owned(),
                    BinaryOp::Coalesce => self.eval(right, scope),
                    _ => ops::binary_ref(*op, &l, &self.eval_cow(right, scope)),
                }
            }
            Compiled::Call(function, args) => {
                let values: Vec<Value> = args.iter().map(|a| self.eval(a, scope)).collect();
                match function.map(|f| f(&values)) {
                    Some(Ok(v)) => v,
                    _ => {
                        self.errors.set(self.errors.get() + 1);
                        Value::Null
                    }
                }
            }
            Compiled::If(branches, otherwise) => {
                for (when, then) in branches {
                    if ops::truthy(&self.eval_cow(when, scope)) {
                        return self.eval(then, scope);
                    }
                }
                self.eval(otherwise, scope)
            }
            Compiled::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (name, e) in fields {
                    let v = self.eval(e, scope);
                    out.insert(name.clone(), v);
                }
                Value::Object(out)
            }
            Compiled::Collect {
                node,
                filter,
                sort,
                limit,
                element,
            } => {
                let (elements, mut order) =
                    self.ordered(*node, filter.as_deref(), sort, true, scope);
                if let Some(l) = limit {
                    order.truncate(*l);
                }
                Value::Array(
                    order
                        .iter()
                        .map(|i| self.with(scope, elements.get(*i), |s, sc| s.eval(element, sc)))
                        .collect(),
                )
            }
            Compiled::Aggregate {
                function: AggregateFn::Count,
                node,
                filter: None,
                value: None,
                ..
            } => Value::Int(self.count(*node, scope) as i64),
            Compiled::Aggregate {
                function,
                node,
                filter,
                sort,
                value,
                zero,
            } => {
                let sorted = *function != AggregateFn::Count;
                let (elements, order) = self.ordered(*node, filter.as_deref(), sort, sorted, scope);
                let mut values: Vec<Cow<'_, Value>> = Vec::new();
                if let Some(v) = value {
                    values.reserve(order.len());
                    for i in &order {
                        let depth = scope.len();
                        scope.extend_from_slice(elements.get(*i));
                        values.push(self.eval_cow(v, scope));
                        scope.truncate(depth);
                    }
                }
                let counted = match (function, value) {
                    (AggregateFn::Count, Some(_)) => values.iter().filter(|v| !v.is_null()).count(),
                    _ => order.len(),
                };
                ops::aggregate_ref(*function, &values, counted, zero)
            }
        }
    }
}

/// Resolves expressions of one view against the plan (see [`Compiled`]).
struct Compiler<'a> {
    plan: &'a Plan,
    view: &'a SingleView,
}

impl Compiler<'_> {
    fn boxed(&self, expr: &Expr) -> Box<Compiled> {
        Box::new(self.compile(expr))
    }

    fn sort(&self, sort: &[fdc_plan::SortKey]) -> Vec<(Compiled, bool)> {
        sort.iter()
            .map(|k| (self.compile(&k.expr), k.descending))
            .collect()
    }

    fn compile(&self, expr: &Expr) -> Compiled {
        match expr {
            Expr::Literal { value, ty } => Compiled::Literal(
                Value::from_json_typed(value, ty).unwrap_or_else(|| Value::from_json(value)),
            ),
            Expr::Field { node, path } => {
                let (name, rest) = match path.split_first() {
                    Some((first, rest)) => (Some(first.clone()), rest.to_vec()),
                    None => (None, Vec::new()),
                };
                let slot = name.as_ref().and_then(|name| {
                    let n = self.view.nodes.get(*node)?;
                    let p = self.plan.projection(&n.projection)?;
                    p.fields.iter().position(|f| &f.name == name)
                });
                Compiled::Field {
                    node: *node,
                    name,
                    slot,
                    rest,
                }
            }
            Expr::Unary { op, expr } => Compiled::Unary(*op, self.boxed(expr)),
            Expr::Binary { op, left, right } => {
                Compiled::Binary(*op, self.boxed(left), self.boxed(right))
            }
            Expr::Call { function, args } => Compiled::Call(
                crate::functions::resolve(function),
                args.iter().map(|a| self.compile(a)).collect(),
            ),
            Expr::If {
                branches,
                otherwise,
            } => Compiled::If(
                branches
                    .iter()
                    .map(|b| (self.compile(&b.when), self.compile(&b.then)))
                    .collect(),
                self.boxed(otherwise),
            ),
            Expr::Object { fields } => Compiled::Object(
                fields
                    .iter()
                    .map(|f| (f.name.as_str().into(), self.compile(&f.expr)))
                    .collect(),
            ),
            Expr::Collect {
                node,
                filter,
                sort,
                limit,
                element,
            } => Compiled::Collect {
                node: *node,
                filter: filter.as_deref().map(|f| self.boxed(f)),
                sort: self.sort(sort),
                limit: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
                element: self.boxed(element),
            },
            Expr::Aggregate {
                function,
                node,
                filter,
                sort,
                value,
            } => Compiled::Aggregate {
                function: *function,
                node: *node,
                filter: filter.as_deref().map(|f| self.boxed(f)),
                sort: self.sort(sort),
                value: value.as_deref().map(|v| self.boxed(v)),
                zero: value
                    .as_deref()
                    .map(|v| zero_of(&self.static_type(v)))
                    .unwrap_or(Value::Int(0)),
            },
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
