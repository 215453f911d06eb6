//! Declared unique indexes on the embedded store, with the semantics of the MongoDB adapter,
//! and the plan of a projection write call that both backends apply.
//!
//! In: a projection's [`ProjectionLayout`], records, and the writes of one call with what is
//! stored. Out: the unique field tuples, the index keys of a record, and a [`Planned`] call:
//! each write's outcome, what each key touched ends holding, and the error when an index
//! refused a write.
//!
//! Guarantees: the embedded store refuses what the MongoDB adapter refuses, so `fdc run` and
//! `fdc test` on a bare machine dead-letter what production dead-letters:
//! - the unique indexes are those `mongo::projection` creates: each declared `unique index`
//!   whose field tuple is neither the primary key nor already indexed (the first declaration
//!   of a tuple decides), as a plain MongoDB unique index (not sparse, not partial, no
//!   collation);
//! - every stored record holds its values in the index, whatever its `__STATE__`: a
//!   soft-deleted record keeps its value, a hard delete frees it;
//! - a missing field is null, and null is a value: two records with a null (or missing)
//!   field collide;
//! - values compare as MongoDB compares what the adapter stores (`mongo::codec`): numbers by
//!   value across int and float, decimals and dates as the strings they are stored as (`1.50`
//!   and `1.5` differ), strings by bytes, datetimes by millisecond; an array field holds each
//!   of its elements (an empty array holds `undefined`), so records sharing one element
//!   collide, and a record with two array fields in one index is refused (MongoDB: "cannot
//!   index parallel arrays");
//! - a call is applied as `mongo::guard` applies it: in rounds of one write per key (the n-th
//!   write of each key in round n); in a round, after the version guard, the puts of keys not
//!   stored (in call order), then the puts over stored records (in call order), then the hard
//!   deletes, each against what the writes before it left; the writes an index refused are
//!   tried again as long as others make progress. What still cannot be written fails the call
//!   with the adapter's non-retryable error (`N record(s) refused by a unique index of the
//!   projection (server code 11000)`, no value), the writes applied so far staying applied;
//!   the runtime then writes the batch message by message and dead-letters the refused one.

use std::collections::HashMap;
use std::sync::Arc;

use fdc_core::store::{ProjectionLayout, Record, RecordWrite, StoreError, WriteOutcome};
use fdc_core::value::{Map, Value};

/// MongoDB's duplicate-key code, named in the refusal as the MongoDB adapter names it.
const DUPLICATE_KEY: i32 = 11000;

/// The unique secondary indexes of `layout`, as the MongoDB adapter creates them
/// ([`ProjectionLayout::secondary_indexes`]; the primary key's is the store's own key).
pub fn unique_indexes(layout: &ProjectionLayout) -> Vec<Vec<String>> {
    layout
        .secondary_indexes()
        .into_iter()
        .filter(|(_, unique)| *unique)
        .map(|(fields, _)| fields.to_vec())
        .collect()
}

/// A record that no index can hold: two array fields in one compound index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParallelArrays;

