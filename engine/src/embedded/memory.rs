//! The in-memory backend of the embedded store: projections (hash indexes, shared records),
//! single views, failures, dead letters and checkpoints in memory, nothing on disk.
//!
//! In: the store-trait calls of the engine. Out: the same answers a MongoDB deployment gives.
//!
//! Guarantees: every call is atomic with respect to the others (one lock); a stored record or
//! document is never mutated in place (a write replaces its `Arc`). Memory grows with the data
//! set: a store opened on a directory uses the disk-resident backend (`disk/`) instead.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use fdc_plan::WriteMode;

use super::table::Table;
use crate::store::{
    key, CheckpointStore, DeadLetter, DeadLetterSink, FindIn, Page, ProjectionLayout,
    ProjectionStore, Record, RecordWrite, SingleViewStore, StoreError, ViewFailure, ViewWrite,
    WriteOutcome, STATE_FIELD,
};
use crate::value::{Map, Value};

/// A single view's documents (shared, never mutated in place) by encoded key.
type ViewTable = BTreeMap<Vec<u8>, (Vec<Value>, Arc<Map>)>;

#[derive(Default)]
struct Inner {
    projections: HashMap<String, Table>,
    views: HashMap<String, ViewTable>,
    dead_letters: Vec<serde_json::Value>,
    failures: Vec<serde_json::Value>,
    checkpoints: HashMap<String, i64>,
}

/// The in-memory backend (see the module docs).
#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

fn poisoned(op: &str) -> StoreError {
    StoreError::fatal(op, "the store lock was poisoned by an earlier panic")
}

impl MemoryStore {
    fn read(&self, op: &str) -> Result<RwLockReadGuard<'_, Inner>, StoreError> {
        self.inner.read().map_err(|_| poisoned(op))
    }

    fn write_lock(&self, op: &str) -> Result<RwLockWriteGuard<'_, Inner>, StoreError> {
        self.inner.write().map_err(|_| poisoned(op))
    }

    /// Every dead letter stored so far, in arrival order (JSON form).
    pub fn dead_letters(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(self.read("read dead letters")?.dead_letters.clone())
    }

    /// Every single-view failure stored so far (JSON form of [`ViewFailure`]).
    pub fn view_failures(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(self.read("read view failures")?.failures.clone())
    }

    /// Names of the projections that hold records.
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

    /// Every record of `projection` (in store order).
    pub fn all_records(&self, projection: &str) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .read("read projection")?
            .projections
            .get(projection)
            .map(|t| t.records().map(|r| Record::clone(r)).collect())
            .unwrap_or_default())
    }

    /// Every document of `view` with its key (in store order).
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
}

fn page<S, T>(
    map: &BTreeMap<Vec<u8>, S>,
    after: Option<&[Value]>,
    limit: usize,
    item: impl Fn(&S) -> T,
    key_of: impl Fn(&T) -> Vec<Value>,
) -> Page<T> {
    use std::ops::Bound;
    let start = match after.and_then(key::encode) {
        Some(k) => Bound::Excluded(k),
        None => Bound::Unbounded,
    };
    let items: Vec<T> = map
        .range((start, Bound::Unbounded))
        .take(limit)
        .map(|(_, v)| item(v))
        .collect();
    let next = if items.len() == limit {
        items.last().map(&key_of)
    } else {
        None
    };
    Page { items, next }
}

