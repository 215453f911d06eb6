//! A light scan of the raw text, before pest: comments and nesting depth.
//!
//! In: the text of one file. Out: its comments with spans, and the first place where brackets
//! and `if`s nest deeper than [`MAX_DEPTH`].
//!
//! Guarantees: linear time, no recursion, never panics on any input (including unterminated
//! strings and comments, and text that is not valid `.fdl`). Checking the depth here, before
//! the recursive-descent parser runs, is what keeps deep input from overflowing the stack.

use super::ast::{Comment, FileId, Span};

/// How deep brackets, `if`s and operator chains may nest.
pub const MAX_DEPTH: usize = 64;

/// Comments of `text`, in order. A `//` comment runs to the end of the line (the newline is not
/// part of it); an unterminated `/*` comment runs to the end of the text.
pub fn comments(file: FileId, text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    walk(text, |event| {
        if let Event::Comment(start, end) = event {
            out.push(Comment {
                text: text[start..end].to_string(),
                span: Span::new(file, start, end),
            });
        }
    });
    out
}

/// The span of the first opening bracket or `if` that reaches a nesting depth above
/// [`MAX_DEPTH`], if any.
pub fn too_deep(file: FileId, text: &str) -> Option<Span> {
    let mut stack: Vec<bool> = Vec::new(); // true: an `if`, false: a bracket
    let mut found = None;
    walk(text, |event| {
        if found.is_some() {
            return;
        }
        match event {
            Event::Open(at, is_if) => {
                stack.push(is_if);
                if stack.len() > MAX_DEPTH {
                    let len = if is_if { 2 } else { 1 };
                    found = Some(Span::new(file, at, at + len));
                }
            }
            Event::Close => {
                // Close any `if`s still open inside the bracket, then the bracket itself.
                while stack.last() == Some(&true) {
                    stack.pop();
                }
                stack.pop();
            }
            Event::Else => {
                if stack.last() == Some(&true) {
                    stack.pop();
                }
            }
            Event::Comment(..) => {}
        }
    });
    found
}

enum Event {
    Comment(usize, usize),
    /// An opening bracket or an `if` at this byte offset.
    Open(usize, bool),
    Close,
    Else,
}

fn walk(text: &str, mut on: impl FnMut(Event)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                on(Event::Comment(start, i));
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
                on(Event::Comment(start, i));
            }
            b'(' | b'[' | b'{' => {
                on(Event::Open(i, false));
                i += 1;
            }
            b')' | b']' | b'}' => {
                on(Event::Close);
                i += 1;
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                match &text[start..i] {
                    "if" => on(Event::Open(start, true)),
                    "else" => on(Event::Else),
                    _ => {}
                }
            }
            _ => i += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_line_and_block_comments_but_not_inside_strings() {
        let text = "a // one\n\"// not\" /* two\n */ b /* open";
        let c = comments(FileId(0), text);
        let texts: Vec<&str> = c.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["// one", "/* two\n */", "/* open"]);
        assert_eq!(&text[c[0].span.start..c[0].span.end], "// one");
    }

    #[test]
    fn depth_counts_brackets_and_unclosed_ifs() {
        let ok = format!("{}{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(too_deep(FileId(0), &ok), None);
        let deep = "(".repeat(MAX_DEPTH + 1);
        assert_eq!(too_deep(FileId(0), &deep).map(|s| s.start), Some(MAX_DEPTH));
        let chain = "x = if a then 1 else if b then 2 else 3\n".repeat(200);
        assert_eq!(too_deep(FileId(0), &chain), None);
        let nested = "if a then ".repeat(MAX_DEPTH + 1);
        assert!(too_deep(FileId(0), &nested).is_some());
    }
}
