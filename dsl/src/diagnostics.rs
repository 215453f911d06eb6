//! Diagnostics of every phase, with the sources they point into.
//!
//! In: the problems of the load, parse and check phases. Out: [`Diagnostics`], which renders as
//! miette reports (each with its file's text attached) or as the stable JSON shape documented
//! in `docs/language.md` ("JSON output").
//!
//! Guarantees: every diagnostic has a stable code, a severity and, when it comes from a file,
//! the file it points into; line and column numbers are 1-based and count characters.

use std::path::PathBuf;

use miette::{Diagnostic as _, NamedSource, Report, Severity as MietteSeverity};
use serde::Serialize;

use crate::check::CheckError;
use crate::load::LoadError;
use crate::syntax::{FileId, ParseError};

/// One loaded source file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    /// The path as given or resolved (used in reports).
    pub path: PathBuf,
    pub text: String,
}

/// Every file of a pipeline, indexed by [`FileId`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: PathBuf, text: String) -> FileId {
        self.files.push(SourceFile { path, text });
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    /// The file with id `id`.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// The display name of a file.
    pub fn name(&self, id: FileId) -> String {
        self.get(id)
            .map(|f| f.path.display().to_string())
            .unwrap_or_default()
    }

    /// 1-based (line, column) of a byte offset in `id`; columns count characters.
    pub fn line_col(&self, id: FileId, offset: usize) -> (usize, usize) {
        let Some(f) = self.get(id) else {
            return (1, 1);
        };
        let offset = offset.min(f.text.len());
        let before = f.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

/// A problem of any phase.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum Problem {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Check(#[from] CheckError),
}

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem and the file its spans point into.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// `None` for problems not tied to a file (an unreadable path given on the command line).
    pub file: Option<FileId>,
    pub problem: Problem,
}

impl Diagnostic {
    /// The stable code, such as `fdl::check::unknown_field`.
    pub fn code(&self) -> String {
        self.problem
            .code()
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        match self.problem.severity() {
            Some(MietteSeverity::Warning) | Some(MietteSeverity::Advice) => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

/// All diagnostics of one pipeline, with its sources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnostics {
    pub sources: Sources,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity() == Severity::Error)
    }

    /// Number of errors and of warnings.
    pub fn counts(&self) -> (usize, usize) {
        let errors = self
            .items
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count();
        (errors, self.items.len() - errors)
    }

    /// Each diagnostic as a miette report with its file's text attached.
    pub fn reports(&self) -> Vec<Report> {
        self.items
            .iter()
            .map(|d| {
                let report = Report::new(d.problem.clone());
                match d.file.and_then(|f| self.sources.get(f)) {
                    Some(f) => report.with_source_code(NamedSource::new(
                        f.path.display().to_string(),
                        f.text.clone(),
                    )),
                    None => report,
                }
            })
            .collect()
    }

    /// The diagnostics in the stable JSON shape (see `docs/language.md`).
    pub fn to_json(&self) -> Vec<JsonDiagnostic> {
        self.items
            .iter()
            .map(|d| {
                let file = d.file.map(|f| self.sources.name(f));
                let labels: Vec<JsonLabel> = d
                    .problem
                    .labels()
                    .into_iter()
                    .flatten()
                    .map(|l| {
                        let (line, column) = d
                            .file
                            .map(|f| self.sources.line_col(f, l.offset()))
                            .unwrap_or((1, 1));
                        let (end_line, end_column) = d
                            .file
                            .map(|f| self.sources.line_col(f, l.offset() + l.len()))
                            .unwrap_or((1, 1));
                        JsonLabel {
                            message: l.label().map(String::from),
                            primary: l.primary(),
                            offset: l.offset(),
                            length: l.len(),
                            line,
                            column,
                            end_line,
                            end_column,
                        }
                    })
                    .collect();
                let main = labels
                    .iter()
                    .find(|l| l.primary)
                    .or_else(|| labels.first())
                    .cloned();
                JsonDiagnostic {
                    code: d.code(),
                    severity: d.severity(),
                    message: d.problem.to_string(),
                    file,
                    line: main.as_ref().map(|l| l.line),
                    column: main.as_ref().map(|l| l.column),
                    end_line: main.as_ref().map(|l| l.end_line),
                    end_column: main.as_ref().map(|l| l.end_column),
                    help: d.problem.help().map(|h| h.to_string()),
                    labels,
                }
            })
            .collect()
    }
}

/// One diagnostic in the JSON output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonDiagnostic {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub labels: Vec<JsonLabel>,
    pub help: Option<String>,
}

/// One label of a JSON diagnostic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonLabel {
    pub message: Option<String>,
    pub primary: bool,
    /// Byte offset and length in the file.
    pub offset: usize,
    pub length: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}
