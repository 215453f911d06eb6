//! Positions and URIs: between LSP's (line, character) and the compiler's byte offsets, and
//! between `file://` URIs and paths.
//!
//! In: a text, and positions in the negotiated encoding (UTF-16 code units by default, UTF-8
//! bytes when the client offers it); URIs from the client. Out: byte offsets, positions,
//! paths, URIs.
//!
//! Guarantees: total functions: a position past the end of a line or of the text clamps to it,
//! an offset inside a character moves to its start; a URI that is not a `file:` URI gives
//! `None`, never a panic.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::{Position, Range, Uri};

/// How `character` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// The start offset of each line of a text.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    encoding: Encoding,
}

impl<'a> LineIndex<'a> {
    /// The index of `text`.
    pub fn new(text: &'a str, encoding: Encoding) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            text,
            starts,
            encoding,
        }
    }

    /// The byte offset of `p`.
    pub fn offset(&self, p: Position) -> usize {
        let Some(&start) = self.starts.get(p.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(p.line as usize + 1)
            .map_or(self.text.len(), |n| n - 1);
        let line = self.text.get(start..end).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let want = p.character as usize;
        let mut units = 0;
        for (i, c) in line.char_indices() {
            if units >= want {
                return start + i;
            }
            units += match self.encoding {
                Encoding::Utf8 => c.len_utf8(),
                Encoding::Utf16 => c.len_utf16(),
            };
        }
        start + line.len()
    }

    /// The position of byte `offset`.
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= offset) - 1;
        let start = self.starts[line];
        let before = &self.text[start..offset];
        let character = match self.encoding {
            Encoding::Utf8 => before.len(),
            Encoding::Utf16 => before.encode_utf16().count(),
        };
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            character: u32::try_from(character).unwrap_or(u32::MAX),
        }
    }

    /// The range of bytes `start..end`.
    pub fn range(&self, start: usize, end: usize) -> Range {
        Range {
            start: self.position(start),
            end: self.position(end.max(start)),
        }
    }
}

/// The path of a `file:` URI (percent-decoded).
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s.strip_prefix("file://")?;
    // `file:///p` (empty host) or `file://localhost/p`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = rest.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(fdc_dsl::load::normalize(Path::new(
        &String::from_utf8(out).ok()?,
    )))
}

/// The `file:` URI of an absolute path.
pub fn uri_of(path: &Path) -> Option<Uri> {
    let mut s = String::from("file://");
    for b in path.to_str()?.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_and_utf8_positions_round_trip_over_non_ascii_text() {
        let text = "a = \"é😀\"\nbé x\r\nlast";
        for enc in [Encoding::Utf8, Encoding::Utf16] {
            let ix = LineIndex::new(text, enc);
            for (off, _) in text.char_indices() {
                // Between the `\r` and the `\n` of a CRLF is no position of the line.
                if text[..off].ends_with('\r') {
                    continue;
                }
                assert_eq!(ix.offset(ix.position(off)), off, "{enc:?} {off}");
            }
            assert_eq!(ix.offset(ix.position(text.len())), text.len());
        }
        let ix = LineIndex::new(text, Encoding::Utf16);
        let x = text.find('x').expect("x");
        // `b`, `é` (one UTF-16 unit), space.
        assert_eq!(ix.position(x), Position::new(1, 3));
        let q = text.rfind('"').expect("quote");
        // `😀` is two UTF-16 units and four bytes.
        assert_eq!(ix.position(q), Position::new(0, 8));
        assert_eq!(
            LineIndex::new(text, Encoding::Utf8).position(q),
            Position::new(0, 11)
        );
        // Clamping: past the end of a line (before its `\r\n`), past the last line.
        assert_eq!(
            ix.offset(Position::new(1, 99)),
            text.find('\r').expect("cr")
        );
        assert_eq!(ix.offset(Position::new(9, 0)), text.len());
        // An offset inside a character moves to its start.
        assert_eq!(ix.position(6), Position::new(0, 5));
    }

    #[test]
    fn file_uris_round_trip_with_escapes() {
        let p = Path::new("/tmp/my pipelines/crm é.fdl");
        let uri = uri_of(p).expect("uri");
        assert_eq!(uri.as_str(), "file:///tmp/my%20pipelines/crm%20%C3%A9.fdl");
        assert_eq!(path_of(&uri).as_deref(), Some(p));
        let other = Uri::from_str("untitled:Untitled-1").expect("uri");
        assert_eq!(path_of(&other), None);
    }
}
