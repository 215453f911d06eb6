//! Which directories a search for files skips: the one rule of every directory walk (`fdc fmt`
//! looking for `.fdl` files, `fdc check` looking for pipelines, `fdc test` looking for test
//! files).
//!
//! In: the name of a directory a walk found, and the names of its entries. Out: whether the
//! walk goes into it. Skipped, with everything under them: hidden directories (`.git`),
//! `target` and `node_modules`, and any directory that holds a file named [`IGNORE_MARKER`]
//! (`.fdcignore`; its contents are not read). The marker is how a repository keeps its test
//! fixtures (deliberately malformed or unformatted `.fdl` files) out of `fdc fmt` and `fdc
//! check` run over the whole tree.
//!
//! Guarantees: a path named on the command line is always processed, marked or not (walks
//! apply this rule to the directories they find, never to the one they start from). Pure (the
//! caller lists the directory), so it lives in the crate every walker depends on.

use std::path::Path;

/// The file whose presence makes a directory walk skip the directory that holds it.
pub const IGNORE_MARKER: &str = ".fdcignore";

/// Whether a directory found by a walk is skipped for its name alone.
pub fn skipped_name(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

/// Whether a directory whose entries are `entries` (paths or names) holds the marker.
pub fn marked<I, P>(entries: I) -> bool
where
    I: IntoIterator<Item = P>,
    P: AsRef<Path>,
{
    entries
        .into_iter()
        .any(|e| e.as_ref().file_name().is_some_and(|n| n == IGNORE_MARKER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_build_and_marked_directories_are_skipped() {
        assert!(skipped_name(".git") && skipped_name("target") && skipped_name("node_modules"));
        assert!(!skipped_name("pipelines") && !skipped_name("customer360"));
        assert!(marked(["a/x.fdl", "a/.fdcignore"]));
        assert!(marked([".fdcignore"]));
        assert!(!marked(["a/x.fdl", "a/fdcignore", "a/.fdcignore.bak"]));
    }
}
