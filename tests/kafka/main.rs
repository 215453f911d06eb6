//! The Kafka adapters against the real broker of `scripts/services` (feature `integration`).
//!
//! One test executable for the files of this folder, each a module: one executable links
//! the dependency tree once, where one per file linked it once each.
//! Run one file's tests with `cargo test --features integration --test kafka <file>::`.
#![cfg(feature = "integration")]

#[path = "../kafka_common/mod.rs"]
mod kafka_common;
#[path = "../support/mod.rs"]
mod support;

mod kafka_differential;
mod kafka_golden;
mod kafka_history;
mod kafka_source;
mod services_kafka;
