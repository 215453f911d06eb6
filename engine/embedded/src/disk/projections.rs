//! Projection records of the disk-resident store: guarded writes that maintain the secondary
//! indexes in the same transaction, and reads through the cache.
//!
//! In: the projection calls of [`fdc_core::store::ProjectionStore`]. Out: records (shared), outcomes, pages, counts.
//!
//! Guarantees: an index entry exists exactly for each stored record whose indexed fields are
//! all non-null (a write removes the old record's entries and adds the new one's in the
//! record's transaction; a new index is built from the stored records in one transaction);
//! a query on a field tuple without an index is answered correctly by a scan of the table.

use std::collections::HashSet;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::super::unique;
use super::cache::Entry;
use super::tables::{self, err, open_read, BytesDef, IndexDef};
use super::{cache_key, cache_prefix, DiskStore};
use fdc_core::store::{
    condition, key, FindIn, Page, ProjectionLayout, Record, RecordWrite, StoreError, WriteOutcome,
};
use fdc_core::value::Value;

fn decode_entry(bytes: &[u8], op: &str) -> Result<Entry, StoreError> {
    Ok(Entry::Record(Arc::new(tables::decode_record(bytes, op)?)))
}

fn record(e: Entry) -> Option<Arc<Record>> {
    match e {
        Entry::Record(r) => Some(r),
        Entry::Doc(_) => None,
    }
}

impl DiskStore {
    /// Records by encoded primary key (`None` pk: absent), through the cache.
    fn records_by_pk(
        &self,
        projection: &str,
        pks: &[Option<Vec<u8>>],
        op: &str,
    ) -> Result<Vec<Option<Arc<Record>>>, StoreError> {
        let name = tables::records_table(projection);
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let table = open_read(&txn, BytesDef::new(&name), op)?;
        let got = self.fetch(
            table.as_ref(),
            &cache_prefix(&name),
            pks,
            |b| decode_entry(b, op),
            op,
        )?;
        Ok(got.into_iter().map(|e| e.and_then(record)).collect())
    }

    /// The encoded primary keys of the records whose `fields` tuple is in `tuples` (distinct),
    /// read from the index table `index`.
    fn pks_from_index(
        &self,
        index: &str,
        tuples: &[Vec<u8>],
        op: &str,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let Some(t) = open_read(&txn, IndexDef::new(index), op)? else {
            return Ok(vec![]);
        };
        let mut pks = Vec::new();
        for tuple in tuples {
            for row in t
                .range::<&[u8]>(tuple.as_slice()..)
                .map_err(|e| err(op, e))?
            {
                let (k, _) = row.map_err(|e| err(op, e))?;
                let k = k.value();
                if !k.starts_with(tuple) {
                    break;
                }
                pks.push(Some(k[tuple.len()..].to_vec()));
            }
        }
        Ok(pks)
    }

    /// Every record of `projection` whose `fields` tuple is in `wanted` (no index: a scan).
    fn scan_matching(
        &self,
        projection: &str,
        fields: &[String],
        wanted: &HashSet<Vec<u8>>,
        op: &str,
    ) -> Result<Vec<Arc<Record>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let name = tables::records_table(projection);
        let Some(t) = open_read(&txn, BytesDef::new(&name), op)? else {
            return Ok(vec![]);
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            let r = tables::decode_record(v.value(), op)?;
            if key::encode_fields(&r.fields, fields).is_some_and(|t| wanted.contains(&t)) {
                out.push(Arc::new(r));
            }
        }
        Ok(out)
    }
}

impl DiskStore {
    /// Drops the secondary and the unique index of `projection` on `fields` (tables and
    /// definitions), if any, in one durable transaction.
    pub fn drop_index(&self, projection: &str, fields: &[String]) -> Result<(), StoreError> {
        let op = "drop index";
        let mut state = self.write_state(op)?;
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        Self::drop_index_tables(&txn, projection, fields, op)?;
        txn.commit().map_err(|e| err(op, e))?;
        let same = |f: &Vec<String>| f.as_slice() != fields;
        if let Some(list) = state.indexes.get_mut(projection) {
            list.retain(same);
        }
        if let Some(list) = state.uniques.get_mut(projection) {
            list.retain(same);
        }
        Ok(())
    }

