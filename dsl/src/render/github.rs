//! GitHub Actions workflow commands: one `::error` or `::warning` line per diagnostic.
//!
//! Format: `::error file=F,line=L,col=C,endLine=EL,endColumn=EC,title=CODE::MESSAGE`, with the
//! help text on a second (escaped) message line. Property values escape `%`, CR, LF, `:` and
//! `,`; the message escapes `%`, CR and LF, as the runner expects.

use std::path::Path;

use crate::{Diagnostics, Severity};

use super::{entries, relative_path};

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The annotation lines for every diagnostic of `all`, paths relative to `base`.
pub fn github<'a>(all: impl IntoIterator<Item = &'a Diagnostics>, base: &Path) -> String {
    let mut out = String::new();
    for d in entries(all) {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = Vec::new();
        if let Some(file) = &d.file {
            props.push(format!(
                "file={}",
                escape_property(&relative_path(file, base))
            ));
            let fields = [
                ("line", d.line),
                ("col", d.column),
                ("endLine", d.end_line),
                ("endColumn", d.end_column),
            ];
            for (name, value) in fields {
                if let Some(v) = value {
                    props.push(format!("{name}={v}"));
                }
            }
        }
        props.push(format!("title={}", escape_property(&d.code)));
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        out.push_str(&format!(
            "::{level} {}::{}\n",
            props.join(","),
            escape_data(&message)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_follow_the_runner_rules() {
        assert_eq!(escape_data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(escape_property("x:y,z%"), "x%3Ay%2Cz%25");
    }
}
