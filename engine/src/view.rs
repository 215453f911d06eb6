//! The single-view writer: rebuilds triggered keys and writes what changed.
//!
//! In: a single view and a batch of its keys (triggers). Out: documents written, deleted or
//! marked deleted in the single-view store; failures in the errors collection; single-view
//! update events; a [`ViewReport`] of what happened, whose [`ViewCounts`] are the one type the
//! outcome counts travel in (batch counts, the run's [`Summary`](crate::runtime::Summary), the
//! refresh totals).
//!
//! Guarantees:
//! - per batch: one aggregation (see [`crate::aggregate`]), one `get_many` of the stored
//!   documents, one bulk write, one failures write;
//! - a document equal to the stored one (in merge mode: the mapped fields equal) is not
//!   rewritten and emits no event;
//! - with `on root delete: delete`, a key whose root is deleted or gone is deleted;
//! - with `on root delete: mark deleted`, a key whose root is stored soft-deleted gets the
//!   document built from the root's last image and the current related records, stored with
//!   `__STATE__ = "DELETED"` (whether or not a document was written before, so the result does
//!   not depend on batching); a key whose root is gone entirely (hard-deleted) keeps its stored
//!   document marked deleted, and gets none when nothing was stored;
//! - with `SingleView.schema`, a document that fails validation is not written; it is recorded
//!   with the reason (the stored document, if any, is left as it was);
//! - every stored document holds `__STATE__` (`"PUBLIC"` or `"DELETED"`) after the mapped
//!   fields.

use fdc_plan::{Plan, RootDelete, SingleView, WriteMode};
use serde::{Deserialize, Serialize};

use crate::aggregate::{self, Built};
use crate::store::{
    record, Event, EventOp, ProjectionStore, SingleViewStore, StoreError, ViewFailure, ViewWrite,
    STATE_FIELD,
};
use crate::value::{Map, Value};

/// Single-view outcome counts: what rebuilding keys did, one count per outcome. The one
/// type these counts travel in, from a [`ViewReport`] through a batch's counts to the run's
/// [`Summary`](crate::runtime::Summary) and a refresh's totals; add them with `+=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewCounts {
    pub inserted: u64,
    pub updated: u64,
    /// Rebuilt but equal to the stored document (or nothing to delete): not written.
    pub unchanged: u64,
    /// Deleted or marked deleted.
    pub deleted: u64,
    /// Refused by the view's JSON Schema.
    pub failed: u64,
    /// Mapping-function calls that got bad input (their value became null).
    pub mapping_errors: u64,
}

impl std::ops::AddAssign for ViewCounts {
    fn add_assign(&mut self, o: ViewCounts) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
        self.failed += o.failed;
        self.mapping_errors += o.mapping_errors;
    }
}

impl std::ops::Add for ViewCounts {
    type Output = ViewCounts;
    fn add(mut self, o: ViewCounts) -> ViewCounts {
        self += o;
        self
    }
}

/// What rebuilding a batch of keys did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ViewReport {
    pub counts: ViewCounts,
    pub events: Vec<Event>,
}

impl ViewReport {
    /// Adds `other`'s counts and events to `self`.
    pub fn absorb(&mut self, other: ViewReport) {
        self.counts += other.counts;
        self.events.extend(other.events);
    }
}

/// A compiled JSON Schema of one view.
pub struct ViewSchema(jsonschema::Validator);

impl ViewSchema {
    /// Compiles `schema`; the error names what is wrong with the schema.
    pub fn compile(schema: &serde_json::Value) -> Result<ViewSchema, String> {
        jsonschema::validator_for(schema)
            .map(ViewSchema)
            .map_err(|e| e.to_string())
    }

    /// `Err(reason)` when `document` does not validate.
    pub fn check(&self, document: &serde_json::Value) -> Result<(), String> {
        self.0
            .validate(document)
            .map_err(|e| format!("{e} (at `{}`)", e.instance_path()))
    }
}

fn state(doc: &Map) -> Option<&str> {
    doc.get(STATE_FIELD).and_then(Value::as_str)
}

