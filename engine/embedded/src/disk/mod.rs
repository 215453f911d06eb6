//! The disk-resident backend of the embedded store: records, documents, secondary and unique
//! indexes live in redb; memory holds a bounded cache of decoded records and documents, redb's own
//! bounded page cache, the index definitions and checkpoints, and each call's working set.
//!
//! In: the store-trait calls of the engine. Out: the same answers as the in-memory backend
//! (same version guard, `$in` semantics, conditions, pages, outcomes).
//!
//! Guarantees: every call is atomic with respect to the others (one lock: reads share it,
//! writes hold it alone); a call's effects are committed in one redb write transaction
//! before the cache learns of them and before the call returns, so a reader never sees an
//! uncommitted effect. Data writes commit without an fsync (`Durability::None`); they become
//! durable together at the next [`DiskStore::sync`] or checkpoint save (immediate
//! durability), which the engine calls before a batch's positions are committed (one fsync
//! per batch instead of one per call). A reopened store holds exactly what was durable: a
//! prefix of the calls, ending at a sync or a checkpoint. The cache holds only committed values; a record or document handed out is never
//! mutated (a write caches a new `Arc`). Memory does not grow with the data set: the decoded
//! cache and redb's page cache are bounded by [`super::DiskOptions`].

mod cache;
mod pause;
mod projections;
mod tables;
mod views;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::{first_page, poisoned, Keyed};
use cache::{Cache, Entry};
use fdc_core::store::{key, Page, Record, StoreError};
use fdc_core::value::{Map, Value};
use tables::{err, open_read, BytesDef};

/// What the store knows about its tables (small: no records).
#[derive(Default)]
struct State {
    /// Primary-key fields of each projection ensured by this process.
    key_fields: HashMap<String, Vec<String>>,
    /// Field tuples of each projection's secondary indexes (every index on disk: a write
    /// maintains them all, whatever layout this process ensured).
    indexes: HashMap<String, Vec<Vec<String>>>,
    /// Field tuples of each projection's unique indexes (every one on disk, as `indexes`).
    uniques: HashMap<String, Vec<Vec<String>>>,
    checkpoints: HashMap<String, i64>,
    next_dead_letter: u64,
    next_failure: u64,
}

/// The disk-resident backend (see the module docs).
pub struct DiskStore {
    db: Database,
    state: RwLock<State>,
    cache: Mutex<Cache>,
    /// Commits made since the last immediate one (not durable yet).
    pending: std::sync::atomic::AtomicBool,
}

/// The cache key of `pk` in the table with cache prefix `prefix`.
fn cache_key(prefix: &[u8], pk: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + pk.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(pk);
    k
}

/// The cache prefix of a table (its name and a NUL, which no name holds).
fn cache_prefix(table: &str) -> Vec<u8> {
    let mut p = table.as_bytes().to_vec();
    p.push(0);
    p
}

