//! Reading a pipeline's files: directories, imports, and the loader abstraction.
//!
//! In: root paths (files or directories) and a [`Loader`]. Out: the parsed files of one
//! program (each file once, in a stable order: roots in the given order, a directory's `.fdl`
//! files sorted by name, each file followed by the files it imports), their [`Sources`], and
//! load or parse diagnostics.
//!
//! Guarantees: the compiler reads nothing except through a [`Loader`]; [`FsLoader`] is the one
//! place that touches the file system, and [`MemoryLoader`] serves tests. Import cycles are
//! reported, never followed forever.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use miette::SourceSpan;
use thiserror::Error;

use crate::diagnostics::{Diagnostic, Problem, Sources};
use crate::syntax::{self, ast, FileId, Span};

/// Reads pipeline text. Implemented over the file system by [`FsLoader`] and in memory by
/// [`MemoryLoader`].
pub trait Loader {
    /// The text of the file at `path`.
    fn read(&self, path: &Path) -> Result<String, String>;
    /// The entries of `path` if it is a directory, `None` if it is not one.
    fn list(&self, path: &Path) -> Result<Option<Vec<PathBuf>>, String>;
}

/// The file-system loader used by the CLI.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }

    fn list(&self, path: &Path) -> Result<Option<Vec<PathBuf>>, String> {
        if !path.is_dir() {
            return Ok(None);
        }
        let entries = std::fs::read_dir(path).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for e in entries {
            out.push(e.map_err(|e| e.to_string())?.path());
        }
        Ok(Some(out))
    }
}

/// An in-memory set of files (tests, tools). Directories are implied by the paths.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: BTreeMap<PathBuf, String>,
}

impl MemoryLoader {
    /// An empty loader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(normalize(&path.into()), text.into());
        self
    }
}

impl Loader for MemoryLoader {
    fn read(&self, path: &Path) -> Result<String, String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| "No such file or directory".to_string())
    }

    fn list(&self, path: &Path) -> Result<Option<Vec<PathBuf>>, String> {
        let dir = normalize(path);
        if self.files.contains_key(&dir) {
            return Ok(None);
        }
        let mut out: Vec<PathBuf> = Vec::new();
        for p in self.files.keys() {
            let Ok(rest) = p.strip_prefix(&dir) else {
                continue;
            };
            if let Some(Component::Normal(first)) = rest.components().next() {
                let child = dir.join(first);
                if !out.contains(&child) {
                    out.push(child);
                }
            }
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }
}

/// Resolves `.` and `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Problems reading files.
#[derive(Debug, Clone, Error, miette::Diagnostic, PartialEq)]
pub enum LoadError {
    /// A path given to the compiler cannot be read. Nothing can be checked without it.
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(fdl::load::unreadable))]
    Unreadable { path: String, reason: String },

    /// An `import` names a file that cannot be read.
    #[error("cannot import `{path}`: {reason}")]
    #[diagnostic(
        code(fdl::load::import_unreadable),
        help("import paths are relative to the importing file")
    )]
    ImportUnreadable {
        path: String,
        reason: String,
        #[label(primary, "imported here")]
        span: SourceSpan,
    },

    /// Files import each other in a circle. The program would be ill-defined, so the cycle is
    /// an error even though each file is read only once.
    #[error("import cycle: {chain}")]
    #[diagnostic(
        code(fdl::load::import_cycle),
        help("move the shared declarations into a file that both import")
    )]
    ImportCycle {
        chain: String,
        #[label(primary, "this import closes the cycle")]
        span: SourceSpan,
    },

    /// A directory given as a pipeline holds no `.fdl` file.
    #[error("no `.fdl` files in `{path}`")]
    #[diagnostic(
        code(fdl::load::no_files),
        help("a pipeline is a `.fdl` file or a directory of `.fdl` files")
    )]
    NoFiles { path: String },
}

/// The parsed files of one program.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub sources: Sources,
    pub files: Vec<ast::File>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads and parses every file of the program made of `roots`.
