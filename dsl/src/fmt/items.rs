//! Layout of declarations: imports, formats, systems and projections, relations, single views.
//!
//! In: the [`Printer`] and a file's items. Out: their text, one item per line, with aligned
//! columns in groups of consecutive lines (a blank line, a comment on its own line or another
//! kind of line ends a group; a multi-line mapping ends the group it closes).

use crate::syntax::ast::*;

use super::expr::{self, literal, quote};
use super::{Line, Printer};

/// The whole file.
pub(super) fn file(p: &mut Printer, file: &File) -> String {
    let mut out = String::new();
    let mut prev: Option<&Item> = None;
    for item in &file.items {
        let span = item.span();
        let force_blank = prev.is_some_and(|prev| {
            !matches!(
                (prev, item),
                (Item::Relation(_), Item::Relation(_)) | (Item::Import(_), Item::Import(_))
            )
        });
        let at = Line {
            indent: 0,
            start: span.start,
            end: span.end,
            first: out.is_empty(),
            force_blank,
        };
        out.push_str(&p.node(at, "", |p| top_item(p, item)));
        prev = Some(item);
    }
    out
}

fn top_item(p: &mut Printer, item: &Item) -> String {
    match item {
        Item::Import(i) => {
            p.hoist(i.span.end);
            format!("import {}", quote(&i.path.value))
        }
        Item::Format(f) => format_decl(p, f),
        Item::System(s) => system(p, s),
        Item::Relation(r) => relation(p, r),
        Item::SingleView(v) => single_view(p, v),
    }
}

/// `header {`, then the children produced by `body` at `indent + 2`, then the comments left
/// before the closing brace, then `}`.
fn block(
    p: &mut Printer,
    indent: usize,
    header: String,
    header_end: usize,
    span: Span,
    body: impl FnOnce(&mut Printer) -> String,
) -> String {
    let brace = p.brace_after(header_end);
    p.hoist(brace);
    let mut s = header;
    s.push_str(" {");
    s.push_str(&p.trailing(brace + 1));
    s.push('\n');
    let children = body(p);
    let first = children.is_empty();
    s.push_str(&children);
    s.push_str(&p.comments_until(span.end.saturating_sub(1), indent + 2, first));
    s.push_str(&" ".repeat(indent));
    s.push('}');
    s
}

// ---- formats ---------------------------------------------------------------------------------

fn format_decl(p: &mut Printer, f: &FormatDecl) -> String {
    let header = format!("format {}", f.name.name);
    block(p, 0, header, f.name.span.end, f.span, |p| {
        let spans: Vec<(Span, Option<usize>, bool)> = f
            .items
            .iter()
            .map(|i| match i {
                FormatItem::Path { slot, span, .. } => {
                    (*span, Some(slot.value.keyword().len()), false)
                }
                FormatItem::Codes { span, .. } => (*span, None, false),
            })
            .collect();
        let pads = align(p, &spans);
        let mut out = String::new();
        for (i, item) in f.items.iter().enumerate() {
            let (span, _, _) = spans[i];
            let at = Line {
                indent: 2,
                start: span.start,
                end: span.end,
                first: i == 0,
                force_blank: false,
            };
            out.push_str(&p.node(at, "", |p| {
                p.hoist(span.end);
                match item {
                    FormatItem::Path { slot, path, .. } => format!(
                        "{} = {}",
                        super::pad(slot.value.keyword(), pads[i]),
                        message_path(path)
                    ),
                    FormatItem::Codes { kind, codes, .. } => {
                        let codes: Vec<String> = codes.iter().map(|c| quote(&c.value)).collect();
                        format!("{} {}", kind.value.keyword(), codes.join(", "))
                    }
                }
            }));
        }
        out
    })
}