#[async_trait]
impl ProjectionStore for MemoryStore {
    async fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        let mut inner = self.write_lock("ensure projection")?;
        let table = inner.projections.entry(layout.name.clone()).or_default();
        table.set_layout(layout);
        Ok(())
    }

    async fn get_many(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Record>>, StoreError> {
        let inner = self.read("read projection")?;
        let Some(table) = inner.projections.get(projection) else {
            return Ok(vec![None; keys.len()]);
        };
        Ok(keys
            .iter()
            .map(|k| key::encode(k).and_then(|k| table.get(&k).map(|r| Record::clone(r))))
            .collect())
    }

    async fn get_many_shared(
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

    async fn find_in(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .find_in_shared(projection, query)
            .await?
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    async fn find_in_shared(
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

    async fn write(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let op = "write projection";
        let mut inner = self.write_lock(op)?;
        let table = inner.projections.entry(projection.to_owned()).or_default();
        // Decide every outcome first, then apply.
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut effects: Vec<(Vec<u8>, Option<Record>)> = Vec::with_capacity(writes.len());
        let mut pending: HashMap<Vec<u8>, usize> = HashMap::new();
        for w in writes {
            let (k, version, new) = match w {
                RecordWrite::Put(r) => match key::encode(&r.key) {
                    Some(k) => (k, r.meta.version, Some(r)),
                    None => return Err(StoreError::fatal(op, "a primary-key field is null")),
                },
                RecordWrite::Remove { key: kv, version } => match key::encode(&kv) {
                    Some(k) => (k, version.0, None),
                    None => return Err(StoreError::fatal(op, "a primary-key field is null")),
                },
            };
            let stored_version = match pending.get(&k) {
                Some(&i) => effects[i].1.as_ref().map(|r| r.meta.version),
                None => table.get(&k).map(|r| r.meta.version),
            };
            if stored_version.is_some_and(|s| s > version) {
                outcomes.push(WriteOutcome::Stale);
                continue;
            }
            outcomes.push(WriteOutcome::Applied);
            match pending.get(&k) {
                Some(&i) => effects[i].1 = new,
                None => {
                    pending.insert(k.clone(), effects.len());
                    effects.push((k, new));
                }
            }
        }
        for (k, r) in effects {
            match r {
                Some(r) => table.put(k, r),
                None => table.remove(&k),
            }
        }
        Ok(outcomes)
    }

    async fn count(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        let inner = self.read("count projection")?;
        Ok(Some(
            inner
                .projections
                .get(projection)
                .map_or(0, |t| t.by_key().len() as u64),
        ))
    }

    async fn scan(
        &self,
        projection: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Record>, StoreError> {
        let inner = self.read("scan projection")?;
        Ok(match inner.projections.get(projection) {
            Some(t) => page(
                t.by_key(),
                after,
                limit.max(1),
                |r| Record::clone(r),
                |r: &Record| r.key.clone(),
            ),
            None => Page {
                items: vec![],
                next: None,
            },
        })
    }
}

#[async_trait]
impl SingleViewStore for MemoryStore {
    async fn ensure_view(&self, view: &str, _key_fields: &[String]) -> Result<(), StoreError> {
        let mut inner = self.write_lock("ensure single view")?;
        inner.views.entry(view.to_owned()).or_default();
        Ok(())
    }

    async fn get_many(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError> {
        let inner = self.read("read single view")?;
        let Some(table) = inner.views.get(view) else {
            return Ok(vec![None; keys.len()]);
        };
        Ok(keys
            .iter()
            .map(|k| key::encode(k).and_then(|k| table.get(&k).map(|(_, d)| Map::clone(d))))
            .collect())
    }

    async fn get_many_shared(
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

    async fn write(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        let op = "write single view";
        let mut inner = self.write_lock(op)?;
        let table = inner.views.entry(view.to_owned()).or_default();
        let mut effects: Vec<(Vec<u8>, Option<(Vec<Value>, Arc<Map>)>)> = Vec::new();
        for w in writes {
            let (kv, new) = match w {
                ViewWrite::Upsert { key: kv, document } => {
                    let doc = match (mode, key::encode(&kv).and_then(|k| table.get(&k))) {
                        (WriteMode::Merge, Some((_, old))) => {
                            let mut merged = Map::clone(old);
                            for (f, v) in document {
                                merged.insert(f, v);
                            }
                            merged
                        }
                        _ => document,
                    };
                    let doc = Arc::new(doc);
                    (kv.clone(), Some((kv, doc)))
                }
                ViewWrite::Delete { key: kv } => (kv, None),
                ViewWrite::MarkDeleted { key: kv } => {
                    match key::encode(&kv).and_then(|k| table.get(&k)) {
                        Some((_, old)) => {
                            let mut doc = Map::clone(old);
                            doc.insert(STATE_FIELD.into(), Value::String("DELETED".into()));
                            (kv.clone(), Some((kv, Arc::new(doc))))
                        }
                        None => continue,
                    }
                }
            };
            let Some(k) = key::encode(&kv) else {
                return Err(StoreError::fatal(op, "a single-view key field is null"));
            };
            effects.push((k, new));
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

    async fn scan(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        let inner = self.read("scan single view")?;
        Ok(match inner.views.get(view) {
            Some(t) => page(
                t,
                after,
                limit.max(1),
                |(k, d)| (k.clone(), Map::clone(d)),
                |(k, _): &(Vec<Value>, Map)| k.clone(),
            ),
            None => Page {
                items: vec![],
                next: None,
            },
        })
    }

    async fn scan_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        let inner = self.read("scan single view")?;
        Ok(match inner.views.get(view) {
            Some(t) => page(t, after, limit.max(1), |(k, _)| k.clone(), Vec::clone),
            None => Page {
                items: vec![],
                next: None,
            },
        })
    }

    async fn record_failures(&self, failures: Vec<ViewFailure>) -> Result<(), StoreError> {
        let op = "record single-view failures";
        let mut inner = self.write_lock(op)?;
        let json: Vec<serde_json::Value> = failures
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or(serde_json::Value::Null))
            .collect();
        inner.failures.extend(json);
        Ok(())
    }
}

#[async_trait]
impl DeadLetterSink for MemoryStore {
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        let op = "store dead letters";
        let mut inner = self.write_lock(op)?;
        let json: Vec<serde_json::Value> = letters
            .iter()
            .map(|l| serde_json::to_value(l).unwrap_or(serde_json::Value::Null))
            .collect();
        inner.dead_letters.extend(json);
        Ok(())
    }
}

#[async_trait]
impl CheckpointStore for MemoryStore {
    async fn load_checkpoint(&self, stream: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .read("read checkpoint")?
            .checkpoints
            .get(stream)
            .copied())
    }

    async fn save_checkpoints(&self, positions: &[(String, i64)]) -> Result<(), StoreError> {
        let mut inner = self.write_lock("save checkpoints")?;
        for (s, p) in positions {
            inner.checkpoints.insert(s.clone(), *p);
        }
        Ok(())
    }
}
