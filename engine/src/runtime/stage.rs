//! Split roles: which stages of the pipeline one process runs, and the single-view triggers
//! that travel between an ingest process and an aggregate process.
//!
//! In: a [`Role`] (`all`: both stages; `ingest`: projections and strategies, triggers
//! published; `aggregate`: triggers consumed, single views rebuilt) and, for `ingest`, a
//! [`TriggerSink`]. Out: for `ingest`, one [`TriggerRecord`] per single-view key a batch
//! triggered, published before the batch's offsets are committed; for `aggregate`, the single
//! views of the consumed triggers rebuilt from the projections.
//!
//! Guarantees: a trigger is published (and acknowledged) only after the projection writes that
//! caused it are durable, so the aggregate reads them; triggers carry the key's typed values
//! (the serde form of [`crate::value::Value`]), so the aggregate rebuilds exactly the key the strategy found;
//! the aggregate de-duplicates keys per batch; a record that is not a trigger, or names a view
//! the plan does not have, is dead-lettered with the reason. Rebuilding is idempotent, so a
//! re-delivered trigger costs a rebuild and changes nothing.

use super::{BatchOutcome, Engine, Route, RoutedBatch};
use crate::change::{Ingested, Message};
use crate::store::raw_json;
use crate::store::{DeadLetter, StoreError};
use crate::strategy::KeySet;
use crate::trigger::{TriggerRecord, TriggerSink};

/// Which stages a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Ingestion and aggregation in one process (triggers stay in memory).
    #[default]
    All,
    /// Projections and strategies; triggers published to the trigger transport.
    Ingest,
    /// Triggers consumed; single views rebuilt.
    Aggregate,
}

impl Role {
    /// The role's name (`all`, `ingest`, `aggregate`).
    pub fn name(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Ingest => "ingest",
            Role::Aggregate => "aggregate",
        }
    }
}

/// The router of an aggregate process: trigger records are not source messages, the engine
/// reads them itself.
pub struct TriggerRoute;

impl Route for TriggerRoute {
    fn route(&self, _message: &Message) -> Vec<Ingested> {
        Vec::new()
    }
}

impl Engine {
    /// The aggregate stage of one batch of trigger records.
    pub(super) async fn aggregate_batch(
        &self,
        batch: &RoutedBatch,
    ) -> Result<BatchOutcome, StoreError> {
        let plan = &*self.plan;
        let mut out = BatchOutcome::default();
        out.counts.consumed = (batch.messages.len() + batch.malformed.len()) as u64;
        out.dead_letters.extend(batch.malformed.iter().cloned());
        let mut per_view: Vec<KeySet> = plan
            .single_views
            .iter()
            .map(|_| KeySet::default())
            .collect();
        for r in &batch.messages {
            let m = &r.message;
            let parsed = m
                .value
                .as_deref()
                .ok_or_else(|| "a trigger record without a value".to_string())
                .and_then(|v| {
                    serde_json::from_slice::<TriggerRecord>(v)
                        .map_err(|e| format!("not a trigger record ({:?})", e.classify()))
                })
                .and_then(|t| {
                    plan.single_views
                        .iter()
                        .position(|v| v.name == t.view)
                        .map(|vi| (vi, t.key, t.origin_ms))
                        .ok_or_else(|| {
                            "a trigger of a single view this pipeline does not have".to_string()
                        })
                });
            match parsed {
                Ok((vi, key, origin)) => {
                    if let Some(set) = per_view.get_mut(vi) {
                        set.add(key);
                    }
                    // Measured from the original message, else from the trigger's publication.
                    if let Some(ts) = origin.or(m.timestamp) {
                        out.origins.push(ts);
                    }
                }
                Err(reason) => out.dead_letters.push(DeadLetter {
                    topic: m.topic.clone(),
                    partition: m.partition,
                    offset: m.offset,
                    key: raw_json(m.key.as_deref()),
                    value: raw_json(m.value.as_deref()),
                    reason,
                    projection: None,
                    original: Some(crate::store::Original {
                        key: m.key.clone(),
                        value: m.value.clone(),
                    }),
                }),
            }
        }
        let mut events = Vec::new();
        for (vi, set) in per_view.into_iter().enumerate() {
            let keys = set.into_keys();
            if !self.triggers_counted_elsewhere {
                out.counts.triggered += keys.len() as u64;
            }
            self.rebuild_triggered(vi, &keys, &mut out, &mut events)
                .await?;
        }
        self.finish(out, events).await
    }

    /// Publishes the triggers of an ingest batch instead of rebuilding.
    pub(super) async fn publish_triggers(
        &self,
        sink: &dyn TriggerSink,
        triggers: Vec<crate::strategy::Triggers>,
        origin_ms: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut records = Vec::new();
        for t in triggers {
            let view = &self.plan.single_views[t.view].name;
            for key in t.keys {
                records.push(TriggerRecord {
                    view: view.clone(),
                    key,
                    origin_ms,
                });
            }
        }
        let n = records.len() as u64;
        if !records.is_empty() {
            sink.publish(records).await?;
        }
        Ok(n)
    }
}
