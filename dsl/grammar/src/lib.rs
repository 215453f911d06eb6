//! The `.fdl` grammar (`grammar.pest`) and the pest parser generated from it.
//!
//! In: text. Out: pest's parse tree of [`Rule`]s, or pest's error. Nothing else: turning the
//! tree into the spanned AST, phrasing errors for users and bounding the nesting depth before
//! the recursive parser runs are `fdc_dsl::syntax`'s job.
//!
//! Why a crate of its own: a pest parser runs about ten times slower unoptimised, and every
//! keystroke in an editor (`fdc lsp`) parses the whole program again. The workspace's dev
//! profile compiles this crate (and `pest`) optimised, so debug builds and the test suite parse
//! at release speed, while the rest of the language crate keeps fast unoptimised builds.

/// The pest parser generated from `grammar.pest`.
#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
pub struct FdlParser;
