//! Single-view documents of the disk-resident store: writes in one transaction per call,
//! reads through the cache, pages of documents or of keys only.
//!
//! In: the single-view calls of [`fdc_core::store::SingleViewStore`]. Out: documents (shared), pages, failures recorded.
//!
//! Guarantees: the semantics of the in-memory backend: merge mode sets the written fields over
//! the stored document, marking deleted keeps the stored document with `__STATE__: DELETED`
//! (and does nothing when none is stored), a key holding a null fails the call before
//! anything is committed.

use std::sync::Arc;

use fdc_plan::WriteMode;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::cache::Entry;
use super::tables::{self, err, open_read, BytesDef, KeyedDoc};
use super::{cache_key, cache_prefix, DiskStore};
use fdc_core::store::{key, Page, StoreError, ViewWrite};
use fdc_core::value::{Map, Value};

fn decode_entry(bytes: &[u8], op: &str) -> Result<Entry, StoreError> {
    let (k, d) = tables::decode_doc(bytes, op)?;
    Ok(Entry::Doc(Arc::new((k, Arc::new(d)))))
}

fn document(e: Entry) -> Option<Arc<Map>> {
    match e {
        Entry::Doc(d) => Some(d.1.clone()),
        Entry::Record(_) => None,
    }
}

impl DiskStore {
    pub fn ensure_view(&self, view: &str) -> Result<(), StoreError> {
        let op = "ensure single view";
        let _state = self.write_state(op)?;
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        txn.open_table(BytesDef::new(&tables::view_table(view)))
            .map_err(|e| err(op, e))?;
        txn.commit().map_err(|e| err(op, e))
    }

    /// Drops the document table of `view` (one durable transaction) and empties the cache
    /// (it may hold the dropped documents).
    pub fn drop_view(&self, view: &str) -> Result<(), StoreError> {
        let op = "drop single view";
        let _state = self.write_state(op)?;
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        txn.delete_table(BytesDef::new(&tables::view_table(view)))
            .map_err(|e| err(op, e))?;
        txn.commit().map_err(|e| err(op, e))?;
        self.cache(op)?.clear();
        Ok(())
    }

    pub fn documents(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Map>>>, StoreError> {
        let op = "read single view";
        let _state = self.read_state(op)?;
        let name = tables::view_table(view);
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let table = open_read(&txn, BytesDef::new(&name), op)?;
        let pks: Vec<Option<Vec<u8>>> = keys.iter().map(|k| key::encode(k)).collect();
        let got = self.fetch(
            table.as_ref(),
            &cache_prefix(&name),
            &pks,
            |b| decode_entry(b, op),
            op,
        )?;
        Ok(got.into_iter().map(|e| e.and_then(document)).collect())
    }

    pub fn write_documents(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        let op = "write single view";
        let state = self.write_state(op)?;
        let name = tables::view_table(view);
        let prefix = cache_prefix(&name);
        let mut effects: Vec<(Vec<u8>, Option<KeyedDoc>)> = Vec::new();
        let txn = self.data_txn(op)?;
        {
            let mut table = txn
                .open_table(BytesDef::new(&name))
                .map_err(|e| err(op, e))?;
            // The stored document of `kv` (cache, then the table).
            let stored = |table: &redb::Table<&'static [u8], &'static [u8]>,
                          kv: &[Value]|
             -> Result<Option<Arc<Map>>, StoreError> {
                let Some(k) = key::encode(kv) else {
                    return Ok(None);
                };
                let cached = self.cache(op)?.get(&cache_key(&prefix, &k));
                if let Some(e) = cached {
                    return Ok(document(e));
                }
                match table.get(k.as_slice()).map_err(|e| err(op, e))? {
                    Some(v) => Ok(Some(Arc::new(tables::decode_doc(v.value(), op)?.1))),
                    None => Ok(None),
                }
            };
            for w in writes {
                let Some((kv, new)) = super::super::view_effect(w, mode, |kv| stored(&table, kv))?
                else {
                    continue;
                };
                let Some(k) = key::encode(&kv) else {
                    return Err(StoreError::fatal(op, "a single-view key field is null"));
                };
                match &new {
                    Some(doc) => {
                        let bytes = tables::encode_doc(&kv, doc, op)?;
                        table
                            .insert(k.as_slice(), bytes.as_slice())
                            .map_err(|e| err(op, e))?;
                    }
                    None => {
                        table.remove(k.as_slice()).map_err(|e| err(op, e))?;
                    }
                }
                effects.push((k, new.map(|d| (kv, d))));
            }
        }
        txn.commit().map_err(|e| err(op, e))?;
        let mut cache = self.cache(op)?;
        for (k, new) in effects {
            let ck = cache_key(&prefix, &k);
            match new {
                Some((key, doc)) => cache.insert(ck, Entry::Doc(Arc::new((key, Arc::new(doc))))),
                None => cache.remove(&ck),
            }
        }
        drop(state);
        Ok(())
    }

    pub fn count_documents(&self, view: &str) -> Result<u64, StoreError> {
        let op = "count single view";
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let name = tables::view_table(view);
        Ok(match open_read(&txn, BytesDef::new(&name), op)? {
            Some(t) => t.len().map_err(|e| err(op, e))?,
            None => 0,
        })
    }

    pub fn scan_documents(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        let op = "scan single view";
        self.page(&tables::view_table(view), after, limit, op, |b| {
            tables::decode_doc(b, op)
        })
    }

    pub fn scan_view_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        let op = "scan single view";
        self.page(&tables::view_table(view), after, limit, op, |b| {
            tables::decode_doc_key(b, op)
        })
    }
}
