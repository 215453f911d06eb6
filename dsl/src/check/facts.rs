//! What the checker learned about names and types, recorded for editors.
//!
//! In: notes taken by the checker passes while they resolve names and type expressions (only
//! when recording is on: [`super::check_recorded`]; `fdc check` and `fdc run` record nothing).
//! Out: [`Facts`]: every name the checker resolved with the symbol it stands for, the type of
//! every expression it typed, and the projections in scope at each expression.
//!
//! Guarantees: a fact is recorded exactly where the checker decided it, so an editor's
//! go-to-definition, references, rename and hover agree with `fdc check` by construction (no
//! second resolver). Spans are those of the AST, in the files of the checked program.

use super::types::Typed;
use crate::syntax::ast::Span;

/// Something a name can stand for. Projection and relation names are global in a program, a
/// field is named by its projection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    /// A projection (`customers`).
    Projection(String),
    /// A field declared in a projection (`customers.email`).
    Field { projection: String, field: String },
    /// A relation (`customer_orders`).
    Relation(String),
    /// A declared `format`.
    Format(String),
    /// A single view.
    View(String),
    /// A top-level mapped field of a single view (`customer_360.name`).
    ViewField { view: String, field: String },
    /// A `system` block.
    System(String),
}

/// The facts of one checked program.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// Each name the checker resolved (its identifier span) and what it stands for.
    pub references: Vec<(Span, Symbol)>,
    /// The type of each expression the checker typed successfully.
    pub types: Vec<(Span, Typed)>,
    /// For each expression, the projections of the records in scope (indexes into the
    /// checked program's projections; root first, current element last).
    pub scopes: Vec<(Span, Vec<usize>)>,
}

impl Facts {
    /// The innermost recorded scope around byte `offset` of the file of `at`.
    pub fn scope_at(&self, at: Span) -> Option<&[usize]> {
        self.scopes
            .iter()
            .filter(|(s, _)| s.contains(&at))
            .min_by_key(|(s, _)| s.end - s.start)
            .map(|(_, names)| names.as_slice())
    }
}

impl super::Checker<'_> {
    /// Records that the name at `at` stands for `symbol` (when recording).
    pub(crate) fn note(&mut self, at: Span, symbol: Symbol) {
        if let Some(f) = self.facts.as_mut() {
            f.references.push((at, symbol));
        }
    }

    /// Records that a field name at `at` names field `field` of projection number `p`.
    pub(crate) fn note_field(&mut self, at: Span, p: usize, field: &str) {
        if self.facts.is_none() {
            return;
        }
        let projection = self.program.projections[p].plan.name.clone();
        self.note(
            at,
            Symbol::Field {
                projection,
                field: field.to_string(),
            },
        );
    }
}
