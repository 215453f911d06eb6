//! `fdc-engine`: the runtime that executes a compiled [`fdc_plan::Plan`].
//!
//! In: a plan, a source of messages, stores for projections and single views, event sinks.
//! Out: projection records and single-view documents kept up to date, events, dead letters.
//! The engine never sees the `.fdl` syntax; adapters talk to the core only through traits.

pub mod aggregate;
pub mod bounded;
pub mod cast;
pub mod change;
pub mod decode;
pub mod embedded;
pub mod file;
pub mod functions;
pub mod ingest;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mongo")]
pub mod mongo;
pub mod project;
pub mod runtime;
pub mod store;
pub mod strategy;
pub mod testing;
pub mod value;
pub mod view;
