//! `fdc-engine`: the runtime that executes a compiled [`fdc_plan::Plan`].
//!
//! In: a plan, a source of messages, stores for projections and single views, event sinks.
//! Out: projection records and single-view documents kept up to date, events, dead letters.
//! The engine never sees the `.fdl` syntax; adapters (`fdc-kafka`, `fdc-mongo`, `fdc-embedded`,
//! `fdc-file`) implement the traits of `fdc-core` and never depend on this crate; `fdc-topology`
//! assembles them with it.

// The contract with the adapters lives in `fdc-core`; the runtime uses it under the same
// module names.
pub use fdc_core::{bounded, change, source, store, trigger, value};

pub mod aggregate;
pub mod cast;
pub mod decode;
pub mod drift;
pub mod functions;
pub mod ingest;
pub mod project;
pub mod runtime;
pub mod strategy;
/// Test fixtures (the shop plan, change builders) for the unit tests of this crate and of the
/// crates above it (feature `testkit`, enabled only as a dev-dependency).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod view;