/// The keys `fields` (a record's fields) holds in the unique index on `index`: one per
/// element combination, distinct and sorted (see the module docs for the value rules).
pub fn index_keys(fields: &Map, index: &[String]) -> Result<Vec<Vec<u8>>, ParallelArrays> {
    let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
    let mut arrays = 0;
    for f in index {
        let value = fdc_core::value::field(fields, f).unwrap_or(&Value::Null);
        let parts: Vec<Vec<u8>> = match value {
            Value::Array(items) => {
                arrays += 1;
                if arrays > 1 {
                    return Err(ParallelArrays);
                }
                if items.is_empty() {
                    vec![vec![UNDEFINED]]
                } else {
                    items.iter().map(encoded).collect()
                }
            }
            v => vec![encoded(v)],
        };
        keys = keys
            .iter()
            .flat_map(|k| {
                parts.iter().map(move |p| {
                    let mut k = k.clone();
                    k.extend_from_slice(p);
                    k
                })
            })
            .collect();
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

const UNDEFINED: u8 = 0;
const NULL: u8 = 1;
const NUMBER_INT: u8 = 2;
const NUMBER_FLOAT: u8 = 3;
const STRING: u8 = 4;
const DOCUMENT: u8 = 5;
const ARRAY: u8 = 6;
const BOOL: u8 = 7;
const DATETIME: u8 = 8;

fn encoded(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    encode(v, &mut out);
    out
}

fn put_len(n: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&(n as u64).to_be_bytes());
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    out.push(STRING);
    put_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// A self-delimiting encoding, equal exactly when MongoDB finds the stored BSON values equal.
fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(b) => {
            out.push(BOOL);
            out.push(u8::from(*b));
        }
        Value::Int(i) => {
            out.push(NUMBER_INT);
            out.extend_from_slice(&i.to_be_bytes());
        }
        // A whole float equals the int of the same value (BSON compares numbers by value).
        Value::Float(f) if f.fract() == 0.0 && *f >= -9.2e18 && *f <= 9.2e18 => {
            out.push(NUMBER_INT);
            out.extend_from_slice(&(*f as i64).to_be_bytes());
        }
        Value::Float(f) => {
            out.push(NUMBER_FLOAT);
            let bits = if f.is_nan() {
                f64::NAN.to_bits()
            } else {
                f.to_bits()
            };
            out.extend_from_slice(&bits.to_be_bytes());
        }
        // Stored as strings (`mongo::codec`), so compared as strings.
        Value::Decimal(d) => put_str(&d.to_string(), out),
        Value::Date(d) => put_str(&d.format("%Y-%m-%d").to_string(), out),
        Value::String(s) => put_str(s, out),
        Value::Datetime(t) => {
            out.push(DATETIME);
            out.extend_from_slice(&t.timestamp_millis().to_be_bytes());
        }
        // Nested in an indexed value, arrays and documents compare whole, element by element
        // (documents field by field, in order).
        Value::Array(items) => {
            out.push(ARRAY);
            put_len(items.len(), out);
            for item in items {
                encode(item, out);
            }
        }
        Value::Object(map) => {
            out.push(DOCUMENT);
            put_len(map.len(), out);
            for (k, v) in map {
                put_len(k.len(), out);
                out.extend_from_slice(k.as_bytes());
                encode(v, out);
            }
        }
    }
}

/// The error of a call whose writes a unique index refused: the MongoDB adapter's.
pub fn refused(projection: &str, writes: usize) -> StoreError {
    StoreError::fatal(
        format!("write projection {projection}"),
        format!(
            "{writes} record(s) refused by a unique index of the projection (server code {DUPLICATE_KEY})"
        ),
    )
}

/// The error of creating a unique index the stored records violate (or cannot be indexed by).
pub fn unbuildable(projection: &str, fields: &[String]) -> StoreError {
    StoreError::fatal(
        format!("ensure projection {projection}"),
        format!(
            "the stored records hold a value twice in the unique index on ({}) (server code {DUPLICATE_KEY})",
            fields.join(", ")
        ),
    )
}

fn parallel_arrays(projection: &str) -> StoreError {
    StoreError::fatal(
        format!("write projection {projection}"),
        "1 statement(s) refused: a unique index cannot hold two array fields of one record \
         (cannot index parallel arrays)",
    )
}

/// One primary key a call writes.
pub struct Touched {
    /// The encoded primary key.
    pub pk: Vec<u8>,
    /// The record stored before the call.
    pub old: Option<Arc<Record>>,
    /// What the call leaves under the key: `None` nothing applied, `Some(None)` removed.
    pub new: Option<Option<Record>>,
}

impl Touched {
    /// The record stored once the writes decided so far are applied.
    fn current(&self) -> Option<&Record> {
        match &self.new {
            Some(new) => new.as_ref(),
            None => self.old.as_deref(),
        }
    }
}

/// A planned write call.
pub struct Planned {
    /// One per write, in call order.
    pub outcomes: Vec<WriteOutcome>,
    /// The keys written, in first-write order; apply every `new` before returning `refused`.
    pub touched: Vec<Touched>,
    /// The error the call ends with once what was applied is applied (an index refused a
    /// write).
    pub refused: Option<StoreError>,
}

/// One write of a round: its position in the call, its key's slot in `touched`, its guard,
/// and what it leaves.
struct Pending {
    position: usize,
    slot: usize,
    guard: u128,
    new: Option<Record>,
}

