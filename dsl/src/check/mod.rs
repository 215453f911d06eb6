//! The checker: spanned AST to a checked [`Program`] (names resolved, types known).
//!
//! In: the parsed files of one program, their [`Sources`], and the [`Loader`] (for `validate`
//! schemas). Out: a [`Program`] whose projections, relations and single views are resolved into
//! plan form (join nodes numbered, expressions typed, strategies derived), and every problem
//! found as a [`Diagnostic`].
//!
//! Guarantees: the checker collects every problem instead of stopping at the first; it never
//! panics on any AST; a program is returned only when there is no error (warnings allowed).
//! Passes, in order: declarations and duplicates (this module), custom formats and projections
//! (`projection`), relations (`relation`), single views and their expressions (`view`,
//! `expr`), strategies and indexes (`strategy`), unused declarations (here, last).

mod aggregate;
mod errors;
mod expr;
pub mod facts;
mod literal;
mod projection;
mod relation;
mod strategy;
pub mod types;
mod view;

use std::collections::{HashMap, HashSet};

pub use errors::CheckError;
use fdc_plan::{FieldCondition, Projection as PlanProjection, SingleView as PlanView};

use crate::diagnostics::{Diagnostic, Problem, Sources};
use crate::load::Loader;
use crate::syntax::ast::{self, Span};
use types::Typed;

/// A projection after checking.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedProjection {
    /// The projection in plan form.
    pub plan: PlanProjection,
    /// The declaration.
    pub span: Span,
    /// The name in the declaration.
    pub name_span: Span,
    /// The span of each field declaration, in `plan.fields` order.
    pub field_spans: Vec<Span>,
}

impl CheckedProjection {
    /// The type of field `name`.
    pub fn field_type(&self, name: &str) -> Option<Typed> {
        self.plan.field(name).map(|f| Typed {
            ty: types::Ty::Of(f.ty.clone()),
            nullable: f.nullable,
        })
    }

    /// Whether `fields` include all fields of the primary key or of a unique index.
    pub fn is_unique(&self, fields: &[String]) -> bool {
        let covers = |key: &[String]| !key.is_empty() && key.iter().all(|k| fields.contains(k));
        covers(&self.plan.key)
            || self
                .plan
                .indexes
                .iter()
                .any(|i| i.unique && covers(&i.fields))
    }

    /// Whether an index (the primary key included) starts with exactly `fields`, in any order.
    pub fn has_index_on(&self, fields: &[String]) -> bool {
        let starts = |key: &[String]| {
            key.len() >= fields.len() && fields.iter().all(|f| key[..fields.len()].contains(f))
        };
        starts(&self.plan.key) || self.plan.indexes.iter().any(|i| starts(&i.fields))
    }
}

/// One side of a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Index into [`Program::projections`].
    pub projection: usize,
    pub fields: Vec<String>,
    pub conditions: Vec<FieldCondition>,
    /// The endpoint as written.
    pub span: Span,
}

/// A relation after checking.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRelation {
    pub name: String,
    pub left: Side,
    pub right: Side,
    /// `-> many`.
    pub many: bool,
    /// Whether the left fields are unique in the left projection (then walking the relation
    /// backwards yields one record).
    pub left_unique: bool,
    pub span: Span,
    /// The name in the declaration.
    pub name_span: Span,
}

/// A single view after checking.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedView {
    /// The single view in plan form, strategies included.
    pub plan: PlanView,
    /// The type of each mapped field, in `plan.mapping` order.
    pub field_types: Vec<Typed>,
    /// The declaration of each mapped field (`name = expr`), in `plan.mapping` order.
    pub field_spans: Vec<Span>,
    /// Where each join-tree node was first navigated (`node_spans[0]`: the view's name).
    pub node_spans: Vec<Span>,
    pub span: Span,
}

/// A checked program: everything the compiler needs, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Program {
    pub projections: Vec<CheckedProjection>,
    pub relations: Vec<CheckedRelation>,
    pub views: Vec<CheckedView>,
}

/// Checks the files of one program.
pub fn check(
    files: &[ast::File],
    sources: &Sources,
    loader: &dyn Loader,
) -> (Option<Program>, Vec<Diagnostic>) {
    let c = run(files, sources, loader, false);
    let failed = c
        .diagnostics
        .iter()
        .any(|d| d.severity() == crate::diagnostics::Severity::Error);
    let program = if failed { None } else { Some(c.program) };
    (program, c.diagnostics)
}

