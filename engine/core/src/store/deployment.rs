//! Where a store keeps the record of the deployed plan.
//!
//! In: the deployment record of the plan a run starts with (`fdc_plan::deployment`), with
//! `applied_at` and `applied_by` filled by the caller (the CLI reads who applies it; no engine
//! crate reads the environment for it). Out: the record saved earlier, if any.
//!
//! Guarantees asked of every implementation (embedded in memory and on disk, MongoDB):
//! - one record per store: a save replaces the previous one whole (MongoDB: a replace with
//!   upsert of one document by `_id`, the portable subset), durable when the call returns;
//! - a load returns exactly the record saved last, or `None` for a store that never had one;
//!   a stored record of another format is an error naming the format, never a silent `None`;
//! - the record holds names, types and fingerprints of the pipeline, no record contents.

use async_trait::async_trait;
use fdc_plan::deployment::Deployment;

use super::StoreError;

/// The deployed plan's record in a store (see the module docs).
#[async_trait]
pub trait DeploymentStore: Send + Sync {
    /// The record saved last, or `None` (nothing was ever deployed on this store).
    async fn load_deployment(&self) -> Result<Option<Deployment>, StoreError>;

    /// Replaces the stored record with `record`; durable when it returns.
    async fn save_deployment(&self, record: &Deployment) -> Result<(), StoreError>;
}

/// Reads a stored record's JSON text (what every store keeps): an unreadable record is a
/// fatal error of `load deployment record`.
pub fn decode_record(text: &str) -> Result<Deployment, StoreError> {
    Deployment::from_json(text).map_err(|e| StoreError::fatal("load deployment record", e))
}
