//! The in-memory backend of the embedded store: projections (hash indexes, shared records),
//! single views, failures, dead letters and checkpoints in memory, nothing on disk.
//!
//! In: the store calls of [`super::EmbeddedStore`] (shared results; the store turns them into
//! owned ones where a trait asks). Out: the same answers a MongoDB deployment gives.
//!
//! Guarantees: every call is atomic with respect to the others (one lock); a stored record or
//! document is never mutated in place (a write replaces its `Arc`). Memory grows with the data
//! set: a store opened on a directory uses the disk-resident backend (`disk/`) instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use fdc_plan::WriteMode;

use super::table::Table;
use super::{first_page, poisoned, Keyed};
use fdc_core::store::{
    key, FindIn, Page, PendingKey, ProjectionLayout, Record, RecordWrite, StoreError, ViewWrite,
    WriteOutcome,
};
use fdc_core::value::{Map, Value};

/// A stored single-view document (shared, never mutated in place) with its key.
type Doc = (Vec<Value>, Arc<Map>);
/// A single view's documents by encoded key.
type ViewTable = BTreeMap<Vec<u8>, Doc>;

#[derive(Default)]
struct Inner {
    projections: HashMap<String, Table>,
    views: HashMap<String, ViewTable>,
    dead_letters: Vec<serde_json::Value>,
    failures: Vec<serde_json::Value>,
    checkpoints: HashMap<String, i64>,
    /// The deployed plan's record (JSON text), as the disk store keeps it.
    deployment: Option<String>,
    /// Pause items by target id (JSON text), and per view its pending keys (encoded key ->
    /// key and stamp).
    pauses: BTreeMap<String, String>,
    pending: HashMap<String, PendingTable>,
    /// Source drift by projection (JSON text), as the disk store keeps it.
    drift: BTreeMap<String, String>,
}

/// A paused view's kept keys: encoded key -> key and stamp.
type PendingTable = BTreeMap<Vec<u8>, (Vec<Value>, i64)>;

/// The in-memory backend (see the module docs).
#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

fn page<S, T: Keyed>(
    map: &BTreeMap<Vec<u8>, S>,
    after: Option<&[Value]>,
    limit: usize,
    item: impl Fn(&S) -> T,
) -> Page<T> {
    use std::ops::Bound;
    let start = match after.and_then(key::encode) {
        Some(k) => Bound::Excluded(k),
        None => Bound::Unbounded,
    };
    let items = map
        .range((start, Bound::Unbounded))
        .take(limit)
        .map(|(_, v)| item(v))
        .collect();
    first_page(items, limit)
}

