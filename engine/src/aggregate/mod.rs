//! Aggregation: builds the single-view documents of a batch of keys from the projections.
//!
//! In: a single view, a batch of its keys, the projection store. Out: per key, the document
//! (or "root gone"), plus the number of mapping errors (a function given bad input).
//!
//! Guarantees:
//! - one `find_in` for the root records of the whole batch, then one per join node (parents
//!   first), over every parent join tuple of the batch;
//! - a child belongs to a parent when the join tuples are equal (null never matches), the
//!   node's conditions hold on the child, its parent conditions on the parent, and the child is
//!   `PUBLIC`; children are kept in primary-key order, so documents are deterministic;
//! - a key whose root record is `PUBLIC` yields [`Built::Document`]; with
//!   [`RootDelete::MarkDeleted`], a key whose root record is stored `DELETED` (soft delete keeps
//!   its last image) yields [`Built::Deleted`]: the mapping evaluated on that image with the
//!   current `PUBLIC` related records, so the document depends only on the stored projections,
//!   not on how the changes were batched; any other key (root missing, or `DELETED` in
//!   [`RootDelete::Delete`] mode) yields [`Built::RootGone`];
//! - expressions follow [`fdc_plan::Expr`] (see [`eval`]); no expression fails a rebuild.

mod eval;
pub mod ops;

use std::sync::Arc;

use fdc_plan::{Plan, RootDelete, SingleView};

use crate::store::record::Layout;
use crate::store::{key, FindIn, ProjectionStore, Record, StoreError};
use crate::value::{Map, Value};

/// The outcome of building one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Built {
    /// The document of a `PUBLIC` root, mapped fields in mapping order (no `__STATE__`).
    Document(Map),
    /// Only for [`RootDelete::MarkDeleted`] views: the root record is stored `DELETED`; the
    /// document built from its last image (no `__STATE__`), to be stored marked deleted.
    Deleted(Map),
    /// No root record has this key (or, in [`RootDelete::Delete`] mode, no `PUBLIC` one).
    RootGone,
}

/// The documents of a batch of keys, in the order of the keys.
#[derive(Debug, Default)]
pub struct BuiltBatch {
    pub documents: Vec<(Vec<Value>, Built)>,
    /// Mapping-function calls that got bad input (their result was null).
    pub mapping_errors: u64,
}

/// Records loaded for one batch: per node, the records and, per parent record, its children.
pub(crate) struct Loaded {
    /// `records[node]`: every record of the node loaded for the batch (shared with the store).
    pub records: Vec<Vec<Arc<Record>>>,
    /// `groups[node][g]`: indexes into `records[node]` of the children sharing one join tuple,
    /// in primary-key order.
    pub groups: Vec<Vec<Vec<usize>>>,
    /// `group_of[node][parent_index]`: the group of that parent's children (parents with equal
    /// join tuples share one), [`NO_GROUP`] when it has none.
    pub group_of: Vec<Vec<u32>>,
    /// `exact[node]`: every record of the node holds exactly its projection's declared fields
    /// in declaration order, so a field is read at its slot without checking its name. Checked
    /// while the records are loaded (one pass over their field names, which live in memory of
    /// their own: each look costs a cache miss).
    pub exact: Vec<bool>,
}

/// The [`Layout`] of `declared` (for [`Record::holds_exactly`], see [`Loaded::exact`]).
fn layout_of(declared: &[fdc_plan::Field]) -> Layout {
    Layout::of(declared.iter().map(|f| f.name.as_str()))
}

/// The declared fields of the projection of `node`.
fn declared<'p>(plan: &'p Plan, view: &SingleView, node: usize) -> &'p [fdc_plan::Field] {
    view.nodes
        .get(node)
        .and_then(|n| plan.projection(&n.projection))
        .map_or(&[], |p| p.fields.as_slice())
}

