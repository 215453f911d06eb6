//! Freshness: how old the newest source change reflected in each single view (and in each
//! stage's output) is, and which input holds a view back.
//!
//! In: per durable batch, a [`BatchFreshness`] (the newest source time, [`Origin::source_ms`],
//! of the changes each stage wrote, and per single view the newest source time of the changes
//! of its input projections and whether the view was rebuilt), the write time; at read time,
//! the lag per partition. Out: per view a [`ViewFreshness`] (histogram of the age at write,
//! how far behind the view is now, the input holding it back), per stage a
//! [`StageFreshness`].
//!
//! Definitions (docs/operations.md, "Freshness and lag"):
//! - a view's *inputs* are the projections whose strategies trigger it (the root included);
//! - at each batch that rebuilt view V, the age of the newest source change of V's inputs in
//!   that batch (write time minus source time) is observed in V's histogram;
//! - V is *held back by* the input whose topic has the largest lag (unconsumed messages,
//!   summed over its partitions; ties: the first input in declaration order); no input with a
//!   lag: V is caught up, 0 s behind;
//! - when held back, V is *behind* by now minus the newest source time it reflects (unknown
//!   until its inputs' first change).
//!
//! Guarantees: observing locks one short mutex per durable batch, never per message; names
//! come from the plan only, never from input.
//!
//! [`Origin::source_ms`]: crate::change::Origin::source_ms

use std::collections::BTreeMap;
use std::sync::Mutex;

use fdc_plan::Plan;
use serde::Serialize;

use super::histogram::{Histogram, HistogramSnapshot, SECONDS_BUCKETS};
use crate::source::PartitionLag;

/// A stage of the pipeline, as `/status` and the `stage` label of `/metrics` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Source messages to projection records (the input topics' consumer).
    Ingest,
    /// The trigger transport between split roles (its consumer is the aggregate stage's).
    Triggers,
    /// Triggers to single-view documents.
    Aggregate,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 3] = [Stage::Ingest, Stage::Triggers, Stage::Aggregate];

    /// The stage's name (`ingest`, `triggers`, `aggregate`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Triggers => "triggers",
            Stage::Aggregate => "aggregate",
        }
    }
}

/// What one batch made fresh (see the module docs); empty for a batch without timestamps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchFreshness {
    /// Newest source time of the changes written to projections.
    pub ingest: Option<i64>,
    /// Newest publication time of the trigger records consumed (an aggregate stage).
    pub triggers: Option<i64>,
    /// Per single view (plan index): the newest source time of its inputs' changes, and
    /// whether the batch rebuilt the view.
    pub views: Vec<(usize, i64, bool)>,
}

impl BatchFreshness {
    /// Adds `other` (a part of the same batch, written message by message).
    pub fn merge(&mut self, other: BatchFreshness) {
        self.ingest = newest(self.ingest, other.ingest);
        self.triggers = newest(self.triggers, other.triggers);
        for (view, ms, written) in other.views {
            match self.views.iter_mut().find(|v| v.0 == view) {
                Some(v) => {
                    v.1 = v.1.max(ms);
                    v.2 |= written;
                }
                None => self.views.push((view, ms, written)),
            }
        }
    }

    /// Records that view `view` reflects changes up to `source_ms` (rebuilt or not).
    pub fn view(&mut self, view: usize, source_ms: Option<i64>, written: bool) {
        if let Some(ms) = source_ms {
            self.merge(BatchFreshness {
                views: vec![(view, ms, written)],
                ..BatchFreshness::default()
            });
        }
    }
}

/// The later of two optional times.
pub fn newest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Per single view (plan index), the indices of its input projections (those whose
/// strategies trigger it), in declaration order.
pub fn view_inputs(plan: &Plan) -> Vec<Vec<usize>> {
    plan.single_views
        .iter()
        .map(|v| {
            let mut inputs: Vec<usize> = v
                .strategies
                .iter()
                .filter_map(|s| plan.projections.iter().position(|p| p.name == s.projection))
                .collect();
            inputs.sort_unstable();
            inputs.dedup();
            inputs
        })
        .collect()
}

/// An input of a view: a projection and its topic (as the plan names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ViewInput {
    pub projection: String,
    pub topic: String,
}

/// The input whose backlog holds a view back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldBack {
    pub projection: String,
    pub topic: String,
    /// Unconsumed messages of the topic (summed over its partitions).
    pub lag: i64,
}

