//! Health of a running pipeline: whether it is ready (running, source connected, store
//! reachable, no batch being retried) and what its source reports (consumer lag).
//!
//! In: signals from the run loop (started, stopping, a batch retried or recovered), from a
//! store probe (reachable or not) and, pulled at read time, from the source's [`SourceGauges`].
//! Out: a [`HealthSnapshot`] for `/readyz`, `/metrics` and `fdc status`.
//!
//! Guarantees: readiness is false before the run starts, while it stops, while a batch is being
//! retried after a store or sink failure, while the store probe fails and while the source
//! reports that no broker answers; it turns true again by itself when all of these clear. The
//! last error kept here is the adapter's message, which never holds values or credentials.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::freshness::Stage;
use crate::source::{GroupLag, PartitionLag, RetentionLoss, SourceGauges};

/// The health state (see the module docs).
#[derive(Default)]
pub struct Health {
    started: AtomicBool,
    stopping: AtomicBool,
    /// `false` while the store probe fails (no probe: reachable).
    store_unreachable: AtomicBool,
    retrying: AtomicBool,
    /// Batches retried since the start.
    retries: AtomicU64,
    /// Epoch milliseconds of the last durable batch (0: none yet).
    last_commit_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// A configuration problem found while running (does not change readiness).
    warning: Mutex<Option<String>>,
    /// The sources of the process's stages (two in a `--role all` process whose stages are
    /// connected by the trigger topic), with the stage each one feeds.
    sources: Mutex<Vec<(Stage, Arc<dyn SourceGauges>)>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

/// The health at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSnapshot {
    pub ready: bool,
    pub started: bool,
    pub stopping: bool,
    pub store_reachable: bool,
    /// `None` when the source does not say (files, or before its first report).
    pub source_connected: Option<bool>,
    /// A batch is being retried now (the pipeline is paused).
    pub retrying: bool,
    pub retries: u64,
    /// Epoch milliseconds of the last durable batch.
    pub last_commit_ms: Option<u64>,
    pub last_error: Option<String>,
    /// A configuration problem found while running (e.g. several `--role all` replicas with
    /// in-memory triggers); readiness does not depend on it.
    pub warning: Option<String>,
    pub lag: Vec<PartitionLag>,
}

impl Health {
    /// The run loop started consuming.
    pub fn started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    /// Shutdown was asked for: no longer ready.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// What the store probe found.
    pub fn store_probed(&self, reachable: bool, error: Option<String>) {
        let was = !self.store_unreachable.swap(!reachable, Ordering::Relaxed);
        if was != reachable {
            if reachable {
                tracing::info!("store reachable again");
            } else {
                tracing::warn!(
                    error = error.as_deref().unwrap_or("-"),
                    "store unreachable; not ready"
                );
            }
        }
        if let Some(e) = error {
            self.set_error(e);
        }
    }

    /// Registers the input source, whose gauges are read at scrape time.
    pub fn watch_source(&self, source: Arc<dyn SourceGauges>) {
        self.watch_stage_source(Stage::Ingest, source);
    }

    /// Registers the source of `stage` (`Ingest`: the input topics; `Triggers`: the trigger
    /// transport an aggregate stage reads), whose gauges are read at scrape time.
    pub fn watch_stage_source(&self, stage: Stage, source: Arc<dyn SourceGauges>) {
        if let Ok(mut s) = self.sources.lock() {
            s.push((stage, source));
        }
    }

    fn sources(&self) -> Vec<(Stage, Arc<dyn SourceGauges>)> {
        self.sources.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// This member's lag per stage whose source reports one: `(stage, messages, partitions)`.
    pub fn stage_lag(&self) -> Vec<(Stage, i64, usize)> {
        let mut out: Vec<(Stage, i64, usize)> = Vec::new();
        for (stage, source) in self.sources() {
            let lag = source.lag();
            let total: i64 = lag.iter().map(|l| l.lag.max(0)).sum();
            match out.iter_mut().find(|o| o.0 == stage) {
                Some(o) => {
                    o.1 += total;
                    o.2 += lag.len();
                }
                None => out.push((stage, total, lag.len())),
            }
        }
        out.sort_by_key(|o| o.0);
        out
    }

    /// The whole consumer group's lag of each stage's source, when known.
    pub fn group_lag(&self) -> Vec<(Stage, GroupLag)> {
        self.sources()
            .into_iter()
            .filter_map(|(stage, s)| s.group_lag().map(|g| (stage, g)))
            .collect()
    }

    /// What retention took from the sources' partitions before they were read.
    pub fn lost_to_retention(&self) -> Vec<RetentionLoss> {
        self.sources()
            .into_iter()
            .flat_map(|(_, s)| s.lost_to_retention())
            .collect()
    }

    pub(super) fn retrying(&self, error: String) {
        self.retrying.store(true, Ordering::Relaxed);
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.set_error(error);
    }

    /// A batch went through: returns whether it ended a retry streak.
    pub(super) fn recovered(&self) -> bool {
        self.retrying.swap(false, Ordering::Relaxed)
    }

    pub(super) fn committed(&self, epoch_ms: u64) {
        self.last_commit_ms.store(epoch_ms, Ordering::Relaxed);
    }

    /// Sets (or clears, with `None`) the running configuration warning; logs a change.
    pub fn warn(&self, warning: Option<String>) {
        let Ok(mut w) = self.warning.lock() else {
            return;
        };
        if *w != warning {
            match &warning {
                Some(text) => tracing::warn!(warning = %text, "configuration warning"),
                None => tracing::info!("configuration warning cleared"),
            }
            *w = warning;
        }
    }

    fn set_error(&self, error: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(error);
        }
    }

