//! What a single view does, derived from the compiled [`Plan`] alone (`fdc explain`).
//!
//! In: a `Plan`, a single view's name and optionally one of its fields (`billing` or
//! `billing.city`; array elements are named `orders[].total`). Out: an [`Explanation`]: the
//! strategies hop by hop with the query each hop runs (`find orders where id $in [values of
//! order_items.order_id]`), its conditions and the index that serves it; and field-level
//! lineage: for every mapped field (nested object and array-element fields included), the
//! expression and each projection field it reads, with the source topic, message format,
//! source column, casts and default on the way. [`Explanation::to_text`] renders it for
//! people; it serializes to JSON for machines.
//!
//! Guarantees: a pure function of the plan (no IO); the order follows the plan (strategies,
//! mapping order), so the output is stable; a missing index is shown, never hidden.

use std::fmt::Write as _;

use fdc_plan::{Expr, FieldCondition, Hop, Plan, SingleView, Type, UnaryOp};
use serde::Serialize;

/// A name that is not a single view (or a field that is not in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// `hint` is `; did you mean ...?` when close names exist, else empty.
    #[error("no single view named `{name}`{hint} (single views: {known})")]
    UnknownView {
        name: String,
        known: String,
        hint: String,
    },
    #[error("single view `{view}` has no field `{field}`{hint} (fields: {known})")]
    UnknownField {
        view: String,
        field: String,
        known: String,
        hint: String,
    },
}

/// Everything `fdc explain` shows about one single view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub view: String,
    pub root: String,
    /// `name = root.field` per key part.
    pub key: Vec<String>,
    pub strategies: Vec<StrategyExplained>,
    pub fields: Vec<FieldLineage>,
}

/// How changes of one projection reach the single view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyExplained {
    pub projection: String,
    pub paths: Vec<PathExplained>,
}

/// One place of the projection in the join tree and the walk back to the root.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathExplained {
    /// Join node the path starts from.
    pub node: usize,
    /// Relations from the root down to that node.
    pub via: Vec<String>,
    /// Declared by a `strategy` override.
    pub explicit: bool,
    /// Empty for the root projection (the key is read from the changed record).
    pub hops: Vec<HopExplained>,
}

/// One hop: a query over a batch of changed (or reached) records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HopExplained {
    pub relation: String,
    /// `find customers where id $in [values of orders.customer_id]`, conditions included.
    pub query: String,
    pub from: String,
    pub from_fields: Vec<String>,
    /// Conditions the records walked from must meet (others are not followed).
    pub from_conditions: Vec<String>,
    pub to: String,
    pub to_fields: Vec<String>,
    pub to_conditions: Vec<String>,
    /// The index serving the query (`primary key` or an index name), if any.
    pub index: Option<String>,
}

/// Where one single-view field comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldLineage {
    /// `name`, `billing.city`, `recent_orders[].total`.
    pub field: String,
    /// The mapping expression, with join nodes named by their relation.
    pub expr: String,
    /// Each projection field read, once, in first-use order.
    pub sources: Vec<SourceField>,
    /// Relations whose related records are iterated (arrays, aggregates), from the root.
    pub iterates: Vec<String>,
}

/// One projection field and how it is fed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceField {
    /// How it is named in the expression (`customer_orders.total`).
    pub name: String,
    pub projection: String,
    /// The field (and object path below it); empty for the whole record.
    pub field: Vec<String>,
    /// Relations from the root to the record.
    pub via: Vec<String>,
    pub ty: Option<String>,
    pub nullable: bool,
    pub topic: String,
    pub format: String,
    /// The source column path in the message's row image.
    pub column: Vec<String>,
    /// Cast chain, as written (`replace(" ", "")`).
    pub casts: Vec<String>,
    pub default: Option<serde_json::Value>,
}

/// `; did you mean ...?` naming the options close to `name` (the checker's similarity), or
/// nothing.
pub(crate) fn hint<'a>(name: &str, options: impl Iterator<Item = &'a str>) -> String {
    crate::check::did_you_mean(&crate::check::suggest(name, options))
        .map(|d| format!("; {d}"))
        .unwrap_or_default()
}

