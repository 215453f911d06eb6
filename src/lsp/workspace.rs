//! The open documents and the programs they belong to.
//!
//! In: the editor's open buffers (text and version, by path) and the file system. Out: an
//! up-to-date [`Analysis`] per program, the program of any file, and the last analysis in
//! which each file parsed (completion needs names while the text under the cursor does not
//! parse yet).
//!
//! Guarantees: a program is a directory (the `.fdl` files in it plus what they import), as for
//! `fdc check DIR`; open buffers overlay the disk, so unsaved text is what gets checked. After
//! an edit every program holding the file is re-analysed before the next answer, so siblings'
//! diagnostics follow an edit in one file. Analyses run only when asked for after a burst of
//! edits (the server drains its queue first), never once per keystroke in the backlog.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use fdc_dsl::ide::{analyze, Analysis};
use fdc_dsl::{FsLoader, Loader};

/// The open buffers laid over the file system.
pub struct Overlay<'a> {
    pub docs: &'a HashMap<PathBuf, Document>,
}

/// One open buffer.
pub struct Document {
    pub text: String,
    pub version: i32,
}

impl Loader for Overlay<'_> {
    fn read(&self, path: &Path) -> Result<String, String> {
        match self.docs.get(&fdc_dsl::load::normalize(path)) {
            Some(d) => Ok(d.text.clone()),
            None => FsLoader.read(path),
        }
    }

    fn list(&self, path: &Path) -> Result<Option<Vec<PathBuf>>, String> {
        let dir = fdc_dsl::load::normalize(path);
        let mut entries = FsLoader.list(&dir)?;
        // A buffer not saved yet is part of its directory too.
        for p in self.docs.keys() {
            if p.parent() == Some(dir.as_path()) {
                let list = entries.get_or_insert_with(Vec::new);
                if !list.contains(p) {
                    list.push(p.clone());
                }
            }
        }
        Ok(entries)
    }
}

/// Documents and programs.
#[derive(Default)]
pub struct Workspace {
    pub docs: HashMap<PathBuf, Document>,
    /// Program root (a directory) to its latest analysis.
    programs: BTreeMap<PathBuf, Rc<Analysis>>,
    /// Programs to analyse again before the next answer.
    dirty: BTreeSet<PathBuf>,
    /// The last analysis in which each file parsed.
    last_parsed: HashMap<PathBuf, Rc<Analysis>>,
    /// The files each program last published diagnostics for (to clear them when fixed).
    published: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    /// Programs analysed since their diagnostics were last published.
    unpublished: BTreeSet<PathBuf>,
}

impl Workspace {
    /// The root of the program a file belongs to: a program already holding it (an imported
    /// file), else the file's directory.
    pub fn root_of(&self, path: &Path) -> PathBuf {
        for (root, a) in &self.programs {
            if a.file_id(path).is_some() {
                return root.clone();
            }
        }
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// Marks every program holding `path` (or its directory's program) for re-analysis.
    pub fn touch(&mut self, path: &Path) {
        let mut roots: Vec<PathBuf> = self
            .programs
            .iter()
            .filter(|(_, a)| a.file_id(path).is_some())
            .map(|(r, _)| r.clone())
            .collect();
        if roots.is_empty() {
            roots.push(path.parent().map(Path::to_path_buf).unwrap_or_default());
        }
        self.dirty.extend(roots);
    }

    /// Re-analyses the dirty programs.
    fn refresh(&mut self) {
        let roots: Vec<PathBuf> = std::mem::take(&mut self.dirty).into_iter().collect();
        for root in &roots {
            let a = Rc::new(analyze(
                &Overlay { docs: &self.docs },
                std::slice::from_ref(root),
            ));
            for f in &a.files {
                if let Some(src) = a.diagnostics.sources.get(f.id) {
                    self.last_parsed.insert(src.path.clone(), a.clone());
                }
            }
            self.programs.insert(root.clone(), a);
            self.unpublished.insert(root.clone());
        }
    }

    /// Re-analyses the dirty programs; returns the roots of every program analysed since the
    /// last call (also those analysed to answer a request), whose diagnostics are to be
    /// published.
    pub fn take_unpublished(&mut self) -> Vec<PathBuf> {
        self.refresh();
        std::mem::take(&mut self.unpublished).into_iter().collect()
    }

    /// The current analysis of the program holding `path` (analysed now if needed).
    pub fn analysis(&mut self, path: &Path) -> Rc<Analysis> {
        if !self.dirty.is_empty() {
            self.refresh();
        }
        let root = self.root_of(path);
        if let Some(a) = self.programs.get(&root) {
            return a.clone();
        }
        self.dirty.insert(root.clone());
        self.refresh();
        self.programs
            .get(&root)
            .cloned()
            .unwrap_or_else(|| Rc::new(analyze(&Overlay { docs: &self.docs }, &[root])))
    }

    /// The analysis to take names from for completion in `path`: the current one when the
    /// file parses in it, else the last one in which it did.
    pub fn names_for(&mut self, path: &Path) -> Rc<Analysis> {
        let current = self.analysis(path);
        let parsed = current
            .file_id(path)
            .is_some_and(|id| current.file(id).is_some());
        if parsed {
            return current;
        }
        self.last_parsed.get(path).cloned().unwrap_or(current)
    }

    /// The program at `root`, if analysed.
    pub fn program(&self, root: &Path) -> Option<Rc<Analysis>> {
        self.programs.get(root).cloned()
    }

    /// Records the files `root` published diagnostics for; returns those published before
    /// and not now (to be cleared).
    pub fn published(&mut self, root: &Path, files: BTreeSet<PathBuf>) -> Vec<PathBuf> {
        let before = self.published.insert(root.to_path_buf(), files.clone());
        before
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !files.contains(f))
            .collect()
    }
}
