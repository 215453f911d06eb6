//! Hover text: what the name or expression under the cursor is.
//!
//! In: an [`Analysis`] and a byte offset in one of its files. Out: Markdown: for a field, its
//! declaration, type and nullability and where it comes from; for a relation, its cardinality
//! and conditions; for a function or cast, its signature and documentation from the catalogue;
//! for a single-view field, its type and (when the program compiles) its lineage as
//! `fdc explain VIEW.FIELD` prints it; for any other expression, its type.
//!
//! Guarantees: every fact shown comes from the checker's facts, the AST or the catalogue (no
//! resolution of its own); `None` when there is nothing to say.

use fdc_plan::functions;

use super::{touches, Analysis};
use crate::check::facts::Symbol;
use crate::syntax::ast::{self, FileId, Span};

/// A hover: Markdown and the span it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Hover {
    pub markdown: String,
    pub span: Span,
}

/// The hover at `offset` of `file`.
pub fn hover(a: &Analysis, file: FileId, offset: usize) -> Option<Hover> {
    if let Some((span, f)) = function_at(a, file, offset) {
        return Some(Hover {
            markdown: function_doc(f),
            span,
        });
    }
    if let Some((span, markdown)) = aggregate_at(a, file, offset) {
        return Some(Hover { markdown, span });
    }
    if let Some(o) = a.symbol_at(file, offset) {
        let mut md = symbol_doc(a, &o.symbol)?;
        if !o.declaration {
            // The type of the path this name ends (`customers.email`), when it is one.
            let ends_here = |s: &Span| s.end == o.span.end && s.start <= o.span.start;
            if let Some((s, t)) = a.type_at(file, offset).filter(|(s, _)| ends_here(s)) {
                md = format!("`{}`: `{t}`\n\n{md}", slice(a, s));
            }
        }
        return Some(Hover {
            markdown: md,
            span: o.span,
        });
    }
    let (span, t) = a.type_at(file, offset)?;
    Some(Hover {
        markdown: format!("```fdl\n{}\n```\ntype `{t}`", one_line(slice(a, span))),
        span,
    })
}

/// The text of `span`.
fn slice(a: &Analysis, span: Span) -> &str {
    a.text(span.file).get(span.start..span.end).unwrap_or("")
}