impl DiskStore {
    /// Opens (or creates) `dir/fdc.redb`, with `cache_bytes` for decoded values and
    /// `page_cache_bytes` for redb's pages. Reads only the index definitions, checkpoints and
    /// the last sequence numbers.
    pub fn open(
        dir: &Path,
        cache_bytes: usize,
        page_cache_bytes: usize,
    ) -> Result<DiskStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| err("create store directory", e))?;
        let db = redb::Builder::new()
            .set_cache_size(page_cache_bytes)
            .create(dir.join("fdc.redb"))
            .map_err(|e| err("open store", e))?;
        let op = "read store";
        let mut state = State::default();
        {
            let txn = db.begin_read().map_err(|e| err(op, e))?;
            if let Some(t) = open_read(&txn, tables::INDEX_DEFS, op)? {
                for row in t.iter().map_err(|e| err(op, e))? {
                    let (_, v) = row.map_err(|e| err(op, e))?;
                    let (projection, fields): (String, Vec<String>) =
                        postcard::from_bytes(v.value()).map_err(|e| err(op, e))?;
                    state.indexes.entry(projection).or_default().push(fields);
                }
            }
            if let Some(t) = open_read(&txn, tables::UNIQUE_DEFS, op)? {
                for row in t.iter().map_err(|e| err(op, e))? {
                    let (_, v) = row.map_err(|e| err(op, e))?;
                    let (projection, fields): (String, Vec<String>) =
                        postcard::from_bytes(v.value()).map_err(|e| err(op, e))?;
                    state.uniques.entry(projection).or_default().push(fields);
                }
            }
            if let Some(t) = open_read(&txn, tables::CHECKPOINTS, op)? {
                for row in t.iter().map_err(|e| err(op, e))? {
                    let (k, v) = row.map_err(|e| err(op, e))?;
                    state.checkpoints.insert(k.value().to_owned(), v.value());
                }
            }
            let next = |def| -> Result<u64, StoreError> {
                Ok(match open_read(&txn, def, op)? {
                    Some(t) => t
                        .last()
                        .map_err(|e| err(op, e))?
                        .map_or(0, |(k, _)| k.value() + 1),
                    None => 0,
                })
            };
            state.next_dead_letter = next(tables::DEAD_LETTERS)?;
            state.next_failure = next(tables::FAILURES)?;
        }
        Ok(DiskStore {
            db,
            state: RwLock::new(state),
            cache: Mutex::new(Cache::new(cache_bytes)),
            pending: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A write transaction for data (records, documents, letters): committed without an
    /// fsync, durable at the next [`DiskStore::sync`] (see the module docs).
    fn data_txn(&self, op: &str) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| err(op, e))?;
        txn.set_durability(redb::Durability::None)
            .map_err(|e| err(op, e))?;
        self.pending
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(txn)
    }

    /// Makes every commit so far durable (one fsync; nothing when none is pending).
    pub fn sync(&self) -> Result<(), StoreError> {
        let op = "sync the store to disk";
        // Writers hold the state lock: holding it here orders the sync after them.
        let _state = self.write_state(op)?;
        if !self
            .pending
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        txn.commit().map_err(|e| err(op, e))
    }

    fn read_state(&self, op: &str) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        self.state.read().map_err(|_| poisoned(op))
    }

    fn write_state(&self, op: &str) -> Result<RwLockWriteGuard<'_, State>, StoreError> {
        self.state.write().map_err(|_| poisoned(op))
    }

    fn cache(&self, op: &str) -> Result<MutexGuard<'_, Cache>, StoreError> {
        self.cache.lock().map_err(|_| poisoned(op))
    }

    /// The estimated bytes and the number of entries the decoded cache holds.
    pub fn cache_usage(&self) -> Result<(usize, usize), StoreError> {
        let c = self.cache("read cache usage")?;
        Ok((c.bytes(), c.len()))
    }

    /// The committed values of `pks` in `table` (`None` pk or value: absent): from the cache,
    /// else decoded from redb and cached. The caller holds the state lock.
    fn fetch(
        &self,
        table: Option<&redb::ReadOnlyTable<&'static [u8], &'static [u8]>>,
        prefix: &[u8],
        pks: &[Option<Vec<u8>>],
        decode: impl Fn(&[u8]) -> Result<Entry, StoreError>,
        op: &str,
    ) -> Result<Vec<Option<Entry>>, StoreError> {
        let mut out = vec![None; pks.len()];
        let Some(table) = table else {
            return Ok(out);
        };
        let mut misses = Vec::new();
        {
            let mut cache = self.cache(op)?;
            for (i, pk) in pks.iter().enumerate() {
                let Some(pk) = pk else { continue };
                let ck = cache_key(prefix, pk);
                match cache.get(&ck) {
                    Some(e) => out[i] = Some(e),
                    None => misses.push((i, ck)),
                }
            }
        }
        let mut fresh = Vec::with_capacity(misses.len());
        for (i, ck) in misses {
            if let Some(v) = table.get(&ck[prefix.len()..]).map_err(|e| err(op, e))? {
                let e = decode(v.value())?;
                out[i] = Some(e.clone());
                fresh.push((ck, e));
            }
        }
        if !fresh.is_empty() {
            let mut cache = self.cache(op)?;
            for (ck, e) in fresh {
                cache.insert(ck, e);
            }
        }
        Ok(out)
    }

    /// A page of the bytes table `name` after the key `after`, each row's value decoded by
    /// `item`.
    fn page<T: Keyed>(
        &self,
        name: &str,
        after: Option<&[Value]>,
        limit: usize,
        op: &str,
        item: impl Fn(&[u8]) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        use std::ops::Bound;
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let Some(t) = open_read(&txn, BytesDef::new(name), op)? else {
            return Ok(first_page(vec![], limit));
        };
        let start = after.and_then(key::encode);
        let lower = match &start {
            Some(k) => Bound::Excluded(k.as_slice()),
            None => Bound::Unbounded,
        };
        let mut items = Vec::with_capacity(limit.min(4096));
        for row in t
            .range::<&[u8]>((lower, Bound::Unbounded))
            .map_err(|e| err(op, e))?
            .take(limit)
        {
            let (_, v) = row.map_err(|e| err(op, e))?;
            items.push(item(v.value())?);
        }
        Ok(first_page(items, limit))
    }

    /// Every row of the bytes table `name`, decoded (for exports, prints and tests).
    fn all_rows<T>(
        &self,
        name: &str,
        op: &str,
        decode: impl Fn(&[u8]) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let Some(t) = open_read(&txn, BytesDef::new(name), op)? else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    fn json_rows(
        &self,
        def: redb::TableDefinition<u64, &[u8]>,
        op: &str,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let Some(t) = open_read(&txn, def, op)? else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| err(op, e))?);
        }
        Ok(out)
    }

    /// Every dead letter stored so far, in arrival order (JSON form).
    pub fn dead_letters(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        self.json_rows(tables::DEAD_LETTERS, "read dead letters")
    }

    /// Every single-view failure stored so far (JSON form of [`fdc_core::store::ViewFailure`]).
    pub fn view_failures(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        self.json_rows(tables::FAILURES, "read view failures")
    }

    /// Names of the projections that hold records (or were ensured).
    pub fn projection_names(&self) -> Result<Vec<String>, StoreError> {
        let _state = self.read_state("list projections")?;
        tables::names_with_prefix(&self.db, "p/")
    }

    /// Every record of `projection` (in store order).
    pub fn all_records(&self, projection: &str) -> Result<Vec<Record>, StoreError> {
        let op = "read projection";
        self.all_rows(&tables::records_table(projection), op, |b| {
            tables::decode_record(b, op)
        })
    }

    /// Every document of `view` with its key (in store order).
    pub fn all_documents(&self, view: &str) -> Result<Vec<(Vec<Value>, Map)>, StoreError> {
        let op = "read single view";
        self.all_rows(&tables::view_table(view), op, |b| tables::decode_doc(b, op))
    }

    /// Appends JSON rows under consecutive sequence numbers in one transaction.
    fn append_json(
        &self,
        def: redb::TableDefinition<u64, &[u8]>,
        start: u64,
        rows: &[serde_json::Value],
        op: &str,
    ) -> Result<(), StoreError> {
        // Immediate: letters and failures are durable when the call returns (rare writes).
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        {
            let mut t = txn.open_table(def).map_err(|e| err(op, e))?;
            for (i, j) in rows.iter().enumerate() {
                let bytes = serde_json::to_vec(j).map_err(|e| err(op, e))?;
                t.insert(start + i as u64, bytes.as_slice())
                    .map_err(|e| err(op, e))?;
            }
        }
        txn.commit().map_err(|e| err(op, e))
    }
}

