//! Operating the real `fdc` binary: the operations endpoint, outages, split roles, scale-out
//! (feature `integration`).
//!
//! One test executable for the files of this folder, each a module: one executable links
//! the dependency tree once, where one per file linked it once each.
//! Run one file's tests with `cargo test --features integration --test ops <file>::`.
#![cfg(feature = "integration")]

#[path = "../kafka_common/mod.rs"]
mod kafka_common;
#[path = "../ops_common/mod.rs"]
mod ops_common;
#[path = "../support/mod.rs"]
mod support;

mod ops_freshness;
mod ops_metrics;
mod ops_outages;
mod ops_pause;
mod ops_roles;
mod ops_scale_out;
