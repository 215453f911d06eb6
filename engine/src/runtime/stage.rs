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

use super::{Engine, MessageRouter};
use crate::change::{Message, MessageOutcome};
use crate::store::StoreError;
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

/// The router of an aggregate stage: decodes each trigger record on the reader's side of the
/// read-ahead channel, like any message, into [`MessageOutcome::Trigger`], or a dead letter with the
/// reason when it is not a trigger record or names a view the plan does not have.
pub struct TriggerRouter {
    /// The plan's single views, by index.
    views: Vec<String>,
}

impl TriggerRouter {
    pub fn new(plan: &fdc_plan::Plan) -> TriggerRouter {
        TriggerRouter {
            views: plan.single_views.iter().map(|v| v.name.clone()).collect(),
        }
    }

    fn decode(&self, message: &Message) -> Result<MessageOutcome, String> {
        let value = message
            .value
            .as_deref()
            .ok_or_else(|| "a trigger record without a value".to_string())?;
        let t = serde_json::from_slice::<TriggerRecord>(value)
            .map_err(|e| format!("not a trigger record ({:?})", e.classify()))?;
        let view = self
            .views
            .iter()
            .position(|v| *v == t.view)
            .ok_or_else(|| "a trigger of a single view this pipeline does not have".to_string())?;
        Ok(MessageOutcome::Trigger {
            view,
            key: t.key,
            origin_ms: t.origin_ms,
            source_ms: t.source_ms,
        })
    }
}

impl MessageRouter for TriggerRouter {
    fn route(&self, message: &Message) -> Vec<MessageOutcome> {
        vec![self
            .decode(message)
            .unwrap_or_else(|reason| MessageOutcome::DeadLetter {
                projection: None,
                reason,
            })]
    }
}

impl Engine {
    /// Publishes the triggers of an ingest batch instead of rebuilding.
    pub(super) async fn publish_triggers(
        &self,
        sink: &dyn TriggerSink,
        triggers: Vec<crate::strategy::Triggers>,
        origin_ms: Option<i64>,
        view_source: &[Option<i64>],
    ) -> Result<u64, StoreError> {
        let mut records = Vec::new();
        for t in triggers {
            let view = &self.plan.single_views[t.view].name;
            let source_ms = view_source.get(t.view).copied().flatten();
            for key in t.keys {
                records.push(TriggerRecord {
                    view: view.clone(),
                    key,
                    origin_ms,
                    source_ms,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::shop_plan;
    use crate::value::Value;

    fn message(value: Option<&str>) -> Message {
        Message {
            topic: "fdc.triggers".into(),
            partition: 0,
            offset: 7,
            key: None,
            value: value.map(|v| v.as_bytes().to_vec()),
            timestamp: Some(5),
            headers: Vec::new(),
        }
    }

    #[test]
    fn the_trigger_router_decodes_trigger_records_and_dead_letters_the_rest() {
        let plan = shop_plan();
        let router = TriggerRouter::new(&plan);
        let view = plan.single_views[0].name.clone();
        let record = serde_json::to_string(&TriggerRecord {
            view,
            key: vec![Value::Int(1)],
            origin_ms: Some(3),
            source_ms: Some(2),
        })
        .unwrap();
        assert_eq!(
            router.route(&message(Some(&record))),
            vec![MessageOutcome::Trigger {
                view: 0,
                key: vec![Value::Int(1)],
                origin_ms: Some(3),
                source_ms: Some(2),
            }]
        );
        let reason = |value: Option<&str>| match router.route(&message(value)).as_slice() {
            [MessageOutcome::DeadLetter {
                projection: None,
                reason,
            }] => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(None), "a trigger record without a value");
        assert!(reason(Some("not json")).starts_with("not a trigger record"));
        assert_eq!(
            reason(Some(r#"{"view": "nope", "key": []}"#)),
            "a trigger of a single view this pipeline does not have"
        );
    }
}
