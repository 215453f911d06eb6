//! Editor queries over a pipeline: what is at a position, where it is declared, where it is
//! used, how to rename it, what to complete, how to fix a diagnostic (`fdc lsp`).
//!
//! In: a [`Loader`] (an editor overlays its unsaved buffers on the disk) and the roots of one
//! program. Out: an [`Analysis`]: the diagnostics exactly as [`crate::compile_with`] reports
//! them, the parsed files, the facts the checker recorded while resolving names and typing
//! expressions ([`crate::check::facts`]), the declarations of every file, and the plan when
//! the program compiles (for lineage).
//!
//! Guarantees: one analysis layer shared by hover, definition, references, rename and
//! completion; names are resolved by the checker only (the index here adds declarations, read
//! from the AST). Every query takes byte offsets into a file's text and never panics on an
//! offset past the end or inside a character.

pub mod complete;
pub mod fix;
pub mod hover;
pub mod outline;

use std::path::{Path, PathBuf};

use crate::check::facts::{Facts, Symbol};
use crate::check::{self, Program};
use crate::diagnostics::Diagnostics;
use crate::load::{self, Loader};
use crate::syntax::ast::{self, FileId, Span};

/// Where a symbol is declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub symbol: Symbol,
    /// The declared name.
    pub name: Span,
    /// The whole declaration.
    pub decl: Span,
}

/// Everything an editor asks about one program.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The diagnostics `fdc check` reports for this program, with its sources.
    pub diagnostics: Diagnostics,
    /// The files that parsed.
    pub files: Vec<ast::File>,
    /// What the checker resolved and typed (also when the program has errors).
    pub facts: Facts,
    /// The checked program, partial when there are errors.
    pub program: Program,
    /// The compiled plan when there is no error.
    pub plan: Option<fdc_plan::Plan>,
    /// Every declaration, in file order.
    pub definitions: Vec<Definition>,
    /// `{ name }` object entries (a field read under its own name), by name span: renaming
    /// the field keeps the entry's name.
    pub shorthands: Vec<Span>,
}

/// Loads, checks and (when clean) compiles the program made of `roots`, recording what an
/// editor needs. The diagnostics are those of [`crate::compile_with`]: when a file does not
/// load or parse, only those problems are reported (the checker still runs on the files that
/// parsed, for the facts).
pub fn analyze(loader: &dyn Loader, roots: &[PathBuf]) -> Analysis {
    let loaded = load::load(loader, roots);
    let mut diagnostics = Diagnostics {
        sources: loaded.sources,
        items: loaded.diagnostics,
    };
    let load_failed = diagnostics.has_errors();
    let (program, found, facts) =
        check::check_recorded(&loaded.files, &diagnostics.sources, loader);
    if !load_failed {
        diagnostics.items.extend(found);
    }
    // As in `compile_with`: compiled only when nothing is an error.
    let plan = (!diagnostics.has_errors()).then(|| crate::compile::compile(&program));
    let mut definitions = Vec::new();
    let mut shorthands = Vec::new();
    for f in &loaded.files {
        declarations(f, &mut definitions);
        for item in &f.items {
            if let ast::Item::SingleView(v) = item {
                for i in &v.items {
                    if let ast::ViewItem::Mapping(m) = i {
                        visit_exprs(&m.value, &mut |e| {
                            if let ast::ExprKind::Object(entries) = &e.kind {
                                shorthands.extend(
                                    entries
                                        .iter()
                                        .filter(|x| x.value.is_none())
                                        .map(|x| x.name.span),
                                );
                            }
                        });
                    }
                }
            }
        }
    }
    Analysis {
        diagnostics,
        files: loaded.files,
        facts,
        program,
        plan,
        definitions,
        shorthands,
    }
}

