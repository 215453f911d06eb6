//! The trigger transport: how an ingest stage tells an aggregate stage which single views to
//! rebuild (a Kafka topic, the MongoDB projection-changes collection, or memory in one process).
//!
//! In: the trigger records of an ingest batch. Out: the same records, durable in the transport,
//! for the aggregate stage's source to read.
//!
//! Guarantees asked of every transport: [`TriggerSink::publish`] returns only when every record
//! is durable (the ingest stage commits its input behind it); records of one `(view, key)`
//! reach one aggregate owner ([`TriggerRecord::partition_key`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::value::Value;

/// "Single view `view`, key `key` must be rebuilt."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerRecord {
    pub view: String,
    pub key: Vec<Value>,
    /// Timestamp (epoch ms) of the earliest message of the ingest batch that triggered it:
    /// the aggregate measures the end-to-end latency from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_ms: Option<i64>,
    /// The newest source time (epoch ms, [`crate::change::Origin::source_ms`]) of the ingest
    /// batch's changes that feed this view: the aggregate measures the view's freshness
    /// from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ms: Option<i64>,
}

impl TriggerRecord {
    /// The bytes that partition triggers: equal for equal `(view, key)`, so one key's
    /// triggers always reach the same aggregate process.
    pub fn partition_key(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(&(&self.view, &self.key))
            .map_err(|e| StoreError::fatal("encode a trigger", e))
    }
}

/// Where an ingest process sends its triggers.
#[async_trait]
pub trait TriggerSink: Send + Sync {
    /// Returns when every trigger is durable in the transport.
    async fn publish(&self, triggers: Vec<TriggerRecord>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_records_round_trip_with_their_types() {
        let t = TriggerRecord {
            view: "v".into(),
            key: vec![Value::Int(7), Value::String("7".into())],
            origin_ms: Some(1_700_000_000_000),
            source_ms: Some(1_699_999_999_000),
        };
        let bytes = serde_json::to_vec(&t).unwrap();
        assert_eq!(serde_json::from_slice::<TriggerRecord>(&bytes).unwrap(), t);
        // The origin does not move a key to another partition.
        let same = TriggerRecord {
            view: "v".into(),
            key: vec![Value::Int(7), Value::String("7".into())],
            origin_ms: Some(1),
            source_ms: None,
        };
        assert_eq!(t.partition_key().unwrap(), same.partition_key().unwrap());
        let other = TriggerRecord {
            view: "v".into(),
            key: vec![Value::String("7".into()), Value::Int(7)],
            origin_ms: None,
            source_ms: None,
        };
        assert_ne!(t.partition_key().unwrap(), other.partition_key().unwrap());
        // Triggers without an origin (older publishers) still parse.
        let old: TriggerRecord = serde_json::from_str(r#"{"view": "v", "key": []}"#).unwrap();
        assert_eq!((old.origin_ms, old.source_ms), (None, None));
        assert!(!String::from_utf8(serde_json::to_vec(&other).unwrap())
            .unwrap()
            .contains("origin"));
    }
}
