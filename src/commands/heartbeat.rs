//! The heartbeat of a running `fdc run` in the deployment record, and `fdc apply`'s check of
//! it.
//!
//! In: the store's deployment record (`fdc_core::store::DeploymentStore`) and the plan a run
//! runs. Out: while the run lives, its heartbeat (plan fingerprint, host, pid, time) in the
//! record's `heartbeat` field, rewritten every [`interval`] by a task of its own (never on the
//! batch path), and removed when the run stops; for `fdc apply`, a refusal while a heartbeat
//! is younger than [`fresh_for`] ([`refuse_if_running`]).
//!
//! Guarantees: the writer rewrites the record only while it still holds the run's plan and no
//! apply is in progress (it stops at the first record that says otherwise, so a forced apply
//! is never overwritten by a beat); a failed beat is logged and retried at the next one, never
//! fatal to the run. The interval is `FDC_HEARTBEAT_MS` (milliseconds, default 5000: tests set
//! it short); a heartbeat counts as a live run for three intervals.

use std::sync::Arc;
use std::time::Duration;

use fdc_core::store::DeploymentStore;
use fdc_plan::deployment::{Deployment as Record, Heartbeat};

/// The default time between two heartbeats.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The time between two heartbeats: `FDC_HEARTBEAT_MS`, else 5 s.
pub fn interval() -> Duration {
    std::env::var("FDC_HEARTBEAT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_INTERVAL, Duration::from_millis)
}

/// How long a heartbeat says a run is alive: three intervals (two beats may be late).
pub fn fresh_for() -> Duration {
    interval() * 3
}

/// This process's host name (`HOSTNAME`, else `/etc/hostname`, else `unknown`).
fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The heartbeat of this process for `plan_fingerprint`, at `now_ms`.
fn beat(plan_fingerprint: &str, now_ms: i64) -> Heartbeat {
    Heartbeat {
        plan_fingerprint: plan_fingerprint.to_owned(),
        host: host(),
        pid: std::process::id(),
        at: fdc_core::store::record::millis_to_rfc3339(now_ms),
        at_ms: now_ms,
    }
}

/// For `fdc apply`: `Err` (exit 2) when `record` holds a heartbeat younger than
/// [`fresh_for`] and `ignore` is not set; a stale heartbeat (or an ignored one) is reported
/// on stderr.
pub fn refuse_if_running(record: &Record, ignore: bool, now_ms: i64) -> Result<(), (u8, String)> {
    let Some(h) = &record.heartbeat else {
        return Ok(());
    };
    let age = Duration::from_millis(u64::try_from(now_ms.saturating_sub(h.at_ms)).unwrap_or(0));
    let who = format!(
        "`fdc run` on host {} (pid {}) wrote a heartbeat {:.1} s ago ({})",
        h.host,
        h.pid,
        age.as_secs_f64(),
        h.at
    );
    if age >= fresh_for() {
        eprintln!(
            "note: the last {who}; older than {} s, so that run is taken as stopped",
            fresh_for().as_secs_f64()
        );
        return Ok(());
    }
    if ignore {
        eprintln!("warning: {who}; applying anyway (--ignore-running)");
        return Ok(());
    }
    Err((
        2,
        format!(
            "a {who}: it looks alive and would write with the old plan while this apply \
             changes the store. Stop it first (its heartbeat is removed when it stops), or \
             pass --ignore-running if that run is gone. Nothing was changed."
        ),
    ))
}

/// Writes the heartbeat of a run of `plan_fingerprint` now and then every [`interval`], until
/// the task is aborted or the record stops holding that plan (see the module docs).
pub fn spawn(
    store: Arc<dyn DeploymentStore>,
    plan_fingerprint: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = interval();
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            ticks.tick().await;
            match store.load_deployment().await {
                Ok(Some(mut record))
                    if record.plan_fingerprint == plan_fingerprint && record.apply.is_none() =>
                {
                    record.heartbeat = Some(beat(&plan_fingerprint, super::apply::now_ms()));
                    match store.save_deployment(&record).await {
                        Ok(()) if first => {
                            first = false;
                            tracing::info!(
                                every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
                                "heartbeat written into the deployment record"
                            );
                        }
                        Ok(()) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot write the heartbeat"),
                    }
                }
                Ok(_) => {
                    tracing::warn!(
                        "the deployment record no longer holds this run's plan (an apply?): \
                         no more heartbeats"
                    );
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the record for the heartbeat"),
            }
        }
    })
}

/// Stops the heartbeat `task` and removes this process's heartbeat from the record (a stopped
/// run no longer blocks `fdc apply`). Failures are logged: the heartbeat then goes stale.
pub async fn stop(store: &dyn DeploymentStore, task: tokio::task::JoinHandle<()>) {
    task.abort();
    let _ = task.await;
    match store.load_deployment().await {
        Ok(Some(mut record))
            if record
                .heartbeat
                .as_ref()
                .is_some_and(|h| h.pid == std::process::id() && h.host == host()) =>
        {
            record.heartbeat = None;
            if let Err(e) = store.save_deployment(&record).await {
                tracing::warn!(error = %e, "cannot remove the heartbeat");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot remove the heartbeat"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recent_heartbeat_refuses_unless_ignored_and_an_old_one_is_only_reported() {
        let mut record = Record::from_json(
            r#"{"format":1,"text_hash":"t","plan_fingerprint":"p","applied_at":null,
               "applied_by":null,"projections":{},"views":{},"indexes":[]}"#,
        )
        .unwrap();
        assert!(refuse_if_running(&record, false, 1_000).is_ok());
        record.heartbeat = Some(beat("p", 1_000_000));
        let (code, message) = refuse_if_running(&record, false, 1_001_500).unwrap_err();
        assert_eq!(code, 2);
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("1.5 s ago"), "{message}");
        assert!(message.contains("--ignore-running"), "{message}");
        assert!(refuse_if_running(&record, true, 1_001_500).is_ok());
        let later = 1_000_000 + i64::try_from(fresh_for().as_millis()).unwrap();
        assert!(refuse_if_running(&record, false, later).is_ok());
    }
}
