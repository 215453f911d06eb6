//! `fdc preview PIPELINE --config FILE [--view V ...] [--from-beginning | --last N]
//! [--limit N] [--format human|json]`: what a new pipeline would do to the single views, on
//! live messages, without writing anything.
//!
//! In: the new pipeline, `fdc.yaml` (Kafka and MongoDB of the running deployment). Out: per
//! changed single-view document, the diff between the stored document and the one the new
//! pipeline would write (`fdc_plan::preview`), as text (coloured on a terminal) or JSON
//! (`schemas/preview-report.schema.json`), then a summary; exit 0.
//!
//! Guarantees: MongoDB is only read (the new pipeline runs on an overlay store,
//! `StoreSpec::Overlay`: projections and views read through to MongoDB, every write in
//! memory); the topics are read by plain partition assignment outside any group
//! (`fdc_kafka::PreviewSource`), so the real group's offsets and membership are untouched;
//! nothing is produced (events dropped, dead letters counted in memory). Record contents go to
//! stdout only, at the operator's request; nothing is logged at info level. Every error,
//! usage errors included, exits 1 (0: the preview ran).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

#[cfg(feature = "production")]
mod render;
#[cfg(feature = "production")]
mod watch;

/// Arguments of `fdc preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The new pipeline: a `.fdl` file or a directory.
    pub pipeline: PathBuf,
    /// The `fdc.yaml` of the running deployment (its Kafka topics and MongoDB are read).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Only this single view (repeatable; default: every view).
    #[arg(long = "view", value_name = "VIEW")]
    pub views: Vec<String>,
    /// Start at the earliest retained message of each partition; end at the high watermarks
    /// as of the start.
    #[arg(long, conflicts_with = "last")]
    pub from_beginning: bool,
    /// Start N messages before the high watermark of each partition; end at the high
    /// watermarks as of the start. Default: only messages produced from now on, until Ctrl-C.
    #[arg(long, value_name = "N")]
    pub last: Option<u64>,
    /// Stop after this many changed documents.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// How to print the diffs.
    #[arg(long, value_enum, default_value_t = PreviewFormat::Human)]
    pub format: PreviewFormat,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// Output formats of `fdc preview`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreviewFormat {
    /// Readable diffs and a summary (coloured on a terminal).
    Human,
    /// The JSON of `schemas/preview-report.schema.json`, on stdout.
    Json,
}

/// Whether the command line `args` (without the program name) invokes `fdc preview` (its
/// usage errors exit 1, as its other errors do).
pub fn invoked(args: &[std::ffi::OsString]) -> bool {
    super::plan::first_command(args) == Some("preview")
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// Runs the command.
pub fn run(args: &PreviewArgs) -> ExitCode {
    if args.limit == 0 {
        return fail("--limit must be at least 1");
    }
    if args.last == Some(0) {
        return fail("--last must be at least 1 (without it the preview starts from now on)");
    }
    let Some(compiled) = super::load_or_report(&args.pipeline, &args.imports) else {
        return ExitCode::from(1);
    };
    let plan = compiled.plan;
    let unknown: Vec<&String> = args
        .views
        .iter()
        .filter(|v| !plan.single_views.iter().any(|p| &p.name == *v))
        .collect();
    if let Some(first) = unknown.first() {
        let known: Vec<&str> = plan.single_views.iter().map(|v| v.name.as_str()).collect();
        return fail(format!(
            "no single view `{}` in `{}` (its views: {})",
            fdc_core::bounded::name(first),
            super::paths::shown(&args.pipeline),
            known.join(", ")
        ));
    }
    preview(args, plan)
}

#[cfg(feature = "production")]
fn preview(args: &PreviewArgs, plan: fdc_plan::Plan) -> ExitCode {
    match watch::preview(args, plan) {
        Ok(report) => {
            let out = match args.format {
                PreviewFormat::Json => match serde_json::to_string_pretty(&report) {
                    Ok(json) => json + "\n",
                    Err(e) => return fail(format!("cannot write the report: {e}")),
                },
                PreviewFormat::Human => render::human(&report, render::colour_wanted()),
            };
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => fail(message),
    }
}

#[cfg(not(feature = "production"))]
fn preview(_args: &PreviewArgs, _plan: fdc_plan::Plan) -> ExitCode {
    fail(format!(
        "fdc preview reads Kafka and MongoDB: {}",
        super::WITHOUT_PRODUCTION
    ))
}
