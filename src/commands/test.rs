//! `fdc test [PATHS...] [--format human|json|junit] [--filter NAME]`.
//!
//! In: test files (`*.test.yaml`), pipeline directories holding them, or trees of those
//! (default: `pipelines/` when it exists, else `.`; see `commands::paths`). Out: every case run on a fresh embedded store, a report
//! on stdout (a readable difference per failure and a summary line; JSON; or JUnit XML with one
//! testsuite per file and one testcase per case). Exit code: 0 all passed, 1 some case failed,
//! 2 usage or setup errors (no test file found, a test file that does not match
//! `schemas/test.schema.json`, a pipeline that does not compile, a case that cannot run).
//!
//! Each pipeline is compiled once, with the same entry point as `fdc check` and `fdc run`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fdc_topology::testing::{self, report, FileResult};

/// Arguments of `fdc test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files, pipeline directories, or trees to search for `*.test.yaml` files (default:
    /// `pipelines/` when it exists, else `.`; directories holding a `.fdcignore` file are
    /// skipped unless named).
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Run only the cases whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
}

/// Runs `fdc test`.
pub fn run(args: &TestArgs) -> ExitCode {
    let mut files = Vec::new();
    for p in &super::paths::or_default(&args.paths) {
        match testing::discover(p) {
            // The path named is the root of the pipelines its test files name.
            Ok(found) => files.extend(found.into_iter().map(|f| (f, p.clone()))),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    files.dedup_by(|a, b| a.0 == b.0);
    if files.is_empty() {
        eprintln!("error: no test files (`*{}`) found", testing::SUFFIX);
        return ExitCode::from(2);
    }
    let runtime = match super::start_runtime(false, 2) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut plans: HashMap<PathBuf, Result<fdc_plan::Plan, String>> = HashMap::new();
    let mut results = Vec::new();
    for (path, root) in files {
        let result = run_file(
            &runtime,
            &path,
            &root,
            &args.imports,
            args.filter.as_deref(),
            &mut plans,
        );
        if args.filter.is_some() && result.error.is_none() && result.cases.is_empty() {
            continue;
        }
        results.push(result);
    }
    if results.is_empty() {
        eprintln!(
            "error: no case matches the filter `{}`",
            args.filter.as_deref().unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    let text = match args.format {
        Format::Human => report::human(&results),
        Format::Json => {
            serde_json::to_string_pretty(&report::json(&results)).unwrap_or_default() + "\n"
        }
        Format::Junit => report::junit(&results),
    };
    if let Err(code) = crate::output::print(&text) {
        return code;
    }
    let totals = report::Totals::of(&results);
    if totals.errors > 0 {
        eprintln!(
            "error: {} test file(s) or case(s) could not run (see ERROR in the report)",
            totals.errors
        );
        ExitCode::from(2)
    } else if totals.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Loads one test file, compiles its pipeline (once per pipeline), runs its cases.
fn run_file(
    runtime: &tokio::runtime::Runtime,
    path: &Path,
    root: &Path,
    imports: &super::imports::ImportArgs,
    filter: Option<&str>,
    plans: &mut HashMap<PathBuf, Result<fdc_plan::Plan, String>>,
) -> FileResult {
    let mut result = FileResult {
        path: path.to_path_buf(),
        error: None,
        cases: Vec::new(),
    };
    let file = match testing::load(path) {
        Ok(f) => f,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let pipeline = testing::pipeline_of(path, &file);
    // The path given is the root; the pipeline a test file names (`pipeline:`) may lie
    // elsewhere and is read like an allowed directory: its `.fdl` files normally, any other
    // file without being quoted (a test file under review must not exfiltrate files).
    let mut options = imports.options(&[root.to_path_buf()]);
    options.allowed.push(pipeline.clone());
    let plan = plans
        .entry(pipeline.clone())
        .or_insert_with(|| compile(&pipeline, &options));
    match plan {
        Ok(plan) => {
            result.cases = runtime.block_on(testing::run_file(plan, &file, filter));
        }
        Err(e) => result.error = Some(e.clone()),
    }
    result
}

/// Compiles the pipeline; the error holds the rendered diagnostics.
fn compile(pipeline: &Path, options: &fdc_dsl::LoadOptions) -> Result<fdc_plan::Plan, String> {
    let roots = [pipeline.to_path_buf()];
    fdc_dsl::compile_with_options(&fdc_dsl::FsLoader, &roots, options)
        .map(|c| c.plan)
        .map_err(|diagnostics| {
            let rendered: Vec<String> = diagnostics
                .reports()
                .into_iter()
                .map(|r| format!("{r:?}"))
                .collect();
            format!(
                "the pipeline `{}` does not compile:\n{}",
                pipeline.display(),
                rendered.join("\n")
            )
        })
}