impl MemoryStore {
    fn read(&self, op: &str) -> Result<RwLockReadGuard<'_, Inner>, StoreError> {
        self.inner.read().map_err(|_| poisoned(op))
    }

    fn write_lock(&self, op: &str) -> Result<RwLockWriteGuard<'_, Inner>, StoreError> {
        self.inner.write().map_err(|_| poisoned(op))
    }

    pub fn dead_letters(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(self.read("read dead letters")?.dead_letters.clone())
    }

    pub fn view_failures(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(self.read("read view failures")?.failures.clone())
    }

    pub fn projection_names(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .read("list projections")?
            .projections
            .keys()
            .cloned()
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn all_records(&self, projection: &str) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .read("read projection")?
            .projections
            .get(projection)
            .map(|t| t.records().map(|r| Record::clone(r)).collect())
            .unwrap_or_default())
    }

    pub fn all_documents(&self, view: &str) -> Result<Vec<(Vec<Value>, Map)>, StoreError> {
        Ok(self
            .read("read single view")?
            .views
            .get(view)
            .map(|t| {
                t.values()
                    .map(|(k, d)| (k.clone(), Map::clone(d)))
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        let mut inner = self.write_lock("ensure projection")?;
        let table = inner.projections.entry(layout.name.clone()).or_default();
        table.set_layout(layout)
    }

    pub fn records(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Record>>>, StoreError> {
        let inner = self.read("read projection")?;
        let Some(table) = inner.projections.get(projection) else {
            return Ok(vec![None; keys.len()]);
        };
        Ok(keys
            .iter()
            .map(|k| key::encode(k).and_then(|k| table.get(&k).cloned()))
            .collect())
    }

    pub fn find(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Arc<Record>>, StoreError> {
        let inner = self.read("query projection")?;
        Ok(inner
            .projections
            .get(projection)
            .map(|t| t.find_in(query))
            .unwrap_or_default())
    }

    pub fn write_records(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let op = "write projection";
        let mut inner = self.write_lock(op)?;
        let table = inner.projections.entry(projection.to_owned()).or_default();
        // Decide every outcome first (version guard, unique indexes), then apply.
        let uniques = table.unique_fields();
        let planned = {
            let table = &*table;
            super::unique::plan(
                projection,
                writes,
                &uniques,
                op,
                |pk| Ok(table.get(pk).cloned()),
                |i, k| Ok(table.unique_holder(i, k).cloned()),
            )?
        };
        for t in planned.touched {
            match t.new {
                Some(Some(r)) => table.put(t.pk, r),
                Some(None) => table.remove(&t.pk),
                None => {}
            }
        }
        match planned.refused {
            Some(e) => Err(e),
            None => Ok(planned.outcomes),
        }
    }

    pub fn count(&self, projection: &str) -> Result<u64, StoreError> {
        let inner = self.read("count projection")?;
        Ok(inner
            .projections
            .get(projection)
            .map_or(0, |t| t.by_key().len() as u64))
    }

    pub fn scan_records(
        &self,
        projection: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Record>, StoreError> {
        let inner = self.read("scan projection")?;
        Ok(match inner.projections.get(projection) {
            Some(t) => page(t.by_key(), after, limit, |r| Record::clone(r)),
            None => first_page(vec![], limit),
        })
    }

    pub fn drop_index(&self, projection: &str, fields: &[String]) -> Result<(), StoreError> {
        let mut inner = self.write_lock("drop index")?;
        if let Some(table) = inner.projections.get_mut(projection) {
            table.drop_index(fields);
        }
        Ok(())
    }

    pub fn drop_projection(&self, projection: &str) -> Result<(), StoreError> {
        self.write_lock("drop projection")?
            .projections
            .remove(projection);
        Ok(())
    }

    pub fn drop_view(&self, view: &str) -> Result<(), StoreError> {
        self.write_lock("drop single view")?.views.remove(view);
        Ok(())
    }

    pub fn ensure_view(&self, view: &str) -> Result<(), StoreError> {
        let mut inner = self.write_lock("ensure single view")?;
        inner.views.entry(view.to_owned()).or_default();
        Ok(())
    }

    pub fn documents(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Map>>>, StoreError> {
        let inner = self.read("read single view")?;
        let Some(table) = inner.views.get(view) else {
            return Ok(vec![None; keys.len()]);
        };
        Ok(keys
            .iter()
            .map(|k| key::encode(k).and_then(|k| table.get(&k).map(|(_, d)| d.clone())))
            .collect())
    }

    pub fn write_documents(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        let op = "write single view";
        let mut inner = self.write_lock(op)?;
        let table = inner.views.entry(view.to_owned()).or_default();
        let mut effects: Vec<(Vec<u8>, Option<Doc>)> = Vec::new();
        for w in writes {
            let stored = |kv: &[Value]| {
                Ok(key::encode(kv).and_then(|k| table.get(&k).map(|(_, d)| d.clone())))
            };
            let Some((kv, new)) = super::view_effect(w, mode, stored)? else {
                continue;
            };
            let Some(k) = key::encode(&kv) else {
                return Err(StoreError::fatal(op, "a single-view key field is null"));
            };
            effects.push((k, new.map(|d| (kv, Arc::new(d)))));
        }
        for (k, d) in effects {
            match d {
                Some(d) => {
                    table.insert(k, d);
                }
                None => {
                    table.remove(&k);
                }
            }
        }
        Ok(())
    }

    pub fn count_documents(&self, view: &str) -> Result<u64, StoreError> {
        let inner = self.read("count single view")?;
        Ok(inner.views.get(view).map_or(0, |t| t.len() as u64))
    }

    pub fn load_deployment(&self) -> Result<Option<String>, StoreError> {
        Ok(self.read("load deployment record")?.deployment.clone())
    }

    pub fn save_deployment(&self, json: String) -> Result<(), StoreError> {
        self.write_lock("save deployment record")?.deployment = Some(json);
        Ok(())
    }

    pub fn scan_documents(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        let inner = self.read("scan single view")?;
        Ok(match inner.views.get(view) {
            Some(t) => page(t, after, limit, |(k, d)| (k.clone(), Map::clone(d))),
            None => first_page(vec![], limit),
        })
    }

    pub fn scan_view_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        let inner = self.read("scan single view")?;
        Ok(match inner.views.get(view) {
            Some(t) => page(t, after, limit, |(k, _)| k.clone()),
            None => first_page(vec![], limit),
        })
    }

    pub fn append_failures(&self, json: Vec<serde_json::Value>) -> Result<(), StoreError> {
        let mut inner = self.write_lock("record single-view failures")?;
        inner.failures.extend(json);
        Ok(())
    }

    pub fn append_dead_letters(&self, json: Vec<serde_json::Value>) -> Result<(), StoreError> {
        let mut inner = self.write_lock("store dead letters")?;
        inner.dead_letters.extend(json);
        Ok(())
    }

    pub fn load_checkpoint(&self, stream: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .read("read checkpoint")?
            .checkpoints
            .get(stream)
            .copied())
    }

    pub fn save_checkpoints(&self, positions: &[(String, i64)]) -> Result<(), StoreError> {
        let mut inner = self.write_lock("save checkpoints")?;
        for (s, p) in positions {
            inner.checkpoints.insert(s.clone(), *p);
        }
        Ok(())
    }

    /// The stored source drift (JSON text), by projection.
    pub fn load_drift(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .read("load source drift")?
            .drift
            .values()
            .cloned()
            .collect())
    }

    /// Merges `deltas` into the stored source drift, under one lock.
    pub fn merge_drift(&self, deltas: &[fdc_core::store::SourceDrift]) -> Result<(), StoreError> {
        let mut inner = self.write_lock("save source drift")?;
        for d in deltas {
            let stored = match inner.drift.get(&d.projection) {
                Some(text) => Some(fdc_core::store::SourceDrift::from_json(text)?),
                None => None,
            };
            let merged = fdc_core::store::drift::merged(stored, d);
            inner.drift.insert(d.projection.clone(), merged.to_json());
        }
        Ok(())
    }

    pub fn load_pauses(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .read("load pause state")?
            .pauses
            .values()
            .cloned()
            .collect())
    }

    /// Saves (`Some`) or removes (`None`) the item `id`; whether one was stored before.
    pub fn put_pause(&self, id: &str, json: Option<&str>) -> Result<bool, StoreError> {
        let mut inner = self.write_lock("save pause state")?;
        Ok(match json {
            Some(j) => inner.pauses.insert(id.to_string(), j.to_string()).is_some(),
            None => inner.pauses.remove(id).is_some(),
        })
    }

    pub fn keep_pending(
        &self,
        view: &str,
        keys: &[Vec<Value>],
        stamp: i64,
    ) -> Result<(), StoreError> {
        let op = "keep pending triggers";
        let mut encoded = Vec::with_capacity(keys.len());
        for k in keys {
            let Some(e) = key::encode(k) else {
                return Err(StoreError::fatal(op, "a single-view key field is null"));
            };
            encoded.push((e, k.clone()));
        }
        let mut inner = self.write_lock(op)?;
        let table = inner.pending.entry(view.to_string()).or_default();
        for (e, k) in encoded {
            table.insert(e, (k, stamp));
        }
        Ok(())
    }

    pub fn pending(&self, view: &str, limit: usize) -> Result<Vec<PendingKey>, StoreError> {
        let inner = self.read("read pending triggers")?;
        Ok(inner.pending.get(view).map_or_else(Vec::new, |t| {
            t.values()
                .take(limit)
                .map(|(key, stamp)| PendingKey {
                    key: key.clone(),
                    stamp: *stamp,
                })
                .collect()
        }))
    }

    pub fn remove_pending(&self, view: &str, keys: &[PendingKey]) -> Result<(), StoreError> {
        let mut inner = self.write_lock("remove pending triggers")?;
        if let Some(t) = inner.pending.get_mut(view) {
            for k in keys {
                let Some(e) = key::encode(&k.key) else {
                    continue;
                };
                if t.get(&e).is_some_and(|(_, stamp)| *stamp == k.stamp) {
                    t.remove(&e);
                }
            }
        }
        Ok(())
    }

    pub fn count_pending(&self, view: &str) -> Result<u64, StoreError> {
        let inner = self.read("count pending triggers")?;
        Ok(inner.pending.get(view).map_or(0, |t| t.len() as u64))
    }
}