/// Whether two documents are the same down to the representation: field order, decimal
/// scale (`2.50` is not `2.5`: they print differently) and float bits. `==` on [`Value`] is
/// numeric equality, which would leave a stale representation in the store.
pub fn identical_maps(a: &Map, b: &Map) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
}

/// Whether the stored document `stored` is `result`, down to the representation
/// ([`identical_maps`]), apart from key fields the mapping does not hold: a store may keep
/// every key field in the document (MongoDB does, for its key index).
fn holds(stored: &Map, result: &Map, key_names: &[String]) -> bool {
    if stored.len() == result.len() {
        return identical_maps(stored, result);
    }
    let kept = |(k, _): &(&crate::value::Name, &Value)| {
        result.contains_key(k.as_str()) || !key_names.iter().any(|n| n == k.as_str())
    };
    stored.iter().filter(kept).count() == result.len()
        && stored
            .iter()
            .filter(kept)
            .zip(result.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
}

/// [`identical_maps`] for values.
pub fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Decimal(x), Value::Decimal(y)) => x == y && x.scale() == y.scale(),
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| identical(p, q))
        }
        (Value::Object(x), Value::Object(y)) => identical_maps(x, y),
        _ => a == b,
    }
}

fn to_json(doc: &Map) -> serde_json::Value {
    serde_json::Value::Object(
        doc.iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect(),
    )
}

