//! The deployed plan's record in MongoDB, and the document counts of `fdc plan`'s estimates.
//!
//! In: a deployment record (`fdc_plan::deployment`) to save, or a load. Out: one document in
//! the collection [`DEPLOYMENT_COLLECTION`] with `_id: "current"` and the record's fields;
//! collection counts for cost estimates.
//!
//! Guarantees: the portable subset only — the save is one `update` command with one
//! replacement statement upserting by `_id`, sent with the store's write concern (an
//! unsatisfied write concern or a write error is an error, the save is not assumed); the load
//! is one `find` by `_id`; counts are estimated document counts (collection metadata, no
//! scan), as a refresh's progress uses. A stored record of another format is an error naming the
//! format.

use async_trait::async_trait;
use mongodb::bson::{doc, Bson, Document, RawBson, RawDocumentBuf};

use crate::error::from_driver;
use crate::MongoStore;
use fdc_core::store::deployment::decode_record;
use fdc_core::store::{DeploymentStore, StoreError};
use fdc_plan::deployment::Deployment;

/// The collection that holds the deployment record.
pub const DEPLOYMENT_COLLECTION: &str = "fdc_deployment";

/// The `_id` of the one record document.
const RECORD_ID: &str = "current";

#[async_trait]
impl DeploymentStore for MongoStore {
    async fn load_deployment(&self) -> Result<Option<Deployment>, StoreError> {
        let op = "load deployment record";
        let docs = self
            .find_all(
                op,
                DEPLOYMENT_COLLECTION,
                doc! { "_id": RECORD_ID },
                None,
                None,
            )
            .await?;
        let Some(mut stored) = docs.into_iter().next() else {
            return Ok(None);
        };
        stored.remove("_id");
        let json = Bson::Document(stored).into_relaxed_extjson();
        decode_record(&json.to_string()).map(Some)
    }

    async fn save_deployment(&self, record: &Deployment) -> Result<(), StoreError> {
        let op = "save deployment record";
        let mut replacement = mongodb::bson::to_document(record)
            .map_err(|e| StoreError::fatal(op, format!("cannot encode the record: {e}")))?;
        replacement.insert("_id", RECORD_ID);
        let statement = doc! { "q": { "_id": RECORD_ID }, "u": replacement, "upsert": true };
        let mut cmd = RawDocumentBuf::new();
        cmd.append("update", DEPLOYMENT_COLLECTION);
        let statements = raw(&doc! { "s": [statement] }, op)?;
        let list = statements
            .get("s")
            .ok()
            .flatten()
            .map(|b| b.to_raw_bson())
            .ok_or_else(|| StoreError::fatal(op, "the statement could not be encoded"))?;
        cmd.append("updates", list);
        cmd.append("ordered", true);
        cmd.append(
            "writeConcern",
            RawBson::Document(raw(&self.write_concern, op)?),
        );
        let reply = self
            .db
            .run_raw_command(cmd)
            .await
            .map_err(|e| from_driver(op, &e))?;
        if reply.get_document("writeConcernError").is_ok() {
            return Err(StoreError::retryable(op, "write concern not satisfied"));
        }
        if reply.get_array("writeErrors").is_ok() {
            return Err(StoreError::fatal(op, "the server refused the record"));
        }
        Ok(())
    }
}

fn raw(document: &Document, op: &str) -> Result<RawDocumentBuf, StoreError> {
    RawDocumentBuf::from_document(document)
        .map_err(|_| StoreError::fatal(op, "the command could not be encoded"))
}

impl MongoStore {
    /// The estimated document count of `collection` (metadata, no scan), as the projection
    /// count of a refresh's progress.
    pub(crate) async fn count_collection(
        &self,
        op: &str,
        collection: &str,
    ) -> Result<Option<u64>, StoreError> {
        let n = self
            .db
            .collection::<Document>(collection)
            .estimated_document_count()
            .await
            .map_err(|e| from_driver(op, &e))?;
        Ok(Some(n))
    }
}
