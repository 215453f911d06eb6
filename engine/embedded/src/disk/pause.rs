//! The pause state and a paused view's pending triggers on disk.
//!
//! In: the [`fdc_core::store::PauseStore`] calls of [`crate::EmbeddedStore`]. Out: the items
//! and pending keys, in redb.
//!
//! Also the source drift (`fdc_core::store::drift`), kept the same way as the pause items.
//!
//! Layout: `pauses`: target id -> the item's JSON text; `source_drift`: projection -> its
//! drift's JSON text; `pending/<view>`: encoded view key ->
//! postcard of `(key, stamp)`. Guarantees: a pause item is saved or removed with an immediate
//! commit (durable when the call returns, as the deployment record); pending keys are data
//! commits, durable at the engine's per-batch sync, before the batch's positions are committed.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::tables::{err, open_read, BytesDef};
use super::DiskStore;
use fdc_core::store::{key, PendingKey, SourceDrift, StoreError};
use fdc_core::value::Value;

const PAUSES: TableDefinition<&str, &str> = TableDefinition::new("pauses");
const DRIFT: TableDefinition<&str, &str> = TableDefinition::new("source_drift");

fn pending_table(view: &str) -> String {
    format!("pending/{view}")
}

impl DiskStore {
    /// The stored source drift (JSON text), by projection.
    pub fn load_drift(&self) -> Result<Vec<String>, StoreError> {
        self.texts("load source drift", DRIFT)
    }

    /// Every value (JSON text) of the text table `table`, in key order; none when it was
    /// never written.
    fn texts(
        &self,
        op: &str,
        table: redb::TableDefinition<'static, &'static str, &'static str>,
    ) -> Result<Vec<String>, StoreError> {
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let Some(t) = open_read(&txn, table, op)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            out.push(v.value().to_owned());
        }
        Ok(out)
    }

    /// Merges `deltas` into the stored source drift in one immediate commit (durable when
    /// the call returns, like the pause state).
    pub fn merge_drift(&self, deltas: &[SourceDrift]) -> Result<(), StoreError> {
        let op = "save source drift";
        let _state = self.write_state(op)?;
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        {
            let mut t = txn.open_table(DRIFT).map_err(|e| err(op, e))?;
            for d in deltas {
                let stored = match t.get(d.projection.as_str()).map_err(|e| err(op, e))? {
                    Some(v) => Some(SourceDrift::from_json(v.value())?),
                    None => None,
                };
                let merged = fdc_core::store::drift::merged(stored, d).to_json();
                t.insert(d.projection.as_str(), merged.as_str())
                    .map_err(|e| err(op, e))?;
            }
        }
        txn.commit().map_err(|e| err(op, e))?;
        self.pending
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    pub fn load_pauses(&self) -> Result<Vec<String>, StoreError> {
        self.texts("load pause state", PAUSES)
    }

    /// Saves (`Some`) or removes (`None`) the item `id`; whether one was stored before.
    pub fn put_pause(&self, id: &str, json: Option<&str>) -> Result<bool, StoreError> {
        let op = "save pause state";
        let _state = self.write_state(op)?;
        // Immediate (fsync): the state is durable when the call returns.
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        let existed = {
            let mut t = txn.open_table(PAUSES).map_err(|e| err(op, e))?;
            let before = match json {
                Some(j) => t.insert(id, j).map_err(|e| err(op, e))?.is_some(),
                None => t.remove(id).map_err(|e| err(op, e))?.is_some(),
            };
            before
        };
        txn.commit().map_err(|e| err(op, e))?;
        self.pending
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(existed)
    }

    pub fn keep_pending(
        &self,
        view: &str,
        keys: &[Vec<Value>],
        stamp: i64,
    ) -> Result<(), StoreError> {
        let op = "keep pending triggers";
        let _state = self.write_state(op)?;
        let name = pending_table(view);
        let txn = self.data_txn(op)?;
        {
            let mut t = txn
                .open_table(BytesDef::new(&name))
                .map_err(|e| err(op, e))?;
            for k in keys {
                let Some(encoded) = key::encode(k) else {
                    return Err(StoreError::fatal(op, "a single-view key field is null"));
                };
                let value = postcard::to_stdvec(&(k, stamp)).map_err(|e| err(op, e))?;
                t.insert(encoded.as_slice(), value.as_slice())
                    .map_err(|e| err(op, e))?;
            }
        }
        txn.commit().map_err(|e| err(op, e))
    }

    pub fn pending(&self, view: &str, limit: usize) -> Result<Vec<PendingKey>, StoreError> {
        let op = "read pending triggers";
        let _state = self.read_state(op)?;
        let name = pending_table(view);
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let Some(t) = open_read(&txn, BytesDef::new(&name), op)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| err(op, e))?.take(limit) {
            let (_, v) = row.map_err(|e| err(op, e))?;
            let (key, stamp): (Vec<Value>, i64) =
                postcard::from_bytes(v.value()).map_err(|e| err(op, e))?;
            out.push(PendingKey { key, stamp });
        }
        Ok(out)
    }

    pub fn remove_pending(&self, view: &str, keys: &[PendingKey]) -> Result<(), StoreError> {
        let op = "remove pending triggers";
        let _state = self.write_state(op)?;
        let name = pending_table(view);
        let txn = self.data_txn(op)?;
        {
            let mut t = txn
                .open_table(BytesDef::new(&name))
                .map_err(|e| err(op, e))?;
            for k in keys {
                let Some(encoded) = key::encode(&k.key) else {
                    continue;
                };
                let current = match t.get(encoded.as_slice()).map_err(|e| err(op, e))? {
                    Some(v) => {
                        let (_, stamp): (Vec<Value>, i64) =
                            postcard::from_bytes(v.value()).map_err(|e| err(op, e))?;
                        Some(stamp)
                    }
                    None => None,
                };
                if current == Some(k.stamp) {
                    t.remove(encoded.as_slice()).map_err(|e| err(op, e))?;
                }
            }
        }
        txn.commit().map_err(|e| err(op, e))
    }

    pub fn count_pending(&self, view: &str) -> Result<u64, StoreError> {
        let op = "count pending triggers";
        let _state = self.read_state(op)?;
        let name = pending_table(view);
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        Ok(match open_read(&txn, BytesDef::new(&name), op)? {
            Some(t) => t.len().map_err(|e| err(op, e))?,
            None => 0,
        })
    }
}
