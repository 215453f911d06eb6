//! The embedded store: projections, single views, failures, dead letters and checkpoints,
//! either in memory ([`EmbeddedStore::in_memory`]) or disk-resident in a directory with redb
//! ([`EmbeddedStore::open`]).
//!
//! In: the store-trait calls of the engine. Out: the same answers a MongoDB deployment gives
//! (same version guard, same `$in` semantics, same condition rules), so `fdc run` and `fdc test`
//! behave on a bare machine as in production.
//!
//! Guarantees: every call is atomic with respect to the others. In memory, the whole data set
//! is kept in memory (hash indexes, shared records). On a directory, records, documents and
//! the secondary indexes live in redb and memory is bounded whatever the data size (a cache of
//! [`DiskOptions::cache_mib`]); a call's effects are committed (one redb transaction) before
//! they become visible and before the call returns, and a reopened store holds exactly what
//! was committed.

mod disk;
mod memory;
mod table;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use fdc_plan::WriteMode;

use crate::store::{
    CheckpointStore, DeadLetter, DeadLetterSink, FindIn, Page, ProjectionLayout, ProjectionStore,
    Record, RecordWrite, SingleViewStore, StoreError, ViewFailure, ViewWrite, WriteOutcome,
};
use crate::value::{Map, Value};
use disk::DiskStore;
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
    pub const DEFAULT_CACHE_MIB: usize = 128;
    /// The environment variable that sets [`DiskOptions::cache_mib`] for every command that
    /// opens a store directory (`fdc run --store`, `fdc refresh --store`, `fdc inspect`).
    pub const CACHE_ENV: &'static str = "FDC_STORE_CACHE_MB";

    /// The default, with the cache size of `FDC_STORE_CACHE_MB` when it is set to a number.
    pub fn from_env() -> DiskOptions {
        DiskOptions::from_var(std::env::var(DiskOptions::CACHE_ENV).ok().as_deref())
    }

    fn from_var(value: Option<&str>) -> DiskOptions {
        match value.and_then(|v| v.trim().parse().ok()) {
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
    /// A store that lives in memory only.
    pub fn in_memory() -> EmbeddedStore {
        EmbeddedStore {
            backend: Backend::Memory(MemoryStore::default()),
        }
    }

    /// A disk-resident store in `dir` (created if needed), with the options of the
    /// environment ([`DiskOptions::from_env`]).
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open_with(dir, DiskOptions::from_env())
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

#[async_trait]
impl ProjectionStore for EmbeddedStore {
    async fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        on_backend!(self, s => s.ensure_projection(layout).await)
    }

    async fn get_many(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Record>>, StoreError> {
        on_backend!(self, s => ProjectionStore::get_many(s, projection, keys).await)
    }

    async fn get_many_shared(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Record>>>, StoreError> {
        on_backend!(self, s => ProjectionStore::get_many_shared(s, projection, keys).await)
    }

    async fn find_in(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Record>, StoreError> {
        on_backend!(self, s => s.find_in(projection, query).await)
    }

    async fn find_in_shared(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Arc<Record>>, StoreError> {
        on_backend!(self, s => s.find_in_shared(projection, query).await)
    }

    async fn write(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        on_backend!(self, s => ProjectionStore::write(s, projection, writes).await)
    }

    async fn scan(
        &self,
        projection: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Record>, StoreError> {
        on_backend!(self, s => ProjectionStore::scan(s, projection, after, limit).await)
    }

    async fn count(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        on_backend!(self, s => s.count(projection).await)
    }
}

#[async_trait]
impl SingleViewStore for EmbeddedStore {
    async fn ensure_view(&self, view: &str, key_fields: &[String]) -> Result<(), StoreError> {
        on_backend!(self, s => s.ensure_view(view, key_fields).await)
    }

    async fn get_many(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError> {
        on_backend!(self, s => SingleViewStore::get_many(s, view, keys).await)
    }

    async fn get_many_shared(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Map>>>, StoreError> {
        on_backend!(self, s => SingleViewStore::get_many_shared(s, view, keys).await)
    }

    async fn write(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => SingleViewStore::write(s, view, mode, writes).await)
    }

    async fn scan(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        on_backend!(self, s => SingleViewStore::scan(s, view, after, limit).await)
    }

    async fn scan_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        on_backend!(self, s => s.scan_keys(view, after, limit).await)
    }

    async fn record_failures(&self, failures: Vec<ViewFailure>) -> Result<(), StoreError> {
        on_backend!(self, s => s.record_failures(failures).await)
    }
}

#[async_trait]
impl DeadLetterSink for EmbeddedStore {
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        on_backend!(self, s => s.dead_letter(letters).await)
    }
}

#[async_trait]
impl CheckpointStore for EmbeddedStore {
    async fn load_checkpoint(&self, stream: &str) -> Result<Option<i64>, StoreError> {
        on_backend!(self, s => s.load_checkpoint(stream).await)
    }

    async fn save_checkpoints(&self, positions: &[(String, i64)]) -> Result<(), StoreError> {
        on_backend!(self, s => s.save_checkpoints(positions).await)
    }
}

#[cfg(test)]
mod tests;
