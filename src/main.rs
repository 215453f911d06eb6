//! `fdc`: the command-line interface.
//!
//! In: command-line arguments. Out: the command's output and exit code (0 success, 1 the
//! command found problems, 2 usage errors).
//!
//! Thin by design: each command lives in its own file under `commands/`, parses its own
//! arguments (a `clap::Args` struct) and calls the library crates. Adding a command is one
//! variant in [`Command`] and one arm in `main`.

mod commands;
mod config;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Declarative fast-data pipelines: Kafka CDC streams into MongoDB single views.
#[derive(Debug, Parser)]
#[command(name = "fdc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipelines: syntax, names, types, relations, strategies, indexes.
    Check(commands::check::CheckArgs),
    /// Run a pipeline on the embedded store over newline-delimited JSON messages.
    Run(commands::run::RunArgs),
    /// Show a single view or a projection record by key from an embedded store.
    Inspect(commands::inspect::InspectArgs),
    /// Format `.fdl` files in the canonical layout (`--check` to only verify).
    Fmt(commands::fmt::FmtArgs),
    /// Print the execution graph (topics to events) as DOT or Mermaid.
    Graph(commands::graph::GraphArgs),
    /// Explain a single view: strategies hop by hop, and field lineage to source columns.
    Explain(commands::explain::ExplainArgs),
    /// Run the test cases (`*.test.yaml`) of pipelines on a fresh embedded store each.
    Test(commands::test::TestArgs),
}

fn main() -> ExitCode {
    // clap exits with status 2 on usage errors.
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => commands::check::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Inspect(args) => commands::inspect::run(&args),
        Command::Fmt(args) => commands::fmt::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::Explain(args) => commands::explain::run(&args),
        Command::Test(args) => commands::test::run(&args),
    }
}