/// The values of the join tuple of `fields` (by slot alone when the record is `exact`, as
/// for [`encode_join`]).
fn join_values(
    fields: &crate::value::Map,
    names: &[String],
    slots: &[Option<usize>],
    exact: bool,
) -> Vec<Value> {
    if exact && slots.iter().all(Option::is_some) {
        slots
            .iter()
            .flatten()
            .map(|s| fields.get_index(*s).map_or(Value::Null, |(_, v)| v.clone()))
            .collect()
    } else {
        key::tuple(fields, names)
    }
}

/// Encodes the join tuple of `fields` into `out`: by slot alone when the record is `exact`
/// and every field has a slot, else by slot checked by name (see [`key::encode_slots_into`]).
fn encode_join(
    fields: &crate::value::Map,
    names: &[String],
    slots: &[Option<usize>],
    exact: bool,
    out: &mut Vec<u8>,
) -> bool {
    if exact && slots.iter().all(Option::is_some) {
        key::encode_at_into(fields, slots.iter().flatten().copied(), out)
    } else {
        key::encode_slots_into(fields, names, slots, out)
    }
}

/// A parent without children (no join tuple, or one holding a null).
pub(crate) const NO_GROUP: u32 = u32::MAX;

/// Builds the documents of `keys` (de-duplicated by the caller) for `view`.
pub async fn build(
    plan: &Plan,
    view: &SingleView,
    store: &dyn ProjectionStore,
    keys: &[Vec<Value>],
) -> Result<BuiltBatch, StoreError> {
    let root = view.root();
    let key_fields: Vec<String> = view.key.iter().map(|k| k.field.clone()).collect();
    // A mark-deleted view documents its soft-deleted roots too.
    let public_only = view.on_root_delete == RootDelete::Delete;
    let found = store
        .find_in_shared(
            &root.projection,
            FindIn {
                fields: &key_fields,
                values: keys,
                conditions: &[],
                public_only,
            },
        )
        .await?;
    let mut by_key: key::TupleMap<Arc<Record>> =
        key::TupleMap::with_capacity_and_hasher(found.len(), Default::default());
    for r in found {
        if let Some(k) = key::encode_fields(&r.fields, &key_fields) {
            // A `PUBLIC` root wins over a `DELETED` one holding the same view key.
            match by_key.entry(k) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(r);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    if !e.get().is_public() && r.is_public() {
                        e.insert(r);
                    }
                }
            }
        }
    }
    // Root records in key order; `slot[i]` is the root index of keys[i].
    let mut roots: Vec<Arc<Record>> = Vec::with_capacity(keys.len());
    let mut slot: Vec<Option<usize>> = Vec::with_capacity(keys.len());
    for k in keys {
        match key::encode(k).and_then(|e| by_key.remove(&e)) {
            Some(r) => {
                slot.push(Some(roots.len()));
                roots.push(r);
            }
            None => slot.push(None),
        }
    }
    let loaded = load_nodes(plan, view, store, roots).await?;
    let evaluator = eval::Evaluator::new(plan, view, &loaded);
    let mut out = BuiltBatch::default();
    for (k, s) in keys.iter().zip(slot) {
        let built = match s {
            Some(root_index) if loaded.records[0][root_index].is_public() => {
                Built::Document(evaluator.document(root_index))
            }
            Some(root_index) => Built::Deleted(evaluator.document(root_index)),
            None => Built::RootGone,
        };
        out.documents.push((k.clone(), built));
    }
    out.mapping_errors = evaluator.mapping_errors();
    Ok(out)
}

/// The slots of `fields` in the declaration order of `projection`'s fields.
fn slots(plan: &Plan, projection: &str, fields: &[String]) -> Vec<Option<usize>> {
    let declared = plan.projection(projection).map(|p| &p.fields);
    fields
        .iter()
        .map(|f| declared.and_then(|d| d.iter().position(|d| &d.name == f)))
        .collect()
}