fn message_path(m: &MessagePath) -> String {
    let mut s = match &m.part.value {
        MessagePart::Key => "key".to_string(),
        MessagePart::Value => "value".to_string(),
        MessagePart::Timestamp => "timestamp".to_string(),
        MessagePart::Header(h) => format!("header {}", quote(h)),
    };
    for seg in &m.segments {
        s.push('.');
        if expr::is_plain_ident(&seg.value) {
            s.push_str(&seg.value);
        } else {
            s.push_str(&quote(&seg.value));
        }
    }
    s
}

// ---- systems and projections -----------------------------------------------------------------

fn system(p: &mut Printer, s: &System) -> String {
    let header = format!("system {}", s.name.name);
    block(p, 0, header, s.name.span.end, s.span, |p| {
        let mut out = String::new();
        for (i, proj) in s.projections.iter().enumerate() {
            let at = Line {
                indent: 2,
                start: proj.span.start,
                end: proj.span.end,
                first: i == 0,
                force_blank: i > 0,
            };
            out.push_str(&p.node(at, "", |p| projection(p, proj)));
        }
        out
    })
}

fn projection(p: &mut Printer, proj: &Projection) -> String {
    let header = format!(
        "projection {} from {} as {}",
        proj.name.name,
        quote(&proj.topic.value),
        proj.format.name
    );
    block(p, 2, header, proj.format.span.end, proj.span, |p| {
        let cols = field_columns(p, &proj.items);
        let mut out = String::new();
        let mut prev_end = proj.format.span.end;
        for (i, item) in proj.items.iter().enumerate() {
            let span = projection_item_span(item);
            // A key's span is its name list's; the line starts at the `key` keyword.
            let start = match item {
                ProjectionItem::Key(_) => p.word_in(prev_end, span.start, "key"),
                _ => span.start,
            };
            prev_end = span.end;
            let at = Line {
                indent: 4,
                start,
                end: span.end,
                first: i == 0,
                force_blank: false,
            };
            out.push_str(&p.node(at, "", |p| {
                p.hoist(span.end);
                projection_item(item, cols[i])
            }));
        }
        out
    })
}

fn projection_item_span(item: &ProjectionItem) -> Span {
    match item {
        ProjectionItem::Field(f) => f.span,
        ProjectionItem::Key(k) => k.span,
        ProjectionItem::Index { span, .. } | ProjectionItem::Delete { span, .. } => *span,
        ProjectionItem::Publish(pb) => pb.span,
    }
}

