//! `fdc run --config` and the MongoDB adapter against the real services (feature
//! `integration`).
//!
//! One test executable for the files of this folder, each a module: one executable links
//! the dependency tree once, where one per file linked it once each.
//! Run one file's tests with `cargo test --features integration --test production <file>::`.
#![cfg(feature = "integration")]

#[path = "../kafka_common/mod.rs"]
mod kafka_common;
#[path = "../ops_common/mod.rs"]
mod ops_common;
#[path = "../support/mod.rs"]
mod support;

mod production_apply;
mod production_crash;
mod production_deploy;
mod production_initial_load;
mod production_plan;
mod production_preview;
mod production_run;
mod services_mongo;
