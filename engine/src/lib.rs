//! `fdc-engine`: the runtime that executes a compiled [`fdc_plan::Plan`].
//!
//! In: a plan, a source of messages, stores for projections and single views, event sinks.
//! Out: projection records and single-view documents kept up to date, events, dead letters.
//! The engine never sees the `.fdl` syntax; adapters talk to the core only through traits.

pub mod value;
pub mod change;
pub mod functions;
pub mod decode;
pub mod store;
pub mod embedded;
pub mod cast;
pub mod project;
pub mod strategy;
pub mod ingest;
pub mod aggregate;
pub mod view;
pub mod file;
#[cfg(feature = "mongo")]
pub mod mongo;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod runtime;
pub mod testing;
