//! The human rendering of a preview report.
//!
//! In: a [`Report`] and whether to colour. Out: text: per document a header (view, key, what
//! happens) and one line per field (`path: old → new`), then the summary and why the preview
//! ended.
//!
//! Guarantees: values are printed as compact JSON (a string quoted, so `"1"` and `1` differ);
//! an absent side reads `(absent)`; colour (ANSI: old red, new green) only when asked, which
//! [`colour_wanted`] does for a terminal without `NO_COLOR`.

use std::fmt::Write as _;
use std::io::IsTerminal;

use fdc_plan::preview::{DocumentChange, Ended, FieldChange, Report};

/// Whether stdout is a terminal and `NO_COLOR` is not set.
pub fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn value(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "(absent)".to_string(), serde_json::Value::to_string)
}

fn field_line(paint: &Paint, f: &FieldChange) -> String {
    format!(
        "  {}: {} → {}",
        f.path,
        paint.wrap("31", &value(f.old.as_ref())),
        paint.wrap("32", &value(f.new.as_ref()))
    )
}

/// The report as text (see the module docs).
pub fn human(report: &Report, colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    for d in &report.documents {
        let what = match d.change {
            DocumentChange::Insert => "new document",
            DocumentChange::Update => "changed",
            DocumentChange::Delete => "deleted",
        };
        let header = format!("{} {}: {what}", d.view, d.key);
        let _ = writeln!(out, "{}", paint.wrap("1", &header));
        for f in &d.fields {
            let _ = writeln!(out, "{}", field_line(&paint, f));
        }
    }
    let s = &report.summary;
    if report.documents.is_empty() {
        let _ = writeln!(out, "no single-view document would change");
    }
    let listed = report.documents.len() as u64;
    let beyond = if s.changed > listed {
        format!(" ({listed} shown)")
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} document(s) would change{beyond}, {} rewritten unchanged; {} message(s) read, {} \
         dead letter(s), {} view failure(s)",
        s.changed, s.unchanged, s.messages, s.dead_letters, s.view_failures
    );
    let why = match s.ended {
        Ended::Limit => "ended: --limit reached",
        Ended::HighWatermarks => {
            "ended: every partition was read up to its high watermark as of the start"
        }
        Ended::Interrupted => "ended: interrupted",
    };
    let _ = writeln!(out, "{why}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_plan::preview::{diff_document, Summary, REPORT_FORMAT};
    use serde_json::json;

    fn report() -> Report {
        let changed = diff_document(
            "c360",
            json!({"id": 1}),
            Some(&json!({"id": 1, "name": "a"})),
            Some(&json!({"id": 1, "name": "A", "tier": 2})),
        )
        .expect("a diff");
        Report {
            format: REPORT_FORMAT,
            pipeline: "p".into(),
            documents: vec![changed],
            summary: Summary {
                messages: 3,
                changed: 2,
                unchanged: 1,
                dead_letters: 0,
                view_failures: 0,
                ended: Ended::Limit,
            },
        }
    }

    #[test]
    fn the_text_lists_paths_with_old_and_new_values_and_the_summary() {
        assert_eq!(
            human(&report(), false),
            "c360 {\"id\":1}: changed\n  name: \"a\" → \"A\"\n  tier: (absent) → 2\n\
             2 document(s) would change (1 shown), 1 rewritten unchanged; 3 message(s) read, 0 \
             dead letter(s), 0 view failure(s)\nended: --limit reached\n"
        );
    }

    #[test]
    fn colour_paints_old_red_and_new_green_only_when_asked() {
        let coloured = human(&report(), true);
        assert!(coloured.contains("\x1b[31m\"a\"\x1b[0m → \x1b[32m\"A\"\x1b[0m"));
        assert!(!human(&report(), false).contains('\x1b'));
    }
}