/// The freshness of one single view at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewFreshness {
    pub view: String,
    /// The newest source time (epoch ms) of a change the view reflects.
    pub newest_source_ms: Option<i64>,
    /// When the view was last rebuilt (epoch ms).
    pub last_write_ms: Option<i64>,
    /// How far behind the view is now: 0 when no input has a lag; `None` when unknown (held
    /// back, and no change of its inputs seen yet).
    pub behind_seconds: Option<f64>,
    pub held_back_by: Option<HeldBack>,
    /// Age of the newest source change at each rebuild of the view.
    pub freshness_seconds: HistogramSnapshot,
}

/// The freshness of one stage at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageFreshness {
    pub stage: &'static str,
    /// The newest source (for `triggers`: publication) time written by the stage (epoch ms).
    pub newest_source_ms: Option<i64>,
    /// Age of that newest time at each durable batch of the stage.
    pub freshness_seconds: HistogramSnapshot,
}

#[derive(Debug)]
struct ViewState {
    inputs: Vec<ViewInput>,
    newest_source_ms: Option<i64>,
    last_write_ms: Option<i64>,
    histogram: Histogram,
}

#[derive(Debug)]
struct StageState {
    newest_source_ms: Option<i64>,
    histogram: Histogram,
}

/// The freshness gauges (see the module docs).
#[derive(Debug, Default)]
pub struct Freshness {
    /// By view name, in plan order once [`Freshness::know_plan`] ran.
    views: Mutex<Vec<(String, ViewState)>>,
    stages: Mutex<BTreeMap<Stage, StageState>>,
}

fn seconds(now_ms: i64, then_ms: i64) -> f64 {
    (now_ms - then_ms).max(0) as f64 / 1000.0
}

impl Freshness {
    /// Learns the plan's views and their inputs (idempotent: a second stage of the same
    /// process shares the gauges).
    pub fn know_plan(&self, plan: &Plan) {
        let Ok(mut views) = self.views.lock() else {
            return;
        };
        for (v, inputs) in plan.single_views.iter().zip(view_inputs(plan)) {
            if views.iter().any(|(name, _)| *name == v.name) {
                continue;
            }
            let inputs = inputs
                .into_iter()
                .filter_map(|i| plan.projections.get(i))
                .map(|p| ViewInput {
                    projection: p.name.clone(),
                    topic: p.topic.clone(),
                })
                .collect();
            views.push((
                v.name.clone(),
                ViewState {
                    inputs,
                    newest_source_ms: None,
                    last_write_ms: None,
                    histogram: Histogram::new(SECONDS_BUCKETS),
                },
            ));
        }
    }

    /// A batch of `plan` became durable at `now_ms` (epoch ms), having made `fresh` fresh;
    /// `stages` are the stages the batch ran.
    pub fn batch_durable(&self, plan: &Plan, fresh: &BatchFreshness, now_ms: i64) {
        if let Ok(mut stages) = self.stages.lock() {
            let aggregate = fresh.views.iter().filter(|v| v.2).map(|v| v.1).max();
            for (stage, ms) in [
                (Stage::Ingest, fresh.ingest),
                (Stage::Triggers, fresh.triggers),
                (Stage::Aggregate, aggregate),
            ] {
                let Some(ms) = ms else { continue };
                let s = stages.entry(stage).or_insert_with(|| StageState {
                    newest_source_ms: None,
                    histogram: Histogram::new(SECONDS_BUCKETS),
                });
                s.newest_source_ms = newest(s.newest_source_ms, Some(ms));
                s.histogram.observe(seconds(now_ms, ms));
            }
        }
        if fresh.views.is_empty() {
            return;
        }
        let Ok(mut views) = self.views.lock() else {
            return;
        };
        for (vi, ms, written) in &fresh.views {
            let Some(name) = plan.single_views.get(*vi).map(|v| v.name.as_str()) else {
                continue;
            };
            let Some((_, state)) = views.iter_mut().find(|(n, _)| n == name) else {
                continue;
            };
            state.newest_source_ms = newest(state.newest_source_ms, Some(*ms));
            if *written {
                state.last_write_ms = Some(now_ms);
                state.histogram.observe(seconds(now_ms, *ms));
            }
        }
    }

