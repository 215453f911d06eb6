//! Reading a pipeline's files: directories, imports, and the loader abstraction.
//!
//! In: root paths (files or directories) and a [`Loader`]. Out: the parsed files of one
//! program (each file once, in a stable order: roots in the given order, a directory's `.fdl`
//! files sorted by name, each file followed by the files it imports), their [`Sources`], and
//! load or parse diagnostics.
//!
//! Guarantees: the compiler reads nothing except through a [`Loader`]; [`FsLoader`] is the one
//! place that touches the file system, and [`MemoryLoader`] serves tests. Import cycles are
//! reported, never followed forever. Every file read lies inside the pipeline's root
//! directories or a directory the caller allowed ([`LoadOptions`]), checked on the resolved
//! path (`..` and symbolic links followed) before the file is read, so a pipeline under review
//! cannot make `fdc check` read and quote files elsewhere on the machine; a file outside the
//! roots that is not a `.fdl` file and does not parse is reported without quoting it.

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
    /// The path `path` really designates, for the root check: `..` and symbolic links
    /// resolved (a path that does not exist yet resolves as far as it exists). The default
    /// resolves `.` and `..` only, for loaders without links.
    fn canonicalize(&self, path: &Path) -> Result<PathBuf, String> {
        Ok(normalize(path))
    }
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

    fn canonicalize(&self, path: &Path) -> Result<PathBuf, String> {
        // The longest prefix that exists is resolved by the OS; the rest does not exist, so it
        // holds no link to follow and is appended as written (it is already normalized).
        let mut rest = Vec::new();
        let mut at = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        loop {
            match std::fs::canonicalize(at) {
                Ok(mut resolved) => {
                    resolved.extend(rest.iter().rev());
                    return Ok(resolved);
                }
                Err(e) => match (at.parent(), at.file_name()) {
                    (Some(parent), Some(name)) => {
                        rest.push(name.to_os_string());
                        at = if parent.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            parent
                        };
                    }
                    _ => return Err(e.to_string()),
                },
            }
        }
    }
}

/// Where the files of a program may be read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The pipeline's roots: the paths named by the user (a directory, or a file standing for
    /// its directory). Every file read, the pipeline's own and the ones it imports, must lie
    /// inside one of them or inside [`LoadOptions::allowed`]. Empty: the paths being compiled
    /// are the roots.
    pub roots: Vec<PathBuf>,
    /// Further directories imports may read from (the CLI's `--allow-imports-from`); a file
    /// stands for its directory.
    pub allowed: Vec<PathBuf>,
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

    /// An `import` (or a file of a pipeline's directory, through a symbolic link) resolves to a
    /// file outside the pipeline's root directories. It is not read: a pipeline under review
    /// must not make `fdc` read, and quote in its errors, files elsewhere on the machine.
    #[error("`{path}` is outside the pipeline's root (`{roots}`)")]
    #[diagnostic(
        code(fdl::load::outside_root),
        help(
            "imports must stay inside the pipeline's directory (`..` and symbolic links are \
             followed); the `fdc` commands allow another directory with \
             `--allow-imports-from DIR`"
        )
    )]
    OutsideRoot {
        path: String,
        roots: String,
        #[label(primary, "this file is outside the root")]
        span: Option<SourceSpan>,
    },

    /// A file outside the pipeline's roots (in an allowed directory), not named `.fdl`, does
    /// not parse. Its syntax errors are not shown: they would quote the file's lines.
    #[error("`{path}` is not a pipeline file: it does not parse as `.fdl`")]
    #[diagnostic(
        code(fdl::load::not_fdl),
        help(
            "the file is outside the pipeline's root and its name does not end in `.fdl`, so \
             its contents are not quoted; import `.fdl` files"
        )
    )]
    NotFdl {
        path: String,
        #[label(primary, "imported here")]
        span: Option<SourceSpan>,
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

/// Loads and parses every file of the program made of `roots`, confined to `roots` (see
/// [`load_with`]).
pub fn load(loader: &dyn Loader, roots: &[PathBuf]) -> Loaded {
    load_with(loader, roots, &LoadOptions::default())
}

/// Loads and parses every file of the program made of `roots`; files are read only inside the
/// roots and directories of `options`.
pub fn load_with(loader: &dyn Loader, roots: &[PathBuf], options: &LoadOptions) -> Loaded {
    load_confined(loader, roots, &Confinement::new(loader, roots, options))
}

/// [`load_with`] with the confinement already resolved.
pub(crate) fn load_confined(
    loader: &dyn Loader,
    roots: &[PathBuf],
    confinement: &Confinement,
) -> Loaded {
    let mut state = State {
        loader,
        confinement,
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

/// Where a file lies relative to the directories a program may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Inside one of the pipeline's roots.
    Own,
    /// Outside the roots, inside a directory the caller allowed.
    Allowed,
    /// Anywhere else: not read.
    Outside,
}

/// The resolved directories a program may read files from.
#[derive(Debug, Clone)]
pub(crate) struct Confinement {
    /// The pipeline's root directories.
    own: Vec<PathBuf>,
    /// The further directories the caller allowed.
    allowed: Vec<PathBuf>,
}

impl Confinement {
    /// Resolves the roots of `options` (or `roots` when it names none) and its allowed
    /// directories.
    pub(crate) fn new(loader: &dyn Loader, roots: &[PathBuf], options: &LoadOptions) -> Self {
        let own = if options.roots.is_empty() {
            roots
        } else {
            &options.roots[..]
        };
        Confinement {
            own: own.iter().flat_map(|r| root_dirs(loader, r)).collect(),
            allowed: options
                .allowed
                .iter()
                .flat_map(|d| root_dirs(loader, d))
                .collect(),
        }
    }

    /// Where `path` really lies (resolved through `loader`).
    pub(crate) fn place(&self, loader: &dyn Loader, path: &Path) -> Result<Place, String> {
        let resolved = loader.canonicalize(&normalize(path))?;
        Ok(if self.own.iter().any(|d| inside(&resolved, d)) {
            Place::Own
        } else if self.allowed.iter().any(|d| inside(&resolved, d)) {
            Place::Allowed
        } else {
            Place::Outside
        })
    }

    /// The roots as shown in a diagnostic.
    fn shown(&self) -> String {
        let shown: Vec<String> = self
            .own
            .iter()
            .map(|d| match d.display().to_string() {
                s if s.is_empty() => ".".to_string(),
                s => s,
            })
            .collect();
        shown.join("`, `")
    }
}

/// A loader that reads only inside a [`Confinement`]: what the checker reads (a view's
/// `validate` schema) obeys the same rule as the pipeline's files.
pub(crate) struct Confined<'a> {
    pub(crate) loader: &'a dyn Loader,
    pub(crate) confinement: &'a Confinement,
}

impl Loader for Confined<'_> {
    fn read(&self, path: &Path) -> Result<String, String> {
        match self.confinement.place(self.loader, path)? {
            Place::Outside => Err(format!(
                "it is outside the pipeline's root (`{}`)",
                self.confinement.shown()
            )),
            Place::Own | Place::Allowed => self.loader.read(path),
        }
    }

    fn list(&self, path: &Path) -> Result<Option<Vec<PathBuf>>, String> {
        self.loader.list(path)
    }

    fn canonicalize(&self, path: &Path) -> Result<PathBuf, String> {
        self.loader.canonicalize(path)
    }
}

