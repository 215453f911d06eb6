//! The canonical layout of `.fdl` files (`fdc fmt`).
//!
//! In: a parsed [`File`] and the text it was parsed from (for comments and blank lines). Out:
//! the same program in the one canonical layout: two-space indentation, one item per line,
//! aligned columns (projection fields: name, type, source; mappings and object entries: `=`;
//! match arms: `=>`), canonical spacing around operators, commas between the entries of a
//! multi-line object or match, and long expressions broken at their outermost construct.
//!
//! Guarantees:
//! - every comment is kept, as a leading line of the item it precedes, as a trailing comment
//!   of the line it ends, or (when it sat inside a one-line construct) on its own line just
//!   above that construct;
//! - blank lines between items are kept (several collapse to one);
//! - the output parses to the same tree as the input, spans aside (parentheses are added
//!   wherever precedence or a trailing clause needs them);
//! - formatting is idempotent: `format(format(x)) == format(x)`, because every layout
//!   decision depends only on the tree, the comments' positions relative to its nodes and the
//!   blank lines, which formatting preserves.

mod expr;
mod items;

use crate::syntax::{self, Comment, File, FileId, ParseError};

/// The line width long expressions are broken at.
pub const WIDTH: usize = 100;

/// Formats `text`, or returns the syntax errors that stop it from being parsed.
pub fn format_source(text: &str) -> Result<String, Vec<ParseError>> {
    let file = syntax::parse(FileId(0), text)?;
    Ok(format_file(&file, text))
}

/// Formats a parsed file; `text` must be the text `file` was parsed from.
pub fn format_file(file: &File, text: &str) -> String {
    let mut p = Printer::new(text, &file.comments);
    let mut out = items::file(&mut p, file);
    // Anything left (comments after the last item) is emitted at top level.
    out.push_str(&p.flush_rest(0, out.is_empty()));
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// `s` followed by spaces up to `width` characters (as `{:<width$}` would, but without its
/// limit: `std::fmt` panics on a width above `u16::MAX`, and alignment widths come from the
/// names and patterns of the file, which have no length limit).
pub(crate) fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    let mut out = String::with_capacity(s.len() + width.saturating_sub(n));
    out.push_str(s);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(n)));
    out
}

/// Where a line-level node is and how it sits among its siblings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    /// Indentation in spaces.
    pub indent: usize,
    /// Byte span of the node in the source.
    pub start: usize,
    pub end: usize,
    /// First thing in its block (no blank line before it).
    pub first: bool,
    /// A blank line is wanted before it whatever the source had.
    pub force_blank: bool,
}

/// Formatting state: the source text and the queue of comments not yet placed.
pub(crate) struct Printer<'a> {
    text: &'a str,
    comments: &'a [Comment],
    /// Index of the first comment not yet emitted.
    next: usize,
    /// Comments found inside one-line constructs, per line-level node being built.
    hoisted: Vec<Vec<usize>>,
}

impl<'a> Printer<'a> {
    fn new(text: &'a str, comments: &'a [Comment]) -> Self {
        Printer {
            text,
            comments,
            next: 0,
            hoisted: Vec::new(),
        }
    }

