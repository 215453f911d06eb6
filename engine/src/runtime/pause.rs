//! The pause state of a running deployment: what is held back, read from the store and
//! applied by the run loop.
//!
//! In: a [`PauseStore`] (the deployment's store: every replica of a group sees the same
//! items), the plan, a poll interval; pauses and resumes asked by an operator (the
//! operations endpoint). Out: a [`PauseSnapshot`] the run loop watches: which input topics the
//! reader holds ([`Held`]), which single views keep their triggers pending instead of
//! rebuilding them, and whether kept triggers wait to be rebuilt.
//!
//! Guarantees:
//! - the snapshot is what the store held at the last poll (every [`PauseControl::poll`], and
//!   at once after a pause or resume through this process), so a pause asked through one
//!   replica reaches every replica within one poll interval; a failed poll keeps the last
//!   snapshot (logged) rather than resuming anything;
//! - a projection is held by holding its input topic (every partition of it): projections
//!   that read the same topic are held together (a topic's messages are read in order, so
//!   one cannot skip ahead of another); the whole process holds everything;
//! - the triggers a paused view receives are counted once their batch is durable
//!   ([`PauseControl::kept_totals`]), and the kept keys are rebuilt once the view is resumed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fdc_plan::Plan;
use tokio::sync::watch;

use super::Role;
use crate::source::Held;
use crate::store::{PauseItem, PauseStore, PauseTarget, StoreError};

/// The default interval between two reads of the pause state.
pub const DEFAULT_PAUSE_POLL: Duration = Duration::from_secs(2);

/// The pause state as last read from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PauseSnapshot {
    /// The items stored, ordered by target.
    pub items: Vec<PauseItem>,
    /// Per single view of the plan, its kept (pending) triggers.
    pub pending: BTreeMap<String, u64>,
}

impl PauseSnapshot {
    /// Whether the whole process is paused.
    pub fn all(&self) -> bool {
        self.items.iter().any(|i| i.target == PauseTarget::All)
    }

    /// Whether `projection` is paused (by itself or with the whole process).
    pub fn projection(&self, projection: &str) -> bool {
        self.all() || self.has(&PauseTarget::Projection(projection.to_string()))
    }

    /// Whether `view` is paused by itself (the whole process reads nothing, so it triggers
    /// nothing either).
    pub fn view(&self, view: &str) -> bool {
        self.has(&PauseTarget::View(view.to_string()))
    }

    fn has(&self, target: &PauseTarget) -> bool {
        self.items.iter().any(|i| &i.target == target)
    }

    /// What the reader of a stage with `role` holds: everything when the process is paused;
    /// for a stage that reads the input, the topics of the paused projections; an aggregate
    /// stage reads triggers, held only with the whole process.
    pub fn held(&self, plan: &Plan, role: Role) -> Held {
        if self.all() {
            return Held::All;
        }
        if role == Role::Aggregate {
            return Held::Nothing;
        }
        let topics: BTreeSet<String> = plan
            .projections
            .iter()
            .filter(|p| self.projection(&p.name))
            .map(|p| p.topic.clone())
            .collect();
        if topics.is_empty() {
            Held::Nothing
        } else {
            Held::Topics(topics)
        }
    }

    /// Whether kept triggers of a view that is not paused wait to be rebuilt.
    pub fn drainable(&self) -> bool {
        !self.all()
            && self
                .pending
                .iter()
                .any(|(view, n)| *n > 0 && !self.view(view))
    }
}

/// The pause state of one process (see the module docs). Shared by its stages, the poller and
/// the operations endpoint.
pub struct PauseControl {
    store: Arc<dyn PauseStore>,
    plan: Arc<Plan>,
    poll: Duration,
    state: watch::Sender<PauseSnapshot>,
    /// Triggers kept per view since the start (counted when their batch was durable).
    kept: Mutex<BTreeMap<String, u64>>,
}