async fn load_nodes(
    plan: &Plan,
    view: &SingleView,
    store: &dyn ProjectionStore,
    roots: Vec<Arc<Record>>,
) -> Result<Loaded, StoreError> {
    let n = view.nodes.len();
    let mut loaded = Loaded {
        records: Vec::with_capacity(n),
        groups: vec![Vec::new(); n],
        group_of: vec![Vec::new(); n],
        exact: vec![false; n],
    };
    let root_declared = declared(plan, view, 0);
    let root_layout = layout_of(root_declared);
    loaded.exact[0] = roots
        .iter()
        .all(|r| r.holds_exactly(root_layout, root_declared));
    loaded.records.push(roots);
    let mut encoded = Vec::new();
    for node in view.nodes.iter().skip(1) {
        let parent = node.parent.unwrap_or(0);
        let parents = &loaded.records[parent];
        let parents_exact = loaded.exact[parent];
        let parent_projection = view.nodes.get(parent).map_or("", |n| n.projection.as_str());
        let parent_slots = slots(plan, parent_projection, &node.parent_fields);
        let child_slots = slots(plan, &node.projection, &node.fields);
        // One group per distinct join tuple of the parents that satisfy the parent
        // conditions; the tuple's values are queried once.
        let mut by_tuple: key::TupleMap<u32> = key::TupleMap::default();
        let mut values = Vec::new();
        let mut group_of = Vec::with_capacity(parents.len());
        for p in parents {
            encoded.clear();
            let group = if crate::store::condition::all_hold(&p.fields, &node.parent_conditions)
                && encode_join(
                    &p.fields,
                    &node.parent_fields,
                    &parent_slots,
                    parents_exact,
                    &mut encoded,
                ) {
                match by_tuple.get(encoded.as_slice()) {
                    Some(g) => *g,
                    None => {
                        let g = values.len() as u32;
                        by_tuple.insert(encoded.clone(), g);
                        values.push(join_values(
                            &p.fields,
                            &node.parent_fields,
                            &parent_slots,
                            parents_exact,
                        ));
                        g
                    }
                }
            } else {
                NO_GROUP
            };
            group_of.push(group);
        }
        let mut records = if values.is_empty() {
            Vec::new()
        } else {
            store
                .find_in_shared(
                    &node.projection,
                    FindIn {
                        fields: &node.fields,
                        values: &values,
                        conditions: &node.conditions,
                        public_only: true,
                    },
                )
                .await?
        };
        sort_by_key(&mut records);
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); values.len()];
        let child_declared = declared(plan, view, node.id);
        let child_layout = layout_of(child_declared);
        let mut exact = true;
        for (i, r) in records.iter().enumerate() {
            let holds = r.holds_exactly(child_layout, child_declared);
            exact &= holds;
            encoded.clear();
            if encode_join(&r.fields, &node.fields, &child_slots, holds, &mut encoded) {
                if let Some(g) = by_tuple.get(encoded.as_slice()) {
                    groups[*g as usize].push(i);
                }
            }
        }
        loaded.groups[node.id] = groups;
        loaded.group_of[node.id] = group_of;
        loaded.exact[node.id] = exact;
        loaded.records.push(records);
    }
    Ok(loaded)
}

/// Sorts records by primary key ([`compare_keys`]). Primary keys are unique within a
/// projection, so an unstable sort gives the one order. Single integer keys (the common case)
/// are read once instead of at every comparison (each read follows two pointers into the
/// store's memory), and records already in order are left as they are.
fn sort_by_key(records: &mut Vec<Arc<Record>>) {
    let ints: Option<Vec<i64>> = records
        .iter()
        .map(|r| match r.key.as_slice() {
            [Value::Int(i)] => Some(*i),
            _ => None,
        })
        .collect();
    match ints {
        Some(ints) => {
            if ints.is_sorted() {
                return;
            }
            let mut order: Vec<(i64, Arc<Record>)> =
                ints.into_iter().zip(records.drain(..)).collect();
            order.sort_unstable_by_key(|(i, _)| *i);
            records.extend(order.into_iter().map(|(_, r)| r));
        }
        None => records.sort_unstable_by(|a, b| compare_keys(&a.key, &b.key)),
    }
}

/// Lexicographic order of key tuples by [`Value::total_cmp`].
pub fn compare_keys(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.total_cmp(y);
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests;
