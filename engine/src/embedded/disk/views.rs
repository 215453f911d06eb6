//! Single-view documents of the disk-resident store: writes in one transaction per call,
//! reads through the cache, pages of documents or of keys only.
//!
//! In: [`SingleViewStore`] calls. Out: documents (shared), pages, failures recorded.
//!
//! Guarantees: the semantics of the in-memory backend: merge mode sets the written fields over
//! the stored document, marking deleted keeps the stored document with `__STATE__: DELETED`
//! (and does nothing when none is stored), a key holding a null fails the call before
//! anything is committed.

use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use fdc_plan::WriteMode;
use redb::{ReadableDatabase, ReadableTable};

use super::cache::Entry;
use super::tables::{self, err, open_read, BytesDef};
use super::{cache_key, cache_prefix, DiskStore};
use crate::store::{key, Page, SingleViewStore, StoreError, ViewFailure, ViewWrite, STATE_FIELD};
use crate::value::{Map, Value};

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
    /// A page of `view`'s table after `after`: each row's key and value bytes turned into an
    /// item by `item`.
    fn view_page<T>(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
        op: &str,
        item: impl Fn(&[u8]) -> Result<T, StoreError>,
        key_of: impl Fn(&T) -> Vec<Value>,
    ) -> Result<Page<T>, StoreError> {
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let name = tables::view_table(view);
        let Some(t) = open_read(&txn, BytesDef::new(&name), op)? else {
            return Ok(Page {
                items: vec![],
                next: None,
            });
        };
        let start = after.and_then(key::encode);
        let lower = match &start {
            Some(k) => Bound::Excluded(k.as_slice()),
            None => Bound::Unbounded,
        };
        let limit = limit.max(1);
        let mut items = Vec::with_capacity(limit.min(4096));
        for row in t
            .range::<&[u8]>((lower, Bound::Unbounded))
            .map_err(|e| err(op, e))?
            .take(limit)
        {
            let (_, v) = row.map_err(|e| err(op, e))?;
            items.push(item(v.value())?);
        }
        let next = if items.len() == limit {
            items.last().map(key_of)
        } else {
            None
        };
        Ok(Page { items, next })
    }
}

#[async_trait]
impl SingleViewStore for DiskStore {
    async fn ensure_view(&self, view: &str, _key_fields: &[String]) -> Result<(), StoreError> {
        let op = "ensure single view";
        let _state = self.write_state(op)?;
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        txn.open_table(BytesDef::new(&tables::view_table(view)))
            .map_err(|e| err(op, e))?;
        txn.commit().map_err(|e| err(op, e))
    }

    async fn get_many(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError> {
        Ok(self
            .get_many_shared(view, keys)
            .await?
            .into_iter()
            .map(|d| d.map(Arc::unwrap_or_clone))
            .collect())
    }

    async fn get_many_shared(
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

    async fn write(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        let op = "write single view";
        let state = self.write_state(op)?;
        let name = tables::view_table(view);
        let prefix = cache_prefix(&name);
        let mut effects: Vec<(Vec<u8>, Option<(Vec<Value>, Map)>)> = Vec::new();
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
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
                let (kv, new) = match w {
                    ViewWrite::Upsert { key: kv, document } => {
                        let old = match mode {
                            WriteMode::Merge => stored(&table, &kv)?,
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
                        (kv.clone(), Some((kv, doc)))
                    }
                    ViewWrite::Delete { key: kv } => (kv, None),
                    ViewWrite::MarkDeleted { key: kv } => match stored(&table, &kv)? {
                        Some(old) => {
                            let mut doc = Arc::unwrap_or_clone(old);
                            doc.insert(STATE_FIELD.into(), Value::String("DELETED".into()));
                            (kv.clone(), Some((kv, doc)))
                        }
                        None => continue,
                    },
                };
                let Some(k) = key::encode(&kv) else {
                    return Err(StoreError::fatal(op, "a single-view key field is null"));
                };
                match &new {
                    Some((key, doc)) => {
                        let bytes = tables::encode_doc(key, doc, op)?;
                        table
                            .insert(k.as_slice(), bytes.as_slice())
                            .map_err(|e| err(op, e))?;
                    }
                    None => {
                        table.remove(k.as_slice()).map_err(|e| err(op, e))?;
                    }
                }
                effects.push((k, new));
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

    async fn scan(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        let op = "scan single view";
        self.view_page(
            view,
            after,
            limit,
            op,
            |b| tables::decode_doc(b, op),
            |(k, _): &(Vec<Value>, Map)| k.clone(),
        )
    }

    async fn scan_keys(
        &self,
        view: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Vec<Value>>, StoreError> {
        let op = "scan single view";
        self.view_page(
            view,
            after,
            limit,
            op,
            |b| tables::decode_doc_key(b, op),
            Vec::clone,
        )
    }

    async fn record_failures(&self, failures: Vec<ViewFailure>) -> Result<(), StoreError> {
        self.store_failures(failures)
    }
}
