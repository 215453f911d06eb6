//! `fdc test`: pipeline test files, run on a fresh embedded store per case.
//!
//! In: test files (`*.test.yaml`, schema `schemas/test.schema.json`, documented in
//! `docs/testing.md`) and the compiled [`fdc_plan::Plan`] of the pipeline each one tests (the
//! caller compiles: the engine never sees `.fdl`). Out: one [`CaseResult`] per case, with every
//! mismatch as a readable [`Failure`] (each differing path of each document, event, count or
//! dead-letter expectation, expected vs actual), and reports in human, JSON and JUnit form
//! ([`report`]).
//!
//! Guarantees:
//! - a test file is validated against the JSON Schema before use; errors name the file and the
//!   place in it;
//! - every case runs isolated on a fresh in-memory [`fdc_embedded::EmbeddedStore`] through
//!   the same engine stages as `fdc run` (router, projection writer, strategies, single-view
//!   writer); nothing is shared between cases;
//! - a case's `given` records are applied as already-processed input (version 0) and the single
//!   views they imply are built before the case's messages, so the store is in the state a
//!   clean earlier run would have left;
//! - unexpected dead letters fail a case unless the case says how many it expects.

mod compare;
mod encode;
pub mod report;
mod run;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use compare::{differences, first_difference, Difference};
pub use run::{run_case, run_file};

/// The JSON Schema of test files.
pub const SCHEMA: &str = include_str!("../../../../schemas/test.schema.json");

/// The name suffix of test files.
pub const SUFFIX: &str = ".test.yaml";

/// A test file: the pipeline it tests and its cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The pipeline, relative to the file (default: the file's directory).
    pub pipeline: Option<String>,
    pub cases: Vec<Case>,
}

/// One named case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub batch: Option<Batch>,
    /// Projection name -> records already applied.
    #[serde(default)]
    pub given: indexmap::IndexMap<String, Vec<serde_json::Value>>,
    /// View name -> documents already stored (`{key, document}`), written before `given` (for
    /// fields that other writers own, kept by `write merge`).
    #[serde(default)]
    pub given_views: indexmap::IndexMap<String, Vec<GivenDocument>>,
    /// Input messages in order (see [`encode`]).
    #[serde(default)]
    pub when: Vec<serde_json::Value>,
    #[serde(default)]
    pub expect: Option<Expect>,
    /// View name -> exactly the keys triggered by the input.
    #[serde(default)]
    pub expect_triggers: Option<indexmap::IndexMap<String, Vec<serde_json::Value>>>,
}

/// A single-view document stored before a case runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GivenDocument {
    pub key: serde_json::Value,
    pub document: serde_json::Map<String, serde_json::Value>,
}

/// How many messages go in one engine batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    Size(usize),
    /// The whole input in one batch.
    All,
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Batch, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s == "all" => Ok(Batch::All),
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(n) if n >= 1 => Ok(Batch::Size(n as usize)),
                _ => Err(serde::de::Error::custom("`batch` must be at least 1")),
            },
            _ => Err(serde::de::Error::custom(
                "`batch` must be a positive integer or \"all\"",
            )),
        }
    }
}

/// What a case expects after its input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// View name -> documents by key.
    #[serde(default)]
    pub views: indexmap::IndexMap<String, Vec<Entry>>,
    /// Projection name -> records by primary key.
    #[serde(default)]
    pub projections: indexmap::IndexMap<String, Vec<Entry>>,
    /// Every stored document (record) of the listed views (projections) must be listed.
    #[serde(default)]
    pub exhaustive: bool,
    /// Dead letters (default: none at all).
    #[serde(default)]
    pub dead_letters: Option<DeadLetters>,
    /// Changes skipped as stale.
    #[serde(default)]
    pub stale: Option<u64>,
    /// Messages skipped by their format.
    #[serde(default)]
    pub skipped: Option<u64>,
    /// Every output event in order (partial objects).
    #[serde(default)]
    pub events: Option<Vec<serde_json::Value>>,
}

/// One expected document or record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub key: serde_json::Value,
    /// The exact document (or record fields).
    #[serde(default)]
    pub document: Option<serde_json::Map<String, serde_json::Value>>,
    /// Only these top-level fields.
    #[serde(default)]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Nothing stored under this key.
    #[serde(default)]
    pub absent: bool,
}

/// Expected dead letters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetters {
    pub count: Option<u64>,
    /// Each must be a substring of some dead letter's reason.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// A test file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: not valid YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{path}: does not match schemas/test.schema.json:\n{problems}")]
    Schema { path: PathBuf, problems: String },
    #[error("{path}: {message}")]
    Shape { path: PathBuf, message: String },
}

/// One mismatch of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Where (`customer_360[1].recent_orders[0].total`, `dead letters`, `triggers of v`).
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl From<Difference> for Failure {
    fn from(d: Difference) -> Failure {
        Failure {
            path: d.path,
            expected: d.expected,
            actual: d.actual,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.path, self.expected, self.actual
        )
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub name: String,
    /// Empty when the case passed.
    pub failures: Vec<Failure>,
    /// Set when the case could not run at all (bad input in the case, a store error).
    pub error: Option<String>,
    pub millis: u128,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.error.is_none()
    }
}

/// The outcome of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileResult {
    pub path: PathBuf,
    /// Set when the file or its pipeline could not be used; then `cases` is empty.
    pub error: Option<String>,
    pub cases: Vec<CaseResult>,
}

/// Reads, schema-validates and parses the test file at `path`.
pub fn load(path: &Path) -> Result<TestFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse(path, &text)
}

/// Parses and schema-validates test-file text (`path` is for messages only).
pub fn parse(path: &Path, text: &str) -> Result<TestFile, LoadError> {
    let json: serde_json::Value = serde_yaml::from_str(text).map_err(|e| LoadError::Yaml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    validate(path, &json, SCHEMA)?;
    serde_json::from_value(json).map_err(|e| LoadError::Shape {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Validates `json` against the schema text `schema`; every problem is listed with its place.
pub fn validate(path: &Path, json: &serde_json::Value, schema: &str) -> Result<(), LoadError> {
    let schema: serde_json::Value = serde_json::from_str(schema).map_err(|e| LoadError::Shape {
        path: path.to_path_buf(),
        message: format!("the test-file schema is not JSON: {e}"),
    })?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| LoadError::Shape {
        path: path.to_path_buf(),
        message: format!("the test-file schema does not compile: {e}"),
    })?;
    let problems: Vec<String> = validator
        .iter_errors(json)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!(
                "  at `{}`: {e}",
                if at.is_empty() { "/".to_owned() } else { at }
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LoadError::Schema {
            path: path.to_path_buf(),
            problems: problems.join("\n"),
        })
    }
}

/// The pipeline a test file tests.
pub fn pipeline_of(path: &Path, file: &TestFile) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    match &file.pipeline {
        Some(p) => dir.join(p),
        None => dir.to_path_buf(),
    }
}

/// The test files at `path`: the file itself, or every `*.test.yaml` under a directory (sorted,
/// recursively; directories skipped as `fdc_plan::discovery` says: hidden, `target`, marked).
pub fn discover(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(format!("`{}` does not exist", path.display()));
    }
    let mut out = Vec::new();
    walk(path, 0, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if depth > 16 {
        return Ok(());
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    // The directory named by the caller is searched even when marked.
    if depth > 0 && fdc_plan::discovery::marked(&entries) {
        return Ok(());
    }
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if !fdc_plan::discovery::skipped_name(&name) {
                walk(&p, depth + 1, out)?;
            }
        } else if name.ends_with(SUFFIX) {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