/// `text` with runs of white space made one space (declarations shown on one line).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The function or cast whose name is at `offset`.
fn function_at(
    a: &Analysis,
    file: FileId,
    offset: usize,
) -> Option<(Span, &'static functions::Function)> {
    let f = a.file(file)?;
    let mut found = None;
    for item in &f.items {
        match item {
            ast::Item::System(s) => {
                for p in &s.projections {
                    for i in &p.items {
                        if let ast::ProjectionItem::Field(fd) = i {
                            for c in &fd.casts {
                                if touches(c.name.span, file, offset) {
                                    found =
                                        functions::lookup(&c.name.name).map(|f| (c.name.span, f));
                                }
                            }
                        }
                    }
                }
            }
            ast::Item::SingleView(v) if touches(v.span, file, offset) => {
                for i in &v.items {
                    if let ast::ViewItem::Mapping(m) = i {
                        super::visit_exprs(&m.value, &mut |e| {
                            if let ast::ExprKind::Call { name, .. } = &e.kind {
                                if touches(name.span, file, offset) {
                                    found = functions::lookup(&name.name).map(|f| (name.span, f));
                                }
                            }
                        });
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// The aggregate (`count`, `sum`...) whose name is at `offset`, with its documentation (the
/// rules of the language reference, "Aggregates").
fn aggregate_at(a: &Analysis, file: FileId, offset: usize) -> Option<(Span, String)> {
    let f = a.file(file)?;
    let mut found = None;
    for item in &f.items {
        let ast::Item::SingleView(v) = item else {
            continue;
        };
        for i in &v.items {
            if let ast::ViewItem::Mapping(m) = i {
                super::visit_exprs(&m.value, &mut |e| {
                    if let ast::ExprKind::Aggregate { function, .. } = &e.kind {
                        if touches(function.span, file, offset) {
                            found = Some((function.span, aggregate_doc(function.value)));
                        }
                    }
                });
            }
        }
    }
    found
}

fn aggregate_doc(f: fdc_plan::AggregateFn) -> String {
    use fdc_plan::AggregateFn as A;
    let name = f.name();
    let what = match f {
        A::Count => "the number of records (`count(PATH)`) or of non-null values (`count(PATH.field)`); 0 on no records",
        A::Sum => "the sum of the numbers; 0 of the value's type on no records",
        A::Min => "the smallest of the ordered values; null on no records",
        A::Max => "the largest of the ordered values; null on no records",
        A::Avg => "the mean of the numbers (a float for ints); null on no records",
        A::First => "the first value (or record, without a field) in `sort by` order; null on no records",
        A::Last => "the last value (or record, without a field) in `sort by` order; null on no records",
    };
    format!(
        "```fdl\n{name}(PATH.field | EXPRESSION of PATH [where CONDITION] [sort by KEY [asc|desc], ...])\n```\naggregate: {what}. The path must cross a `many` hop; nulls are skipped."
    )
}

/// The catalogue's documentation of a function.
pub fn function_doc(f: &functions::Function) -> String {
    let mut s = format!("```fdl\n{}\n```\n{}", f.signature, f.summary);
    s.push_str(&format!("\n\nnull: {}", f.on_null));
    s.push_str(&format!("\n\nbad input: {}", f.on_bad_input));
    if f.cast {
        s.push_str("\n\nusable as a cast: `<- COLUMN | ");
        s.push_str(f.name);
        s.push('`');
    }
    s
}

/// What a symbol is, from its declaration.
fn symbol_doc(a: &Analysis, symbol: &Symbol) -> Option<String> {
    let d = a.definition(symbol)?;
    let decl = slice(a, d.decl);
    Some(match symbol {
        Symbol::Field { projection, field } => {
            let p = projection_decl(a, projection)?;
            let fd = p.items.iter().find_map(|i| match i {
                ast::ProjectionItem::Field(fd) if fd.name.name == *field => Some(fd),
                _ => None,
            })?;
            let ty = fd.ty.to_string();
            let null = if fd.ty.nullable {
                "nullable"
            } else {
                "never null"
            };
            let column = fd
                .source
                .as_ref()
                .map(|c| one_line(slice(a, c.span)))
                .unwrap_or_else(|| field.clone());
            format!(
                "```fdl\n{}\n```\nfield `{projection}.{field}`: `{ty}` ({null}), from column `{column}` of topic `{}` ({})",
                one_line(decl),
                p.topic.value,
                p.format.name
            )
        }
        Symbol::Projection(name) => {
            let p = projection_decl(a, name)?;
            let fields = p
                .items
                .iter()
                .filter(|i| matches!(i, ast::ProjectionItem::Field(_)))
                .count();
            let key = p
                .items
                .iter()
                .find_map(|i| match i {
                    ast::ProjectionItem::Key(k) => Some(
                        k.names
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    _ => None,
                })
                .unwrap_or_default();
            format!(
                "```fdl\nprojection {name} from \"{}\" as {}\n```\nprojection `{name}`: {fields} field(s), key ({key})",
                p.topic.value, p.format.name
            )
        }
        Symbol::Relation(name) => {
            let r = a
                .files
                .iter()
                .flat_map(|f| &f.items)
                .find_map(|i| match i {
                    ast::Item::Relation(r) if r.name.name == *name => Some(r),
                    _ => None,
                })?;
            let ends = |e: &ast::Endpoint| {
                e.fields
                    .first()
                    .map(|q| q.projection.name.clone())
                    .unwrap_or_default()
            };
            let (left, right) = (ends(&r.left), ends(&r.right));
            let card = if r.many.value {
                format!("one `{left}` to many `{right}`")
            } else {
                format!("one `{left}` to one `{right}`")
            };
            let conditions = if r.conditions.is_empty() {
                "no condition".to_string()
            } else {
                r.conditions
                    .iter()
                    .map(|c| format!("`{}`", one_line(slice(a, c.span))))
                    .collect::<Vec<_>>()
                    .join(" and ")
            };
            format!(
                "```fdl\n{}\n```\nrelation `{name}`: {card}; {conditions}",
                one_line(decl)
            )
        }
        Symbol::ViewField { view, field } => {
            let ty = a
                .program
                .views
                .iter()
                .find(|v| v.plan.name == *view)
                .and_then(|v| {
                    let i = v.plan.mapping.iter().position(|m| m.name == *field)?;
                    v.field_types.get(i).map(|t| t.to_string())
                });
            let mut s = format!("```fdl\n{}\n```", first_line(decl));
            if let Some(ty) = ty {
                s.push_str(&format!("\nsingle-view field `{view}.{field}`: `{ty}`"));
            }
            if let Some(plan) = &a.plan {
                if let Ok(e) = crate::explain::explain(plan, view, Some(field)) {
                    s.push_str("\n\nlineage (`fdc explain ");
                    s.push_str(&format!("{view}.{field}`):\n```text\n"));
                    s.push_str(&lineage_text(&e));
                    s.push_str("```");
                }
            }
            s
        }
        Symbol::View(name) => format!("```fdl\nsingle view {name}\n```"),
        Symbol::Format(name) => format!("```fdl\n{}\n```\nmessage format `{name}`", decl.trim()),
        Symbol::System(name) => format!("```fdl\nsystem {name}\n```"),
    })
}

/// The lineage part of `fdc explain VIEW.FIELD`.
fn lineage_text(e: &crate::explain::Explanation) -> String {
    let text = e.to_text();
    match text.find("\nlineage:\n") {
        Some(i) => text[i + "\nlineage:\n".len()..].to_string(),
        None => text,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The declaration of projection `name`.
pub(super) fn projection_decl<'a>(a: &'a Analysis, name: &str) -> Option<&'a ast::Projection> {
    a.files
        .iter()
        .flat_map(|f| &f.items)
        .filter_map(|i| match i {
            ast::Item::System(s) => Some(s),
            _ => None,
        })
        .flat_map(|s| &s.projections)
        .find(|p| p.name.name == name)
}