pub fn load(loader: &dyn Loader, roots: &[PathBuf]) -> Loaded {
    let mut state = State {
        loader,
        out: Loaded::default(),
        seen: HashSet::new(),
        stack: Vec::new(),
    };
    for root in roots {
        match loader.list(root) {
            Ok(Some(entries)) => {
                let mut fdl: Vec<PathBuf> = entries
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "fdl"))
                    .collect();
                fdl.sort();
                if fdl.is_empty() {
                    state.problem(
                        None,
                        LoadError::NoFiles {
                            path: root.display().to_string(),
                        },
                    );
                }
                for f in fdl {
                    state.visit(&f, None);
                }
            }
            Ok(None) => state.visit(root, None),
            Err(reason) => state.problem(
                None,
                LoadError::Unreadable {
                    path: root.display().to_string(),
                    reason,
                },
            ),
        }
    }
    state.out
}

struct State<'a> {
    loader: &'a dyn Loader,
    out: Loaded,
    seen: HashSet<PathBuf>,
    stack: Vec<PathBuf>,
}

impl State<'_> {
    fn problem(&mut self, file: Option<FileId>, e: LoadError) {
        self.out.diagnostics.push(Diagnostic {
            file,
            problem: Problem::Load(e),
        });
    }

    /// Reads, parses and follows the imports of `path`; `from` is the import that named it.
    fn visit(&mut self, path: &Path, from: Option<Span>) {
        let key = normalize(path);
        if let Some(pos) = self.stack.iter().position(|p| *p == key) {
            let mut chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            chain.push(key.display().to_string());
            let span = from.unwrap_or_default();
            self.problem(
                Some(span.file),
                LoadError::ImportCycle {
                    chain: chain.join(" -> "),
                    span: span.into(),
                },
            );
            return;
        }
        if !self.seen.insert(key.clone()) {
            return;
        }
        let text = match self.loader.read(&key) {
            Ok(t) => t,
            Err(reason) => {
                let e = match from {
                    Some(span) => {
                        self.problem(
                            Some(span.file),
                            LoadError::ImportUnreadable {
                                path: key.display().to_string(),
                                reason,
                                span: span.into(),
                            },
                        );
                        return;
                    }
                    None => LoadError::Unreadable {
                        path: key.display().to_string(),
                        reason,
                    },
                };
                self.problem(None, e);
                return;
            }
        };
        let id = self.out.sources.add(key.clone(), text);
        let text = self
            .out
            .sources
            .get(id)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        match syntax::parse(id, &text) {
            Ok(file) => {
                let imports: Vec<ast::Import> = file
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        ast::Item::Import(imp) => Some(imp.clone()),
                        _ => None,
                    })
                    .collect();
                self.out.files.push(file);
                self.stack.push(key.clone());
                let dir = key.parent().map(Path::to_path_buf).unwrap_or_default();
                for imp in imports {
                    self.visit(&dir.join(&imp.path.value), Some(imp.span));
                }
                self.stack.pop();
            }
            Err(errors) => {
                for e in errors {
                    self.out.diagnostics.push(Diagnostic {
                        file: Some(id),
                        problem: Problem::Parse(e),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_files_are_sorted_and_imports_followed_once() {
        let loader = MemoryLoader::new()
            .with("p/b.fdl", "import \"lib/common.fdl\"")
            .with("p/a.fdl", "import \"lib/common.fdl\"")
            .with("p/lib/common.fdl", "")
            .with("p/readme.txt", "not fdl");
        let loaded = load(&loader, &[PathBuf::from("p")]);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let names: Vec<String> = loaded
            .sources
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(names, vec!["p/a.fdl", "p/lib/common.fdl", "p/b.fdl"]);
    }

    #[test]
    fn import_cycles_are_reported() {
        let loader = MemoryLoader::new()
            .with("a.fdl", "import \"b.fdl\"")
            .with("b.fdl", "import \"./a.fdl\"");
        let loaded = load(&loader, &[PathBuf::from("a.fdl")]);
        let codes: Vec<String> = loaded.diagnostics.iter().map(|d| d.code()).collect();
        assert_eq!(codes, vec!["fdl::load::import_cycle"]);
    }

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(normalize(Path::new("a/./b/../c")), PathBuf::from("a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }
}
