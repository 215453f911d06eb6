//! The embedded store: projections, single views, failures, dead letters, checkpoints and the
//! deployed plan's record,
//! either in memory ([`EmbeddedStore::in_memory`]) or disk-resident in a directory with redb
//! ([`EmbeddedStore::open`]).
//!
//! In: the store-trait calls of the engine. Out: the same answers a MongoDB deployment gives
//! (same version guard, same `$in` semantics, same condition rules, declared unique indexes
//! enforced with the same rules and errors: `unique`), so `fdc run` and `fdc test` behave on a
//! bare machine as in production.
//!
//! Guarantees: every call is atomic with respect to the others. In memory, the whole data set
//! is kept in memory (hash indexes, shared records). On a directory, records, documents and
//! the secondary indexes live in redb and memory is bounded whatever the data size (a cache of
//! [`DiskOptions::cache_mib`]); a call's effects are committed (one redb transaction) before
//! they become visible and before the call returns, durable at the next `sync` (which the
//! engine calls at the end of every batch) or checkpoint, and a reopened store holds exactly
//! what was durable.

mod disk;
mod memory;
pub mod overlay;
mod table;
mod unique;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use fdc_plan::deployment::Deployment;
use fdc_plan::WriteMode;

use disk::DiskStore;
use fdc_core::store::{
    deployment::decode_record, key, CheckpointStore, DeadLetter, DeadLetterSink, DeploymentStore,
    FindIn, Page, PauseItem, PauseStore, PauseTarget, PendingKey, ProjectionLayout,
    ProjectionStore, Record, RecordWrite, SingleViewStore, SourceDrift, SourceDriftStore,
    StoreError, ViewFailure, ViewWrite, WriteOutcome, STATE_FIELD,
};
use fdc_core::value::{Map, Value};
use memory::MemoryStore;

/// Settings of a store opened on a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskOptions {
    /// The memory budget of the store's caches in MiB: three quarters for decoded records and
    /// documents, one quarter for redb's page cache (the operating system's file cache does the
    /// rest, outside the process). 0 turns both off (every read decodes from redb).
    pub cache_mib: usize,
}

impl Default for DiskOptions {
    fn default() -> DiskOptions {
        DiskOptions {
            cache_mib: DiskOptions::DEFAULT_CACHE_MIB,
        }
    }
}

impl DiskOptions {
    /// The default cache budget (MiB).
    pub const DEFAULT_CACHE_MIB: usize = 64;

    /// The default, with the cache size (MiB) of `setting` when it is a number (surrounding
    /// blanks ignored). The engine reads no environment: the CLI hands it the value of
    /// `FDC_STORE_CACHE_MB`.
    pub fn with_cache_setting(setting: Option<&str>) -> DiskOptions {
        match setting.and_then(|v| v.trim().parse().ok()) {
            Some(cache_mib) => DiskOptions { cache_mib },
            None => DiskOptions::default(),
        }
    }
}

enum Backend {
    Memory(MemoryStore),
    Disk(DiskStore),
}

/// The embedded store (see the module docs). Cheap to share behind an `Arc`.
pub struct EmbeddedStore {
    backend: Backend,
}

/// Runs `$e` on whichever backend the store has, bound to `$s`.
macro_rules! on_backend {
    ($self:ident, $s:ident => $e:expr) => {
        match &$self.backend {
            Backend::Memory($s) => $e,
            Backend::Disk($s) => $e,
        }
    };
}

impl EmbeddedStore {
    /// Makes the disk-resident store's writes so far durable (in memory: nothing to do).
    pub fn sync_to_disk(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Disk(d) => d.sync(),
        }
    }

    /// A store that lives in memory only.
    pub fn in_memory() -> EmbeddedStore {
        EmbeddedStore {
            backend: Backend::Memory(MemoryStore::default()),
        }
    }

    /// A disk-resident store in `dir` (created if needed), with the default options.
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open_with(dir, DiskOptions::default())
    }

    /// A disk-resident store in `dir` (created if needed) with `options`.
    pub fn open_with(dir: &Path, options: DiskOptions) -> Result<EmbeddedStore, StoreError> {
        let budget = options.cache_mib.saturating_mul(1024 * 1024);
        let pages = budget / 4;
        let store = DiskStore::open(dir, budget - pages, pages)?;
        Ok(EmbeddedStore {
            backend: Backend::Disk(store),
        })
    }

    /// For a disk-resident store, the estimated bytes and the number of entries its cache of
    /// decoded records and documents holds.
    pub fn cache_usage(&self) -> Result<Option<(usize, usize)>, StoreError> {
        match &self.backend {
            Backend::Memory(_) => Ok(None),
            Backend::Disk(d) => d.cache_usage().map(Some),
        }
    }

    /// Every dead letter stored so far, in arrival order (JSON form).
    pub fn dead_letters(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        on_backend!(self, s => s.dead_letters())
    }

    /// Every single-view failure stored so far (JSON form of [`ViewFailure`]).
    pub fn view_failures(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        on_backend!(self, s => s.view_failures())
    }

    /// Names of the projections that hold records.
    pub fn projection_names(&self) -> Result<Vec<String>, StoreError> {
        on_backend!(self, s => s.projection_names())
    }

    /// Every record of `projection` (in store order).
    pub fn all_records(&self, projection: &str) -> Result<Vec<Record>, StoreError> {
        on_backend!(self, s => s.all_records(projection))
    }

    /// Every document of `view` with its key (in store order).
    pub fn all_documents(&self, view: &str) -> Result<Vec<(Vec<Value>, Map)>, StoreError> {
        on_backend!(self, s => s.all_documents(view))
    }
}

