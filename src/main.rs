//! `fdc`: the command-line interface.
//!
//! In: command-line arguments. Out: the command's output and exit code (0 success, 1 the
//! command found problems, 2 usage errors).
//!
//! Thin by design: each command lives in its own file under `commands/`, parses its own
//! arguments (a `clap::Args` struct) and calls the library crates. Adding a command is one
//! variant in [`Command`] and one arm in `main`.

mod commands;
// fdc.yaml: the settings of a production run (cargo feature `production`).
#[cfg(feature = "production")]
mod config;
mod lsp;
mod observe;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The engine allocates many small values (records, documents); mimalloc serves them far
// faster than glibc malloc (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Declarative fast-data pipelines: Kafka CDC streams into MongoDB single views.
#[derive(Debug, Parser)]
#[command(name = "fdc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr as text or JSON (levels: FDC_LOG or RUST_LOG, e.g. `info`,
    /// `warn,fdc_engine=debug`).
    #[arg(long, global = true, value_enum, default_value_t = observe::logging::LogFormat::Text)]
    log_format: observe::logging::LogFormat,
    /// Let debug log events carry message keys (never at info level); for debugging only.
    #[arg(long, global = true)]
    log_keys: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipelines: syntax, names, types, relations, strategies, indexes.
    Check(commands::check::CheckArgs),
    /// Run a pipeline: JSON-lines messages into the embedded store (`--input`), or in
    /// production Kafka into MongoDB (`--config`).
    Run(commands::run::RunArgs),
    /// Rebuild a single view from the projections (all roots, or those matching filters), on
    /// an embedded store (`--store`) or MongoDB (`--config`).
    Refresh(commands::refresh::RefreshArgs),
    /// Show a single view or a projection record by key from an embedded store directory.
    Inspect(commands::inspect::InspectArgs),
    /// Format `.fdl` files in the canonical layout, comments kept (`--check` only reports).
    Fmt(commands::fmt::FmtArgs),
    /// Print a pipeline's execution graph (topics to event topics) as DOT or Mermaid.
    Graph(commands::graph::GraphArgs),
    /// Explain a single view: strategies hop by hop, and field lineage to source columns.
    Explain(commands::explain::ExplainArgs),
    /// Show what changing a deployed pipeline would do (exit 0: nothing, 2: actions, 1: errors).
    Plan(commands::plan::PlanArgs),
    /// Show what a new pipeline would change in the single views, on live messages, without
    /// writing anything (MongoDB only read, no offsets committed).
    Preview(commands::preview::PreviewArgs),
    /// Perform what `fdc plan` shows on a store: indexes, re-ingests, view refreshes; then
    /// record the new plan (resumable; `--dry-run` is `fdc plan`).
    Apply(commands::apply::ApplyArgs),
    /// Run the pipelines' test cases (`*.test.yaml`), each on a fresh in-memory store.
    Test(commands::test::TestArgs),
    /// Show what a running production `fdc run` is doing (readiness, lag, counts), from the
    /// endpoint it serves with `--http`.
    Status(commands::status::StatusArgs),
    /// Pause the whole process, a projection or a single view of a deployment (through its
    /// operations endpoint `--addr`, or on an embedded store `--store`).
    Pause(commands::pause::PauseArgs),
    /// Resume what `fdc pause` paused (`--all`: everything).
    Resume(commands::pause::PauseArgs),
    /// Serve the Language Server Protocol on stdin/stdout (editors: docs/editors.md).
    Lsp(commands::lsp::LspArgs),
}

fn main() -> ExitCode {
    // clap's usage errors exit with status 2, except for `plan`, whose 2 means "there are
    // actions": a CI gate must not take a mistyped option for a change.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
            let code = match e.exit_code() {
                0 => 0,
                _ if commands::plan::invoked(&args) => 1,
                _ if commands::preview::invoked(&args) => 1,
                other => u8::try_from(other).unwrap_or(2),
            };
            return ExitCode::from(code);
        }
    };
    // `run` reports its progress at info level; the other commands print their own output.
    let default_level = match cli.command {
        Command::Run(_) => "info",
        _ => "error",
    };
    if let Err(e) = observe::logging::init(cli.log_format, cli.log_keys, default_level) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Check(args) => commands::check::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Refresh(args) => commands::refresh::run(&args),
        Command::Inspect(args) => commands::inspect::run(&args),
        Command::Fmt(args) => commands::fmt::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Preview(args) => commands::preview::run(&args),
        Command::Apply(args) => commands::apply::run(&args),
        Command::Test(args) => commands::test::run(&args),
        Command::Status(args) => commands::status::run(&args),
        Command::Pause(args) => commands::pause::run(&args, true),
        Command::Resume(args) => commands::pause::run(&args, false),
        Command::Lsp(args) => commands::lsp::run(&args),
    }
}
