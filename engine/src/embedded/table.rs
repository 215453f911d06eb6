//! One projection collection of the embedded store: records by encoded primary key, and a
//! hash index per queried field tuple.
//!
//! In: puts and removes of whole records, `$in` queries. Out: matching records.
//!
//! Guarantees: indexes always agree with the records (every put/remove maintains them); a
//! query on a field tuple without an index is answered correctly by a scan.

use std::collections::{BTreeMap, HashMap};

use crate::store::{condition, key, FindIn, ProjectionLayout, Record};

/// A hash index: encoded field tuple -> encoded primary keys.
#[derive(Default)]
struct Index {
    fields: Vec<String>,
    entries: HashMap<Vec<u8>, Vec<Vec<u8>>>,
}

impl Index {
    fn insert(&mut self, pk: &[u8], record: &Record) {
        if let Some(t) = key::encode_fields(&record.fields, &self.fields) {
            self.entries.entry(t).or_default().push(pk.to_vec());
        }
    }

    fn remove(&mut self, pk: &[u8], record: &Record) {
        if let Some(t) = key::encode_fields(&record.fields, &self.fields) {
            if let Some(pks) = self.entries.get_mut(&t) {
                pks.retain(|p| p != pk);
                if pks.is_empty() {
                    self.entries.remove(&t);
                }
            }
        }
    }
}

/// A projection's records and indexes.
#[derive(Default)]
pub struct Table {
    key_fields: Vec<String>,
    records: BTreeMap<Vec<u8>, Record>,
    indexes: Vec<Index>,
}

impl Table {
    /// Sets the key and builds any index of `layout` not built yet.
    pub fn set_layout(&mut self, layout: &ProjectionLayout) {
        self.key_fields = layout.key.clone();
        let wanted = layout
            .declared
            .iter()
            .map(|(f, _)| f)
            .chain(layout.queried.iter());
        for fields in wanted {
            if fields == &self.key_fields || self.indexes.iter().any(|i| &i.fields == fields) {
                continue;
            }
            let mut index = Index {
                fields: fields.clone(),
                entries: HashMap::new(),
            };
            for (pk, r) in &self.records {
                index.insert(pk, r);
            }
            self.indexes.push(index);
        }
    }

    /// Adds a record read back from disk (indexes are built by `set_layout`).
    pub fn load(&mut self, pk: Vec<u8>, record: Record) {
        self.records.insert(pk, record);
    }

    /// The record with encoded primary key `pk`.
    pub fn get(&self, pk: &[u8]) -> Option<&Record> {
        self.records.get(pk)
    }

    /// Records in encoded-key order.
    pub fn by_key(&self) -> &BTreeMap<Vec<u8>, Record> {
        &self.records
    }

    /// Every record.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// Inserts or replaces a record.
    pub fn put(&mut self, pk: Vec<u8>, record: Record) {
        if let Some(old) = self.records.get(&pk) {
            for i in &mut self.indexes {
                i.remove(&pk, old);
            }
        }
        for i in &mut self.indexes {
            i.insert(&pk, &record);
        }
        self.records.insert(pk, record);
    }

    /// Removes a record.
    pub fn remove(&mut self, pk: &[u8]) {
        if let Some(old) = self.records.remove(pk) {
            for i in &mut self.indexes {
                i.remove(pk, &old);
            }
        }
    }

    /// Answers a [`FindIn`] query.
    pub fn find_in(&self, q: FindIn<'_>) -> Vec<Record> {
        let keep = |r: &Record| {
            (!q.public_only || r.is_public()) && condition::all_hold(&r.fields, q.conditions)
        };
        let mut out = Vec::new();
        if q.fields == self.key_fields.as_slice() {
            for v in q.values {
                if let Some(r) = key::encode(v).and_then(|k| self.records.get(&k)) {
                    if keep(r) {
                        out.push(r.clone());
                    }
                }
            }
            dedupe(&mut out);
            return out;
        }
        if let Some(index) = self.indexes.iter().find(|i| i.fields == q.fields) {
            let mut seen = std::collections::HashSet::new();
            for v in q.values {
                let Some(t) = key::encode(v) else { continue };
                if !seen.insert(t.clone()) {
                    continue;
                }
                for pk in index.entries.get(&t).into_iter().flatten() {
                    if let Some(r) = self.records.get(pk) {
                        if keep(r) {
                            out.push(r.clone());
                        }
                    }
                }
            }
            return out;
        }
        let wanted: std::collections::HashSet<Vec<u8>> =
            q.values.iter().filter_map(|v| key::encode(v)).collect();
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

fn dedupe(records: &mut Vec<Record>) {
    let mut seen = std::collections::HashSet::new();
    records.retain(|r| seen.insert(key::encode(&r.key)));
}