    /// Drops the record table of `projection` and all its indexes, in one durable
    /// transaction; the cache is emptied (it may hold the dropped records).
    pub fn drop_projection(&self, projection: &str) -> Result<(), StoreError> {
        let op = "drop projection";
        let mut state = self.write_state(op)?;
        let mut all: Vec<Vec<String>> = state.indexes.get(projection).cloned().unwrap_or_default();
        all.extend(state.uniques.get(projection).cloned().unwrap_or_default());
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        for fields in &all {
            Self::drop_index_tables(&txn, projection, fields, op)?;
        }
        txn.delete_table(BytesDef::new(&tables::records_table(projection)))
            .map_err(|e| err(op, e))?;
        txn.commit().map_err(|e| err(op, e))?;
        state.indexes.remove(projection);
        state.uniques.remove(projection);
        state.key_fields.remove(projection);
        self.cache(op)?.clear();
        Ok(())
    }

    fn drop_index_tables(
        txn: &redb::WriteTransaction,
        projection: &str,
        fields: &[String],
        op: &str,
    ) -> Result<(), StoreError> {
        let index = tables::index_table(projection, fields);
        txn.delete_table(IndexDef::new(&index))
            .map_err(|e| err(op, e))?;
        let unique = tables::unique_table(projection, fields);
        txn.delete_table(BytesDef::new(&unique))
            .map_err(|e| err(op, e))?;
        let mut defs = txn.open_table(tables::INDEX_DEFS).map_err(|e| err(op, e))?;
        defs.remove(index.as_str()).map_err(|e| err(op, e))?;
        let mut unique_defs = txn
            .open_table(tables::UNIQUE_DEFS)
            .map_err(|e| err(op, e))?;
        unique_defs
            .remove(unique.as_str())
            .map_err(|e| err(op, e))?;
        Ok(())
    }

