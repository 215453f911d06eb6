//! Quick fixes: the edits a diagnostic's help proposes.
//!
//! In: an [`Analysis`] and one of its diagnostics. Out: [`Fix`]es: for an unknown name with
//! "did you mean" candidates, one fix per candidate that writes it in place of the name; for a
//! missing index, one fix that adds the `index ...` line the help names to the projection.
//!
//! Guarantees: a fix applies exactly what the checker's help says (the same candidates, the
//! same index), so applying it and checking again clears that diagnostic.

use super::Analysis;
use crate::check::CheckError;
use crate::diagnostics::{Diagnostic, Problem};
use crate::syntax::ast::{self, Span};

/// One quick fix: a title and its edits (spans in the analysis' files, replacement text).
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<(Span, String)>,
}

/// The fixes of diagnostic `d`.
pub fn fixes(a: &Analysis, d: &Diagnostic) -> Vec<Fix> {
    let Some(file) = d.file else {
        return Vec::new();
    };
    let Problem::Check(e) = &d.problem else {
        return Vec::new();
    };
    let replace = |span: &miette::SourceSpan, candidates: &[String]| -> Vec<Fix> {
        let at = Span::new(file, span.offset(), span.offset() + span.len());
        candidates
            .iter()
            .map(|c| Fix {
                title: format!("replace with `{c}`"),
                edits: vec![(at, c.clone())],
            })
            .collect()
    };
    match e {
        CheckError::UnknownProjection {
            span, candidates, ..
        }
        | CheckError::UnknownField {
            span, candidates, ..
        }
        | CheckError::UnknownRelation {
            span, candidates, ..
        }
        | CheckError::UnknownFunction {
            span, candidates, ..
        }
        | CheckError::UnknownFormat {
            span, candidates, ..
        }
        | CheckError::UnknownName {
            span, candidates, ..
        } => replace(span, candidates),
        CheckError::MissingIndex {
            projection, fields, ..
        } => add_index(a, projection, fields).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Adds `index f` (or `index (f, g)`) as the last line of projection `name`'s body.
fn add_index(a: &Analysis, name: &str, fields: &str) -> Option<Fix> {
    let p = super::hover::projection_decl(a, name)?;
    let line = if fields.contains(',') {
        format!("index ({fields})")
    } else {
        format!("index {fields}")
    };
    let text = a.text(p.span.file);
    let last_end = p.items.last().map(|i| match i {
        ast::ProjectionItem::Field(f) => f.span.end,
        ast::ProjectionItem::Key(k) => k.span.end,
        ast::ProjectionItem::Index { span, .. } | ast::ProjectionItem::Delete { span, .. } => {
            span.end
        }
        ast::ProjectionItem::Publish(p) => p.span.end,
    });
    let decl_line_start = text.get(..p.span.start)?.rfind('\n').map_or(0, |i| i + 1);
    let decl_indent: String = text
        .get(decl_line_start..)?
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    let indent = format!("{decl_indent}  ");
    // After the last item, or just inside the closing brace of an empty body.
    // A declaration's span may run over the white space after it: trim it back.
    let last_end = last_end.map(|end| text.get(..end).map_or(end, |t| t.trim_end().len()));
    let at = match last_end {
        Some(end) => text.get(end..)?.find('\n').map_or(end, |i| end + i),
        None => p.span.end.checked_sub(1)?,
    };
    let edit = if last_end.is_some() {
        format!("\n{indent}{line}")
    } else {
        format!("\n{indent}{line}\n{decl_indent}")
    };
    Some(Fix {
        title: format!("add `{line}` to projection `{name}`"),
        edits: vec![(Span::new(p.span.file, at, at), edit)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryLoader;
    use std::path::PathBuf;

    const SRC: &str = "system s {\n  projection customers from \"t.c\" as basic {\n    key id\n    id int\n    name string?\n  }\n  projection orders from \"t.o\" as basic {\n    key id\n    id string\n    customer_id int // who\n    total decimal\n  }\n}\nrelation customer_orders: customers.id -> many orders.customer_id\nsingle view v {\n  root customers\n  key id = customers.id\n  id = customers.id\n  n = nmae\n  orders = customer_orders[] { id, total }\n}\n";

    fn apply(text: &str, edits: &[(Span, String)]) -> String {
        let mut out = text.to_string();
        let mut sorted = edits.to_vec();
        sorted.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
        for (s, t) in sorted {
            out.replace_range(s.start..s.end, &t);
        }
        out
    }

    #[test]
    fn did_you_mean_and_missing_index_fixes_clear_their_diagnostics() {
        let loader = MemoryLoader::new().with("p/a.fdl", SRC);
        let a = super::super::analyze(&loader, &[PathBuf::from("p")]);
        let unknown = a
            .diagnostics
            .items
            .iter()
            .find(|d| d.code() == "fdl::check::unknown_name")
            .expect("unknown name");
        let f = fixes(&a, unknown);
        assert_eq!(f[0].title, "replace with `name`");
        let text = apply(SRC, &f[0].edits);
        assert!(text.contains("n = name"), "{text}");
        let loader = MemoryLoader::new().with("p/a.fdl", text.as_str());
        let a = super::super::analyze(&loader, &[PathBuf::from("p")]);
        let missing = a
            .diagnostics
            .items
            .iter()
            .find(|d| d.code() == "fdl::check::missing_index")
            .expect("missing index warning");
        let f = fixes(&a, missing);
        assert_eq!(f[0].title, "add `index customer_id` to projection `orders`");
        let text = apply(&text, &f[0].edits);
        assert!(
            text.contains("    total decimal\n    index customer_id\n  }"),
            "{text}"
        );
        let loader = MemoryLoader::new().with("p/a.fdl", text.as_str());
        let a = super::super::analyze(&loader, &[PathBuf::from("p")]);
        assert!(
            a.diagnostics.items.is_empty(),
            "{:?}",
            a.diagnostics.to_json()
        );
    }
}
