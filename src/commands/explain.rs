//! `fdc explain [PATHS...] SINGLE_VIEW[.FIELD] [--format text|json]`.
//!
//! In: a pipeline (default the current directory) and a single view, optionally one of its
//! fields (`customer_360.billing.zip`, `customer_360.recent_orders[].total`). Out: the derived
//! strategies hop by hop with the queries they run and the indexes that serve them, and the
//! lineage of every field (or the one named): source topics, formats, columns, casts and the
//! expression on the way. Exit code: 0 printed, 1 the pipeline does not compile or the name is
//! unknown, 2 usage errors.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fdc_dsl::explain::explain;
use fdc_plan::Plan;

/// Arguments of `fdc explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The pipeline's files or directories (default: the current directory), then
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

/// Compiles the pipeline made of `paths` (default `.`), printing its diagnostics on failure.
pub fn compile_or_report(paths: &[PathBuf], imports: &super::imports::ImportArgs) -> Option<Plan> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    match fdc_dsl::compile_with_options(&fdc_dsl::FsLoader, &paths, &imports.options(&paths)) {
        Ok(c) => Some(c.plan),
        Err(d) => {
            for r in d.reports() {
                eprintln!("{r:?}");
            }
            let (errors, _) = d.counts();
            eprintln!(
                "error: `{}` does not compile ({errors} error(s))",
                shown.join(" ")
            );
            None
        }
    }
}

/// Runs the command.
pub fn run(args: &ExplainArgs) -> ExitCode {
    let Some((target, paths)) = args.args.split_last() else {
        eprintln!("error: name a single view");
        return ExitCode::from(2);
    };
    let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        eprintln!("error: `{}`: no such file or directory", missing.display());
        return ExitCode::from(2);
    }
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