impl DiskStore {
    /// Stores dead letters (JSON form) after those stored so far.
    pub fn append_dead_letters(&self, json: Vec<serde_json::Value>) -> Result<(), StoreError> {
        let op = "store dead letters";
        let mut state = self.write_state(op)?;
        self.append_json(tables::DEAD_LETTERS, state.next_dead_letter, &json, op)?;
        state.next_dead_letter += json.len() as u64;
        Ok(())
    }

    /// Stores single-view failures (JSON form) after those stored so far.
    pub fn append_failures(&self, json: Vec<serde_json::Value>) -> Result<(), StoreError> {
        let op = "record single-view failures";
        let mut state = self.write_state(op)?;
        self.append_json(tables::FAILURES, state.next_failure, &json, op)?;
        state.next_failure += json.len() as u64;
        Ok(())
    }

    pub fn load_deployment(&self) -> Result<Option<String>, StoreError> {
        let op = "load deployment record";
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        Ok(match open_read(&txn, tables::DEPLOYMENT, op)? {
            Some(t) => t
                .get(tables::DEPLOYMENT_KEY)
                .map_err(|e| err(op, e))?
                .map(|v| v.value().to_owned()),
            None => None,
        })
    }

    pub fn save_deployment(&self, json: String) -> Result<(), StoreError> {
        let op = "save deployment record";
        let _state = self.write_state(op)?;
        // Immediate (fsync), as a checkpoint: the record is durable when the call returns,
        // together with every data commit before it.
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        {
            let mut t = txn.open_table(tables::DEPLOYMENT).map_err(|e| err(op, e))?;
            t.insert(tables::DEPLOYMENT_KEY, json.as_str())
                .map_err(|e| err(op, e))?;
        }
        txn.commit().map_err(|e| err(op, e))?;
        self.pending
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    pub fn load_checkpoint(&self, stream: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .read_state("read checkpoint")?
            .checkpoints
            .get(stream)
            .copied())
    }

    pub fn save_checkpoints(&self, positions: &[(String, i64)]) -> Result<(), StoreError> {
        let op = "save checkpoints";
        let mut state = self.write_state(op)?;
        // Immediate: the checkpoint and every data commit before it become durable together.
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        {
            let mut t = txn
                .open_table(tables::CHECKPOINTS)
                .map_err(|e| err(op, e))?;
            for (s, p) in positions {
                t.insert(s.as_str(), *p).map_err(|e| err(op, e))?;
            }
        }
        txn.commit().map_err(|e| err(op, e))?;
        self.pending
            .store(false, std::sync::atomic::Ordering::SeqCst);
        for (s, p) in positions {
            state.checkpoints.insert(s.clone(), *p);
        }
        Ok(())
    }
}