/// Column widths (name, type) of each projection item's group; (0, 0) for non-fields.
fn field_columns(p: &Printer, items: &[ProjectionItem]) -> Vec<(usize, usize)> {
    let mut cols = vec![(0, 0); items.len()];
    let mut group: Vec<usize> = Vec::new();
    let mut prev_end: Option<usize> = None;
    let close = |group: &mut Vec<usize>, cols: &mut Vec<(usize, usize)>| {
        let name_w = group
            .iter()
            .filter_map(|&i| match &items[i] {
                ProjectionItem::Field(f) => Some(f.name.name.len()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let ty_w = group
            .iter()
            .filter_map(|&i| match &items[i] {
                ProjectionItem::Field(f) => Some(f.ty.to_string().len()),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        for &i in group.iter() {
            cols[i] = (name_w, ty_w);
        }
        group.clear();
    };
    for (i, item) in items.iter().enumerate() {
        let span = projection_item_span(item);
        let separated = prev_end.is_some_and(|pe| {
            p.blank_before(span.start) || p.own_line_comment_between(pe, span.end)
        });
        match item {
            ProjectionItem::Field(_) => {
                if separated {
                    close(&mut group, &mut cols);
                }
                group.push(i);
            }
            _ => close(&mut group, &mut cols),
        }
        prev_end = Some(span.end);
    }
    close(&mut group, &mut cols);
    cols
}

fn projection_item(item: &ProjectionItem, (name_w, ty_w): (usize, usize)) -> String {
    match item {
        ProjectionItem::Field(f) => {
            let mut rest = String::new();
            if let Some(src) = &f.source {
                let path: Vec<&str> = src.segments.iter().map(|s| s.name.as_str()).collect();
                rest.push_str(&format!(" <- {}", path.join(".")));
            }
            for c in &f.casts {
                rest.push_str(&format!(" | {}", cast_call(c)));
            }
            if let Some(d) = &f.default {
                rest.push_str(&format!(" = {}", literal(&d.value)));
            }
            if rest.is_empty() {
                format!("{} {}", super::pad(&f.name.name, name_w), f.ty)
            } else {
                format!(
                    "{} {}{rest}",
                    super::pad(&f.name.name, name_w),
                    super::pad(&f.ty.to_string(), ty_w)
                )
            }
        }
        ProjectionItem::Key(k) => format!("key {}", name_list(k)),
        ProjectionItem::Index { unique, fields, .. } => {
            let u = if *unique { "unique " } else { "" };
            format!("{u}index {}", name_list(fields))
        }
        ProjectionItem::Delete { hard, .. } => {
            format!("delete {}", if *hard { "hard" } else { "soft" })
        }
        ProjectionItem::Publish(pb) => publish(pb),
    }
}

fn name_list(n: &NameList) -> String {
    let names: Vec<&str> = n.names.iter().map(|i| i.name.as_str()).collect();
    if n.parenthesized || names.len() != 1 {
        format!("({})", names.join(", "))
    } else {
        names.join("")
    }
}

fn publish(pb: &Publish) -> String {
    let mut s = format!("publish updates to {}", quote(&pb.topic.value));
    let images: Vec<&str> = [(pb.before, "before"), (pb.after, "after")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    if !images.is_empty() {
        s.push_str(" with ");
        s.push_str(&images.join(", "));
    }
    s
}

fn cast_call(c: &CastCall) -> String {
    if c.args.is_empty() {
        c.name.name.clone()
    } else {
        let args: Vec<String> = c.args.iter().map(|a| literal(&a.value)).collect();
        format!("{}({})", c.name.name, args.join(", "))
    }
}

// ---- relations -------------------------------------------------------------------------------

fn relation(p: &mut Printer, r: &Relation) -> String {
    p.hoist(r.span.end);
    let mut s = format!(
        "relation {}: {} -> {} {}",
        r.name.name,
        endpoint(&r.left),
        if r.many.value { "many" } else { "one" },
        endpoint(&r.right)
    );
    if r.conditions.is_empty() {
        return s;
    }
    let conds: Vec<String> = r.conditions.iter().map(condition).collect();
    let one_line = format!("  where {}", conds.join(" and "));
    if one_line.chars().count() <= super::WIDTH {
        s.push('\n');
        s.push_str(&one_line);
    } else {
        for (i, c) in conds.iter().enumerate() {
            s.push_str(if i == 0 { "\n  where " } else { "\n    and " });
            s.push_str(c);
        }
    }
    s
}

fn endpoint(e: &Endpoint) -> String {
    let f: Vec<String> = e.fields.iter().map(qualified).collect();
    if f.len() == 1 {
        f.join("")
    } else {
        format!("({})", f.join(", "))
    }
}

pub(super) fn qualified(q: &Qualified) -> String {
    format!("{}.{}", q.projection.name, q.field.name)
}

fn condition(c: &Condition) -> String {
    format!(
        "{} {} {}",
        qualified(&c.target),
        c.op.value.symbol(),
        literal(&c.value.value)
    )
}

// ---- single views ----------------------------------------------------------------------------

fn single_view(p: &mut Printer, v: &SingleView) -> String {
    let header = format!("single view {}", v.name.name);
    block(p, 0, header, v.name.span.end, v.span, |p| {
        let specs: Vec<(Span, Option<usize>, bool)> = v
            .items
            .iter()
            .map(|item| match item {
                ViewItem::Mapping(m) => {
                    let col = 2 + m.name.name.len() + 3;
                    (
                        m.span,
                        Some(m.name.name.len()),
                        expr::breaks(p, &m.value, 2, col),
                    )
                }
                other => (view_item_span(other), None, false),
            })
            .collect();
        let pads = align(p, &specs);
        let mut out = String::new();
        for (i, item) in v.items.iter().enumerate() {
            let span = specs[i].0;
            let at = Line {
                indent: 2,
                start: span.start,
                end: span.end,
                first: i == 0,
                force_blank: false,
            };
            out.push_str(&p.node(at, "", |p| view_item(p, item, pads[i])));
        }
        out
    })
}

fn view_item_span(item: &ViewItem) -> Span {
    match item {
        ViewItem::Root { span, .. }
        | ViewItem::Key { span, .. }
        | ViewItem::OnRootDelete { span, .. }
        | ViewItem::Write { span, .. }
        | ViewItem::Validate { span, .. }
        | ViewItem::Strategy { span, .. } => *span,
        ViewItem::Mapping(m) => m.span,
        ViewItem::Publish(pb) => pb.span,
    }
}

fn view_item(p: &mut Printer, item: &ViewItem, pad: usize) -> String {
    if let ViewItem::Mapping(m) = item {
        let name = format!("{} = ", super::pad(&m.name.name, pad));
        let col = 2 + name.chars().count();
        return format!("{name}{}", expr::layout(p, &m.value, 2, col));
    }
    p.hoist(view_item_span(item).end);
    match item {
        ViewItem::Root { projection, .. } => format!("root {}", projection.name),
        ViewItem::Key { parts, .. } => {
            let parts: Vec<String> = parts
                .iter()
                .map(|k| format!("{} = {}", k.name.name, qualified(&k.value)))
                .collect();
            if parts.len() == 1 {
                format!("key {}", parts.join(""))
            } else {
                format!("key ({})", parts.join(", "))
            }
        }
        ViewItem::OnRootDelete { mark, .. } => format!(
            "on root delete: {}",
            if *mark { "mark deleted" } else { "delete" }
        ),
        ViewItem::Write { merge, .. } => {
            format!("write {}", if *merge { "merge" } else { "replace" })
        }
        ViewItem::Publish(pb) => publish(pb),
        ViewItem::Validate { path, .. } => format!("validate {}", quote(&path.value)),
        ViewItem::Strategy {
            projection, via, ..
        } => {
            let via: Vec<&str> = via.iter().map(|i| i.name.as_str()).collect();
            format!("strategy {} via {}", projection.name, via.join(", "))
        }
        ViewItem::Mapping(_) => String::new(),
    }
}

/// Alignment widths for a run of lines, each given as (span, name length if it takes part in
/// alignment, whether it spans several lines). A line without a name, a blank line or an
/// own-line comment before a line ends the group; a multi-line line ends the group it closes.
pub(super) fn align(p: &Printer, lines: &[(Span, Option<usize>, bool)]) -> Vec<usize> {
    let mut pads = vec![0; lines.len()];
    let mut group: Vec<usize> = Vec::new();
    let close = |group: &mut Vec<usize>, pads: &mut Vec<usize>| {
        let w = group.iter().filter_map(|&i| lines[i].1).max().unwrap_or(0);
        for &i in group.iter() {
            pads[i] = w;
        }
        group.clear();
    };
    let mut prev_end: Option<usize> = None;
    for (i, (span, name, multi)) in lines.iter().enumerate() {
        let separated = prev_end.is_some_and(|pe| {
            p.blank_before(span.start) || p.own_line_comment_between(pe, span.end)
        });
        if separated {
            close(&mut group, &mut pads);
        }
        group.push(i);
        if name.is_none() || *multi {
            close(&mut group, &mut pads);
        }
        prev_end = Some(span.end);
    }
    close(&mut group, &mut pads);
    pads
}