/// The resolved directories a root stands for: a directory itself; for a file, its directory
/// both as written and as resolved (a root file that is a link to elsewhere keeps both its
/// neighbours and the target's importable).
fn root_dirs(loader: &dyn Loader, root: &Path) -> Vec<PathBuf> {
    let root = normalize(root);
    if let Ok(Some(_)) = loader.list(&root) {
        return loader.canonicalize(&root).into_iter().collect();
    }
    let mut out = Vec::new();
    if let Ok(parent) = loader.canonicalize(root.parent().unwrap_or(Path::new(""))) {
        out.push(parent);
    }
    if let Some(parent) = loader
        .canonicalize(&root)
        .ok()
        .and_then(|r| r.parent().map(Path::to_path_buf))
    {
        if !out.contains(&parent) {
            out.push(parent);
        }
    }
    out
}

/// Whether the resolved `path` lies inside the resolved directory `dir`.
fn inside(path: &Path, dir: &Path) -> bool {
    path.strip_prefix(dir)
        .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
}

/// The import that names a file: the whole item, and its path string.
#[derive(Debug, Clone, Copy)]
struct ImportedBy {
    import: Span,
    string: Span,
}

struct State<'a> {
    loader: &'a dyn Loader,
    confinement: &'a Confinement,
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

    /// Reports that `key` cannot be read: at the import that named it, or on its own for a
    /// file of a root.
    fn unreadable(&mut self, key: &Path, from: Option<ImportedBy>, reason: String) {
        let from = from.map(|f| f.import);
        let path = key.display().to_string();
        match from {
            Some(span) => self.problem(
                Some(span.file),
                LoadError::ImportUnreadable {
                    path,
                    reason,
                    span: span.into(),
                },
            ),
            None => self.problem(None, LoadError::Unreadable { path, reason }),
        }
    }

    /// Reads, parses and follows the imports of `path`; `from` is the import that named it.
    fn visit(&mut self, path: &Path, from: Option<ImportedBy>) {
        let key = normalize(path);
        if let Some(pos) = self.stack.iter().position(|p| *p == key) {
            let mut chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            chain.push(key.display().to_string());
            let span = from.map(|f| f.import).unwrap_or_default();
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
        // Checked before reading, so that nothing outside is read (nor its absence revealed).
        let place = match self.confinement.place(self.loader, &key) {
            Ok(p) => p,
            Err(reason) => return self.unreadable(&key, from, reason),
        };
        if place == Place::Outside {
            let e = LoadError::OutsideRoot {
                path: key.display().to_string(),
                roots: self.confinement.shown(),
                span: from.map(|f| f.string.into()),
            };
            return self.problem(from.map(|f| f.string.file), e);
        }
        let text = match self.loader.read(&key) {
            Ok(t) => t,
            Err(reason) => return self.unreadable(&key, from, reason),
        };
        let quotable = place == Place::Own || key.extension().is_some_and(|e| e == "fdl");
        let id = FileId(u32::try_from(self.out.sources.files.len()).unwrap_or(u32::MAX));
        let parsed = syntax::parse(id, &text);
        if parsed.is_err() && !quotable {
            // The file's name was never a promise that it is a pipeline file: report it
            // without its text, which the syntax errors would quote.
            let e = LoadError::NotFdl {
                path: key.display().to_string(),
                span: from.map(|f| f.string.into()),
            };
            return self.problem(from.map(|f| f.string.file), e);
        }
        let added = self.out.sources.add(key.clone(), text);
        debug_assert_eq!(added, id);
        match parsed {
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
                    let from = ImportedBy {
                        import: imp.span,
                        string: imp.path.span,
                    };
                    self.visit(&dir.join(&imp.path.value), Some(from));
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
