//! The source drift of each projection in MongoDB.
//!
//! In: the [`SourceDriftStore`] calls. Out: one document per projection in
//! [`DRIFT_COLLECTION`] (`_id`: the projection's name, then the drift's fields: counts, the
//! sample of unmapped column names, the mapped columns that were missing, times in epoch
//! milliseconds); names only, never a value.
//!
//! Guarantees: the portable subset only — a merge is one `find` by `_id` with `$in` over the
//! deltas' projections, then one `update` command of replacement statements upserting by
//! `_id`, sent with the store's write concern (a write error fails the call; the caller keeps
//! its deltas for the next flush). The merge is a read then a write: two replicas flushing the
//! same projection at the same moment may lose one another's counts of that flush (the drift
//! is informational; the sample and times converge at the next flushes).

use async_trait::async_trait;
use mongodb::bson::{doc, Bson, Document};

use crate::command::Kind;
use crate::MongoStore;
use fdc_core::store::drift::merged;
use fdc_core::store::{SourceDrift, SourceDriftStore, StoreError};

/// The collection of the source drift, one document per projection.
pub const DRIFT_COLLECTION: &str = "fdc_source_drift";

fn decode(op: &str, mut d: Document) -> Result<SourceDrift, StoreError> {
    let Some(Bson::String(projection)) = d.remove("_id") else {
        return Err(StoreError::fatal(
            op,
            "a stored drift has no projection `_id`",
        ));
    };
    d.insert("projection", projection);
    let json = Bson::Document(d).into_relaxed_extjson();
    SourceDrift::from_json(&json.to_string())
}

#[async_trait]
impl SourceDriftStore for MongoStore {
    async fn load_source_drift(&self) -> Result<Vec<SourceDrift>, StoreError> {
        let op = "load source drift";
        let docs = self
            .find_all(op, DRIFT_COLLECTION, doc! {}, None, None)
            .await?;
        let mut out = docs
            .into_iter()
            .map(|d| decode(op, d))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.projection.cmp(&b.projection));
        Ok(out)
    }

    async fn merge_source_drift(&self, deltas: &[SourceDrift]) -> Result<(), StoreError> {
        let op = "save source drift";
        if deltas.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = deltas.iter().map(|d| d.projection.as_str()).collect();
        let stored = self
            .find_all(
                op,
                DRIFT_COLLECTION,
                doc! { "_id": { "$in": ids } },
                None,
                None,
            )
            .await?
            .into_iter()
            .map(|d| decode(op, d))
            .collect::<Result<Vec<_>, _>>()?;
        let mut statements = Vec::with_capacity(deltas.len());
        for delta in deltas {
            let before = stored
                .iter()
                .find(|s| s.projection == delta.projection)
                .cloned();
            let drift = merged(before, delta);
            let mut replacement = mongodb::bson::to_document(&drift)
                .map_err(|e| StoreError::fatal(op, format!("cannot encode the drift: {e}")))?;
            replacement.insert("_id", drift.projection.as_str());
            statements.push(doc! {
                "q": { "_id": drift.projection.as_str() },
                "u": replacement,
                "upsert": true,
            });
        }
        self.write(op, Kind::Update, DRIFT_COLLECTION, statements)
            .await
            .map(|_| ())
    }
}