/// Which key holds each index key, as the writes planned so far leave it.
struct Holders<'h, H> {
    /// Changes made by this call: `(index, key)` -> holder (`None`: freed).
    changed: HashMap<(usize, Vec<u8>), Option<Vec<u8>>>,
    stored: &'h mut H,
}

impl<H> Holders<'_, H>
where
    H: FnMut(usize, &[u8]) -> Result<Option<Vec<u8>>, StoreError>,
{
    fn get(&mut self, index: usize, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.changed.get(&(index, key.to_vec())) {
            Some(h) => Ok(h.clone()),
            None => (self.stored)(index, key),
        }
    }
}

/// Plans the writes of one call on `projection` (see the module docs): `stored` reads the
/// record stored under an encoded primary key, `holder` the primary key holding a key of the
/// unique index `uniques[i]`.
pub fn plan<S, H>(
    projection: &str,
    writes: Vec<RecordWrite>,
    uniques: &[Vec<String>],
    op: &str,
    mut stored: S,
    mut holder: H,
) -> Result<Planned, StoreError>
where
    S: FnMut(&[u8]) -> Result<Option<Arc<Record>>, StoreError>,
    H: FnMut(usize, &[u8]) -> Result<Option<Vec<u8>>, StoreError>,
{
    let mut outcomes = vec![WriteOutcome::Applied; writes.len()];
    let mut touched: Vec<Touched> = Vec::with_capacity(writes.len());
    let mut slots: HashMap<Vec<u8>, (usize, usize)> = HashMap::with_capacity(writes.len());
    let mut rounds: Vec<Vec<Pending>> = Vec::new();
    for (position, w) in writes.into_iter().enumerate() {
        let (pk, guard, new) = super::guarded(w, op)?;
        let (slot, round) = match slots.get_mut(&pk) {
            Some((slot, seen)) => {
                *seen += 1;
                (*slot, *seen)
            }
            None => {
                let old = stored(&pk)?;
                let slot = touched.len();
                slots.insert(pk.clone(), (slot, 0));
                touched.push(Touched { pk, old, new: None });
                (slot, 0)
            }
        };
        if rounds.len() <= round {
            rounds.push(Vec::new());
        }
        rounds[round].push(Pending {
            position,
            slot,
            guard,
            new,
        });
    }
    drop(slots);
    let mut holders = Holders {
        changed: HashMap::new(),
        stored: &mut holder,
    };
    for round in rounds {
        // The version guard, then the writes in the adapter's order: puts of keys not stored,
        // puts over stored records, hard deletes.
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let mut removes = Vec::new();
        for p in round {
            let current = touched[p.slot].current().map(|r| r.meta.version);
            match (current, &p.new) {
                (Some(v), _) if v > p.guard => outcomes[p.position] = WriteOutcome::Stale,
                _ if uniques.is_empty() => touched[p.slot].new = Some(p.new),
                (None, Some(_)) => inserts.push(p),
                (Some(_), Some(_)) => updates.push(p),
                (_, None) => removes.push(p),
            }
        }
        let mut pending: Vec<Pending> = inserts.into_iter().chain(updates).collect();
        // Attempts, as the adapter's: the hard deletes go after the puts of the first one.
        let mut removes = Some(removes);
        while !pending.is_empty() || removes.as_ref().is_some_and(|r| !r.is_empty()) {
            let before = pending.len() + removes.as_ref().map_or(0, Vec::len);
            let mut again = Vec::new();
            for p in pending {
                let Some(record) = &p.new else {
                    continue;
                };
                let mut keys = Vec::with_capacity(uniques.len());
                for index in uniques {
                    let k = index_keys(&record.fields, index)
                        .map_err(|ParallelArrays| parallel_arrays(projection))?;
                    keys.push(k);
                }
                let pk = &touched[p.slot].pk;
                let mut taken = false;
                'check: for (i, ks) in keys.iter().enumerate() {
                    for k in ks {
                        if holders.get(i, k)?.is_some_and(|h| &h != pk) {
                            taken = true;
                            break 'check;
                        }
                    }
                }
                if taken {
                    again.push(p);
                    continue;
                }
                release(&touched[p.slot], uniques, &mut holders)?;
                for (i, ks) in keys.into_iter().enumerate() {
                    for k in ks {
                        holders
                            .changed
                            .insert((i, k), Some(touched[p.slot].pk.clone()));
                    }
                }
                touched[p.slot].new = Some(p.new);
            }
            for p in removes.take().unwrap_or_default() {
                release(&touched[p.slot], uniques, &mut holders)?;
                touched[p.slot].new = Some(None);
            }
            if !again.is_empty() && again.len() == before {
                // No progress: nothing left could free what the rest needs.
                return Ok(Planned {
                    outcomes,
                    touched,
                    refused: Some(refused(projection, again.len())),
                });
            }
            pending = again;
        }
    }
    Ok(Planned {
        outcomes,
        touched,
        refused: None,
    })
}