/// The declarations of one file.
fn declarations(f: &ast::File, out: &mut Vec<Definition>) {
    let mut def = |symbol, name: &ast::Ident, decl| {
        out.push(Definition {
            symbol,
            name: name.span,
            decl,
        })
    };
    for item in &f.items {
        match item {
            ast::Item::Import(_) => {}
            ast::Item::Format(fm) => def(Symbol::Format(fm.name.name.clone()), &fm.name, fm.span),
            ast::Item::System(s) => {
                def(Symbol::System(s.name.name.clone()), &s.name, s.span);
                for p in &s.projections {
                    def(Symbol::Projection(p.name.name.clone()), &p.name, p.span);
                    for i in &p.items {
                        if let ast::ProjectionItem::Field(fd) = i {
                            def(
                                Symbol::Field {
                                    projection: p.name.name.clone(),
                                    field: fd.name.name.clone(),
                                },
                                &fd.name,
                                fd.span,
                            );
                        }
                    }
                }
            }
            ast::Item::Relation(r) => def(Symbol::Relation(r.name.name.clone()), &r.name, r.span),
            ast::Item::SingleView(v) => {
                def(Symbol::View(v.name.name.clone()), &v.name, v.span);
                for i in &v.items {
                    if let ast::ViewItem::Mapping(m) = i {
                        def(
                            Symbol::ViewField {
                                view: v.name.name.clone(),
                                field: m.name.name.clone(),
                            },
                            &m.name,
                            m.span,
                        );
                    }
                }
            }
        }
    }
}

/// Calls `f` on `e` and every expression inside it.
pub fn visit_exprs(e: &ast::Expr, f: &mut dyn FnMut(&ast::Expr)) {
    f(e);
    match &e.kind {
        ast::ExprKind::Literal(_) | ast::ExprKind::Path(_) => {}
        ast::ExprKind::Unary { expr, .. } => visit_exprs(expr, f),
        ast::ExprKind::Binary { left, right, .. } => {
            visit_exprs(left, f);
            visit_exprs(right, f);
        }
        ast::ExprKind::Call { args, .. } => args.iter().for_each(|a| visit_exprs(a, f)),
        ast::ExprKind::If {
            branches,
            otherwise,
        } => {
            for (c, v) in branches {
                visit_exprs(c, f);
                visit_exprs(v, f);
            }
            visit_exprs(otherwise, f);
        }
        ast::ExprKind::Match {
            subject,
            arms,
            otherwise,
        } => {
            if let Some(s) = subject {
                visit_exprs(s, f);
            }
            for a in arms {
                a.patterns.iter().for_each(|p| visit_exprs(p, f));
                visit_exprs(&a.value, f);
            }
            visit_exprs(otherwise, f);
        }
        ast::ExprKind::Object(entries) => entries
            .iter()
            .filter_map(|x| x.value.as_ref())
            .for_each(|v| visit_exprs(v, f)),
        ast::ExprKind::Collect {
            element,
            filter,
            sort,
            ..
        } => {
            for x in element.iter().chain(filter.iter()) {
                visit_exprs(x, f);
            }
            sort.iter().for_each(|k| visit_exprs(&k.expr, f));
        }
        ast::ExprKind::Aggregate {
            value,
            filter,
            sort,
            ..
        } => {
            visit_exprs(value, f);
            if let Some(x) = filter {
                visit_exprs(x, f);
            }
            sort.iter().for_each(|k| visit_exprs(&k.expr, f));
        }
    }
}

/// Whether `offset` lies in `span` (the end included, so a cursor just after a name is on it).
pub fn touches(span: Span, file: FileId, offset: usize) -> bool {
    span.file == file && span.start <= offset && offset <= span.end
}

/// One place a symbol's name is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub span: Span,
    pub symbol: Symbol,
    /// The declaration itself (not a use).
    pub declaration: bool,
}

