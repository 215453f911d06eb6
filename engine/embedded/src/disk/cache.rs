//! The bounded cache of decoded records and documents in front of redb.
//!
//! In: entries (a shared record or a keyed document) under a byte key (table prefix + encoded
//! primary key), each with its estimated heap size. Out: hits by key.
//!
//! Guarantees: the estimated size of what the cache holds never exceeds its budget by more than
//! one entry. Eviction is generational (an approximate LRU): entries enter the young
//! generation; a hit in the old generation moves the entry to the young one; when the young
//! generation passes half the budget, the old generation is dropped and the young one becomes
//! the old one. Every operation is O(1). The cache holds only what is committed: the store
//! inserts after a commit and never caches a pending write.

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;

use fdc_core::store::Record;
use fdc_core::value::map::INDEXED_FROM;
use fdc_core::value::{Map, Name, Value};

/// A cached value.
#[derive(Clone)]
pub enum Entry {
    Record(Arc<Record>),
    /// A single-view document with its key.
    Doc(Arc<(Vec<Value>, Arc<Map>)>),
}

impl Entry {
    /// The estimated heap size of the entry (what it keeps alive while cached).
    pub fn weight(&self) -> usize {
        match self {
            Entry::Record(r) => {
                size_of::<Record>()
                    + 16
                    + values_weight(&r.key)
                    + map_weight(&r.fields)
                    + r.meta.topic.capacity()
            }
            Entry::Doc(d) => {
                size_of::<(Vec<Value>, Arc<Map>)>() + 32 + values_weight(&d.0) + {
                    size_of::<Map>() + map_weight(&d.1)
                }
            }
        }
    }
}

/// Heap bytes of a vector of values.
fn values_weight(values: &[Value]) -> usize {
    std::mem::size_of_val(values) + values.iter().map(value_weight).sum::<usize>()
}

/// Heap bytes of a map: its entries (name, value), its index when it has one (name, position
/// and control byte per field), and what they own (names longer than fit inline).
fn map_weight(m: &Map) -> usize {
    let slot = size_of::<(Name, Value)>();
    let index = if m.len() >= INDEXED_FROM {
        m.len() * (size_of::<Name>() + size_of::<usize>() + 1)
    } else {
        0
    };
    m.capacity() * slot
        + index
        + m.iter()
            .map(|(k, v)| name_weight(k) * (1 + usize::from(index > 0)) + value_weight(v))
            .sum::<usize>()
}

/// Heap bytes of a name (0 when it is stored inline).
fn name_weight(k: &Name) -> usize {
    if k.is_heap_allocated() {
        k.capacity()
    } else {
        0
    }
}

/// Heap bytes a value owns (beyond its own inline size).
fn value_weight(v: &Value) -> usize {
    match v {
        Value::String(s) => s.capacity(),
        Value::Array(items) => {
            items.capacity() * size_of::<Value>() + {
                items.iter().map(value_weight).sum::<usize>()
            }
        }
        Value::Object(m) => map_weight(m),
        _ => 0,
    }
}

/// Per-entry bookkeeping of the hash map (key vector, slot), beside the entry's own weight.
fn overhead(key: &[u8]) -> usize {
    key.len() + size_of::<(Vec<u8>, (Entry, usize))>() + 8
}

#[derive(Default)]
struct Generation {
    entries: HashMap<Vec<u8>, (Entry, usize)>,
    bytes: usize,
}

impl Generation {
    fn take(&mut self, key: &[u8]) -> Option<(Entry, usize)> {
        let (entry, w) = self.entries.remove(key)?;
        self.bytes -= w;
        Some((entry, w))
    }
}

/// The cache (see the module docs). Not synchronized: the store wraps it in a mutex.
pub struct Cache {
    budget: usize,
    young: Generation,
    old: Generation,
}

