//! One projection collection of the in-memory embedded store: records by encoded primary key, and a
//! hash index per queried field tuple.
//!
//! In: puts and removes of whole records, `$in` queries. Out: matching records, shared
//! (`Arc`): a query hands out references to the stored records, never copies.
//!
//! Guarantees: indexes always agree with the records (every put/remove maintains them), the
//! unique ones ([`super::unique`]) included; a query on a field tuple without an index is
//! answered correctly by a scan. Stored records
//! are immutable: a put replaces the `Arc`, so a record handed out earlier keeps its image.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::unique;
use fdc_core::store::{condition, key, FindIn, ProjectionLayout, Record, StoreError};

/// A hash index: encoded field tuple -> the records holding it (the same `Arc`s as the
/// table's, so a lookup needs no second search by primary key).
#[derive(Default)]
struct Index {
    fields: Vec<String>,
    entries: HashMap<Vec<u8>, Vec<Arc<Record>>>,
}

impl Index {
    fn insert(&mut self, record: &Arc<Record>) {
        if let Some(t) = key::encode_fields(&record.fields, &self.fields) {
            self.entries.entry(t).or_default().push(record.clone());
        }
    }

    fn remove(&mut self, record: &Arc<Record>) {
        if let Some(t) = key::encode_fields(&record.fields, &self.fields) {
            if let Some(records) = self.entries.get_mut(&t) {
                records.retain(|r| !Arc::ptr_eq(r, record));
                if records.is_empty() {
                    self.entries.remove(&t);
                }
            }
        }
    }
}

/// A unique index ([`unique`]): each index key -> the primary key of the record holding it.
struct Unique {
    fields: Vec<String>,
    holders: HashMap<Vec<u8>, Vec<u8>>,
}

impl Unique {
    fn insert(&mut self, pk: &[u8], record: &Record) {
        // A record stored passed the write plan, so its keys are computable.
        for k in unique::index_keys(&record.fields, &self.fields).unwrap_or_default() {
            self.holders.insert(k, pk.to_vec());
        }
    }

    /// Frees the keys `record` holds (a key another record took meanwhile stays its).
    fn remove(&mut self, pk: &[u8], record: &Record) {
        for k in unique::index_keys(&record.fields, &self.fields).unwrap_or_default() {
            if self.holders.get(&k).is_some_and(|h| h.as_slice() == pk) {
                self.holders.remove(&k);
            }
        }
    }
}

/// A projection's records and indexes.
#[derive(Default)]
pub struct Table {
    key_fields: Vec<String>,
    records: BTreeMap<Vec<u8>, Arc<Record>>,
    indexes: Vec<Index>,
    uniques: Vec<Unique>,
}

impl Table {
    /// Sets the key and builds any index of `layout` not built yet. A unique index the stored
    /// records violate is refused (as MongoDB refuses to create it).
    pub fn set_layout(&mut self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        self.key_fields = layout.key.clone();
        for fields in unique::unique_indexes(layout) {
            if self.uniques.iter().any(|u| u.fields == fields) {
                continue;
            }
            let mut built = Unique {
                fields,
                holders: HashMap::new(),
            };
            for (pk, r) in &self.records {
                let keys = unique::index_keys(&r.fields, &built.fields)
                    .map_err(|_| unique::unbuildable(&layout.name, &built.fields))?;
                for k in keys {
                    if built.holders.insert(k, pk.clone()).is_some() {
                        return Err(unique::unbuildable(&layout.name, &built.fields));
                    }
                }
            }
            self.uniques.push(built);
        }
        for (fields, _) in layout.secondary_indexes() {
            if self.indexes.iter().any(|i| i.fields.as_slice() == fields) {
                continue;
            }
            let mut index = Index {
                fields: fields.to_vec(),
                entries: HashMap::new(),
            };
            for r in self.records.values() {
                index.insert(r);
            }
            self.indexes.push(index);
        }
        Ok(())
    }

    /// Drops the secondary and the unique index on `fields`, if any (the records stay).
    pub fn drop_index(&mut self, fields: &[String]) {
        self.indexes.retain(|i| i.fields != fields);
        self.uniques.retain(|u| u.fields != fields);
    }

    /// The field tuples of the unique indexes, in the order [`Table::unique_holder`] numbers
    /// them.
    pub fn unique_fields(&self) -> Vec<Vec<String>> {
        self.uniques.iter().map(|u| u.fields.clone()).collect()
    }

    /// The primary key of the record holding `key` in unique index `index`.
    pub fn unique_holder(&self, index: usize, key: &[u8]) -> Option<&Vec<u8>> {
        self.uniques.get(index)?.holders.get(key)
    }

    /// The record with encoded primary key `pk`.
    pub fn get(&self, pk: &[u8]) -> Option<&Arc<Record>> {
        self.records.get(pk)
    }

    /// Records in encoded-key order.
    pub fn by_key(&self) -> &BTreeMap<Vec<u8>, Arc<Record>> {
        &self.records
    }

    /// Every record.
    pub fn records(&self) -> impl Iterator<Item = &Arc<Record>> {
        self.records.values()
    }

    /// Inserts or replaces a record.
    pub fn put(&mut self, pk: Vec<u8>, record: Record) {
        let record = Arc::new(record);
        if let Some(old) = self.records.get(&pk) {
            for i in &mut self.indexes {
                i.remove(old);
            }
            for u in &mut self.uniques {
                u.remove(&pk, old);
            }
        }
        for i in &mut self.indexes {
            i.insert(&record);
        }
        for u in &mut self.uniques {
            u.insert(&pk, &record);
        }
        self.records.insert(pk, record);
    }

    /// Removes a record.
    pub fn remove(&mut self, pk: &[u8]) {
        if let Some(old) = self.records.remove(pk) {
            for i in &mut self.indexes {
                i.remove(&old);
            }
            for u in &mut self.uniques {
                u.remove(pk, &old);
            }
        }
    }

    /// Answers a [`FindIn`] query.
    pub fn find_in(&self, q: FindIn<'_>) -> Vec<Arc<Record>> {
        let keep = |r: &Record| {
            (!q.public_only || r.is_public()) && condition::all_hold(&r.fields, q.conditions)
        };
        let mut out = Vec::new();
        if q.fields == self.key_fields.as_slice() {
            let mut seen = HashSet::with_capacity(q.values.len());
            for v in q.values {
                let Some(k) = key::encode(v) else { continue };
                if let Some(r) = self.records.get(&k) {
                    if keep(r) && seen.insert(k) {
                        out.push(r.clone());
                    }
                }
            }
            return out;
        }
        if let Some(index) = self.indexes.iter().find(|i| i.fields == q.fields) {
            let mut seen = HashSet::with_capacity(q.values.len());
            for v in q.values {
                let Some(t) = key::encode(v) else { continue };
                let Some(records) = index.entries.get(&t) else {
                    continue;
                };
                if !seen.insert(t) {
                    continue;
                }
                out.extend(records.iter().filter(|r| keep(r)).cloned());
            }
            return out;
        }
        let wanted: HashSet<Vec<u8>> = q.values.iter().filter_map(|v| key::encode(v)).collect();
        self.records
            .values()
            .filter(|r| {
                key::encode_fields(&r.fields, q.fields).is_some_and(|t| wanted.contains(&t))
                    && keep(r)
            })
            .cloned()
            .collect()
    }
}