/// Checks the files of one program like [`check`] (the same diagnostics), and also returns
/// what the checker resolved and typed ([`facts::Facts`], for editors) and the checked
/// program even when there are errors (then partial: what resolved). The program is complete
/// exactly when no diagnostic is an error.
pub fn check_recorded(
    files: &[ast::File],
    sources: &Sources,
    loader: &dyn Loader,
) -> (Program, Vec<Diagnostic>, facts::Facts) {
    let c = run(files, sources, loader, true);
    (c.program, c.diagnostics, c.facts.unwrap_or_default())
}

/// The passes; with `record`, the checker also records [`facts::Facts`].
fn run<'a>(
    files: &[ast::File],
    sources: &'a Sources,
    loader: &'a dyn Loader,
    record: bool,
) -> Checker<'a> {
    let mut c = Checker {
        facts: record.then(facts::Facts::default),
        sources,
        loader,
        diagnostics: Vec::new(),
        program: Program::default(),
        projection_index: HashMap::new(),
        relation_index: HashMap::new(),
        formats: HashMap::new(),
        used_projections: HashSet::new(),
        used_relations: HashSet::new(),
        broken: HashSet::new(),
        unknown_names: HashSet::new(),
    };
    let items: Vec<&ast::Item> = files.iter().flat_map(|f| f.items.iter()).collect();

    // Formats first: projections refer to them by name.
    for item in &items {
        if let ast::Item::Format(f) = item {
            c.format_decl(f);
        }
    }
    let mut first_topic: HashMap<String, (String, Span)> = HashMap::new();
    for item in &items {
        if let ast::Item::System(s) = item {
            for p in &s.projections {
                c.projection(&s.name.name, p, &mut first_topic);
            }
        }
    }
    for item in &items {
        if let ast::Item::Relation(r) = item {
            c.relation(r);
        }
    }
    let mut view_names: HashMap<String, Span> = HashMap::new();
    for item in &items {
        if let ast::Item::SingleView(v) = item {
            if let Some(first) = view_names.get(&v.name.name).copied() {
                let (first, help) = c.other(v.name.span, first);
                c.report(
                    v.name.span,
                    CheckError::DuplicateSingleView {
                        name: v.name.name.clone(),
                        span: v.name.span.into(),
                        first,
                        help,
                    },
                );
                continue;
            }
            view_names.insert(v.name.name.clone(), v.name.span);
            c.single_view(v);
        }
    }
    c.unused();
    c
}

/// Shared state of the passes.
pub(crate) struct Checker<'a> {
    pub sources: &'a Sources,
    pub loader: &'a dyn Loader,
    pub diagnostics: Vec<Diagnostic>,
    pub program: Program,
    pub projection_index: HashMap<String, usize>,
    pub relation_index: HashMap<String, usize>,
    /// Custom formats by name, with their declaration span.
    pub formats: HashMap<String, (fdc_plan::CustomFormat, Span)>,
    pub used_projections: HashSet<usize>,
    pub used_relations: HashSet<usize>,
    /// What resolved names and typed expressions stand for (only when recording).
    pub facts: Option<facts::Facts>,
    /// Relations declared with an error (already reported) and so not registered: a use of
    /// one is not reported again as an unknown name, which would only repeat the root cause.
    pub broken: HashSet<String>,
    /// (single view, name) of the unknown names reported: a name is reported once per view,
    /// at its first use.
    pub unknown_names: HashSet<(String, String)>,
}

