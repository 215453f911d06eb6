//! The example pipelines under `pipelines/`: each compiles with no diagnostic at all (not even
//! a warning), and its plan is snapshotted as JSON.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use fdc_dsl::{compile_with, pipelines, FsLoader};

fn render(d: &fdc_dsl::Diagnostics) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100);
    let mut out = String::new();
    for r in d.reports() {
        handler.render_report(&mut out, r.as_ref()).unwrap();
    }
    out
}

pub fn example_dirs() -> Vec<PathBuf> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../pipelines"));
    pipelines(&FsLoader, &root)
}

#[test]
fn every_example_checks_clean_and_its_plan_is_stable() {
    let dirs = example_dirs();
    assert!(
        dirs.len() >= 2,
        "expected at least two pipelines, found {dirs:?}"
    );
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let compiled = match compile_with(&FsLoader, std::slice::from_ref(&dir)) {
            Ok(c) => c,
            Err(d) => panic!("{name} does not compile:\n{}", render(&d)),
        };
        assert!(
            compiled.diagnostics.items.is_empty(),
            "{name} has warnings:\n{}",
            render(&compiled.diagnostics)
        );
        insta::assert_json_snapshot!(format!("plan_{name}"), compiled.plan);
    }
}