/// Rebuilds `keys` of view `vi` and writes the result.
pub async fn rebuild(
    plan: &Plan,
    vi: usize,
    schema: Option<&ViewSchema>,
    projections: &dyn ProjectionStore,
    views: &dyn SingleViewStore,
    keys: &[Vec<Value>],
    retired: &[String],
) -> Result<ViewReport, StoreError> {
    let view: &SingleView = &plan.single_views[vi];
    // A merge view losing fields writes whole documents: the stored one without them,
    // merged with the new one (other writers' fields kept), so that the fields go.
    let retiring = view.write == WriteMode::Merge && !retired.is_empty();
    let mut report = ViewReport::default();
    if keys.is_empty() {
        return Ok(report);
    }
    let built = aggregate::build(plan, view, projections, keys).await?;
    report.counts.mapping_errors = built.mapping_errors;
    let stored = views.get_many_shared(&view.name, keys).await?;
    let key_names: Vec<String> = view.key.iter().map(|k| k.name.clone()).collect();
    let mut writes = Vec::new();
    let mut failures = Vec::new();
    for ((key, built), stored) in built.documents.into_iter().zip(stored) {
        let key_json = || record::key_json(&key_names, &key);
        let document = match built {
            Built::Document(doc) => Some((doc, false)),
            Built::Deleted(doc) => Some((doc, true)),
            Built::RootGone => None,
        };
        let (op, after) = match document {
            Some((mut doc, marked)) => {
                if let Some(schema) = schema {
                    let json = to_json(&doc);
                    if let Err(reason) = schema.check(&json) {
                        report.counts.failed += 1;
                        failures.push(ViewFailure {
                            view: view.name.clone(),
                            key: key_json(),
                            reason,
                            document: json,
                        });
                        continue;
                    }
                }
                let doc_state = if marked { "DELETED" } else { "PUBLIC" };
                doc.insert(STATE_FIELD.into(), Value::String(doc_state.into()));
                // What the store will hold after the write (merge keeps foreign fields).
                let merged = match (&stored, view.write) {
                    (Some(old), WriteMode::Merge) => {
                        let mut merged = Map::clone(old);
                        if retiring {
                            for f in retired {
                                merged.shift_remove(f);
                            }
                        }
                        for (k, v) in &doc {
                            merged.insert(k.clone(), v.clone());
                        }
                        Some(merged)
                    }
                    _ => None,
                };
                let result = merged.as_ref().unwrap_or(&doc);
                if stored
                    .as_ref()
                    .is_some_and(|old| holds(old, result, &key_names))
                {
                    report.counts.unchanged += 1;
                    continue;
                }
                let op = match &stored {
                    // A marked document (newly marked, or a marked one rebuilt because a
                    // dependency changed) is announced as a delete, with the document after.
                    _ if marked => {
                        report.counts.deleted += 1;
                        EventOp::Delete
                    }
                    Some(old) if state(old) != Some("DELETED") => {
                        report.counts.updated += 1;
                        EventOp::Update
                    }
                    _ => {
                        report.counts.inserted += 1;
                        EventOp::Insert
                    }
                };
                // The event's `after` image, converted now rather than copied for later.
                let after = match &view.events {
                    Some(e) if e.after => Some(to_json(merged.as_ref().unwrap_or(&doc))),
                    _ => None,
                };
                let document = match merged {
                    Some(whole) if retiring => whole,
                    _ => doc,
                };
                writes.push(ViewWrite::Upsert {
                    key: key.clone(),
                    document,
                });
                (op, after)
            }
            // No root record at all (a hard-deleted root, or one never stored): nothing to
            // build from, so a mark-deleted view keeps the last stored document, marked.
            None => match (&stored, view.on_root_delete) {
                (Some(old), RootDelete::MarkDeleted) if state(old) != Some("DELETED") => {
                    let mut marked = Map::clone(old);
                    marked.insert(STATE_FIELD.into(), Value::String("DELETED".into()));
                    writes.push(ViewWrite::MarkDeleted { key: key.clone() });
                    report.counts.deleted += 1;
                    (EventOp::Delete, Some(to_json(&marked)))
                }
                (Some(_), RootDelete::Delete) => {
                    writes.push(ViewWrite::Delete { key: key.clone() });
                    report.counts.deleted += 1;
                    (EventOp::Delete, None)
                }
                _ => {
                    report.counts.unchanged += 1;
                    continue;
                }
            },
        };
        if let Some(events) = &view.events {
            report.events.push(Event::SingleViewUpdate {
                topic: events.topic.clone(),
                view: view.name.clone(),
                key: key_json(),
                op,
                before: events
                    .before
                    .then(|| stored.as_deref().map(to_json))
                    .flatten(),
                after: if events.after { after } else { None },
            });
        }
    }
    if !writes.is_empty() {
        let mode = if retiring {
            WriteMode::Replace
        } else {
            view.write
        };
        views.write(&view.name, mode, writes).await?;
    }
    if !failures.is_empty() {
        views.record_failures(failures).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::write_batch;
    use crate::testkit::{delete, shop_plan, upsert};
    use fdc_embedded::EmbeddedStore;
    use serde_json::json;

    #[tokio::test]
    async fn writes_once_skips_unchanged_and_deletes_or_marks_when_the_root_goes() {
        let plan = shop_plan();
        let s = EmbeddedStore::in_memory();
        let p = &plan;
        let seed = vec![
            upsert(
                p,
                "customers",
                json!({"id": 1, "name": "Ann", "country": "IT"}),
                1,
            ),
            upsert(
                p,
                "orders",
                json!({"id": 10, "customer_id": 1, "status": "NEW", "total": "1"}),
                1,
            ),
        ];
        write_batch(p, &s, seed, 0).await.unwrap();
        let c = vec![vec![Value::Int(1)]];
        let o = vec![vec![Value::Int(10)]];
        let schema = ViewSchema::compile(plan.single_views[1].schema.as_ref().unwrap()).unwrap();
        let r = rebuild(p, 0, None, &s, &s, &c, &[]).await.unwrap();
        assert_eq!((r.counts.inserted, r.events.len()), (1, 1));
        let r = rebuild(p, 1, Some(&schema), &s, &s, &o, &[]).await.unwrap();
        assert_eq!(r.counts.inserted, 1);
        // Rebuilding again changes nothing and emits nothing.
        let r = rebuild(p, 0, None, &s, &s, &c, &[]).await.unwrap();
        assert_eq!((r.counts.unchanged, r.events.len()), (1, 0));
        // Root deletes: customer_360 deletes, order_view marks deleted.
        let dels = vec![delete(p, "customers", 1, 2), delete(p, "orders", 10, 2)];
        write_batch(p, &s, dels, 0).await.unwrap();
        let r = rebuild(p, 0, None, &s, &s, &c, &[]).await.unwrap();
        assert_eq!(r.counts.deleted, 1);
        match &r.events[0] {
            Event::SingleViewUpdate { op, after, .. } => {
                assert_eq!((*op, after.is_none()), (EventOp::Delete, true))
            }
            Event::ProjectionUpdate { .. } => unreachable!(),
        }
        assert!(s.all_documents("customer_360").unwrap().is_empty());
        let r = rebuild(p, 1, Some(&schema), &s, &s, &o, &[]).await.unwrap();
        assert_eq!(r.counts.deleted, 1);
        let docs = s.all_documents("order_view").unwrap();
        assert_eq!(docs[0].1[STATE_FIELD], Value::String("DELETED".into()));
        // Built from the deleted order's last image with the current related records: the
        // customer was deleted too, so it is null, as a full recomputation gives.
        assert_eq!(docs[0].1["status"], Value::String("NEW".into()));
        assert_eq!(docs[0].1["customer"], Value::Null);
        // Marking again is a no-op.
        let r = rebuild(p, 1, Some(&schema), &s, &s, &o, &[]).await.unwrap();
        assert_eq!((r.counts.deleted, r.counts.unchanged), (0, 1));
        // A root never stored: nothing to build from and nothing stored, so nothing is written.
        let r = rebuild(p, 1, Some(&schema), &s, &s, &[vec![Value::Int(99)]], &[])
            .await
            .unwrap();
        assert_eq!((r.counts.deleted, r.counts.unchanged), (0, 1));
        assert_eq!(s.all_documents("order_view").unwrap().len(), 1);
        // Re-inserting the root brings the view back as PUBLIC.
        let back = upsert(
            p,
            "orders",
            json!({"id": 10, "customer_id": 1, "status": "NEW", "total": "1"}),
            3,
        );
        write_batch(p, &s, vec![back], 0).await.unwrap();
        let r = rebuild(p, 1, Some(&schema), &s, &s, &o, &[]).await.unwrap();
        assert_eq!(r.counts.inserted, 1);
        let docs = s.all_documents("order_view").unwrap();
        assert_eq!(docs[0].1[STATE_FIELD], Value::String("PUBLIC".into()));
        assert_eq!(docs[0].1["customer"], Value::Null);
    }

    #[tokio::test]
    async fn a_root_inserted_and_deleted_before_any_rebuild_is_documented_marked_deleted() {
        let mut plan = shop_plan();
        plan.single_views[1].events = Some(fdc_plan::EventOutput {
            topic: "sv.orders".into(),
            before: true,
            after: true,
        });
        let s = EmbeddedStore::in_memory();
        let p = &plan;
        let batch = vec![
            upsert(
                p,
                "customers",
                json!({"id": 1, "name": "Ann", "country": "IT"}),
                1,
            ),
            upsert(
                p,
                "orders",
                json!({"id": 10, "customer_id": 1, "status": "NEW", "total": "1"}),
                1,
            ),
            delete(p, "orders", 10, 2),
        ];
        write_batch(p, &s, batch, 0).await.unwrap();
        let o = vec![vec![Value::Int(10)]];
        // order_view marks deleted: the document is built from the deleted order's image.
        let r = rebuild(p, 1, None, &s, &s, &o, &[]).await.unwrap();
        assert_eq!((r.counts.deleted, r.counts.inserted), (1, 0));
        match &r.events[..] {
            [Event::SingleViewUpdate {
                op, before, after, ..
            }] => {
                assert_eq!((*op, before), (EventOp::Delete, &None));
                assert_eq!(after.as_ref().unwrap()["__STATE__"], json!("DELETED"));
            }
            other => panic!("one single-view event expected, got {other:?}"),
        }
        let docs = s.all_documents("order_view").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].1[STATE_FIELD], Value::String("DELETED".into()));
        assert_eq!(docs[0].1["customer"], Value::String("Ann".into()));
        // A dependency change rebuilds the marked document, still marked.
        let renamed = upsert(
            p,
            "customers",
            json!({"id": 1, "name": "Bea", "country": "IT"}),
            3,
        );
        write_batch(p, &s, vec![renamed], 0).await.unwrap();
        let r = rebuild(p, 1, None, &s, &s, &o, &[]).await.unwrap();
        assert_eq!(r.counts.deleted, 1);
        let docs = s.all_documents("order_view").unwrap();
        assert_eq!(docs[0].1[STATE_FIELD], Value::String("DELETED".into()));
        assert_eq!(docs[0].1["customer"], Value::String("Bea".into()));
        // customer_360 deletes on root delete: a deleted customer has no document.
        write_batch(p, &s, vec![delete(p, "customers", 1, 4)], 0)
            .await
            .unwrap();
        let r = rebuild(p, 0, None, &s, &s, &[vec![Value::Int(1)]], &[])
            .await
            .unwrap();
        assert_eq!((r.counts.deleted, r.counts.unchanged), (0, 1));
        assert!(s.all_documents("customer_360").unwrap().is_empty());
    }

    #[test]
    fn a_stored_document_holds_the_built_one_beside_unmapped_key_fields_only() {
        let map = |fields: &[(&str, i64)]| {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert((*k).into(), Value::Int(*v));
            }
            m
        };
        let keys = vec!["id".to_string()];
        let built = map(&[("a", 1), ("b", 2)]);
        assert!(holds(&built, &built, &keys));
        assert!(holds(&map(&[("id", 7), ("a", 1), ("b", 2)]), &built, &keys));
        // Another extra field, a changed value, another order: not the same.
        assert!(!holds(&map(&[("x", 7), ("a", 1), ("b", 2)]), &built, &keys));
        assert!(!holds(
            &map(&[("id", 7), ("a", 1), ("b", 3)]),
            &built,
            &keys
        ));
        assert!(!holds(
            &map(&[("id", 7), ("b", 2), ("a", 1)]),
            &built,
            &keys
        ));
        // A mapped key field is compared as any field.
        let with_key = map(&[("a", 1), ("id", 7)]);
        assert!(!holds(&map(&[("id", 7), ("a", 1)]), &with_key, &keys));
        assert!(!holds(&map(&[("a", 1)]), &with_key, &keys));
    }

    #[test]
    fn identical_tells_representations_apart() {
        let d = |s: &str| Value::Decimal(s.parse().unwrap());
        assert!(identical(&d("2.50"), &d("2.50")));
        assert!(
            !identical(&d("2.50"), &d("2.5")),
            "equal numbers, different documents"
        );
        assert!(!identical(&Value::Float(0.0), &Value::Float(-0.0)));
        let mut a = Map::default();
        a.insert("x".into(), Value::Int(1));
        a.insert("y".into(), Value::Int(2));
        let mut b = Map::default();
        b.insert("y".into(), Value::Int(2));
        b.insert("x".into(), Value::Int(1));
        assert!(
            !identical_maps(&a, &b),
            "field order is part of the document"
        );
        assert!(identical_maps(&a, &a.clone()));
    }

    #[tokio::test]
    async fn a_document_failing_its_schema_is_not_written_and_is_recorded() {
        let plan = shop_plan();
        let s = EmbeddedStore::in_memory();
        let p = &plan;
        let order = |status: &str, v| {
            upsert(
                p,
                "orders",
                json!({"id": 10, "customer_id": 1, "status": status, "total": "1"}),
                v,
            )
        };
        write_batch(p, &s, vec![order("NEW", 1)], 0).await.unwrap();
        let schema = ViewSchema::compile(plan.single_views[1].schema.as_ref().unwrap()).unwrap();
        let o = vec![vec![Value::Int(10)]];
        rebuild(p, 1, Some(&schema), &s, &s, &o, &[]).await.unwrap();
        write_batch(p, &s, vec![order("INVALID", 2)], 0)
            .await
            .unwrap();
        let r = rebuild(p, 1, Some(&schema), &s, &s, &o, &[]).await.unwrap();
        assert_eq!((r.counts.failed, r.counts.updated), (1, 0));
        let docs = s.all_documents("order_view").unwrap();
        assert_eq!(docs[0].1["status"], Value::String("NEW".into()));
        let failures = s.view_failures().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0]["view"], json!("order_view"));
        assert_eq!(failures[0]["key"], json!({"order_id": 10}));
        assert!(failures[0]["reason"].as_str().unwrap().contains("/status"));
    }
}
