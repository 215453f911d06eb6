//! Text to spanned AST.
//!
//! In: the text of one `.fdl` file and its [`FileId`]. Out: a [`File`] (items plus comments) or
//! the [`ParseError`]s that stopped it.
//!
//! Guarantees: never panics and never overflows the stack on any input (nesting is bounded by
//! [`scan::MAX_DEPTH`] before the recursive parser runs); pest rule names never reach users (they
//! are turned into phrases such as "a field type such as `string` or `int`").

pub mod ast;
mod expr;
mod parse;
mod phrases;
pub mod scan;

pub use ast::*;

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// The pest parser generated from the grammar (`dsl/grammar/src/grammar.pest`).
pub(crate) use fdc_grammar::{FdlParser, Rule};

/// Problems found while parsing one file.
#[derive(Debug, Clone, Error, Diagnostic, PartialEq)]
pub enum ParseError {
    /// The text does not follow the grammar at this point. Parsing resumes at the next line that
    /// starts a declaration, so each broken declaration is reported once.
    #[error("expected {expected}")]
    #[diagnostic(code(fdl::parse::syntax))]
    Syntax {
        expected: String,
        #[label(primary, "{found}")]
        span: SourceSpan,
        found: String,
        #[help]
        help: Option<String>,
    },

    /// Brackets, `if`s or operator chains nest deeper than the limit. The limit keeps the
    /// parser and checker from exhausting the stack; real pipelines stay far below it.
    #[error("nested more than {limit} levels deep")]
    #[diagnostic(
        code(fdl::parse::too_deep),
        help("split the expression into several mapped fields or simplify it")
    )]
    TooDeep {
        limit: usize,
        #[label(primary, "this level is too deep")]
        span: SourceSpan,
    },

    /// A string literal holds an escape other than `\"`, `\\`, `\n`, `\r`, `\t` or `\u{...}`.
    #[error("unknown escape sequence `{escape}` in a string")]
    #[diagnostic(
        code(fdl::parse::bad_escape),
        help("write `\\\\` for a backslash; valid escapes are \\\" \\\\ \\n \\r \\t \\u{{hex}}")
    )]
    BadEscape {
        escape: String,
        #[label(primary, "here")]
        span: SourceSpan,
    },

    /// An integer literal does not fit in a signed 64-bit integer (or a `limit` in 64 bits).
    #[error("the number `{text}` is too large")]
    #[diagnostic(
        code(fdl::parse::number_out_of_range),
        help("integers are 64-bit signed; write a decimal such as `123.0d` for larger values")
    )]
    NumberOutOfRange {
        text: String,
        #[label(primary, "out of range")]
        span: SourceSpan,
    },
}

/// Parses one file.
pub fn parse(file: FileId, text: &str) -> Result<File, Vec<ParseError>> {
    if let Some(span) = scan::too_deep(file, text) {
        return Err(vec![ParseError::TooDeep {
            limit: scan::MAX_DEPTH,
            span: span.into(),
        }]);
    }
    let comments = scan::comments(file, text);
    parse::file(file, text, comments)
}