/// Turns shared values into owned ones (cloning only those still shared).
fn owned<T: Clone>(items: Vec<Arc<T>>) -> Vec<T> {
    items.into_iter().map(Arc::unwrap_or_clone).collect()
}

#[async_trait]
impl ProjectionStore for EmbeddedStore {
    async fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        on_backend!(self, s => s.ensure_projection(layout))
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.sync_to_disk()
    }

    async fn get_many(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Record>>, StoreError> {
        let shared = on_backend!(self, s => s.records(projection, keys))?;
        Ok(shared
            .into_iter()
            .map(|r| r.map(Arc::unwrap_or_clone))
            .collect())
    }

    async fn get_many_shared(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Record>>>, StoreError> {
        on_backend!(self, s => s.records(projection, keys))
    }

    async fn find_in(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Record>, StoreError> {
        Ok(owned(on_backend!(self, s => s.find(projection, query))?))
    }

    async fn find_in_shared(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Arc<Record>>, StoreError> {
        on_backend!(self, s => s.find(projection, query))
    }

    async fn write(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        on_backend!(self, s => s.write_records(projection, writes))
    }

    async fn scan(
        &self,
        projection: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Record>, StoreError> {
        on_backend!(self, s => s.scan_records(projection, after, limit.max(1)))
    }

    async fn count(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        on_backend!(self, s => s.count(projection)).map(Some)
    }

    async fn drop_index(&self, projection: &str, fields: &[String]) -> Result<(), StoreError> {
        on_backend!(self, s => s.drop_index(projection, fields))
    }

    async fn drop_projection(&self, projection: &str) -> Result<(), StoreError> {
        on_backend!(self, s => s.drop_projection(projection))
    }
}

#[async_trait]
impl SingleViewStore for EmbeddedStore {
    async fn ensure_view(&self, view: &str, _key_fields: &[String]) -> Result<(), StoreError> {
        on_backend!(self, s => s.ensure_view(view))
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.sync_to_disk()
    }

    async fn get_many(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError> {
        let shared = on_backend!(self, s => s.documents(view, keys))?;
        Ok(shared
            .into_iter()
            .map(|d| d.map(Arc::unwrap_or_clone))
            .collect())
    }

    async fn get_many_shared(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Map>>>, StoreError> {
        on_backend!(self, s => s.documents(view, keys))
    }

    async fn write(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.write_documents(view, mode, writes))
    }

    async fn scan(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        on_backend!(self, s => s.scan_documents(view, after, limit.max(1)))
    }

    async fn scan_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        on_backend!(self, s => s.scan_view_keys(view, after, limit.max(1)))
    }

    async fn count_documents(&self, view: &str) -> Result<Option<u64>, StoreError> {
        on_backend!(self, s => s.count_documents(view)).map(Some)
    }

    async fn drop_view(&self, view: &str) -> Result<(), StoreError> {
        on_backend!(self, s => s.drop_view(view))
    }

    async fn record_failures(&self, failures: Vec<ViewFailure>) -> Result<(), StoreError> {
        let json = failures.iter().map(to_json).collect();
        on_backend!(self, s => s.append_failures(json))
    }
}

#[async_trait]
impl DeadLetterSink for EmbeddedStore {
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        let json = letters.iter().map(to_json).collect();
        on_backend!(self, s => s.append_dead_letters(json))
    }
}

#[async_trait]
impl CheckpointStore for EmbeddedStore {
    async fn load_checkpoint(&self, stream: &str) -> Result<Option<i64>, StoreError> {
        on_backend!(self, s => s.load_checkpoint(stream))
    }

    async fn save_checkpoints(&self, positions: &[(String, i64)]) -> Result<(), StoreError> {
        on_backend!(self, s => s.save_checkpoints(positions))
    }
}

#[async_trait]
impl DeploymentStore for EmbeddedStore {
    async fn load_deployment(&self) -> Result<Option<Deployment>, StoreError> {
        match on_backend!(self, s => s.load_deployment())? {
            Some(text) => decode_record(&text).map(Some),
            None => Ok(None),
        }
    }

    async fn save_deployment(&self, record: &Deployment) -> Result<(), StoreError> {
        on_backend!(self, s => s.save_deployment(record.to_json()))
    }
}

#[async_trait]
impl PauseStore for EmbeddedStore {
    async fn load_pauses(&self) -> Result<Vec<PauseItem>, StoreError> {
        let texts = on_backend!(self, s => s.load_pauses())?;
        let mut items = texts
            .iter()
            .map(|t| PauseItem::from_json(t))
            .collect::<Result<Vec<_>, _>>()?;
        items.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(items)
    }

    async fn save_pause(&self, item: &PauseItem) -> Result<(), StoreError> {
        let json = item.to_json();
        on_backend!(self, s => s.put_pause(&item.target.id(), Some(&json))).map(|_| ())
    }

    async fn remove_pause(&self, target: &PauseTarget) -> Result<bool, StoreError> {
        on_backend!(self, s => s.put_pause(&target.id(), None))
    }

    async fn keep_pending(
        &self,
        view: &str,
        keys: &[Vec<Value>],
        stamp: i64,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.keep_pending(view, keys, stamp))
    }

    async fn pending(&self, view: &str, limit: usize) -> Result<Vec<PendingKey>, StoreError> {
        on_backend!(self, s => s.pending(view, limit.max(1)))
    }

    async fn remove_pending(&self, view: &str, keys: &[PendingKey]) -> Result<(), StoreError> {
        on_backend!(self, s => s.remove_pending(view, keys))
    }

    async fn count_pending(&self, view: &str) -> Result<u64, StoreError> {
        on_backend!(self, s => s.count_pending(view))
    }
}

#[async_trait]
impl SourceDriftStore for EmbeddedStore {
    async fn load_source_drift(&self) -> Result<Vec<SourceDrift>, StoreError> {
        let texts = on_backend!(self, s => s.load_drift())?;
        let mut drift = texts
            .iter()
            .map(|t| SourceDrift::from_json(t))
            .collect::<Result<Vec<_>, _>>()?;
        drift.sort_by(|a, b| a.projection.cmp(&b.projection));
        Ok(drift)
    }

    async fn merge_source_drift(&self, deltas: &[SourceDrift]) -> Result<(), StoreError> {
        on_backend!(self, s => s.merge_drift(deltas))
    }
}

fn to_json(item: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(item).unwrap_or(serde_json::Value::Null)
}

fn poisoned(op: &str) -> StoreError {
    StoreError::fatal(op, "the store lock was poisoned by an earlier panic")
}

/// What a page can continue after: the key of its item.
trait Keyed {
    fn page_key(&self) -> Vec<Value>;
}

impl Keyed for Record {
    fn page_key(&self) -> Vec<Value> {
        self.key.clone()
    }
}

impl Keyed for (Vec<Value>, Map) {
    fn page_key(&self) -> Vec<Value> {
        self.0.clone()
    }
}

impl Keyed for Vec<Value> {
    fn page_key(&self) -> Vec<Value> {
        self.clone()
    }
}

/// A page of at most `limit` items: a full page continues after its last item.
fn first_page<T: Keyed>(items: Vec<T>, limit: usize) -> Page<T> {
    let next = if items.len() == limit {
        items.last().map(Keyed::page_key)
    } else {
        None
    };
    Page { items, next }
}

/// A projection write as (encoded primary key, guard version, record to store or `None`:
/// remove).
fn guarded(w: RecordWrite, op: &str) -> Result<(Vec<u8>, u128, Option<Record>), StoreError> {
    let k = key::encode(w.key());
    let guard = w.guard().0;
    match k {
        Some(k) => Ok((k, guard, w.into_record())),
        None => Err(StoreError::fatal(op, "a primary-key field is null")),
    }
}

/// A single-view key and the document a write leaves under it (`None`: removed).
type ViewEffect = (Vec<Value>, Option<Map>);

/// What a single-view write leaves under its key: the document (`None`: removed), given the
/// stored document of a key; `None` when the write does nothing (marking deleted a document
/// that is not stored).
fn view_effect(
    w: ViewWrite,
    mode: WriteMode,
    mut stored: impl FnMut(&[Value]) -> Result<Option<Arc<Map>>, StoreError>,
) -> Result<Option<ViewEffect>, StoreError> {
    Ok(match w {
        ViewWrite::Upsert { key: kv, document } => {
            let old = match mode {
                WriteMode::Merge => stored(&kv)?,
                _ => None,
            };
            let doc = match old {
                Some(old) => {
                    let mut merged = Arc::unwrap_or_clone(old);
                    for (f, v) in document {
                        merged.insert(f, v);
                    }
                    merged
                }
                None => document,
            };
            Some((kv, Some(doc)))
        }
        ViewWrite::Delete { key: kv } => Some((kv, None)),
        ViewWrite::MarkDeleted { key: kv } => stored(&kv)?.map(|old| {
            let mut doc = Arc::unwrap_or_clone(old);
            doc.insert(STATE_FIELD.into(), Value::String("DELETED".into()));
            (kv, Some(doc))
        }),
    })
}

#[cfg(test)]
mod tests;