    /// Every view's freshness at `now_ms`, given the lag per partition (`lag`: the group's
    /// when known, else this member's).
    pub fn views(&self, lag: &[PartitionLag], now_ms: i64) -> Vec<ViewFreshness> {
        let mut per_topic: BTreeMap<&str, i64> = BTreeMap::new();
        for l in lag {
            *per_topic.entry(l.topic.as_str()).or_default() += l.lag.max(0);
        }
        let Ok(views) = self.views.lock() else {
            return Vec::new();
        };
        views
            .iter()
            .map(|(name, s)| {
                let mut held_back_by: Option<HeldBack> = None;
                for input in &s.inputs {
                    let lag = per_topic.get(input.topic.as_str()).copied().unwrap_or(0);
                    if lag > 0 && held_back_by.as_ref().is_none_or(|h| lag > h.lag) {
                        held_back_by = Some(HeldBack {
                            projection: input.projection.clone(),
                            topic: input.topic.clone(),
                            lag,
                        });
                    }
                }
                let behind_seconds = match (&held_back_by, s.newest_source_ms) {
                    (None, _) => Some(0.0),
                    (Some(_), Some(ms)) => Some(seconds(now_ms, ms)),
                    (Some(_), None) => None,
                };
                ViewFreshness {
                    view: name.clone(),
                    newest_source_ms: s.newest_source_ms,
                    last_write_ms: s.last_write_ms,
                    behind_seconds,
                    held_back_by,
                    freshness_seconds: s.histogram.snapshot(),
                }
            })
            .collect()
    }

    /// The stages that wrote something so far, in pipeline order.
    pub fn stages(&self) -> Vec<StageFreshness> {
        let Ok(stages) = self.stages.lock() else {
            return Vec::new();
        };
        stages
            .iter()
            .map(|(stage, s)| StageFreshness {
                stage: stage.name(),
                newest_source_ms: s.newest_source_ms,
                freshness_seconds: s.histogram.snapshot(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::shop_plan;

    fn lag(topic: &str, partition: i32, lag: i64) -> PartitionLag {
        PartitionLag {
            topic: topic.into(),
            partition,
            lag,
        }
    }

    #[test]
    fn a_rebuilt_view_observes_the_age_of_its_newest_input_change() {
        let plan = shop_plan();
        let f = Freshness::default();
        f.know_plan(&plan);
        f.know_plan(&plan);
        let mut batch = BatchFreshness::default();
        batch.view(0, Some(10_000), true);
        batch.view(0, Some(12_000), false);
        batch.view(0, None, true);
        batch.ingest = Some(12_000);
        f.batch_durable(&plan, &batch, 42_000);
        let views = f.views(&[], 50_000);
        assert_eq!(views.len(), plan.single_views.len());
        let v = &views[0];
        assert_eq!(v.view, plan.single_views[0].name);
        assert_eq!(v.newest_source_ms, Some(12_000));
        assert_eq!(v.last_write_ms, Some(42_000));
        assert_eq!(v.freshness_seconds.count, 1);
        assert!((v.freshness_seconds.sum - 30.0).abs() < 1e-9);
        assert_eq!((v.behind_seconds, &v.held_back_by), (Some(0.0), &None));
        let stages = f.stages();
        assert_eq!(stages.len(), 2, "{stages:?}");
        assert_eq!((stages[0].stage, stages[1].stage), ("ingest", "aggregate"));
        assert!((stages[1].freshness_seconds.sum - 30.0).abs() < 1e-9);
    }

    #[test]
    fn the_input_with_the_largest_lag_holds_the_view_back() {
        let plan = shop_plan();
        let inputs = &view_inputs(&plan)[0];
        assert!(inputs.len() >= 2, "the shop view has several inputs");
        let first = &plan.projections[inputs[0]];
        let second = &plan.projections[inputs[1]];
        let f = Freshness::default();
        f.know_plan(&plan);
        // Never written, but held back: how far behind is unknown.
        let v = &f.views(&[lag(&first.topic, 0, 5)], 1_000)[0];
        assert_eq!(v.behind_seconds, None);
        assert_eq!(v.held_back_by.as_ref().map(|h| h.lag), Some(5));
        let mut batch = BatchFreshness::default();
        batch.view(0, Some(1_000), true);
        f.batch_durable(&plan, &batch, 2_000);
        let lags = [
            lag(&first.topic, 0, 5),
            lag(&second.topic, 0, 4),
            lag(&second.topic, 1, 3),
            lag("unrelated", 0, 100),
        ];
        let v = &f.views(&lags, 5_200)[0];
        assert_eq!(
            v.held_back_by,
            Some(HeldBack {
                projection: second.name.clone(),
                topic: second.topic.clone(),
                lag: 7
            })
        );
        assert_eq!(v.behind_seconds, Some(4.2));
    }
}