impl Cache {
    /// A cache holding at most about `budget` bytes (0 disables it).
    pub fn new(budget: usize) -> Cache {
        Cache {
            budget,
            young: Generation::default(),
            old: Generation::default(),
        }
    }

    /// The entry under `key`, if cached (a hit in the old generation makes it young again).
    pub fn get(&mut self, key: &[u8]) -> Option<Entry> {
        if let Some((e, _)) = self.young.entries.get(key) {
            return Some(e.clone());
        }
        let (entry, w) = self.old.take(key)?;
        self.put_young(key.to_vec(), entry.clone(), w);
        Some(entry)
    }

    /// Caches `entry` under `key`, replacing what was there.
    pub fn insert(&mut self, key: Vec<u8>, entry: Entry) {
        if self.budget == 0 {
            return;
        }
        self.old.take(&key);
        let w = entry.weight() + overhead(&key);
        self.put_young(key, entry, w);
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &[u8]) {
        self.young.take(key);
        self.old.take(key);
    }

    /// The estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.young.bytes + self.old.bytes
    }

    /// How many entries are held.
    /// Forgets every entry (a dropped table's keys must not be served again).
    pub fn clear(&mut self) {
        *self = Cache::new(self.budget);
    }

    pub fn len(&self) -> usize {
        self.young.entries.len() + self.old.entries.len()
    }

    fn put_young(&mut self, key: Vec<u8>, entry: Entry, w: usize) {
        if let Some((_, old_w)) = self.young.entries.insert(key, (entry, w)) {
            self.young.bytes -= old_w;
        }
        self.young.bytes += w;
        if self.young.bytes > self.budget / 2 {
            self.old = std::mem::take(&mut self.young);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_core::store::{RecordMeta, RecordState};

    fn record(id: i64) -> Entry {
        let mut fields = Map::default();
        fields.insert("id".into(), Value::Int(id));
        fields.insert("name".into(), Value::String(format!("name {id}")));
        Entry::Record(Arc::new(Record {
            key: vec![Value::Int(id)],
            layout: Default::default(),
            fields,
            state: RecordState::Public,
            meta: RecordMeta {
                version: 1,
                topic: "t".into(),
                partition: 0,
                offset: 0,
                timestamp: None,
                created_at: 0,
                updated_at: 0,
            },
        }))
    }

    fn id(e: &Entry) -> Value {
        match e {
            Entry::Record(r) => r.key[0].clone(),
            Entry::Doc(d) => d.0[0].clone(),
        }
    }

    #[test]
    fn the_cache_stays_within_its_budget_and_keeps_what_is_used() {
        let one = record(0).weight() + overhead(&0u64.to_be_bytes());
        let budget = one * 100;
        let mut c = Cache::new(budget);
        for i in 0..10_000 {
            c.insert((i as u64).to_be_bytes().to_vec(), record(i));
            // Key 7 is used all the time: it stays.
            assert!(c.get(&7u64.to_be_bytes()).is_some() || i < 7);
            assert!(c.bytes() <= budget + one, "{} > {budget}", c.bytes());
        }
        assert!(c.len() <= 101);
        assert!(c.len() >= 50);
        assert_eq!(id(&c.get(&7u64.to_be_bytes()).unwrap()), Value::Int(7));
        assert_eq!(
            id(&c.get(&9999u64.to_be_bytes()).unwrap()),
            Value::Int(9999)
        );
        assert!(c.get(&100u64.to_be_bytes()).is_none());
        c.remove(&9999u64.to_be_bytes());
        assert!(c.get(&9999u64.to_be_bytes()).is_none());
        // Replacing an entry does not count it twice.
        let before = c.bytes();
        c.insert(7u64.to_be_bytes().to_vec(), record(7));
        assert_eq!(c.bytes(), before);
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let mut c = Cache::new(0);
        c.insert(vec![1], record(1));
        assert!(c.get(&[1]).is_none());
        assert_eq!(c.bytes(), 0);
    }
}
