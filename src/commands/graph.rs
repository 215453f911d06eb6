//! `fdc graph [PATHS...] [--format dot|mermaid] [--view NAME]`.
//!
//! In: a pipeline (a `.fdl` file or a directory; default as `commands::paths` says). Out: its
//! execution graph (topics -> decoders -> projections -> strategies -> single views -> event
//! topics) on stdout, from the same compiled plan `fdc run` executes. Exit code: 0 printed,
//! 1 the pipeline does not compile (diagnostics on stderr) or the view is unknown, 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fdc_dsl::graph::{render, GraphFormat};

/// Arguments of `fdc graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The pipeline's files or directories (default: `pipelines/` when it exists, else `.`; a
    /// directory of pipelines holding just one stands for it).
    pub paths: Vec<PathBuf>,
    /// Output syntax.
    #[arg(long, value_enum, default_value_t = Syntax::Dot)]
    pub format: Syntax,
    /// Only this single view and what feeds it.
    #[arg(long)]
    pub view: Option<String>,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// Output syntax of `fdc graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Syntax {
    /// Graphviz DOT (`fdc graph | dot -Tsvg > graph.svg`).
    Dot,
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
}

/// Runs the command.
pub fn run(args: &GraphArgs) -> ExitCode {
    let paths = match super::paths::one_pipeline(&args.paths, "graph") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(plan) = super::explain::compile_or_report(&paths, &args.imports) else {
        return ExitCode::from(1);
    };
    let format = match args.format {
        Syntax::Dot => GraphFormat::Dot,
        Syntax::Mermaid => GraphFormat::Mermaid,
    };
    match render(&plan, format, args.view.as_deref()) {
        Ok(text) => match crate::output::print(&text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
