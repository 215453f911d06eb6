//! Completion: what may be written at the cursor.
//!
//! In: an [`Analysis`] to take names from (the current one, or the last one in which the file
//! parsed: completion is asked for most often in text that does not parse yet), the current
//! text of the file and a byte offset in it. Out: [`Completion`]s: after `name.`, the fields
//! and connecting relations of what `name` leads to; after `|`, the cast functions; in a
//! single-view expression, the names in scope (fields of the current element, relations that
//! connect to a record in scope, the root projection and its fields), functions with their
//! signatures and expression keywords; in a projection, field types and declaration keywords;
//! at the top level, declaration keywords.
//!
//! Guarantees: the context is read from the text before the cursor (it needs no parse); names
//! and scopes come from the analysis (declarations and the checker's recorded scopes). Any
//! offset, also past the end or inside a character, is accepted.

use fdc_plan::{functions, AggregateFn, Format, Type};

use super::Analysis;
use crate::syntax::ast::{self, FileId, Span};

/// What a completion item stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Projection,
    Field,
    Relation,
    Function,
    Type,
    Format,
}

/// One completion item.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A short description (a type, a signature).
    pub detail: Option<String>,
    /// Markdown documentation.
    pub documentation: Option<String>,
}

fn item(label: &str, kind: CompletionKind, detail: Option<String>) -> Completion {
    Completion {
        label: label.to_string(),
        kind,
        detail,
        documentation: None,
    }
}

const TOP: &[&str] = &["system", "relation", "single view", "format", "import"];
const PROJECTION: &[&str] = &[
    "key",
    "index",
    "unique index",
    "delete hard",
    "delete soft",
    "publish updates to",
];
const VIEW: &[&str] = &[
    "root",
    "key",
    "on root delete: mark deleted",
    "on root delete: delete",
    "write merge",
    "write replace",
    "publish updates to",
    "validate",
    "strategy",
];
const EXPR: &[&str] = &[
    "if", "then", "else", "match", "not", "and", "or", "true", "false", "null", "where", "sort by",
    "limit", "of",
];

/// Where the cursor is, as far as the text before it tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Top,
    System,
    Projection,
    View,
    Format,
    Relation,
}

