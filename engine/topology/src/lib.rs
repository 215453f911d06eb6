//! `fdc-topology`: the one place where a deployment is assembled.
//!
//! In: a compiled [`fdc_plan::Plan`] and a description of where it runs (role, source, stores,
//! sinks, options). Out: built pieces (the engine, its source and router, the stores and
//! sinks), ready for the runtime's run loop; nothing is spawned by building.
//!
//! Guarantees: every command (`fdc run` embedded and production, split roles, `fdc refresh`,
//! `fdc test`, the benchmarks) selects its stores and sinks here, so the choice (MongoDB or the
//! embedded store, Kafka or files, events published or dropped) is written once.

mod build;
mod deployment;
pub mod export;
#[cfg(feature = "kafka")]
mod replicas;
pub mod testing;

pub use build::{build, open_store, Built, BuiltStage, OpenedStore};
pub use deployment::{
    BuildError, DeadLettersSpec, Deployment, EventsSpec, Input, PauseSpec, StoreSpec, TriggersSpec,
};