    /// Whether the source has a blank line right before byte `pos`.
    pub fn blank_before(&self, pos: usize) -> bool {
        let bytes = self.text.as_bytes();
        let mut i = pos.min(bytes.len());
        let mut newlines = 0;
        while i > 0 {
            match bytes[i - 1] {
                b'\n' => newlines += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            i -= 1;
        }
        newlines >= 2 && i > 0
    }

    /// Where a node really ends: pest spans of rules that end in an optional part run over
    /// the white space and comments after the last token, so those are trimmed off.
    pub fn real_end(&self, end: usize) -> usize {
        let mut e = end.min(self.text.len());
        loop {
            let i = self.comments.partition_point(|c| c.span.end <= e);
            if let Some(c) = i.checked_sub(1).and_then(|i| self.comments.get(i)) {
                let gap = self.text.get(c.span.end..e).unwrap_or("x");
                if c.span.start < c.span.end && gap.chars().all(char::is_whitespace) {
                    e = c.span.start;
                    continue;
                }
            }
            let bytes = self.text.as_bytes();
            while e > 0 && bytes[e - 1].is_ascii_whitespace() {
                e -= 1;
            }
            return e;
        }
    }

    /// Whether a comment starting at `start` ends the line of a node ending at `end`: only
    /// spaces, tabs and commas lie between them.
    fn is_trailing(&self, end: usize, start: usize) -> bool {
        self.text
            .get(end.min(start)..start)
            .is_some_and(|gap| gap.chars().all(|c| matches!(c, ' ' | '\t' | ',')))
    }

    /// Whether a comment on its own line lies in `prev_end..end` (so that the lines around it
    /// do not share an alignment group). Trailing comments of the previous node do not count.
    pub fn own_line_comment_between(&self, prev_end: usize, end: usize) -> bool {
        let prev_end = self.real_end(prev_end);
        let end = self.real_end(end);
        let mut at = prev_end;
        let first = self.comments.partition_point(|c| c.span.start < prev_end);
        for c in &self.comments[first..] {
            if c.span.start >= end {
                break;
            }
            if !self.is_trailing(at, c.span.start) {
                return true;
            }
            at = c.span.end;
        }
        false
    }

    /// Whether any comment starts inside `start..end`.
    pub fn has_comment_in(&self, start: usize, end: usize) -> bool {
        let i = self.comments.partition_point(|c| c.span.start < start);
        self.comments.get(i).is_some_and(|c| c.span.start < end)
    }

    /// The position of the `{` that follows byte `from`, skipping white space and comments.
    pub fn brace_after(&self, from: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut p = from;
        while p < bytes.len() {
            if bytes[p].is_ascii_whitespace() {
                p += 1;
                continue;
            }
            let i = self.comments.partition_point(|c| c.span.start < p);
            match self.comments.get(i) {
                Some(c) if c.span.start == p && c.span.end > p => p = c.span.end,
                _ => break,
            }
        }
        p
    }

    /// The position of the first `word` in `from..to` that is not inside a comment (`to` when
    /// there is none).
    pub fn word_in(&self, from: usize, to: usize, word: &str) -> usize {
        let Some(range) = self.text.get(from.min(to)..to) else {
            return to;
        };
        for (i, _) in range.match_indices(word) {
            let at = from + i;
            let in_comment = self
                .comments
                .iter()
                .any(|c| c.span.start <= at && at < c.span.end);
            if !in_comment {
                return at;
            }
        }
        to
    }

    /// The comment text as it is written out: trailing white space removed, line ends
    /// normalized.
    fn comment_text(&self, idx: usize) -> String {
        let raw = self.comments[idx].text.replace("\r\n", "\n");
        let lines: Vec<&str> = raw.split('\n').map(str::trim_end).collect();
        lines.join("\n")
    }

    /// Moves every queued comment that starts before `upto` into the innermost hoist buffer.
    pub fn hoist(&mut self, upto: usize) {
        let upto = self.real_end(upto);
        let Some(buf) = self.hoisted.last_mut() else {
            return;
        };
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= upto {
                break;
            }
            buf.push(self.next);
            self.next += 1;
        }
    }

    /// Takes the comments that trail the line of a node ending at `end`, as ` // ...` text.
    pub fn trailing(&mut self, end: usize) -> String {
        let mut out = String::new();
        let mut at = end;
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start < at || !self.is_trailing(at, c.span.start) {
                break;
            }
            out.push(' ');
            out.push_str(&self.comment_text(self.next));
            at = c.span.end;
            self.next += 1;
            if c.text.starts_with("//") {
                break;
            }
        }
        out
    }

    /// Emits one line-level node: its leading comments, the comments hoisted out of it, then
    /// `body` (whose first line is indented here and later lines carry their own indentation)
    /// followed by `sep` and any trailing comment.
    pub fn node(&mut self, at: Line, sep: &str, body: impl FnOnce(&mut Self) -> String) -> String {
        let ind = " ".repeat(at.indent);
        let mut s = String::new();
        let mut first = at.first;
        let mut want_blank = at.force_blank;
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= at.start {
                break;
            }
            let idx = self.next;
            self.next += 1;
            if !first && (want_blank || self.blank_before(c.span.start)) {
                s.push('\n');
            }
            want_blank = false;
            first = false;
            s.push_str(&ind);
            s.push_str(&self.comment_text(idx));
            s.push('\n');
        }
        if !first && (want_blank || self.blank_before(at.start)) {
            s.push('\n');
        }
        self.hoisted.push(Vec::new());
        let text = body(self);
        let hoisted = self.hoisted.pop().unwrap_or_default();
        for idx in hoisted {
            s.push_str(&ind);
            s.push_str(&self.comment_text(idx));
            s.push('\n');
        }
        s.push_str(&ind);
        s.push_str(&text);
        s.push_str(sep);
        let trailing = self.trailing(self.real_end(at.end));
        s.push_str(&trailing);
        s.push('\n');
        s
    }

    /// Emits the queued comments that start before `upto` as lines at `indent` (the comments
    /// at the end of a block, before its `}`).
    pub fn comments_until(&mut self, upto: usize, indent: usize, mut first: bool) -> String {
        let ind = " ".repeat(indent);
        let mut s = String::new();
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= upto {
                break;
            }
            let idx = self.next;
            self.next += 1;
            if !first && self.blank_before(c.span.start) {
                s.push('\n');
            }
            first = false;
            s.push_str(&ind);
            s.push_str(&self.comment_text(idx));
            s.push('\n');
        }
        s
    }

    /// Emits every comment still queued.
    fn flush_rest(&mut self, indent: usize, first: bool) -> String {
        self.comments_until(usize::MAX, indent, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        format_source(s).expect("parses")
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("  // hi  \n\n\n/* b */"), "// hi\n\n/* b */\n");
    }

    #[test]
    fn blank_before_needs_two_newlines() {
        let p = Printer::new("a\n\n b", &[]);
        assert!(p.blank_before(4));
        assert!(!p.blank_before(2));
        let p = Printer::new("\n\nb", &[]);
        assert!(!p.blank_before(2), "no blank line at the start of a file");
    }
}