impl Analysis {
    /// The id of the file at `path` in this program, if it is part of it.
    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        let path = load::normalize(path);
        self.diagnostics
            .sources
            .files
            .iter()
            .position(|f| f.path == path)
            .and_then(|i| u32::try_from(i).ok())
            .map(FileId)
    }

    /// The text of file `id`.
    pub fn text(&self, id: FileId) -> &str {
        self.diagnostics
            .sources
            .get(id)
            .map(|f| f.text.as_str())
            .unwrap_or("")
    }

    /// The parsed file `id` (`None` when it did not parse).
    pub fn file(&self, id: FileId) -> Option<&ast::File> {
        self.files.iter().find(|f| f.id == id)
    }

    /// Every place a name is written: declarations and resolved uses, in no particular order.
    pub fn occurrences(&self) -> impl Iterator<Item = Occurrence> + '_ {
        let defs = self.definitions.iter().map(|d| Occurrence {
            span: d.name,
            symbol: d.symbol.clone(),
            declaration: true,
        });
        let uses = self.facts.references.iter().map(|(s, sym)| Occurrence {
            span: *s,
            symbol: sym.clone(),
            declaration: false,
        });
        defs.chain(uses)
    }

    /// The symbol whose name is written at `offset` of `file` (the smallest name there).
    pub fn symbol_at(&self, file: FileId, offset: usize) -> Option<Occurrence> {
        self.occurrences()
            .filter(|o| touches(o.span, file, offset))
            .min_by_key(|o| (o.span.end - o.span.start, !o.declaration))
    }

    /// Where `symbol` is declared (the first declaration when there are duplicates).
    pub fn definition(&self, symbol: &Symbol) -> Option<&Definition> {
        self.definitions.iter().find(|d| d.symbol == *symbol)
    }

    /// Every place `symbol` is written (declarations first), each once, in source order.
    pub fn references(&self, symbol: &Symbol, include_declaration: bool) -> Vec<Span> {
        let mut out: Vec<(bool, Span)> = self
            .occurrences()
            .filter(|o| o.symbol == *symbol && (include_declaration || !o.declaration))
            .map(|o| (!o.declaration, o.span))
            .collect();
        out.sort_by_key(|(use_, s)| (*use_, s.file, s.start));
        let mut seen = std::collections::HashSet::new();
        out.into_iter()
            .filter(|(_, s)| seen.insert(*s))
            .map(|(_, s)| s)
            .collect()
    }

    /// The file an `import "..."` at `offset` of `file` names, if the cursor is on one.
    pub fn import_at(&self, file: FileId, offset: usize) -> Option<(Span, FileId)> {
        let f = self.file(file)?;
        let from = self.diagnostics.sources.get(file)?;
        let dir = from
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        f.items.iter().find_map(|i| match i {
            ast::Item::Import(imp) if touches(imp.span, file, offset) => {
                let target = self.file_id(&dir.join(&imp.path.value))?;
                Some((imp.path.span, target))
            }
            _ => None,
        })
    }

    /// Every `import` (its path string) that names file `target`, in file order.
    pub fn imports_of(&self, target: FileId) -> Vec<Span> {
        let mut out = Vec::new();
        for f in &self.files {
            let Some(from) = self.diagnostics.sources.get(f.id) else {
                continue;
            };
            let dir = from
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            for i in &f.items {
                if let ast::Item::Import(imp) = i {
                    if self.file_id(&dir.join(&imp.path.value)) == Some(target) {
                        out.push(imp.path.span);
                    }
                }
            }
        }
        out
    }

    /// The edits that rename the symbol at `offset` of `file` to `new_name`: every
    /// declaration and use, across the program's files. `Err` says why it cannot.
    pub fn rename(
        &self,
        file: FileId,
        offset: usize,
        new_name: &str,
    ) -> Result<Vec<(Span, String)>, String> {
        let Some(o) = self.symbol_at(file, offset) else {
            return Err("no projection, field, relation, format or view here".into());
        };
        if !is_identifier(new_name) {
            return Err(format!("`{new_name}` is not a name (letters, digits and `_`, not starting with a digit, not a keyword)"));
        }
        let old = symbol_name(&o.symbol);
        let spans = self.references(&o.symbol, true);
        Ok(spans
            .into_iter()
            .map(|s| {
                // `{ id }` reads field `id` into a key named `id`: keep the key's name.
                let text =
                    if self.shorthands.contains(&s) && matches!(o.symbol, Symbol::Field { .. }) {
                        format!("{old} = {new_name}")
                    } else {
                        new_name.to_string()
                    };
                (s, text)
            })
            .collect())
    }

    /// The expression type recorded at the smallest expression around `offset` of `file`.
    pub fn type_at(&self, file: FileId, offset: usize) -> Option<(Span, &check::types::Typed)> {
        self.facts
            .types
            .iter()
            .filter(|(s, _)| touches(*s, file, offset))
            .min_by_key(|(s, _)| s.end - s.start)
            .map(|(s, t)| (*s, t))
    }
}

