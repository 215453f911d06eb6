//! `fdc check [PATHS...] [--format human|json|github|sarif] [--deny-warnings]`.
//!
//! In: files or directories. Each argument is expanded into pipelines (a `.fdl` file, a
//! directory of `.fdl` files, or a directory whose subdirectories are pipelines) and each
//! pipeline is compiled with the same entry point `fdc run` uses. Out: the diagnostics in the
//! chosen format, and the exit code: 0 clean (warnings allowed), 1 errors (or warnings with
//! `--deny-warnings`), 2 usage errors (a path that does not exist).
//!
//! Output formats render one [`CheckReport`]; a new format is one [`OutputFormat`] variant and
//! one render function.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fdc_dsl::{compile_with_options, pipelines, Diagnostics, FsLoader};
use serde_json::json;

/// Arguments of `fdc check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Pipeline files or directories (default: `pipelines/` when it exists, else `.`;
    /// directories holding a `.fdcignore` file are skipped unless named).
    pub paths: Vec<PathBuf>,
    /// How to print the diagnostics.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Exit with status 1 when there are warnings.
    #[arg(long)]
    pub deny_warnings: bool,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// Output formats of `fdc check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// miette's graphical report on stderr (colour only on a terminal).
    Human,
    /// The stable JSON shape documented in docs/language.md, on stdout.
    Json,
    /// GitHub Actions workflow annotations (`::error file=...::message`), on stdout.
    Github,
    /// A SARIF 2.1.0 log for code-scanning upload, on stdout.
    Sarif,
}

/// The result of checking every pipeline.
pub struct CheckReport {
    pub pipelines: Vec<PipelineResult>,
}

/// One pipeline and its diagnostics (errors and warnings), with its sources.
pub struct PipelineResult {
    pub path: PathBuf,
    pub diagnostics: Diagnostics,
}

impl CheckReport {
    /// (errors, warnings) over all pipelines.
    pub fn counts(&self) -> (usize, usize) {
        self.pipelines.iter().fold((0, 0), |(e, w), p| {
            let (pe, pw) = p.diagnostics.counts();
            (e + pe, w + pw)
        })
    }

    /// Number of source files read.
    pub fn files(&self) -> usize {
        self.pipelines
            .iter()
            .map(|p| p.diagnostics.sources.files.len())
            .sum()
    }
}

/// Checks `paths`, the library half of the command (no printing). Each path is the root of
/// the pipelines found under it: their files and imports must lie inside it.
pub fn check_paths(paths: &[PathBuf], imports: &super::imports::ImportArgs) -> CheckReport {
    let mut out = Vec::new();
    for path in paths {
        let options = imports.options(std::slice::from_ref(path));
        for pipeline in pipelines(&FsLoader, path) {
            let compiled =
                compile_with_options(&FsLoader, std::slice::from_ref(&pipeline), &options);
            let diagnostics = match compiled {
                Ok(compiled) => compiled.diagnostics,
                Err(d) => d,
            };
            out.push(PipelineResult {
                path: pipeline,
                diagnostics,
            });
        }
    }
    CheckReport { pipelines: out }
}

/// Runs the command.
pub fn run(args: &CheckArgs) -> ExitCode {
    let paths = super::paths::or_default(&args.paths);
    if let Err(code) = super::paths::existing(&paths) {
        return code;
    }
    let report = check_paths(&paths, &args.imports);
    let written = match args.format {
        OutputFormat::Human => render_human(&report, &mut std::io::stderr()),
        OutputFormat::Json => render_json(&report, &mut std::io::stdout()),
        OutputFormat::Github => render_github(&report, &mut std::io::stdout()),
        OutputFormat::Sarif => render_sarif(&report, &mut std::io::stdout()),
    };
    if let Err(code) = crate::output::written(written) {
        return code;
    }
    let (errors, warnings) = report.counts();
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// miette's graphical reports, then a summary line.
pub fn render_human(report: &CheckReport, out: &mut dyn Write) -> std::io::Result<()> {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme);
    for p in &report.pipelines {
        for r in p.diagnostics.reports() {
            let mut text = String::new();
            if handler.render_report(&mut text, r.as_ref()).is_err() {
                text = format!("{r}\n");
            }
            writeln!(out, "{text}")?;
        }
    }
    let (errors, warnings) = report.counts();
    writeln!(
        out,
        "checked {} pipeline(s), {} file(s): {errors} error(s), {warnings} warning(s)",
        report.pipelines.len(),
        report.files()
    )
}

/// The JSON report (shape version 1, documented in docs/language.md).
pub fn render_json(report: &CheckReport, out: &mut dyn Write) -> std::io::Result<()> {
    let (errors, warnings) = report.counts();
    let mut diagnostics = Vec::new();
    let mut pipelines = Vec::new();
    for p in &report.pipelines {
        let (pe, pw) = p.diagnostics.counts();
        pipelines.push(json!({
            "path": p.path.display().to_string(),
            "files": p.diagnostics.sources.files.iter()
                .map(|f| f.path.display().to_string()).collect::<Vec<_>>(),
            "errors": pe,
            "warnings": pw,
        }));
        diagnostics.extend(p.diagnostics.to_json());
    }
    let doc = json!({
        "version": 1,
        "pipelines": pipelines,
        "diagnostics": diagnostics,
        "summary": {
            "pipelines": report.pipelines.len(),
            "files": report.files(),
            "errors": errors,
            "warnings": warnings,
        },
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// GitHub workflow annotations, paths relative to the working directory.
pub fn render_github(report: &CheckReport, out: &mut dyn Write) -> std::io::Result<()> {
    let base = std::env::current_dir().unwrap_or_default();
    let all = report.pipelines.iter().map(|p| &p.diagnostics);
    write!(out, "{}", fdc_dsl::render::github(all, &base))
}

/// A SARIF 2.1.0 log, paths relative to the working directory.
pub fn render_sarif(report: &CheckReport, out: &mut dyn Write) -> std::io::Result<()> {
    let base = std::env::current_dir().unwrap_or_default();
    let all = report.pipelines.iter().map(|p| &p.diagnostics);
    serde_json::to_writer_pretty(&mut *out, &fdc_dsl::render::sarif(all, &base))?;
    writeln!(out)
}