    /// The health now (reads the source's gauges).
    pub fn snapshot(&self) -> HealthSnapshot {
        let sources = self.sources();
        // Connected when every source that knows says so; not when one of them says not.
        let mut source_connected = None;
        let mut lag = Vec::new();
        for (_, s) in &sources {
            source_connected = match (source_connected, s.connected()) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), _) | (_, Some(true)) => Some(true),
                (None, None) => None,
            };
            lag.extend(s.lag());
        }
        let started = self.started.load(Ordering::Relaxed);
        let stopping = self.stopping.load(Ordering::Relaxed);
        let store_reachable = !self.store_unreachable.load(Ordering::Relaxed);
        let retrying = self.retrying.load(Ordering::Relaxed);
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        HealthSnapshot {
            ready: started
                && !stopping
                && store_reachable
                && !retrying
                && source_connected != Some(false),
            started,
            stopping,
            store_reachable,
            source_connected,
            retrying,
            retries: self.retries.load(Ordering::Relaxed),
            last_commit_ms: (last > 0).then_some(last),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            warning: self.warning.lock().ok().and_then(|w| w.clone()),
            lag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Down;

    impl SourceGauges for Down {
        fn lag(&self) -> Vec<PartitionLag> {
            vec![PartitionLag {
                topic: "t".into(),
                partition: 0,
                lag: 3,
            }]
        }
        fn connected(&self) -> Option<bool> {
            Some(false)
        }
    }

    #[test]
    fn ready_only_when_started_reachable_and_not_retrying() {
        let h = Health::default();
        assert!(!h.snapshot().ready, "not started");
        h.started();
        assert!(h.snapshot().ready);
        h.retrying("store down".into());
        let s = h.snapshot();
        assert!(!s.ready && s.retrying && s.retries == 1);
        assert_eq!(s.last_error.as_deref(), Some("store down"));
        assert!(h.recovered());
        assert!(!h.recovered());
        assert!(h.snapshot().ready);
        h.store_probed(false, Some("ping timed out".into()));
        assert!(!h.snapshot().ready);
        h.store_probed(true, None);
        assert!(h.snapshot().ready);
        h.stopping();
        assert!(!h.snapshot().ready);
    }

    #[test]
    fn a_source_without_brokers_is_not_ready_and_reports_its_lag() {
        let h = Health::default();
        h.started();
        h.watch_source(Arc::new(Down));
        let s = h.snapshot();
        assert!(!s.ready);
        assert_eq!(s.source_connected, Some(false));
        assert_eq!(s.lag.len(), 1);
    }

    struct Up;

    impl SourceGauges for Up {
        fn lag(&self) -> Vec<PartitionLag> {
            vec![PartitionLag {
                topic: "fdc.triggers".into(),
                partition: 2,
                lag: 1,
            }]
        }
        fn connected(&self) -> Option<bool> {
            Some(true)
        }
    }

    #[test]
    fn two_stages_report_both_lags_and_are_connected_only_when_both_are() {
        let h = Health::default();
        h.started();
        h.watch_source(Arc::new(Up));
        assert_eq!(h.snapshot().source_connected, Some(true));
        h.watch_source(Arc::new(Down));
        let s = h.snapshot();
        assert_eq!(s.source_connected, Some(false));
        assert!(!s.ready);
        let topics: Vec<&str> = s.lag.iter().map(|l| l.topic.as_str()).collect();
        assert_eq!(topics, ["fdc.triggers", "t"]);
    }

    #[test]
    fn lag_is_reported_per_stage() {
        let h = Health::default();
        h.watch_stage_source(Stage::Triggers, Arc::new(Up));
        h.watch_source(Arc::new(Down));
        h.watch_source(Arc::new(Down));
        assert_eq!(
            h.stage_lag(),
            vec![(Stage::Ingest, 6, 2), (Stage::Triggers, 1, 1)]
        );
        assert!(h.group_lag().is_empty() && h.lost_to_retention().is_empty());
    }
}
