//! Names that come from input, cut to a bounded length before they reach a log line, a
//! dead-letter reason or a message on the terminal.
//!
//! In: a name read from input (a topic, a file name, a field or header name of a message).
//! Out: the name itself when it has at most [`MAX_NAME_CHARS`] characters, else its first
//! [`MAX_NAME_CHARS`] characters followed by a marker saying how many bytes were cut.
//!
//! Guarantees: the result never exceeds [`MAX_NAME_CHARS`] characters plus the marker; the cut
//! falls on a character boundary; a short name is borrowed, not copied. Use [`name`] wherever
//! a name from input is logged or printed, so one hostile topic name (Kafka allows 249 bytes,
//! a file line any length) cannot flood the logs.

use std::borrow::Cow;

/// The characters of a name kept in logs and messages (a Kafka topic name has at most 249
/// bytes, so every valid one is shown whole).
pub const MAX_NAME_CHARS: usize = 256;

/// `name`, cut to [`MAX_NAME_CHARS`] characters with a `…[N more bytes]` marker when longer.
pub fn name(name: &str) -> Cow<'_, str> {
    match name.char_indices().nth(MAX_NAME_CHARS) {
        None => Cow::Borrowed(name),
        Some((cut, _)) => Cow::Owned(format!(
            "{}…[{} more bytes]",
            &name[..cut],
            name.len() - cut
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept_and_long_ones_cut_with_a_marker() {
        assert!(matches!(
            name("crm.customers"),
            Cow::Borrowed("crm.customers")
        ));
        let exact = "t".repeat(MAX_NAME_CHARS);
        assert_eq!(name(&exact), exact.as_str());
        let long = "x".repeat(10 * 1024 * 1024);
        let cut = name(&long);
        assert!(cut.len() < MAX_NAME_CHARS + 40, "{}", cut.len());
        assert!(cut.starts_with(&"x".repeat(MAX_NAME_CHARS)));
        assert!(
            cut.ends_with(&format!("…[{} more bytes]", long.len() - MAX_NAME_CHARS)),
            "{}",
            &cut[MAX_NAME_CHARS..]
        );
        // Multi-byte characters are never split.
        let wide = "é".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            name(&wide),
            format!("{}…[2 more bytes]", "é".repeat(MAX_NAME_CHARS))
        );
    }
}