/// The name a symbol is written with.
pub fn symbol_name(s: &Symbol) -> &str {
    match s {
        Symbol::Projection(n)
        | Symbol::Relation(n)
        | Symbol::Format(n)
        | Symbol::View(n)
        | Symbol::System(n) => n,
        Symbol::Field { field, .. } | Symbol::ViewField { field, .. } => field,
    }
}

/// Words the grammar reserves in expressions (they cannot be names).
pub const RESERVED: &[&str] = &[
    "if", "then", "else", "match", "not", "and", "or", "true", "false", "null",
];

/// Whether `s` can be written as a name.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !RESERVED.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryLoader;

    const SRC: &str = "system s {\n  projection customers from \"t.c\" as basic {\n    key id\n    id int\n    name string?\n  }\n  projection orders from \"t.o\" as basic {\n    key id\n    id string\n    customer_id int\n    total decimal\n    index customer_id\n  }\n}\nrelation customer_orders: customers.id -> many orders.customer_id\nsingle view v {\n  root customers\n  key id = customers.id\n  id = customers.id\n  name = name\n  orders = customer_orders[] { id, total }\n  spent = sum(customer_orders.total)\n}\n";

    fn analysis() -> (Analysis, FileId) {
        let loader = MemoryLoader::new().with("p/a.fdl", SRC);
        let a = analyze(&loader, &[PathBuf::from("p")]);
        let id = a.file_id(Path::new("p/a.fdl")).expect("file");
        (a, id)
    }

    fn at(needle: &str, nth: usize) -> usize {
        SRC.match_indices(needle).nth(nth).expect("needle").0 + 1
    }

    #[test]
    fn diagnostics_are_those_of_compile_with() {
        let (a, _) = analysis();
        let loader = MemoryLoader::new().with("p/a.fdl", SRC);
        let compiled = crate::compile_with(&loader, &[PathBuf::from("p")]);
        let expected = match compiled {
            Ok(c) => c.diagnostics,
            Err(d) => d,
        };
        assert_eq!(a.diagnostics, expected);
        assert!(a.plan.is_some());
    }

    #[test]
    fn references_cover_declarations_and_every_resolved_use() {
        let (a, f) = analysis();
        let o = a.symbol_at(f, at("customers.id", 1)).expect("symbol");
        assert_eq!(o.symbol, Symbol::Projection("customers".into()));
        let refs = a.references(&o.symbol, true);
        // The declaration, the relation endpoint, `root`, the key and the mapping.
        assert_eq!(refs.len(), 5, "{refs:?}");
        assert_eq!(&SRC[refs[0].start..refs[0].end], "customers");
        let total = a.symbol_at(f, at("total)", 0)).expect("field");
        assert_eq!(
            total.symbol,
            Symbol::Field {
                projection: "orders".into(),
                field: "total".into()
            }
        );
        let d = a.definition(&total.symbol).expect("declared");
        assert_eq!(SRC[d.decl.start..d.decl.end].trim_end(), "total decimal");
        assert_eq!(a.references(&total.symbol, true).len(), 3);
    }

    #[test]
    fn rename_keeps_shorthand_keys_and_rejects_non_names() {
        let (a, f) = analysis();
        let edits = a
            .rename(f, at("total decimal", 0), "amount")
            .expect("rename");
        let texts: Vec<&str> = edits.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, vec!["amount", "total = amount", "amount"]);
        assert!(a.rename(f, at("total decimal", 0), "9x").is_err());
        assert!(a.rename(f, at("total decimal", 0), "then").is_err());
        assert!(a.rename(f, 0, "x").is_err());
    }

    #[test]
    fn queries_survive_any_offset() {
        let (a, f) = analysis();
        for off in 0..SRC.len() + 3 {
            let _ = a.symbol_at(f, off);
            let _ = a.type_at(f, off);
            let _ = hover::hover(&a, f, off);
            let _ = complete::complete(&a, Some(f), SRC, off);
        }
    }
}
