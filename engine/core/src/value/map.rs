//! [`Map`]: an object's fields, in insertion order, names unique.
//!
//! Records and documents are small objects (a few to a few dozen fields), built, compared and
//! dropped by the million. A small map is therefore one vector of entries searched by comparing
//! names: one allocation per object and no hashing (an `IndexMap` allocates a hash table
//! beside its entries and hashes every name it inserts). From [`INDEXED_FROM`] fields on, a
//! hash index from name to position is kept too, so that building or reading a large object
//! (an `any` field holding a big JSON object, say) stays linear, whatever its names.
//!
//! The API is the subset of `IndexMap`'s that the engine uses, with the same meaning: `insert`
//! of a present name replaces the value in place; `shift_remove` keeps the order of the rest;
//! equality ignores order (see `view::identical` for the order-sensitive comparison).

use std::collections::HashMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Name, Value};

/// From this many fields on, a map keeps a hash index of its names.
pub const INDEXED_FROM: usize = 32;

type Index = HashMap<Name, usize, foldhash::fast::RandomState>;

/// An object's fields, in insertion order (documents keep the mapping's field order).
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(Name, Value)>,
    /// Name -> position, kept while there are at least [`INDEXED_FROM`] entries.
    index: Option<Box<Index>>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// An empty map with room for `n` fields.
    pub fn with_capacity(n: usize) -> Map {
        Map {
            entries: Vec::with_capacity(n),
            index: None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Fields the map holds without growing.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Reverses the order of the fields.
    pub fn reverse(&mut self) {
        self.entries.reverse();
        if self.index.is_some() {
            self.reindex();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of field `name`.
    pub fn get_index_of(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.entries.iter().position(|(k, _)| k.as_str() == name),
        }
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.get_index_of(name).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.get_index_of(name).map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get_index_of(name).is_some()
    }

    /// The field at position `i`.
    pub fn get_index(&self, i: usize) -> Option<(&Name, &Value)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    /// Sets field `name`: in place when present (returning the old value), else appended.
    pub fn insert(&mut self, name: Name, value: Value) -> Option<Value> {
        if let Some(i) = self.get_index_of(&name) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        let position = self.entries.len();
        if let Some(index) = &mut self.index {
            index.insert(name.clone(), position);
        }
        self.entries.push((name, value));
        if self.index.is_none() && self.entries.len() >= INDEXED_FROM {
            self.reindex();
        }
        None
    }

    /// Removes field `name`, keeping the order of the others.
    pub fn shift_remove(&mut self, name: &str) -> Option<Value> {
        let i = self.get_index_of(name)?;
        let (_, v) = self.entries.remove(i);
        self.reindex();
        Some(v)
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&Name, &mut Value)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Name> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Value> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Rebuilds the index from the entries (or drops it below [`INDEXED_FROM`]).
    fn reindex(&mut self) {
        if self.entries.len() < INDEXED_FROM {
            self.index = None;
            return;
        }
        let mut index = Index::with_capacity_and_hasher(self.entries.len(), Default::default());
        for (i, (k, _)) in self.entries.iter().enumerate() {
            index.insert(k.clone(), i);
        }
        self.index = Some(Box::new(index));
    }
}

/// The fields of a [`Map`], in order.
pub struct Iter<'m>(std::slice::Iter<'m, (Name, Value)>);

impl<'m> Iterator for Iter<'m> {
    type Item = (&'m Name, &'m Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'m> IntoIterator for &'m Map {
    type Item = (&'m Name, &'m Value);
    type IntoIter = Iter<'m>;

    fn into_iter(self) -> Iter<'m> {
        self.iter()
    }
}

impl IntoIterator for Map {
    type Item = (Name, Value);
    type IntoIter = std::vec::IntoIter<(Name, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl Extend<(Name, Value)> for Map {
    fn extend<I: IntoIterator<Item = (Name, Value)>>(&mut self, items: I) {
        for (k, v) in items {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(Name, Value)> for Map {
    /// Later duplicates replace the value of the first, as [`Map::insert`] does.
    fn from_iter<I: IntoIterator<Item = (Name, Value)>>(items: I) -> Map {
        let items = items.into_iter();
        let mut map = Map::with_capacity(items.size_hint().0);
        map.extend(items);
        map
    }
}

impl<const N: usize> From<[(Name, Value); N]> for Map {
    fn from(items: [(Name, Value); N]) -> Map {
        items.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;

    /// The value of field `name`; panics when there is none (as `IndexMap`'s).
    fn index(&self, name: &str) -> &Value {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no field named `{name}`"),
        }
    }
}

impl PartialEq for Map {
    /// The same fields with equal values, in any order (as `IndexMap`'s equality).
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = Map;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of field names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Map, A::Error> {
                let mut map = Map::with_capacity(access.size_hint().unwrap_or(0).min(4096));
                while let Some((k, v)) = access.next_entry::<Name, Value>()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        d.deserialize_map(MapVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(i: usize) -> Name {
        Name::from(format!("f{i}"))
    }

    /// The same operations on a `Map` and on an `IndexMap` (the reference) give the same
    /// fields in the same order, below and above the indexed size, removals included.
    #[test]
    fn behaves_as_an_index_map_below_and_above_the_indexed_size() {
        for n in [0, 3, INDEXED_FROM - 1, INDEXED_FROM, 3 * INDEXED_FROM] {
            let mut map = Map::new();
            let mut reference: indexmap::IndexMap<Name, Value> = indexmap::IndexMap::new();
            for i in 0..n {
                assert_eq!(
                    map.insert(name(i), Value::Int(i as i64)),
                    reference.insert(name(i), Value::Int(i as i64))
                );
            }
            // Replacing keeps the position.
            for i in (0..n).step_by(3) {
                assert_eq!(
                    map.insert(name(i), Value::Int(-1)),
                    reference.insert(name(i), Value::Int(-1))
                );
            }
            for i in (0..n).step_by(4) {
                let k = format!("f{i}");
                assert_eq!(map.shift_remove(&k), reference.shift_remove(k.as_str()));
            }
            // And growing again after removals.
            for i in n..n + 5 {
                map.insert(name(i), Value::Int(i as i64));
                reference.insert(name(i), Value::Int(i as i64));
            }
            let got: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let want: Vec<_> = reference
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(got, want, "n = {n}");
            for i in 0..n + 6 {
                let k = format!("f{i}");
                assert_eq!(map.get(&k), reference.get(k.as_str()), "{k}");
                assert_eq!(map.get_index_of(&k), reference.get_index_of(k.as_str()));
            }
            assert_eq!(map.index.is_some(), map.len() >= INDEXED_FROM);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(usize, i64),
        Remove(usize),
        Reverse,
    }

    fn op(names: usize) -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0..names, any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => (0..names).prop_map(Op::Remove),
            1 => Just(Op::Reverse),
        ]
    }

    proptest::proptest! {
        /// Any sequence of inserts, removals and reversals leaves a `Map` with the fields,
        /// order and lookups of an `IndexMap` given the same sequence, across the indexed
        /// size in both directions (names from a set of up to 80, so maps cross
        /// [`INDEXED_FROM`]).
        #[test]
        fn random_operations_match_an_index_map(
            names in 1usize..80,
            ops in proptest::collection::vec(op(80), 0..400),
        ) {
            let mut map = Map::new();
            let mut reference: indexmap::IndexMap<Name, Value> = indexmap::IndexMap::new();
            for o in ops {
                match o {
                    Op::Insert(k, v) => {
                        let k = name(k % names);
                        proptest::prop_assert_eq!(
                            map.insert(k.clone(), Value::Int(v)),
                            reference.insert(k, Value::Int(v))
                        );
                    }
                    Op::Remove(k) => {
                        let k = format!("f{}", k % names);
                        proptest::prop_assert_eq!(
                            map.shift_remove(&k),
                            reference.shift_remove(k.as_str())
                        );
                    }
                    Op::Reverse => {
                        map.reverse();
                        reference.reverse();
                    }
                }
                proptest::prop_assert_eq!(map.index.is_some(), map.len() >= INDEXED_FROM);
            }
            let got: Vec<_> = map.iter().collect();
            let want: Vec<_> = reference.iter().collect();
            proptest::prop_assert_eq!(got, want);
            for i in 0..names {
                let k = format!("f{i}");
                proptest::prop_assert_eq!(map.get_index_of(&k), reference.get_index_of(k.as_str()));
            }
        }
    }

    #[test]
    fn equality_ignores_order_and_serde_keeps_it() {
        let a: Map = [(name(1), Value::Int(1)), (name(2), Value::Null)].into();
        let b: Map = [(name(2), Value::Null), (name(1), Value::Int(1))].into();
        assert_eq!(a, b);
        assert_ne!(a, [(name(1), Value::Int(1))].into());
        assert_ne!(a, [(name(1), Value::Int(2)), (name(2), Value::Null)].into());
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(json, r#"{"f2":"Null","f1":{"Int":1}}"#);
        let back: Map = serde_json::from_str(&json).unwrap();
        let order: Vec<&str> = back.keys().map(|k| k.as_str()).collect();
        assert_eq!(order, ["f2", "f1"]);
        // A repeated name keeps its first position and its last value.
        let dup: Map = [(name(1), Value::Int(1)), (name(1), Value::Int(2))].into();
        assert_eq!(dup.len(), 1);
        assert_eq!(dup.get("f1"), Some(&Value::Int(2)));
    }
}
