//! Commands end to end through the `fdc` binary, no services needed.
//!
//! One test executable for the files of this folder, each a module: one executable links
//! the dependency tree once, where one per file linked it once each.
//! Run one file's tests with `cargo test --features integration --test cli <file>::`.

#[path = "../support/mod.rs"]
mod support;

mod apply_cli;
mod check_cli;
mod config_cli;
mod deploy_cli;
mod drift_cli;
mod golden;
mod imports_cli;
mod pause_cli;
mod plan_cli;
mod preview_cli;
mod run_input;
mod type_spelling;
