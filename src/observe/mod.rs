//! Operating `fdc run`: logs, the metrics exposition and the operations HTTP endpoint.
//!
//! - [`logging`]: the `tracing` subscriber of every command (text or JSON on stderr, levels
//!   from `FDC_LOG` or `RUST_LOG`);
//! - [`exposition`]: the runtime's counters, histograms and health in the Prometheus text
//!   format, and the JSON status document `fdc status` reads;
//! - [`http`]: a small HTTP/1.1 server for `/metrics`, `/healthz`, `/readyz` and `/status`.

// The endpoint of a production run (`fdc run --http`).
#[cfg(feature = "production")]
pub mod control;
#[cfg(feature = "production")]
pub mod exposition;
#[cfg(feature = "production")]
pub mod http;
pub mod logging;
