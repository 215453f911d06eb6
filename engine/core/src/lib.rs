//! `fdc-core`: the contract between the runtime (`fdc-engine`) and its adapters (`fdc-kafka`,
//! `fdc-mongo`, `fdc-embedded`, `fdc-file`).
//!
//! In: nothing but a compiled [`fdc_plan::Plan`]'s types. Out: the data that crosses the
//! boundary ([`value`], [`change`], the records, documents, events and dead letters of
//! [`store`]) and every trait an adapter implements or the runtime calls:
//! - [`store`]: projection and single-view stores, event and dead-letter sinks, checkpoints;
//! - [`source`]: where messages come from, and the gauges a source reports (lag, connection);
//! - [`trigger`]: the transport of trigger records between the ingest and aggregate stages;
//! - [`retry`]: waits between attempts that end on shutdown ([`retry::Backoff`],
//!   [`retry::Stop`]), for the runtime's retry loops and an adapter's own short waits;
//! - [`secret`]: a credential the caller read ([`secret::Secret`]), for the Kafka and MongoDB
//!   adapters: no crate of the engine reads the environment.
//!
//! Guarantees: this crate depends on no client library (Kafka, MongoDB, a database) and on no
//! runtime code, so an adapter that depends only on it cannot reach into the runtime; the
//! compiler, not review, keeps the layering.

pub mod bounded;
pub mod change;
pub mod retry;
pub mod secret;
pub mod source;
pub mod store;
pub mod trigger;
pub mod value;