impl std::fmt::Debug for PauseControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PauseControl")
            .field("poll", &self.poll)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl PauseControl {
    /// A control over `store` for `plan`, read every `poll`; nothing read yet (see
    /// [`PauseControl::refresh`]).
    pub fn new(store: Arc<dyn PauseStore>, plan: Arc<Plan>, poll: Duration) -> PauseControl {
        PauseControl {
            store,
            plan,
            poll,
            state: watch::channel(PauseSnapshot::default()).0,
            kept: Mutex::new(BTreeMap::new()),
        }
    }

    /// The store the state is kept in.
    pub fn store(&self) -> &Arc<dyn PauseStore> {
        &self.store
    }

    /// The plan whose projections and views can be paused.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The state as last read.
    pub fn snapshot(&self) -> PauseSnapshot {
        self.state.borrow().clone()
    }

    /// A receiver that sees every change of the state.
    pub fn subscribe(&self) -> watch::Receiver<PauseSnapshot> {
        self.state.subscribe()
    }

    /// Reads the items and the pending counts from the store now.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let items = self.store.load_pauses().await?;
        let mut pending = BTreeMap::new();
        for v in &self.plan.single_views {
            pending.insert(v.name.clone(), self.store.count_pending(&v.name).await?);
        }
        let next = PauseSnapshot { items, pending };
        self.state.send_if_modified(|s| {
            if *s == next {
                return false;
            }
            log_change(s, &next);
            *s = next;
            true
        });
        Ok(())
    }

    /// Reads the state every poll interval, until the task is dropped or aborted.
    pub async fn poll(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.poll).await;
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "pause state not read; the last one stays in force");
            }
        }
    }

    /// Whether `target` names the whole process, or a projection or view of the plan.
    pub fn check_target(&self, target: &PauseTarget) -> Result<(), String> {
        check_target(&self.plan, target)
    }

    /// Pauses `item.target` (replacing an earlier pause of it), then reads the state again.
    pub async fn pause(&self, item: &PauseItem) -> Result<(), StoreError> {
        self.store.save_pause(item).await?;
        self.refresh().await
    }

    /// Resumes `target` (`All`: every pause, whatever its target); the targets that were
    /// paused. Then reads the state again.
    pub async fn resume(&self, target: &PauseTarget) -> Result<Vec<PauseTarget>, StoreError> {
        let resumed = resume(self.store.as_ref(), target).await?;
        self.refresh().await?;
        Ok(resumed)
    }

    /// `n` triggers of `view` were kept pending by a durable batch.
    pub(super) fn kept(&self, view: &str, n: u64) {
        if let Ok(mut k) = self.kept.lock() {
            *k.entry(view.to_string()).or_default() += n;
        }
        // The store deduplicates the keys: the exact count comes with the next poll; until
        // then the view is known to have some.
        self.state.send_if_modified(|s| {
            let pending = s.pending.entry(view.to_string()).or_default();
            if *pending == 0 && n > 0 {
                *pending = n;
                return true;
            }
            false
        });
    }

    /// The kept keys of `view` were all rebuilt (until the next poll says otherwise).
    pub(super) fn drained(&self, view: &str) {
        self.state
            .send_if_modified(|s| match s.pending.get_mut(view) {
                Some(n) if *n > 0 => {
                    *n = 0;
                    true
                }
                _ => false,
            });
    }

    /// Triggers kept per view since the start.
    pub fn kept_totals(&self) -> BTreeMap<String, u64> {
        self.kept.lock().map(|k| k.clone()).unwrap_or_default()
    }
}

/// Whether `target` names the whole process, or a projection or view of `plan`.
pub fn check_target(plan: &Plan, target: &PauseTarget) -> Result<(), String> {
    let known = match target {
        PauseTarget::All => true,
        PauseTarget::Projection(p) => plan.projections.iter().any(|x| &x.name == p),
        PauseTarget::View(v) => plan.single_views.iter().any(|x| &x.name == v),
    };
    if known {
        Ok(())
    } else {
        Err(format!(
            "the pipeline has no {} `{}`",
            match target {
                PauseTarget::View(_) => "single view",
                _ => "projection",
            },
            fdc_core::bounded::name(target.name())
        ))
    }
}

/// Removes the pause of `target` from `store` (`All`: every pause); the targets removed.
pub async fn resume(
    store: &dyn PauseStore,
    target: &PauseTarget,
) -> Result<Vec<PauseTarget>, StoreError> {
    let targets: Vec<PauseTarget> = match target {
        PauseTarget::All => store
            .load_pauses()
            .await?
            .into_iter()
            .map(|i| i.target)
            .collect(),
        other => vec![other.clone()],
    };
    let mut removed = Vec::new();
    for t in targets {
        if store.remove_pause(&t).await? {
            removed.push(t);
        }
    }
    Ok(removed)
}

fn log_change(before: &PauseSnapshot, after: &PauseSnapshot) {
    for i in &after.items {
        if !before.items.iter().any(|b| b.target == i.target) {
            tracing::info!(kind = i.target.kind(), name = %i.target.name(), by = %i.by, "paused");
        }
    }
    for b in &before.items {
        if !after.items.iter().any(|i| i.target == b.target) {
            tracing::info!(kind = b.target.kind(), name = %b.target.name(), "resumed");
        }
    }
}

impl super::Engine {
    /// Whether this engine rebuilds the kept triggers of resumed views: a process's only
    /// stage, or its ingest stage, which publishes them to the trigger transport so that each
    /// key is rebuilt by the aggregate replica that owns it (an aggregate stage keeps the
    /// triggers of a paused view but leaves the rebuild to the ingest stages).
    pub(super) fn drains(&self) -> bool {
        self.pause.is_some()
            && matches!(
                self.stage,
                super::EngineStages::All | super::EngineStages::Ingest(_)
            )
    }

