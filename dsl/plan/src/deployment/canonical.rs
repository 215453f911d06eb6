//! Canonical encodings and fixed hashes: the ground of every deployment fingerprint.
//!
//! In: plan parts (as their serde JSON). Out: a canonical byte string per part and its
//! SHA-256, as lowercase hex.
//!
//! Guarantees:
//! - stable across runs, processes, machines and builds: the hash is SHA-256 (never a
//!   randomly seeded hasher) over JSON with object keys sorted, no whitespace;
//! - what a plan does not depend on is left out before hashing: join nodes are replaced by
//!   their walk from the root (projections, join fields, conditions), so node numbering and
//!   relation names do not reach a fingerprint; sets (conditions) are sorted.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{FieldCondition, Hop, JoinNode, SingleView};

/// Length of an item fingerprint, in hex digits (64 bits of SHA-256: plenty to tell two
/// versions of one item apart).
pub const SHORT: usize = 16;

/// Writes `value` as canonical JSON: object keys sorted, no whitespace.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The full fingerprint of `value`: SHA-256 of its canonical JSON.
pub fn long(value: &Value) -> String {
    sha256_hex(canonical(value).as_bytes())
}

/// The item fingerprint of `value`: the first [`SHORT`] hex digits of [`long`].
pub fn short(value: &Value) -> String {
    let mut h = long(value);
    h.truncate(SHORT);
    h
}

/// `value` as JSON (plan types always serialize; `Null` is a safe stand-in otherwise).
pub fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Conditions as a sorted list of canonical strings (their order means nothing).
fn conditions(list: &[FieldCondition]) -> Value {
    let mut out: Vec<String> = list.iter().map(|c| canonical(&json(c))).collect();
    out.sort();
    out.dedup();
    Value::from(out)
}

/// One hop of a join or a strategy without its relation name: what is matched on what.
pub fn relation_shape(node: &JoinNode, parent_projection: &str) -> Value {
    serde_json::json!({
        "from": parent_projection,
        "from_fields": node.parent_fields,
        "from_conditions": conditions(&node.parent_conditions),
        "to": node.projection,
        "to_fields": node.fields,
        "to_conditions": conditions(&node.conditions),
        "many": node.many,
    })
}

/// A strategy hop without its relation name.
pub fn hop_shape(hop: &Hop) -> Value {
    serde_json::json!({
        "from": hop.from,
        "from_fields": hop.from_fields,
        "from_conditions": conditions(&hop.from_conditions),
        "to": hop.to,
        "to_fields": hop.to_fields,
        "to_conditions": conditions(&hop.to_conditions),
    })
}

/// The walk from the root of `view` to node `id`: each hop's shape, root first. Names of
/// relations and the numbering of nodes are left out.
pub fn walk(view: &SingleView, id: usize) -> Value {
    let mut hops = Vec::new();
    let mut at = view.nodes.get(id);
    // A checked plan's parents have smaller ids; the bound guards against a cycle in a
    // hand-written one.
    let mut left = view.nodes.len();
    while let Some(node) = at {
        if left == 0 {
            break;
        }
        left -= 1;
        let parent = node.parent.and_then(|p| view.nodes.get(p));
        match parent {
            Some(p) => hops.push(relation_shape(node, &p.projection)),
            None => hops.push(serde_json::json!({ "root": node.projection })),
        }
        at = parent;
    }
    hops.reverse();
    Value::from(hops)
}

/// `expr` (a mapping expression's JSON) with every node number replaced by the node's walk
/// from the root, so that the encoding does not depend on how nodes are numbered.
pub fn expr_with_walks(view: &SingleView, mut expr: Value) -> Value {
    replace_nodes(view, &mut expr);
    expr
}

fn replace_nodes(view: &SingleView, value: &mut Value) {
    match value {
        Value::Object(map) => {
            // Expressions are tagged with `kind`; those reading a node carry `node`.
            if map.contains_key("kind") {
                if let Some(id) = map.get("node").and_then(Value::as_u64) {
                    let id = usize::try_from(id).unwrap_or(usize::MAX);
                    map.insert("node".into(), walk(view, id));
                }
            }
            for (k, v) in map.iter_mut() {
                if k != "node" {
                    replace_nodes(view, v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_nodes(view, v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_keys_at_every_level_and_hashes_stably() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"y":2,"x":"é"}],"c":null}}"#)
            .expect("json");
        let b: Value = serde_json::from_str(r#"{"a":{"c":null,"d":[1,{"x":"é","y":2}]},"b":1}"#)
            .expect("json");
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":null,"d":[1,{"x":"é","y":2}]},"b":1}"#
        );
        assert_eq!(long(&a), long(&b));
        // A fixed value: SHA-256 does not change between builds or processes.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(short(&a).len(), SHORT);
    }
}