    pub fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        let op = "ensure projection";
        let mut state = self.write_state(op)?;
        // The first ensure of a projection in this process creates its table.
        let known = state
            .key_fields
            .insert(layout.name.clone(), layout.key.clone())
            .is_some();
        let existing = state.indexes.get(&layout.name).cloned().unwrap_or_default();
        let new: Vec<Vec<String>> = layout
            .secondary_indexes()
            .into_iter()
            .map(|(fields, _)| fields.to_vec())
            .filter(|f| !existing.contains(f))
            .collect();
        let existing_unique = state.uniques.get(&layout.name).cloned().unwrap_or_default();
        let new_unique: Vec<Vec<String>> = unique::unique_indexes(layout)
            .into_iter()
            .filter(|f| !existing_unique.contains(f))
            .collect();
        if known && new.is_empty() && new_unique.is_empty() {
            return Ok(());
        }
        let name = tables::records_table(&layout.name);
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        {
            let records = txn
                .open_table(BytesDef::new(&name))
                .map_err(|e| err(op, e))?;
            let mut defs = txn.open_table(tables::INDEX_DEFS).map_err(|e| err(op, e))?;
            for fields in &new {
                let index = tables::index_table(&layout.name, fields);
                let mut t = txn
                    .open_table(IndexDef::new(&index))
                    .map_err(|e| err(op, e))?;
                for row in records.iter().map_err(|e| err(op, e))? {
                    let (pk, v) = row.map_err(|e| err(op, e))?;
                    let r = tables::decode_record(v.value(), op)?;
                    if let Some(tuple) = key::encode_fields(&r.fields, fields) {
                        let entry = tables::index_entry(&tuple, pk.value());
                        t.insert(entry.as_slice(), ()).map_err(|e| err(op, e))?;
                    }
                }
                let def = postcard::to_stdvec(&(&layout.name, fields)).map_err(|e| err(op, e))?;
                defs.insert(index.as_str(), def.as_slice())
                    .map_err(|e| err(op, e))?;
            }
            // A unique index is built from the stored records, and refused (nothing of this
            // call committed) when they violate it, as MongoDB refuses to create it.
            let mut unique_defs = txn
                .open_table(tables::UNIQUE_DEFS)
                .map_err(|e| err(op, e))?;
            for fields in &new_unique {
                let name = tables::unique_table(&layout.name, fields);
                let mut t = txn
                    .open_table(BytesDef::new(&name))
                    .map_err(|e| err(op, e))?;
                for row in records.iter().map_err(|e| err(op, e))? {
                    let (pk, v) = row.map_err(|e| err(op, e))?;
                    let r = tables::decode_record(v.value(), op)?;
                    let keys = unique::index_keys(&r.fields, fields)
                        .map_err(|_| unique::unbuildable(&layout.name, fields))?;
                    for k in keys {
                        let taken = t
                            .insert(k.as_slice(), pk.value())
                            .map_err(|e| err(op, e))?
                            .is_some();
                        if taken {
                            return Err(unique::unbuildable(&layout.name, fields));
                        }
                    }
                }
                let def = postcard::to_stdvec(&(&layout.name, fields)).map_err(|e| err(op, e))?;
                unique_defs
                    .insert(name.as_str(), def.as_slice())
                    .map_err(|e| err(op, e))?;
            }
        }
        txn.commit().map_err(|e| err(op, e))?;
        state
            .indexes
            .entry(layout.name.clone())
            .or_default()
            .extend(new);
        state
            .uniques
            .entry(layout.name.clone())
            .or_default()
            .extend(new_unique);
        Ok(())
    }

    pub fn records(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Record>>>, StoreError> {
        let op = "read projection";
        let _state = self.read_state(op)?;
        let pks: Vec<Option<Vec<u8>>> = keys.iter().map(|k| key::encode(k)).collect();
        self.records_by_pk(projection, &pks, op)
    }

    pub fn find(&self, projection: &str, q: FindIn<'_>) -> Result<Vec<Arc<Record>>, StoreError> {
        let op = "query projection";
        let state = self.read_state(op)?;
        let keep = |r: &Record| {
            (!q.public_only || r.is_public()) && condition::all_hold(&r.fields, q.conditions)
        };
        // Distinct encoded tuples (a tuple holding a null matches nothing).
        let mut seen = HashSet::with_capacity(q.values.len());
        let tuples: Vec<Vec<u8>> = q
            .values
            .iter()
            .filter_map(|v| key::encode(v))
            .filter(|t| seen.insert(t.clone()))
            .collect();
        let found = if state.key_fields.get(projection).map(Vec::as_slice) == Some(q.fields) {
            let pks: Vec<Option<Vec<u8>>> = tuples.into_iter().map(Some).collect();
            self.records_by_pk(projection, &pks, op)?
                .into_iter()
                .flatten()
                .collect()
        } else if state
            .indexes
            .get(projection)
            .is_some_and(|ix| ix.iter().any(|f| f == q.fields))
        {
            let index = tables::index_table(projection, q.fields);
            let pks = self.pks_from_index(&index, &tuples, op)?;
            self.records_by_pk(projection, &pks, op)?
                .into_iter()
                .flatten()
                .collect()
        } else {
            self.scan_matching(projection, q.fields, &seen, op)?
        };
        Ok(found.into_iter().filter(|r| keep(r)).collect())
    }

    pub fn write_records(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let op = "write projection";
        let state = self.write_state(op)?;
        let indexes = state.indexes.get(projection).cloned().unwrap_or_default();
        let uniques = state.uniques.get(projection).cloned().unwrap_or_default();
        let name = tables::records_table(projection);
        let prefix = cache_prefix(&name);
        let txn = self.data_txn(op)?;
        let planned = {
            let mut table = txn
                .open_table(BytesDef::new(&name))
                .map_err(|e| err(op, e))?;
            let mut unique_tables = Vec::with_capacity(uniques.len());
            for fields in &uniques {
                let t = txn
                    .open_table(BytesDef::new(&tables::unique_table(projection, fields)))
                    .map_err(|e| err(op, e))?;
                unique_tables.push(t);
            }
            // Decide every outcome first (version guard, unique indexes)...
            let planned = {
                let (table, unique_tables) = (&table, &unique_tables);
                unique::plan(
                    projection,
                    writes,
                    &uniques,
                    op,
                    |pk| {
                        if let Some(e) = self.cache(op)?.get(&cache_key(&prefix, pk)) {
                            return Ok(record(e));
                        }
                        match table.get(pk).map_err(|e| err(op, e))? {
                            Some(v) => Ok(Some(Arc::new(tables::decode_record(v.value(), op)?))),
                            None => Ok(None),
                        }
                    },
                    |i, k| match unique_tables.get(i) {
                        Some(t) => Ok(t
                            .get(k)
                            .map_err(|e| err(op, e))?
                            .map(|v| v.value().to_vec())),
                        None => Ok(None),
                    },
                )?
            };
            // ... then apply them, with their index entries.
            let mut index_tables = Vec::with_capacity(indexes.len());
            for fields in &indexes {
                let t = txn
                    .open_table(IndexDef::new(&tables::index_table(projection, fields)))
                    .map_err(|e| err(op, e))?;
                index_tables.push((fields, t));
            }
            for e in &planned.touched {
                let Some(new) = &e.new else { continue };
                match new {
                    Some(r) => {
                        let bytes = tables::encode_record(r, op)?;
                        table
                            .insert(e.pk.as_slice(), bytes.as_slice())
                            .map_err(|x| err(op, x))?;
                    }
                    None => {
                        table.remove(e.pk.as_slice()).map_err(|x| err(op, x))?;
                    }
                }
                for (fields, t) in &mut index_tables {
                    let old = e
                        .old
                        .as_ref()
                        .and_then(|r| key::encode_fields(&r.fields, fields));
                    let new = new
                        .as_ref()
                        .and_then(|r| key::encode_fields(&r.fields, fields));
                    if old == new {
                        continue;
                    }
                    if let Some(o) = old {
                        let entry = tables::index_entry(&o, &e.pk);
                        t.remove(entry.as_slice()).map_err(|x| err(op, x))?;
                    }
                    if let Some(n) = new {
                        let entry = tables::index_entry(&n, &e.pk);
                        t.insert(entry.as_slice(), ()).map_err(|x| err(op, x))?;
                    }
                }
            }
            // Unique keys: every key the old records held is freed first (unless another record
            // took it), then the new records take theirs, so a value moving between two keys of
            // the call ends with its new holder whatever their order.
            for (fields, t) in uniques.iter().zip(unique_tables.iter_mut()) {
                for e in planned.touched.iter().filter(|e| e.new.is_some()) {
                    let Some(old) = &e.old else { continue };
                    for k in unique::index_keys(&old.fields, fields).unwrap_or_default() {
                        let held = t
                            .get(k.as_slice())
                            .map_err(|x| err(op, x))?
                            .is_some_and(|h| h.value() == e.pk.as_slice());
                        if held {
                            t.remove(k.as_slice()).map_err(|x| err(op, x))?;
                        }
                    }
                }
                for e in &planned.touched {
                    let Some(Some(new)) = &e.new else { continue };
                    for k in unique::index_keys(&new.fields, fields).unwrap_or_default() {
                        t.insert(k.as_slice(), e.pk.as_slice())
                            .map_err(|x| err(op, x))?;
                    }
                }
            }
            planned
        };
        txn.commit().map_err(|e| err(op, e))?;
        let mut cache = self.cache(op)?;
        for e in planned.touched {
            let ck = cache_key(&prefix, &e.pk);
            match e.new {
                Some(Some(r)) => cache.insert(ck, Entry::Record(Arc::new(r))),
                Some(None) => cache.remove(&ck),
                None => {}
            }
        }
        drop(cache);
        drop(state);
        match planned.refused {
            Some(e) => Err(e),
            None => Ok(planned.outcomes),
        }
    }

    pub fn count(&self, projection: &str) -> Result<u64, StoreError> {
        let op = "count projection";
        let _state = self.read_state(op)?;
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let name = tables::records_table(projection);
        Ok(match open_read(&txn, BytesDef::new(&name), op)? {
            Some(t) => t.len().map_err(|e| err(op, e))?,
            None => 0,
        })
    }

    pub fn scan_records(
        &self,
        projection: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Record>, StoreError> {
        let op = "scan projection";
        self.page(&tables::records_table(projection), after, limit, op, |b| {
            tables::decode_record(b, op)
        })
    }
}
