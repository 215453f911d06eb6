//! TEST-ONLY fault injection: holds the process at a chosen point so that a test can kill it
//! there. Compiled only with the engine feature `fault-injection`, which only the root
//! `integration` feature (the integration tests) turns on: an `fdc` built for use
//! (`cargo build --release`, `cargo install`) does not contain this module, and the variable
//! below means nothing to it.
//!
//! In: the environment variable [`PAUSE_AFTER_PROJECTION_WRITES`] = `N` (a positive integer).
//! Out: from the `N`-th successful projection write call of the process on, the call never
//! returns, after printing [`PAUSED`] and the call's number on stderr. The engine is then stuck
//! after a batch's projection writes and before its single views, events and commit: the state
//! a crash at that point leaves. `tests/production/production_crash.rs` waits for the line and sends
//! `kill -9`.
//!
//! Guarantees: without the variable (or with a value that is not a positive integer) nothing
//! changes; the variable is read once per process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The variable naming the projection write call after which the process is held.
pub const PAUSE_AFTER_PROJECTION_WRITES: &str = "FDC_TEST_FAULT_PAUSE_AFTER_PROJECTION_WRITES";
/// The start of the line printed on stderr when the process is held.
pub const PAUSED: &str = "fdc fault injection: paused after projection write";

/// Successful projection write calls so far.
static WRITES: AtomicU64 = AtomicU64::new(0);

fn pause_at() -> Option<u64> {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    *AT.get_or_init(|| {
        std::env::var(PAUSE_AFTER_PROJECTION_WRITES)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
    })
}

/// Called when a projection write call succeeded; never returns once the chosen call is
/// reached.
pub async fn after_projection_write() {
    let Some(at) = pause_at() else { return };
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    if n >= at {
        eprintln!("{PAUSED} {n}");
        std::future::pending::<()>().await;
    }
}
