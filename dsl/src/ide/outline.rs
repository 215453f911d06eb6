//! The outline of one file: its declarations as a tree (document symbols).
//!
//! In: a parsed [`ast::File`] and its text. Out: [`OutlineItem`]s: systems with their
//! projections and fields, formats, relations, single views with their mapped fields.
//!
//! Guarantees: read from the AST alone (works on a file whose program has check errors); each
//! item's name span lies inside its span, and children lie inside their parent.

use crate::syntax::ast::{self, Span};

/// What an outline item declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlineKind {
    System,
    Projection,
    Field,
    Format,
    Relation,
    View,
    Mapping,
}

/// One declaration in the outline.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlineItem {
    pub name: String,
    /// A short description (a field's type, a relation's ends).
    pub detail: Option<String>,
    pub kind: OutlineKind,
    pub span: Span,
    pub name_span: Span,
    pub children: Vec<OutlineItem>,
}

fn leaf(name: &ast::Ident, kind: OutlineKind, span: Span, detail: Option<String>) -> OutlineItem {
    OutlineItem {
        name: name.name.clone(),
        detail,
        kind,
        span,
        name_span: name.span,
        children: Vec::new(),
    }
}

/// The outline of `file` (`text` is its source, for details as written).
pub fn outline(file: &ast::File, text: &str) -> Vec<OutlineItem> {
    let at = |s: Span| text.get(s.start..s.end).unwrap_or("").to_string();
    let mut out = Vec::new();
    for item in &file.items {
        match item {
            ast::Item::Import(_) => {}
            ast::Item::Format(f) => out.push(leaf(&f.name, OutlineKind::Format, f.span, None)),
            ast::Item::System(s) => {
                let mut sys = leaf(&s.name, OutlineKind::System, s.span, None);
                for p in &s.projections {
                    let mut proj = leaf(
                        &p.name,
                        OutlineKind::Projection,
                        p.span,
                        Some(format!("\"{}\" as {}", p.topic.value, p.format.name)),
                    );
                    for i in &p.items {
                        if let ast::ProjectionItem::Field(fd) = i {
                            proj.children.push(leaf(
                                &fd.name,
                                OutlineKind::Field,
                                fd.span,
                                Some(at(fd.ty.span)),
                            ));
                        }
                    }
                    sys.children.push(proj);
                }
                out.push(sys);
            }
            ast::Item::Relation(r) => {
                let detail = format!(
                    "{} -> {} {}",
                    at(r.left.span),
                    if r.many.value { "many" } else { "one" },
                    at(r.right.span)
                );
                out.push(leaf(&r.name, OutlineKind::Relation, r.span, Some(detail)));
            }
            ast::Item::SingleView(v) => {
                let mut view = leaf(&v.name, OutlineKind::View, v.span, None);
                for i in &v.items {
                    if let ast::ViewItem::Mapping(m) = i {
                        view.children
                            .push(leaf(&m.name, OutlineKind::Mapping, m.span, None));
                    }
                }
                out.push(view);
            }
        }
    }
    out
}