/// The completions at byte `offset` of `text`, the current text of file `file` (its id in `a`,
/// `None` when `a` does not hold it).
pub fn complete(a: &Analysis, file: Option<FileId>, text: &str, offset: usize) -> Vec<Completion> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(offset, |(i, _)| i);
    let head = &before[..start];
    let names = Names::of(a);
    let scope = scope_at(a, file, offset);
    if let Some(chain) = head.strip_suffix('.') {
        let segs: Vec<&str> = chain
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .next()
            .unwrap_or("")
            .split('.')
            .collect();
        return members(&names, &scope, &segs);
    }
    let trimmed = head.trim_end();
    if trimmed.ends_with('|') && !trimmed.ends_with("||") {
        return functions::CATALOGUE
            .iter()
            .filter(|f| f.cast)
            .map(function_item)
            .collect();
    }
    if trimmed.ends_with("<-") {
        return Vec::new();
    }
    let line_start = head.rfind('\n').map_or(0, |i| i + 1);
    let at_line_start = head[line_start..].trim().is_empty();
    let words = |list: &[&str]| -> Vec<Completion> {
        list.iter()
            .map(|k| item(k, CompletionKind::Keyword, None))
            .collect()
    };
    match block(before) {
        Block::Top => words(TOP),
        Block::System => words(&["projection"]),
        Block::Format => {
            let slots = ast::FormatSlot::ALL.map(|s| format!("{} =", s.keyword()));
            let slots = slots.iter().map(String::as_str);
            let codes = ast::CodeKind::ALL.map(ast::CodeKind::keyword);
            words(&slots.chain(codes).collect::<Vec<_>>())
        }
        Block::Relation => {
            let mut out = words(&["many", "one", "where", "and"]);
            out.extend(
                names
                    .projections
                    .iter()
                    .map(|(p, _)| item(p, CompletionKind::Projection, None)),
            );
            out
        }
        Block::Projection if at_line_start => words(PROJECTION),
        Block::Projection => {
            let after_as = trimmed.ends_with(" as");
            if after_as {
                let mut out: Vec<Completion> = Format::BUILTIN
                    .iter()
                    .map(|f| item(f.name(), CompletionKind::Format, None))
                    .collect();
                out.extend(
                    names
                        .formats
                        .iter()
                        .map(|f| item(f, CompletionKind::Format, None)),
                );
                return out;
            }
            let word_before = trimmed
                .rsplit(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("");
            if matches!(word_before, "key" | "index")
                || trimmed.ends_with('(')
                || trimmed.ends_with(',')
            {
                // Names of the projection's own fields.
                let own = projection_at(a, file, offset);
                return own
                    .and_then(|p| names.projections.iter().find(|(n, _)| *n == p))
                    .map(|(_, fields)| {
                        fields
                            .iter()
                            .map(|(f, t)| item(f, CompletionKind::Field, Some(t.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            Type::SCALARS
                .iter()
                .filter_map(Type::keyword)
                .map(|t| item(t, CompletionKind::Type, None))
                .collect()
        }
        Block::View if at_line_start => {
            let mut out = words(VIEW);
            out.extend(in_scope(&names, &scope));
            out
        }
        Block::View => {
            let mut out = in_scope(&names, &scope);
            out.extend(functions::CATALOGUE.iter().map(function_item));
            out.extend(AggregateFn::ALL.map(AggregateFn::name).iter().map(|f| {
                item(
                    f,
                    CompletionKind::Function,
                    Some(format!(
                        "{f}(value [of relation] [where ...] [sort by ...])"
                    )),
                )
            }));
            out.extend(words(EXPR));
            out
        }
    }
}

fn function_item(f: &functions::Function) -> Completion {
    Completion {
        label: f.name.to_string(),
        kind: CompletionKind::Function,
        detail: Some(f.signature.to_string()),
        documentation: Some(super::hover::function_doc(f)),
    }
}

/// The declarations completion draws from.
struct Names<'a> {
    /// Projection name, then its fields with their types as written.
    projections: Vec<(&'a str, Vec<(&'a str, String)>)>,
    /// Relation name, left projection, right projection, `many`.
    relations: Vec<(&'a str, &'a str, &'a str, bool)>,
    formats: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn of(a: &'a Analysis) -> Self {
        let mut n = Names {
            projections: Vec::new(),
            relations: Vec::new(),
            formats: Vec::new(),
        };
        for item in a.files.iter().flat_map(|f| &f.items) {
            match item {
                ast::Item::System(s) => {
                    for p in &s.projections {
                        let fields = p
                            .items
                            .iter()
                            .filter_map(|i| match i {
                                ast::ProjectionItem::Field(fd) => Some((
                                    fd.name.name.as_str(),
                                    a.text(fd.ty.span.file)
                                        .get(fd.ty.span.start..fd.ty.span.end)
                                        .unwrap_or("")
                                        .to_string(),
                                )),
                                _ => None,
                            })
                            .collect();
                        n.projections.push((p.name.name.as_str(), fields));
                    }
                }
                ast::Item::Relation(r) => {
                    let end = |e: &'a ast::Endpoint| {
                        e.fields
                            .first()
                            .map(|q| q.projection.name.as_str())
                            .unwrap_or("")
                    };
                    n.relations.push((
                        r.name.name.as_str(),
                        end(&r.left),
                        end(&r.right),
                        r.many.value,
                    ));
                }
                ast::Item::Format(f) => n.formats.push(f.name.name.as_str()),
                _ => {}
            }
        }
        n
    }

    fn fields(&self, projection: &str) -> Vec<Completion> {
        self.projections
            .iter()
            .filter(|(p, _)| *p == projection)
            .flat_map(|(_, f)| f)
            .map(|(f, t)| item(f, CompletionKind::Field, Some(t.clone())))
            .collect()
    }

    /// Relations with an end at `projection`.
    fn relations_of(&self, projection: &str) -> Vec<Completion> {
        self.relations
            .iter()
            .filter(|(_, l, r, _)| *l == projection || *r == projection)
            .map(|(name, l, r, many)| {
                let card = if *many { "many" } else { "one" };
                item(
                    name,
                    CompletionKind::Relation,
                    Some(format!("{l} -> {card} {r}")),
                )
            })
            .collect()
    }
}

/// The projections in scope at `offset`: recorded by the checker, else the root of the single
/// view around it.
fn scope_at(a: &Analysis, file: Option<FileId>, offset: usize) -> Vec<String> {
    let Some(file) = file else {
        return Vec::new();
    };
    if let Some(s) = a.facts.scope_at(Span::new(file, offset, offset)) {
        return s
            .iter()
            .filter_map(|p| a.program.projections.get(*p))
            .map(|p| p.plan.name.clone())
            .collect();
    }
    let Some(f) = a.file(file) else {
        return Vec::new();
    };
    f.items
        .iter()
        .find_map(|i| match i {
            ast::Item::SingleView(v) if v.span.start <= offset && offset <= v.span.end => {
                v.items.iter().find_map(|x| match x {
                    ast::ViewItem::Root { projection, .. } => Some(vec![projection.name.clone()]),
                    _ => None,
                })
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// The projection whose declaration holds `offset`.
fn projection_at(a: &Analysis, file: Option<FileId>, offset: usize) -> Option<String> {
    let f = a.file(file?)?;
    f.items.iter().find_map(|i| match i {
        ast::Item::System(s) => s
            .projections
            .iter()
            .find(|p| p.span.start <= offset && offset <= p.span.end)
            .map(|p| p.name.name.clone()),
        _ => None,
    })
}

/// Names usable as the first segment of a path in `scope`.
fn in_scope(names: &Names, scope: &[String]) -> Vec<Completion> {
    let mut out = Vec::new();
    if let Some(current) = scope.last().filter(|_| scope.len() > 1) {
        out.extend(names.fields(current));
    }
    let mut seen = std::collections::HashSet::new();
    for p in scope.iter().rev() {
        for r in names.relations_of(p) {
            if seen.insert(r.label.clone()) {
                out.push(r);
            }
        }
    }
    if let Some(root) = scope.first() {
        out.push(item(root, CompletionKind::Projection, Some("root".into())));
        out.extend(names.fields(root));
    }
    let mut labels = std::collections::HashSet::new();
    out.retain(|c| labels.insert(c.label.clone()));
    out
}

/// What may follow `segs.` (fields and relations of the record the path leads to).
fn members(names: &Names, scope: &[String], segs: &[&str]) -> Vec<Completion> {
    let mut at: Option<String> = None;
    for (i, seg) in segs.iter().enumerate() {
        if i == 0 && names.projections.iter().any(|(p, _)| p == seg) {
            at = Some(seg.to_string());
            continue;
        }
        let Some((_, l, r, _)) = names.relations.iter().find(|(n, ..)| n == seg) else {
            // A field (its keys are not known) or an unknown name.
            return Vec::new();
        };
        let from: Vec<String> = match &at {
            Some(p) => vec![p.clone()],
            None => scope.to_vec(),
        };
        let other = if from.iter().rev().any(|p| p == l) {
            r
        } else if from.iter().rev().any(|p| p == r) {
            l
        } else {
            r
        };
        at = Some(other.to_string());
    }
    let Some(p) = at else {
        return Vec::new();
    };
    let mut out = names.fields(&p);
    out.extend(names.relations_of(&p));
    out
}

/// The kind of block the end of `before` is in: braces counted outside strings and comments,
/// the kind read from the declaration keyword that opened each level.
fn block(before: &str) -> Block {
    let mut stack: Vec<Block> = Vec::new();
    let mut top = Block::Top;
    let bytes = before.as_bytes();
    let mut i = 0;
    let mut word_start: Option<usize> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphanumeric() || c == b'_' {
            word_start.get_or_insert(i);
            i += 1;
            continue;
        }
        if let Some(s) = word_start.take() {
            if stack.is_empty() {
                match &before[s..i] {
                    "system" => top = Block::System,
                    "single" => top = Block::View,
                    "format" => top = Block::Format,
                    "relation" => top = Block::Relation,
                    "import" => top = Block::Top,
                    _ => {}
                }
            }
        }
        match c {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b'{' => stack.push(match (stack.last(), top) {
                (None, t) => t,
                (Some(Block::System), _) => Block::Projection,
                (Some(b), _) => *b,
            }),
            b'}' => {
                stack.pop();
                if stack.is_empty() {
                    top = Block::Top;
                }
            }
            _ => {}
        }
        i += 1;
    }
    match stack.last() {
        Some(b) => *b,
        // A relation is one logical line: it ends where the next declaration starts.
        None if top == Block::Relation => Block::Relation,
        None => Block::Top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryLoader;
    use std::path::{Path, PathBuf};

    const SRC: &str = "system s {\n  projection customers from \"t.c\" as basic {\n    key id\n    id int\n    name string?\n  }\n  projection orders from \"t.o\" as basic {\n    key id\n    id string\n    customer_id int\n    total decimal\n    index customer_id\n  }\n}\nrelation customer_orders: customers.id -> many orders.customer_id\nsingle view v {\n  root customers\n  key id = customers.id\n  id = customers.id\n  orders = customer_orders[] { id, total }\n}\n";

    fn labels(c: &[Completion]) -> Vec<&str> {
        c.iter().map(|c| c.label.as_str()).collect()
    }

    #[test]
    fn members_casts_scope_and_keywords() {
        let loader = MemoryLoader::new().with("p/a.fdl", SRC);
        let a = super::super::analyze(&loader, &[PathBuf::from("p")]);
        let f = a.file_id(Path::new("p/a.fdl"));
        // After `customer_orders.` in the view: the fields of `orders`.
        let edited = SRC.replace(
            "  id = customers.id\n  orders",
            "  id = customers.id\n  x = customer_orders.\n  orders",
        );
        let off = edited.find("customer_orders.\n").expect("edit") + "customer_orders.".len();
        let got = complete(&a, f, &edited, off);
        assert!(labels(&got).contains(&"total"), "{:?}", labels(&got));
        assert!(labels(&got).contains(&"customer_orders"));
        // After `|` in a projection: casts only.
        let edited = SRC.replace("name string?", "name string? <- NAME | tr");
        let off = edited.find("| tr").expect("edit") + 4;
        let got = complete(&a, f, &edited, off);
        assert!(labels(&got).contains(&"trim"));
        assert!(got.iter().all(|c| c.kind == CompletionKind::Function));
        // Inside the collect's element: the element's fields first, then root names.
        let off = SRC.find("{ id, total }").expect("collect") + 2;
        let got = complete(&a, f, SRC, off);
        let l = labels(&got);
        assert!(
            l.contains(&"total") && l.contains(&"customers") && l.contains(&"concat"),
            "{l:?}"
        );
        // Top level.
        let got = complete(&a, f, SRC, SRC.len());
        assert!(labels(&got).contains(&"single view"));
    }
}