impl Checker<'_> {
    /// Records a problem located at `at`.
    pub fn report(&mut self, at: Span, e: CheckError) {
        self.diagnostics.push(Diagnostic {
            file: Some(at.file),
            problem: Problem::Check(e),
        });
    }

    /// A secondary label for `there` when it is in the same file as `here`; otherwise a help
    /// line naming its place.
    pub fn other(&self, here: Span, there: Span) -> (Option<miette::SourceSpan>, Option<String>) {
        if here.file == there.file {
            (Some(there.into()), None)
        } else {
            let (line, col) = self.sources.line_col(there.file, there.start);
            (
                None,
                Some(format!(
                    "first declared at {}:{line}:{col}",
                    self.sources.name(there.file)
                )),
            )
        }
    }

    /// The projection named `name`, reporting it when unknown.
    pub fn lookup_projection(&mut self, name: &ast::Ident) -> Option<usize> {
        if let Some(&i) = self.projection_index.get(&name.name) {
            self.note(name.span, facts::Symbol::Projection(name.name.clone()));
            return Some(i);
        }
        let candidates = suggest(
            &name.name,
            self.program
                .projections
                .iter()
                .map(|p| p.plan.name.as_str()),
        );
        self.report(
            name.span,
            CheckError::UnknownProjection {
                name: name.name.clone(),
                span: name.span.into(),
                help: did_you_mean(&candidates),
                candidates,
            },
        );
        None
    }

    /// The relation named `name`, reporting it when unknown.
    pub fn lookup_relation(&mut self, name: &ast::Ident) -> Option<usize> {
        if let Some(&i) = self.relation_index.get(&name.name) {
            self.note(name.span, facts::Symbol::Relation(name.name.clone()));
            return Some(i);
        }
        if self.broken.contains(&name.name) {
            return None;
        }
        let candidates = suggest(
            &name.name,
            self.program.relations.iter().map(|r| r.name.as_str()),
        );
        self.report(
            name.span,
            CheckError::UnknownRelation {
                name: name.name.clone(),
                span: name.span.into(),
                help: did_you_mean(&candidates),
                candidates,
            },
        );
        None
    }

    /// Reports an unknown field of projection `p`.
    pub fn unknown_field(&mut self, p: usize, name: &ast::Ident, extra: &[&str]) {
        let proj = &self.program.projections[p].plan;
        let candidates = suggest(
            &name.name,
            proj.fields
                .iter()
                .map(|f| f.name.as_str())
                .chain(extra.iter().copied()),
        );
        let projection = proj.name.clone();
        self.report(
            name.span,
            CheckError::UnknownField {
                name: name.name.clone(),
                projection,
                span: name.span.into(),
                help: did_you_mean(&candidates),
                candidates,
            },
        );
    }

    /// Warnings for projections and relations nothing uses. Skipped when there are errors:
    /// an unresolved root or relation would make everything behind it look unused.
    fn unused(&mut self) {
        if self
            .diagnostics
            .iter()
            .any(|d| d.severity() == crate::diagnostics::Severity::Error)
        {
            return;
        }
        let mut warnings = Vec::new();
        for (i, p) in self.program.projections.iter().enumerate() {
            if !self.used_projections.contains(&i) && p.plan.events.is_none() {
                warnings.push((
                    p.span,
                    CheckError::UnusedProjection {
                        name: p.plan.name.clone(),
                        span: p.span.into(),
                    },
                ));
            }
        }
        for (i, r) in self.program.relations.iter().enumerate() {
            if !self.used_relations.contains(&i) {
                warnings.push((
                    r.span,
                    CheckError::UnusedRelation {
                        name: r.name.clone(),
                        span: r.span.into(),
                    },
                ));
            }
        }
        for (at, w) in warnings {
            self.report(at, w);
        }
    }
}

/// Names close to `name` (edit distance at most a third of its length, at least 1), closest
/// first, at most three.
pub fn suggest<'a>(name: &str, options: impl Iterator<Item = &'a str>) -> Vec<String> {
    let limit = (name.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = options
        .filter(|o| *o != name)
        .map(|o| (distance(name, o), o))
        .filter(|(d, _)| *d <= limit)
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(3)
        .map(|(_, o)| o.to_string())
        .collect()
}

/// "did you mean `a` or `b`?" for non-empty candidates.
pub fn did_you_mean(candidates: &[String]) -> Option<String> {
    match candidates {
        [] => None,
        [one] => Some(format!("did you mean `{one}`?")),
        many => Some(format!(
            "did you mean {}?",
            many.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// Edit distance over characters (insertions, deletions, substitutions and transpositions of
/// adjacent characters each count one).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j - 1] + cost)
                .min(d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_names_closest_first() {
        let names = ["first_name", "last_name", "email", "id"];
        let got = suggest("frist_name", names.iter().copied());
        assert_eq!(got.first().map(String::as_str), Some("first_name"));
        assert!(!got.contains(&"email".to_string()));
        assert_eq!(
            suggest("emial", names.iter().copied()),
            vec!["email".to_string()]
        );
        assert!(suggest("zzz", names.iter().copied()).is_empty());
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
