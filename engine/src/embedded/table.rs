//! One projection collection of the in-memory embedded store: records by encoded primary key, and a
//! hash index per queried field tuple.
//!
//! In: puts and removes of whole records, `$in` queries. Out: matching records, shared
//! (`Arc`): a query hands out references to the stored records, never copies.
//!
//! Guarantees: indexes always agree with the records (every put/remove maintains them); a
//! query on a field tuple without an index is answered correctly by a scan. Stored records
//! are immutable: a put replaces the `Arc`, so a record handed out earlier keeps its image.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::store::{condition, key, FindIn, ProjectionLayout, Record};

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

/// The field tuples of `layout` that need a secondary index (declared or queried, other than
/// the primary key), each once.
pub fn secondary_indexes(layout: &ProjectionLayout) -> Vec<&Vec<String>> {
    let mut out: Vec<&Vec<String>> = Vec::new();
    let wanted = layout.declared.iter().map(|(f, _)| f);
    for fields in wanted.chain(layout.queried.iter()) {
        if fields != &layout.key && !out.contains(&fields) {
            out.push(fields);
        }
    }
    out
}

/// A projection's records and indexes.
#[derive(Default)]
pub struct Table {
    key_fields: Vec<String>,
    records: BTreeMap<Vec<u8>, Arc<Record>>,
    indexes: Vec<Index>,
}

impl Table {
    /// Sets the key and builds any index of `layout` not built yet.
    pub fn set_layout(&mut self, layout: &ProjectionLayout) {
        self.key_fields = layout.key.clone();
        for fields in secondary_indexes(layout) {
            if self.indexes.iter().any(|i| &i.fields == fields) {
                continue;
            }
            let mut index = Index {
                fields: fields.clone(),
                entries: HashMap::new(),
            };
            for r in self.records.values() {
                index.insert(r);
            }
            self.indexes.push(index);
        }
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
        }
        for i in &mut self.indexes {
            i.insert(&record);
        }
        self.records.insert(pk, record);
    }

    /// Removes a record.
    pub fn remove(&mut self, pk: &[u8]) {
        if let Some(old) = self.records.remove(pk) {
            for i in &mut self.indexes {
                i.remove(&old);
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
