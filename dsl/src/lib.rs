//! `fdc-dsl`: the `.fdl` pipeline language.
//!
//! In: `.fdl` text, read through a [`load::Loader`]. Out: a checked, compiled
//! [`fdc_plan::Plan`], or [`Diagnostics`] with spans into the sources.
//!
//! Stages, each with its own type: [`load`] (files, directories, imports), [`syntax`] (pest
//! pairs to a spanned AST, comments kept), [`check`] (names resolved, types inferred, strategies
//! derived, every problem collected), [`compile`] (the `Plan`). [`compile_with`] is the one
//! entry point that both `fdc check` and `fdc run` use, so `check` is exactly as strict as `run`.

pub mod check;
pub mod compile;
pub mod diagnostics;
pub mod explain;
pub mod fmt;
pub mod graph;
pub mod ide;
pub mod load;
pub mod render;
pub mod syntax;

use std::path::{Path, PathBuf};

pub use diagnostics::{Diagnostic, Diagnostics, Problem, Severity, SourceFile, Sources};
pub use load::{FsLoader, LoadOptions, Loader, MemoryLoader};

/// A pipeline that compiled: its plan, the checked program, the parsed files, and any
/// warnings.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub plan: fdc_plan::Plan,
    pub program: check::Program,
    pub files: Vec<syntax::File>,
    /// Warnings only (a pipeline with errors does not compile); includes the sources.
    pub diagnostics: Diagnostics,
}

/// Loads, parses, checks and compiles the program made of `roots` (files or directories of
/// `.fdl` files, plus everything they import, which must lie inside the roots). `Err` holds
/// every diagnostic when any is an error.
pub fn compile_with(loader: &dyn Loader, roots: &[PathBuf]) -> Result<Compiled, Diagnostics> {
    compile_with_options(loader, roots, &LoadOptions::default())
}

/// [`compile_with`], with the directories files may be read from set by `options`.
pub fn compile_with_options(
    loader: &dyn Loader,
    roots: &[PathBuf],
    options: &LoadOptions,
) -> Result<Compiled, Diagnostics> {
    let confinement = load::Confinement::new(loader, roots, options);
    let loaded = load::load_confined(loader, roots, &confinement);
    let mut diagnostics = Diagnostics {
        sources: loaded.sources,
        items: loaded.diagnostics,
    };
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let confined = load::Confined {
        loader,
        confinement: &confinement,
    };
    let (program, found) = check::check(&loaded.files, &diagnostics.sources, &confined);
    diagnostics.items.extend(found);
    match program {
        Some(program) if !diagnostics.has_errors() => Ok(Compiled {
            plan: compile::compile(&program),
            program,
            files: loaded.files,
            diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Compiles the pipeline at `path` (a `.fdl` file or a directory) from the file system.
pub fn load(path: &Path) -> Result<Compiled, Diagnostics> {
    compile_with(&FsLoader, &[path.to_path_buf()])
}

/// The pipelines under `path`: the path itself when it is a file or a directory holding
/// `.fdl` files; otherwise each subdirectory (sorted, searched the same way, up to 8 levels;
/// directories are skipped as `fdc_plan::discovery` says). A path that holds none is
/// returned as is, so that compiling it reports why.
pub fn pipelines(loader: &dyn Loader, path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    find_pipelines(loader, path, 0, &mut out);
    if out.is_empty() {
        out.push(path.to_path_buf());
    }
    out
}

fn find_pipelines(loader: &dyn Loader, path: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(Some(mut entries)) = loader.list(path) else {
        if depth == 0 {
            out.push(path.to_path_buf());
        }
        return;
    };
    entries.sort();
    if depth > 0 && fdc_plan::discovery::marked(&entries) {
        return;
    }
    if entries
        .iter()
        .any(|e| e.extension().is_some_and(|x| x == "fdl"))
    {
        out.push(path.to_path_buf());
        return;
    }
    if depth >= 8 {
        return;
    }
    for e in entries {
        let skipped = e
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(fdc_plan::discovery::skipped_name);
        if skipped {
            continue;
        }
        if let Ok(Some(_)) = loader.list(&e) {
            find_pipelines(loader, &e, depth + 1, out);
        }
    }
}