/// Frees the index keys the current record of `t` holds.
fn release<H>(
    t: &Touched,
    uniques: &[Vec<String>],
    holders: &mut Holders<'_, H>,
) -> Result<(), StoreError>
where
    H: FnMut(usize, &[u8]) -> Result<Option<Vec<u8>>, StoreError>,
{
    let Some(current) = t.current() else {
        return Ok(());
    };
    for (i, index) in uniques.iter().enumerate() {
        // A stored record's keys were computable when it was stored.
        let Ok(keys) = index_keys(&current.fields, index) else {
            continue;
        };
        for k in keys {
            if holders.get(i, &k)?.as_deref() == Some(t.pk.as_slice()) {
                holders.changed.insert((i, k), None);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(json: serde_json::Value, index: &[&str]) -> Result<Vec<Vec<u8>>, ParallelArrays> {
        let Value::Object(m) = Value::from_json(&json) else {
            panic!("object")
        };
        let index: Vec<String> = index.iter().map(|s| s.to_string()).collect();
        index_keys(&m, &index)
    }

    #[test]
    fn values_compare_as_mongodb_compares_the_stored_bson() {
        let k = |j| keys(j, &["a"]).unwrap();
        // Null and missing are one value.
        assert_eq!(k(json!({"a": null})), k(json!({})));
        // Numbers by value across int and float.
        assert_eq!(k(json!({"a": 2})), k(json!({"a": 2.0})));
        assert_ne!(k(json!({"a": 2})), k(json!({"a": 2.5})));
        assert_ne!(k(json!({"a": 2})), k(json!({"a": "2"})));
        // Decimals are stored as strings, scale kept.
        let dec = |s: &str| {
            let mut m = Map::default();
            m.insert("a".into(), Value::Decimal(s.parse().unwrap()));
            index_keys(&m, &["a".to_string()]).unwrap()
        };
        assert_ne!(dec("1.50"), dec("1.5"));
        assert_eq!(dec("1.50"), k(json!({"a": "1.50"})));
        // An array holds each element; an empty one holds `undefined`, not null.
        let both = k(json!({"a": [1, 2, 1]}));
        assert_eq!(both.len(), 2);
        assert!(both.contains(&k(json!({"a": 1}))[0]));
        assert_eq!(k(json!({"a": []})), k(json!({"a": []})));
        assert_ne!(k(json!({"a": []})), k(json!({"a": null})));
        // Nested arrays and documents compare whole.
        assert_ne!(k(json!({"a": [[1, 2]]})), k(json!({"a": [1, 2]})));
        assert_eq!(k(json!({"a": {"x": 1}})), k(json!({"a": {"x": 1.0}})));
        // Compound: one key per element, two arrays are refused.
        assert_eq!(
            keys(json!({"a": [1, 2], "b": 3}), &["a", "b"])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            keys(json!({"a": [1], "b": [2]}), &["a", "b"]),
            Err(ParallelArrays)
        );
    }

    #[test]
    fn the_unique_tuples_are_the_mongodb_adapters() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let layout = ProjectionLayout {
            name: "p".into(),
            key: s(&["id"]),
            declared: vec![
                (s(&["id"]), true),
                (s(&["a"]), false),
                (s(&["a"]), true),
                (s(&["b", "c"]), true),
                (vec![], true),
            ],
            queried: vec![s(&["b", "c"])],
        };
        assert_eq!(unique_indexes(&layout), vec![s(&["b", "c"])]);
    }
}
