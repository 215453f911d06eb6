//! Machine renderings of diagnostics for CI: GitHub workflow annotations and SARIF 2.1.0.
//!
//! In: the [`Diagnostics`] of one or more pipelines (their stable JSON view, so line and
//! column numbers are the same everywhere) and the directory paths are made relative to (the
//! working directory, so that they are repository paths in CI). Out: text ([`github`]) or a
//! JSON document ([`sarif`]).
//!
//! Guarantees: pure functions; output order is the diagnostics' order; every value is escaped
//! for its format, so messages with `,`, `:`, `%` or new lines cannot break a line or a field.

mod github;
mod sarif;

pub use github::github;
pub use sarif::sarif;

use std::path::{Component, Path};

use crate::Diagnostics;

/// `path` relative to `base` when it lies below it, with `/` separators and no `./`.
pub fn relative_path(path: &str, base: &Path) -> String {
    let p = Path::new(path);
    let rel = p.strip_prefix(base).unwrap_or(p);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::CurDir => None,
            Component::RootDir => Some(String::new()),
            other => Some(other.as_os_str().to_string_lossy().into_owned()),
        })
        .collect();
    parts.join("/")
}

/// Every diagnostic of `all`, with its rendered file path.
fn entries<'a>(
    all: impl IntoIterator<Item = &'a Diagnostics>,
) -> Vec<crate::diagnostics::JsonDiagnostic> {
    all.into_iter().flat_map(|d| d.to_json()).collect()
}