/// Explains `view` of `plan`, or only `field` (and the fields below it) when given.
pub fn explain(plan: &Plan, view: &str, field: Option<&str>) -> Result<Explanation, ExplainError> {
    let Some(v) = plan.single_view(view) else {
        let known: Vec<&str> = plan.single_views.iter().map(|v| v.name.as_str()).collect();
        return Err(ExplainError::UnknownView {
            hint: hint(view, known.iter().copied()),
            name: view.to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    };
    let root = v
        .nodes
        .first()
        .map(|n| n.projection.clone())
        .unwrap_or_default();
    let key = v
        .key
        .iter()
        .map(|k| format!("{} = {root}.{}", k.name, k.field))
        .collect();
    let strategies = v
        .strategies
        .iter()
        .map(|s| StrategyExplained {
            projection: s.projection.clone(),
            paths: s
                .paths
                .iter()
                .map(|p| PathExplained {
                    node: p.node,
                    via: via(v, p.node),
                    explicit: p.explicit,
                    hops: p.hops.iter().map(|h| hop(plan, h)).collect(),
                })
                .collect(),
        })
        .collect();
    let mut fields = Vec::new();
    for m in &v.mapping {
        lineage(plan, v, &m.name, &m.expr, &mut fields);
    }
    if let Some(wanted) = field {
        let all: Vec<String> = fields.iter().map(|f| f.field.clone()).collect();
        fields.retain(|f| {
            f.field == wanted
                || f.field.starts_with(&format!("{wanted}."))
                || f.field.starts_with(&format!("{wanted}[]"))
        });
        if fields.is_empty() {
            return Err(ExplainError::UnknownField {
                hint: hint(wanted, all.iter().map(String::as_str)),
                view: view.to_string(),
                field: wanted.to_string(),
                known: all.join(", "),
            });
        }
    }
    Ok(Explanation {
        view: v.name.clone(),
        root,
        key,
        strategies,
        fields,
    })
}

/// Relations from the root down to `node`.
fn via(v: &SingleView, node: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = Some(node);
    let mut guard = 0;
    while let Some(n) = cur.and_then(|i| v.nodes.get(i)) {
        if let Some(r) = &n.relation {
            out.push(r.clone());
        }
        cur = n.parent;
        guard += 1;
        if guard > v.nodes.len() {
            break;
        }
    }
    out.reverse();
    out
}

fn fields_text(owner: &str, fields: &[String]) -> String {
    match fields {
        [one] => format!("{owner}.{one}"),
        many => {
            let f: Vec<String> = many.iter().map(|f| format!("{owner}.{f}")).collect();
            format!("({})", f.join(", "))
        }
    }
}

fn condition(owner: &str, c: &FieldCondition) -> String {
    format!("{owner}.{} {} {}", c.field, c.op.symbol(), c.value)
}

/// The index of `projection` whose leading fields are exactly `fields` (in any order).
fn index_for(plan: &Plan, projection: &str, fields: &[String]) -> Option<String> {
    let p = plan.projection(projection)?;
    let covers = |cols: &[String]| {
        cols.len() >= fields.len() && fields.iter().all(|f| cols[..fields.len()].contains(f))
    };
    if covers(&p.key) {
        return Some("primary key".into());
    }
    p.indexes
        .iter()
        .find(|i| covers(&i.fields))
        .map(|i| i.name.clone())
}

fn hop(plan: &Plan, h: &Hop) -> HopExplained {
    let to_fields = match h.to_fields.as_slice() {
        [one] => one.clone(),
        many => format!("({})", many.join(", ")),
    };
    let mut query = format!(
        "find {} where {to_fields} $in [values of {}]",
        h.to,
        fields_text(&h.from, &h.from_fields)
    );
    let to_conditions: Vec<String> = h
        .to_conditions
        .iter()
        .map(|c| condition(&h.to, c))
        .collect();
    for c in &to_conditions {
        query.push_str(" and ");
        query.push_str(c);
    }
    HopExplained {
        relation: h.relation.clone(),
        query,
        from: h.from.clone(),
        from_fields: h.from_fields.clone(),
        from_conditions: h
            .from_conditions
            .iter()
            .map(|c| condition(&h.from, c))
            .collect(),
        to: h.to.clone(),
        to_fields: h.to_fields.clone(),
        to_conditions,
        index: index_for(plan, &h.to, &h.to_fields),
    }
}

/// Adds the lineage of `name = expr`, then of the fields nested in it.
fn lineage(plan: &Plan, v: &SingleView, name: &str, expr: &Expr, out: &mut Vec<FieldLineage>) {
    let mut sources = Vec::new();
    let mut iterates = Vec::new();
    collect_sources(plan, v, expr, &mut sources, &mut iterates);
    out.push(FieldLineage {
        field: name.to_string(),
        expr: expr_text(v, expr),
        sources,
        iterates,
    });
    match expr {
        Expr::Object { fields } => {
            for f in fields {
                lineage(plan, v, &format!("{name}.{}", f.name), &f.expr, out);
            }
        }
        Expr::Collect { element, .. } => {
            if let Expr::Object { fields } = element.as_ref() {
                for f in fields {
                    lineage(plan, v, &format!("{name}[].{}", f.name), &f.expr, out);
                }
            }
        }
        _ => {}
    }
}

fn node_name(v: &SingleView, node: usize) -> String {
    match v.nodes.get(node) {
        Some(n) => n.relation.clone().unwrap_or_else(|| n.projection.clone()),
        None => format!("node{node}"),
    }
}

fn collect_sources(
    plan: &Plan,
    v: &SingleView,
    e: &Expr,
    out: &mut Vec<SourceField>,
    iterates: &mut Vec<String>,
) {
    let each = |sub: &Expr, out: &mut Vec<SourceField>, it: &mut Vec<String>| {
        collect_sources(plan, v, sub, out, it)
    };
    match e {
        Expr::Literal { .. } => {}
        Expr::Field { node, path } => {
            let name = if path.is_empty() {
                node_name(v, *node)
            } else {
                format!("{}.{}", node_name(v, *node), path.join("."))
            };
            if out.iter().any(|s| s.name == name) {
                return;
            }
            let projection = v
                .nodes
                .get(*node)
                .map(|n| n.projection.clone())
                .unwrap_or_default();
            let proj = plan.projection(&projection);
            let field = path.first().and_then(|f| proj.and_then(|p| p.field(f)));
            out.push(SourceField {
                name,
                projection: projection.clone(),
                field: path.clone(),
                via: via(v, *node),
                ty: field.map(|f| f.ty.to_string()),
                nullable: field.is_some_and(|f| f.nullable),
                topic: proj.map(|p| p.topic.clone()).unwrap_or_default(),
                format: proj.map(|p| p.format.to_string()).unwrap_or_default(),
                column: field.map(|f| f.source.clone()).unwrap_or_default(),
                casts: field
                    .map(|f| {
                        f.casts
                            .iter()
                            .map(|c| {
                                if c.args.is_empty() {
                                    c.function.clone()
                                } else {
                                    let a: Vec<String> =
                                        c.args.iter().map(|a| a.to_string()).collect();
                                    format!("{}({})", c.function, a.join(", "))
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                default: field.and_then(|f| f.default.clone()),
            });
        }
        Expr::Unary { expr, .. } => each(expr, out, iterates),
        Expr::Binary { left, right, .. } => {
            each(left, out, iterates);
            each(right, out, iterates);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| each(a, out, iterates)),
        Expr::If {
            branches,
            otherwise,
        } => {
            for b in branches {
                each(&b.when, out, iterates);
                each(&b.then, out, iterates);
            }
            each(otherwise, out, iterates);
        }
        Expr::Object { fields } => fields.iter().for_each(|f| each(&f.expr, out, iterates)),
        Expr::Collect {
            node,
            filter,
            sort,
            element,
            ..
        } => {
            let path = via(v, *node).join(" > ");
            if !iterates.contains(&path) {
                iterates.push(path);
            }
            if let Some(f) = filter {
                each(f, out, iterates);
            }
            sort.iter().for_each(|k| each(&k.expr, out, iterates));
            each(element, out, iterates);
        }
        Expr::Aggregate {
            node,
            filter,
            sort,
            value,
            ..
        } => {
            let path = via(v, *node).join(" > ");
            if !iterates.contains(&path) {
                iterates.push(path);
            }
            if let Some(f) = filter {
                each(f, out, iterates);
            }
            sort.iter().for_each(|k| each(&k.expr, out, iterates));
            if let Some(val) = value {
                each(val, out, iterates);
            }
        }
    }
}

/// A compiled expression as readable text; join nodes are named by their relation (the root
/// by its projection); nested operations are parenthesized.
pub fn expr_text(v: &SingleView, e: &Expr) -> String {
    let sub = |x: &Expr| {
        let t = expr_text(v, x);
        if matches!(x, Expr::Binary { .. } | Expr::If { .. }) {
            format!("({t})")
        } else {
            t
        }
    };
    let clauses = |filter: &Option<Box<Expr>>, sort: &[fdc_plan::SortKey]| {
        let mut s = String::new();
        if let Some(f) = filter {
            s.push_str(&format!(" where {}", expr_text(v, f)));
        }
        if !sort.is_empty() {
            let keys: Vec<String> = sort
                .iter()
                .map(|k| {
                    format!(
                        "{}{}",
                        sub(&k.expr),
                        if k.descending { " desc" } else { "" }
                    )
                })
                .collect();
            s.push_str(&format!(" sort by {}", keys.join(", ")));
        }
        s
    };
    match e {
        Expr::Literal { value, ty } => match (ty, value) {
            (Type::Decimal, serde_json::Value::String(d)) => format!("{d}d"),
            (Type::Date, serde_json::Value::String(d)) => format!("date \"{d}\""),
            (Type::Datetime, serde_json::Value::String(d)) => format!("datetime \"{d}\""),
            _ => value.to_string(),
        },
        Expr::Field { node, path } => {
            let mut s = node_name(v, *node);
            for p in path {
                s.push('.');
                s.push_str(p);
            }
            s
        }
        Expr::Unary { op, expr } => match op {
            UnaryOp::Not => format!("not {}", sub(expr)),
            UnaryOp::Neg => format!("-{}", sub(expr)),
        },
        Expr::Binary { op, left, right } => {
            format!("{} {} {}", sub(left), op.symbol(), sub(right))
        }
        Expr::Call { function, args } => {
            let a: Vec<String> = args.iter().map(|a| expr_text(v, a)).collect();
            format!("{function}({})", a.join(", "))
        }
        Expr::If {
            branches,
            otherwise,
        } => {
            let mut s = String::new();
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    s.push_str(" else ");
                }
                let _ = write!(s, "if {} then {}", sub(&b.when), sub(&b.then));
            }
            let _ = write!(s, " else {}", sub(otherwise));
            s
        }
        Expr::Object { fields } => {
            let f: Vec<String> = fields
                .iter()
                .map(|f| format!("{} = {}", f.name, expr_text(v, &f.expr)))
                .collect();
            format!("{{ {} }}", f.join(", "))
        }
        Expr::Collect {
            node,
            filter,
            sort,
            limit,
            element,
        } => {
            let el = match element.as_ref() {
                o @ Expr::Object { .. } => format!(" {}", expr_text(v, o)),
                Expr::Field { node: n, path } if n == node && path.is_empty() => String::new(),
                other => format!(" ({})", expr_text(v, other)),
            };
            let mut s = format!("{}[]{el}{}", node_name(v, *node), clauses(filter, sort));
            if let Some(l) = limit {
                let _ = write!(s, " limit {l}");
            }
            s
        }
        Expr::Aggregate {
            function,
            node,
            filter,
            sort,
            value,
        } => {
            let val = match value {
                Some(x) => expr_text(v, x),
                None => node_name(v, *node),
            };
            format!("{}({val}{})", function.name(), clauses(filter, sort))
        }
    }
}

impl Explanation {
    /// The explanation for people.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "single view {}", self.view);
        let _ = writeln!(s, "  root {}, key {}", self.root, self.key.join(", "));
        let _ = writeln!(
            s,
            "\nstrategies (a changed record -> the single-view keys it affects):"
        );
        for st in &self.strategies {
            for p in &st.paths {
                let how = if p.explicit { "explicit" } else { "derived" };
                if p.hops.is_empty() {
                    let _ = writeln!(
                        s,
                        "  {}: the root; the key is read from the changed record",
                        st.projection
                    );
                    continue;
                }
                let _ = writeln!(
                    s,
                    "  {} (node {}, reached via {}; {how}):",
                    st.projection,
                    p.node,
                    p.via.join(" > ")
                );
                for (i, h) in p.hops.iter().enumerate() {
                    let _ = writeln!(s, "    {}. {}", i + 1, h.query);
                    if !h.from_conditions.is_empty() {
                        let _ = writeln!(
                            s,
                            "       only {} records where {}",
                            h.from,
                            h.from_conditions.join(" and ")
                        );
                    }
                    match &h.index {
                        Some(ix) => {
                            let _ = writeln!(s, "       index: {ix} of {}", h.to);
                        }
                        None => {
                            let _ = writeln!(
                                s,
                                "       index: MISSING on {} ({})",
                                h.to,
                                h.to_fields.join(", ")
                            );
                        }
                    }
                }
                let _ = writeln!(s, "    then key {}", self.key.join(", "));
            }
        }
        let _ = writeln!(s, "\nlineage:");
        for f in &self.fields {
            let _ = writeln!(s, "  {} = {}", f.field, f.expr);
            for it in &f.iterates {
                let _ = writeln!(s, "    iterates {it}");
            }
            for src in &f.sources {
                let mut line = format!("    {}", src.name);
                if let Some(ty) = &src.ty {
                    let _ = write!(line, " {ty}{}", if src.nullable { "?" } else { "" });
                }
                let _ = write!(line, " <- topic \"{}\" ({})", src.topic, src.format);
                if !src.column.is_empty() {
                    let _ = write!(line, " column {}", src.column.join("."));
                }
                for c in &src.casts {
                    let _ = write!(line, " | {c}");
                }
                if let Some(d) = &src.default {
                    let _ = write!(line, " (default {d})");
                }
                if !src.via.is_empty() {
                    let _ = write!(line, " via {}", src.via.join(" > "));
                }
                let _ = writeln!(s, "{line}");
            }
        }
        s
    }
}