    /// One round of rebuilding kept triggers: the first view that is not paused and has kept
    /// keys gets up to `rebuild_chunk` of them rebuilt (or published), durable, then removed
    /// from the store. `None` when there was nothing to rebuild; the outcome is committed by
    /// the caller like a batch's. Between rounds the run loop writes input batches, so a long
    /// backlog of kept keys does not hold the input back.
    pub(super) async fn drain_pending(
        &self,
        stop: &mut super::retry::Stop,
    ) -> Result<Option<super::BatchOutcome>, super::Halt> {
        let Some(control) = self.pause.clone() else {
            return Ok(None);
        };
        let snapshot = control.snapshot();
        if !snapshot.drainable() {
            return Ok(None);
        }
        let chunk = self.config.rebuild_chunk.max(1);
        for (vi, v) in self.plan.single_views.iter().enumerate() {
            let waiting = snapshot.pending.get(&v.name).copied().unwrap_or(0);
            if waiting == 0 || snapshot.view(&v.name) {
                continue;
            }
            let store = control.store().clone();
            let kept = self
                .retrying(stop, self.config.max_attempts, || {
                    store.pending(&v.name, chunk)
                })
                .await??;
            if kept.is_empty() {
                control.drained(&v.name);
                continue;
            }
            let keys: Vec<Vec<crate::value::Value>> = kept.iter().map(|k| k.key.clone()).collect();
            let outcome = self
                .retrying(stop, self.config.max_attempts, || {
                    self.rebuild_kept(vi, &keys)
                })
                .await??;
            self.retrying(stop, self.config.max_attempts, || {
                store.remove_pending(&v.name, &kept)
            })
            .await??;
            tracing::info!(
                view = %v.name,
                keys = keys.len(),
                "kept triggers of a resumed single view rebuilt"
            );
            return Ok(Some(outcome));
        }
        Ok(None)
    }

    /// Rebuilds (or, in an ingest stage, publishes) kept `keys` of view `vi`, durable when it
    /// returns. The triggers were counted when they were kept.
    async fn rebuild_kept(
        &self,
        vi: usize,
        keys: &[Vec<crate::value::Value>],
    ) -> Result<super::BatchOutcome, StoreError> {
        let mut out = super::BatchOutcome::default();
        let mut events = Vec::new();
        match &self.stage {
            super::EngineStages::Ingest(sink) => {
                let triggers = vec![crate::strategy::Triggers {
                    view: vi,
                    keys: keys.to_vec(),
                }];
                // Kept keys carry no source time: their freshness is unknown.
                self.publish_triggers(sink.as_ref(), triggers, None, &[])
                    .await?;
            }
            _ => {
                self.rebuild_triggered(vi, keys, &mut out, &mut events)
                    .await?
            }
        }
        self.finish(out, events).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::shop_plan;

    fn item(target: PauseTarget) -> PauseItem {
        PauseItem {
            target,
            since_ms: 1,
            by: "t".into(),
            reason: None,
        }
    }

    #[test]
    fn what_a_stage_holds_follows_the_items() {
        let plan = shop_plan();
        let p = &plan.projections[0];
        let v = &plan.single_views[0];
        let mut s = PauseSnapshot::default();
        assert_eq!(s.held(&plan, Role::All), Held::Nothing);
        s.items.push(item(PauseTarget::Projection(p.name.clone())));
        assert_eq!(
            s.held(&plan, Role::Ingest),
            Held::Topics([p.topic.clone()].into())
        );
        // An aggregate stage reads triggers: a projection's pause is not its business.
        assert_eq!(s.held(&plan, Role::Aggregate), Held::Nothing);
        assert!(s.projection(&p.name) && !s.view(&v.name));
        s.items.push(item(PauseTarget::All));
        assert_eq!(s.held(&plan, Role::Aggregate), Held::All);
        assert!(s.projection(&plan.projections[1].name));
    }

    #[test]
    fn kept_triggers_are_drainable_only_when_their_view_and_the_process_run() {
        let mut s = PauseSnapshot::default();
        s.pending.insert("v".into(), 3);
        assert!(s.drainable());
        s.items.push(item(PauseTarget::View("v".into())));
        assert!(!s.drainable());
        s.items[0] = item(PauseTarget::All);
        assert!(!s.drainable());
        s.items.clear();
        s.pending.insert("v".into(), 0);
        assert!(!s.drainable());
    }

    #[test]
    fn targets_are_checked_against_the_plan() {
        let plan = shop_plan();
        assert!(check_target(&plan, &PauseTarget::All).is_ok());
        let p = PauseTarget::Projection(plan.projections[0].name.clone());
        assert!(check_target(&plan, &p).is_ok());
        let e = check_target(&plan, &PauseTarget::View("nope".into())).unwrap_err();
        assert!(e.contains("no single view `nope`"), "{e}");
    }
}
