//! Reports of a test run: human text, JSON, and JUnit XML.
//!
//! In: the [`FileResult`]s of a run. Out: text for a terminal (one line per case; under a
//! failed case every difference as its path, `- expected` and `+ actual`; a summary line), a
//! JSON document (every difference of every case), or JUnit XML (one `<testsuite>` per file,
//! one `<testcase>` per case, a `<failure>` per failed case whose message is the first
//! difference and whose body lists them all, an `<error>` for a case or file that could not
//! run).

use super::FileResult;

/// Totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: usize,
    pub passed: usize,
    pub failed: usize,
    /// Cases that could not run, plus files that could not be used.
    pub errors: usize,
}

impl Totals {
    /// Counts `results`.
    pub fn of(results: &[FileResult]) -> Totals {
        let mut t = Totals {
            files: results.len(),
            ..Totals::default()
        };
        for f in results {
            if f.error.is_some() {
                t.errors += 1;
            }
            for c in &f.cases {
                if c.error.is_some() {
                    t.errors += 1;
                } else if c.failures.is_empty() {
                    t.passed += 1;
                } else {
                    t.failed += 1;
                }
            }
        }
        t
    }

    /// Whether everything passed.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errors == 0
    }
}

/// The human report.
pub fn human(results: &[FileResult]) -> String {
    let mut out = String::new();
    for f in results {
        out.push_str(&format!("{}\n", f.path.display()));
        if let Some(e) = &f.error {
            out.push_str(&format!("  ERROR {e}\n"));
        }
        for c in &f.cases {
            if let Some(e) = &c.error {
                out.push_str(&format!("  ERROR {}: {e}\n", c.name));
            } else if c.failures.is_empty() {
                out.push_str(&format!("  ok    {} ({} ms)\n", c.name, c.millis));
            } else {
                out.push_str(&format!(
                    "  FAIL  {} ({} difference(s); - expected, + actual)\n",
                    c.name,
                    c.failures.len()
                ));
                for failure in &c.failures {
                    out.push_str(&format!(
                        "        {}\n          - {}\n          + {}\n",
                        failure.path, failure.expected, failure.actual
                    ));
                }
            }
        }
    }
    let t = Totals::of(results);
    out.push_str(&format!(
        "\n{}: {} passed, {} failed, {} error(s) in {} file(s)\n",
        if t.ok() { "ok" } else { "FAILED" },
        t.passed,
        t.failed,
        t.errors,
        t.files
    ));
    out
}

/// The JSON report: `{"ok", "passed", "failed", "errors", "files": [{"path", "error",
/// "cases": [{"name", "passed", "error", "millis", "failures": [{"path", "expected",
/// "actual"}]}]}]}`.
pub fn json(results: &[FileResult]) -> serde_json::Value {
    let t = Totals::of(results);
    serde_json::json!({
        "ok": t.ok(),
        "passed": t.passed,
        "failed": t.failed,
        "errors": t.errors,
        "files": results.iter().map(|f| serde_json::json!({
            "path": f.path.display().to_string(),
            "error": f.error,
            "cases": f.cases.iter().map(|c| serde_json::json!({
                "name": c.name,
                "passed": c.passed(),
                "error": c.error,
                "millis": c.millis as u64,
                "failures": c.failures.iter().map(|x| serde_json::json!({
                    "path": x.path,
                    "expected": x.expected,
                    "actual": x.actual,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML report.
pub fn junit(results: &[FileResult]) -> String {
    let t = Totals::of(results);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"fdc test\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
        t.passed + t.failed + t.errors,
        t.failed,
        t.errors
    ));
    for f in results {
        let name = xml_escape(&f.path.display().to_string());
        let failures = f
            .cases
            .iter()
            .filter(|c| c.error.is_none() && !c.failures.is_empty())
            .count();
        let errors =
            f.cases.iter().filter(|c| c.error.is_some()).count() + usize::from(f.error.is_some());
        let secs: f64 = f.cases.iter().map(|c| c.millis as f64 / 1000.0).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{secs:.3}\">\n",
            f.cases.len() + usize::from(f.error.is_some()),
        ));
        if let Some(e) = &f.error {
            out.push_str(&format!(
                "    <testcase classname=\"{name}\" name=\"(load)\">\n      <error message=\"{}\"/>\n    </testcase>\n",
                xml_escape(e)
            ));
        }
        for c in &f.cases {
            out.push_str(&format!(
                "    <testcase classname=\"{name}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&c.name),
                c.millis as f64 / 1000.0
            ));
            if let Some(e) = &c.error {
                out.push_str(&format!(
                    ">\n      <error message=\"{}\"/>\n    </testcase>\n",
                    xml_escape(e)
                ));
            } else if let Some(first) = c.failures.first() {
                let body: Vec<String> = c.failures.iter().map(|x| x.to_string()).collect();
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(&first.to_string()),
                    xml_escape(&body.join("\n"))
                ));
            } else {
                out.push_str("/>\n");
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
