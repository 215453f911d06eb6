//! `fdc explain [PATHS...] SINGLE_VIEW[.FIELD] [--format text|json]`.
//!
//! In: a pipeline (default as `commands::paths` says) and a single view, optionally one of its
//! fields (`customer_360.billing.zip`, `customer_360.recent_orders[].total`). Out: the derived
//! strategies hop by hop with the queries they run and the indexes that serve them, and the
//! lineage of every field (or the one named): source topics, formats, columns, casts and the
//! expression on the way. Exit code: 0 printed, 1 the pipeline does not compile or the name is
//! unknown, 2 usage errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fdc_dsl::explain::explain;
use fdc_plan::Plan;

/// Arguments of `fdc explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The pipeline's files or directories (default: `pipelines/` when it exists, else `.`; a
    /// directory of pipelines holding just one stands for it), then
    /// `SINGLE_VIEW` or `SINGLE_VIEW.FIELD` (nested: `view.billing.zip`, `view.orders[].total`).
    #[arg(required = true, value_name = "PATHS... SINGLE_VIEW[.FIELD]")]
    pub args: Vec<String>,
    /// Output: text for people, json for tools.
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// Output formats of `fdc explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

/// Compiles the pipeline made of `paths` (resolved by `commands::paths`), printing its
/// diagnostics on failure.
pub fn compile_or_report(paths: &[PathBuf], imports: &super::imports::ImportArgs) -> Option<Plan> {
    let shown: Vec<String> = paths.iter().map(|p| super::paths::shown(p)).collect();
    match fdc_dsl::compile_with_options(&fdc_dsl::FsLoader, paths, &imports.options(paths)) {
        Ok(c) => Some(c.plan),
        Err(d) => {
            super::report_not_compiling(&shown.join(" "), &d);
            None
        }
    }
}

/// Whether the last argument names a file or directory rather than a single view (a view
/// name has no `/` and no `.fdl`): `fdc explain pipelines/customer360` left the view out.
fn is_path(arg: &str) -> bool {
    let path = Path::new(arg);
    path.exists()
        && (arg.contains('/')
            || arg.contains(std::path::MAIN_SEPARATOR)
            || arg.ends_with(".fdl")
            || path.is_dir())
}

/// Runs the command.
pub fn run(args: &ExplainArgs) -> ExitCode {
    let Some((target, paths)) = args.args.split_last() else {
        eprintln!("error: name a single view");
        return ExitCode::from(2);
    };
    if is_path(target) {
        return missing_view(&args.args, &args.imports);
    }
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    let paths = match super::paths::one_pipeline(&paths, "explain") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(plan) = compile_or_report(&paths, &args.imports) else {
        return ExitCode::from(1);
    };
    let (view, field) = match target.split_once('.') {
        Some((v, f)) => (v, Some(f)),
        None => (target.as_str(), None),
    };
    match explain(&plan, view, field) {
        Ok(e) => {
            let text = match args.format {
                ExplainFormat::Text => e.to_text(),
                ExplainFormat::Json => match serde_json::to_string_pretty(&e) {
                    Ok(s) => s + "\n",
                    Err(err) => {
                        eprintln!("error: {err}");
                        return ExitCode::from(1);
                    }
                },
            };
            match crate::output::print(&text) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Every argument is a path: a usage error naming the views the pipeline has (exit 2), or
/// the pipeline's diagnostics when it does not compile (exit 1).
fn missing_view(args: &[String], imports: &super::imports::ImportArgs) -> ExitCode {
    let paths: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    let paths = match super::paths::one_pipeline(&paths, "explain") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(plan) = compile_or_report(&paths, imports) else {
        return ExitCode::from(1);
    };
    let shown: Vec<String> = paths.iter().map(|p| super::paths::shown(p)).collect();
    let views: Vec<&str> = plan.single_views.iter().map(|v| v.name.as_str()).collect();
    let example = views.first().copied().unwrap_or("VIEW");
    eprintln!(
        "error: missing SINGLE_VIEW; single views in `{}`: {}\n  usage: fdc explain {} {example}[.FIELD]",
        shown.join(" "),
        if views.is_empty() { "none".to_string() } else { views.join(", ") },
        shown.join(" "),
    );
    ExitCode::from(2)
}
