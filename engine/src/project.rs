//! The projection writer: applies a batch of typed changes to the projection store.
//!
//! In: the [`Change`]s of one batch, in arrival order. Out: one [`AppliedChange`] per record
//! that changed (its old and new image, for strategies and events), and the count of changes
//! applied and skipped as stale.
//!
//! Guarantees:
//! - one `get_many` and one bulk `write` per projection per batch;
//! - changes of one key are coalesced in arrival order, each checked against the state the
//!   changes before it left (not against the record stored before the batch), so the record
//!   written and every change's outcome (applied or stale) are what one change per batch
//!   gives: batching does not change the result. The old image is the stored record before
//!   the batch (or, when nothing is stored, the first change's `before` image), the new image
//!   is the state after the last applied change;
//! - version guard: a change older than the record's current version is skipped and counted as
//!   stale; an equal version is re-applied (a replay), so its strategies run again;
//! - a delete is soft by default (the record stays, `__STATE__ = "DELETED"`, keeping its
//!   version, so a late older insert cannot resurrect it) and hard when declared (the version
//!   goes with the record, so a late older insert resurrects it, in the delete's batch as in a
//!   later one); a primary-key change arrives as delete + upsert of two keys;
//! - the store re-checks the guard: one write per key, guarded by the newest version the batch
//!   applied to the key (a record put back after a hard delete of the batch is guarded by the
//!   deleted version, not by its own: [`RecordWrite::PutAfterDelete`]), so it applies while
//!   the store holds what was read; a write the store reports stale (another writer stored a
//!   newer version meanwhile) counts all of its key's changes as stale and triggers nothing;
//! - projection-update events: one per changed key (insert, update or delete, from the images
//!   before and after the batch), except a record not live before nor after the batch but live
//!   in between (inserted then deleted within it): an insert then a delete, as one message per
//!   batch would publish.

use std::sync::Arc;

use fdc_plan::{DeleteMode, Plan};

use crate::change::{Change, Op, Version};
use crate::store::{
    key, record, Event, EventOp, ProjectionStore, Record, RecordMeta, RecordState, RecordWrite,
    StoreError, WriteOutcome,
};
use crate::value::Map;

/// A record image: its fields and its state. Shared: an image read from the store is the
/// stored record itself, not a copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Image(Arc<Record>);

impl Image {
    /// The record's fields.
    pub fn fields(&self) -> &Map {
        &self.0.fields
    }

    /// The record's state.
    pub fn state(&self) -> RecordState {
        self.0.state
    }

    fn is_public(&self) -> bool {
        self.0.is_public()
    }

    fn to_json(&self) -> serde_json::Value {
        let mut out: serde_json::Map<String, serde_json::Value> = self
            .fields()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect();
        out.insert(record::STATE_FIELD.into(), self.state().as_str().into());
        serde_json::Value::Object(out)
    }
}

/// One projection record changed by a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedChange {
    /// Index into `Plan::projections`.
    pub projection: usize,
    pub key: Vec<crate::value::Value>,
    /// Before the batch (`None`: unknown, nothing stored and no before image).
    pub old: Option<Image>,
    /// After the batch (`None`: hard-deleted).
    pub new: Option<Image>,
}

/// What a batch did to the projections.
#[derive(Debug, Default)]
pub struct ProjectionReport {
    pub changes: Vec<AppliedChange>,
    /// Changes applied (replays included).
    pub applied: u64,
    /// Changes skipped because a newer version was stored.
    pub stale: u64,
    /// `(applied, stale)` per projection (by plan index), for per-topic counts.
    pub by_projection: Vec<(u64, u64)>,
    /// Projection-update events (for projections that declare them).
    pub events: Vec<Event>,
}

/// Applies `changes` (one batch, arrival order) at engine time `now` (epoch ms).
pub async fn write_batch(
    plan: &Plan,
    store: &dyn ProjectionStore,
    changes: Vec<Change>,
    now: i64,
) -> Result<ProjectionReport, StoreError> {
    write(plan, store, changes, now, true).await
}

/// [`write_batch`] for an initial load (strategies off): the same writes, counts and events,
/// but no [`AppliedChange`]s, so a record of a projection without events is moved into the
/// store instead of being kept as an image.
pub async fn write_batch_without_images(
    plan: &Plan,
    store: &dyn ProjectionStore,
    changes: Vec<Change>,
    now: i64,
) -> Result<ProjectionReport, StoreError> {
    write(plan, store, changes, now, false).await
}

async fn write(
    plan: &Plan,
    store: &dyn ProjectionStore,
    changes: Vec<Change>,
    now: i64,
    images: bool,
) -> Result<ProjectionReport, StoreError> {
    let mut report = ProjectionReport {
        by_projection: vec![(0, 0); plan.projections.len()],
        ..ProjectionReport::default()
    };
    // Group by projection, then by key, keeping arrival order.
    let mut by_projection: Vec<Vec<Change>> = vec![Vec::new(); plan.projections.len()];
    for c in changes {
        if let Some(slot) = by_projection.get_mut(c.projection) {
            slot.push(c);
        }
    }
    for (pi, changes) in by_projection.into_iter().enumerate() {
        if !changes.is_empty() {
            let before = (report.applied, report.stale);
            write_projection(plan, pi, store, changes, now, images, &mut report).await?;
            report.by_projection[pi] = (report.applied - before.0, report.stale - before.1);
        }
    }
    Ok(report)
}

/// The coalesced outcome of one key's changes.
struct KeyOutcome {
    key: Vec<crate::value::Value>,
    old: Option<Image>,
    current: Option<Arc<Record>>,
    /// The newest version of the applied changes: the guard of the write (the last applied
    /// version, unless a hard delete let an older change apply after it).
    newest: Version,
    /// Whether a hard delete applied in the batch: the record and its version went, so what
    /// follows was applied against nothing stored.
    hard_deleted: bool,
    applied: u64,
    /// The last `PUBLIC` state an applied change of the batch left the record in.
    last_public: Option<Arc<Record>>,
}

async fn write_projection(
    plan: &Plan,
    pi: usize,
    store: &dyn ProjectionStore,
    changes: Vec<Change>,
    now: i64,
    images: bool,
    report: &mut ProjectionReport,
) -> Result<(), StoreError> {
    let projection = &plan.projections[pi];
    // Groups of one key's changes, in first-arrival order of the keys.
    let mut slots: key::TupleMap<usize> =
        key::TupleMap::with_capacity_and_hasher(changes.len(), Default::default());
    let mut groups: Vec<Vec<Change>> = Vec::new();
    for c in changes {
        let Some(k) = key::encode(&c.key) else {
            // The router guarantees non-null keys; a null one cannot be stored. Counted stale
            // would be wrong, so it is an internal error.
            return Err(StoreError::fatal(
                format!("write projection {}", projection.name),
                "a change arrived with a null primary-key field",
            ));
        };
        let slot = *slots.entry(k).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push(c);
    }
    drop(slots);
    let keys: Vec<Vec<crate::value::Value>> = groups.iter().map(|g| g[0].key.clone()).collect();
    let stored = store.get_many_shared(&projection.name, &keys).await?;

    let mut outcomes: Vec<KeyOutcome> = Vec::with_capacity(groups.len());
    for ((group, key_values), stored) in groups.into_iter().zip(keys).zip(stored) {
        let mut out = KeyOutcome {
            key: key_values,
            old: stored.clone().map(Image),
            current: stored,
            newest: Version(0),
            hard_deleted: false,
            applied: 0,
            last_public: None,
        };
        if out.old.is_none() {
            if let Some(first) = group.first() {
                out.old = first.before.clone().map(|fields| {
                    Image(Arc::new(Record {
                        key: out.key.clone(),
                        layout: Default::default(),
                        fields,
                        state: RecordState::Public,
                        meta: RecordMeta::new(first.version, &first.origin, now, now),
                    }))
                });
            }
        }
        for c in group {
            if out
                .current
                .as_ref()
                .is_some_and(|r| r.meta.version > c.version.0)
            {
                report.stale += 1;
                continue;
            }
            let created_at = out
                .current
                .as_ref()
                .map(|r| r.meta.created_at)
                .unwrap_or(now);
            let meta = RecordMeta::new(c.version, &c.origin, created_at, now);
            out.current = match (c.op, projection.delete) {
                (Op::Upsert, _) => Some(Arc::new(Record {
                    key: out.key.clone(),
                    layout: Default::default(),
                    fields: c.after.unwrap_or_else(|| key_fields(projection, &out.key)),
                    state: RecordState::Public,
                    meta,
                })),
                (Op::Delete, DeleteMode::Soft) => {
                    let fields = match (out.current.take(), c.before) {
                        (Some(r), _) => Arc::unwrap_or_clone(r).fields,
                        (None, Some(before)) => before,
                        (None, None) => key_fields(projection, &out.key),
                    };
                    Some(Arc::new(Record {
                        key: out.key.clone(),
                        layout: Default::default(),
                        fields,
                        state: RecordState::Deleted,
                        meta,
                    }))
                }
                (Op::Delete, DeleteMode::Hard) => None,
            };
            if let Some(r) = out.current.as_ref().filter(|r| r.is_public()) {
                out.last_public = Some(r.clone());
            }
            out.hard_deleted |= out.current.is_none();
            out.newest = out.newest.max(c.version);
            out.applied += 1;
        }
        outcomes.push(out);
    }

    let mut applied: Vec<KeyOutcome> = outcomes.into_iter().filter(|o| o.applied > 0).collect();
    // Without images and events nothing reads a record after the write: move it there.
    let move_out = !images && projection.events.is_none();
    // The store re-checks each key's write against what it holds. The guard is the newest
    // version the batch applied to the key: the record read before the batch was not newer
    // than the first applied change, so the write applies while the store holds what was
    // read, and is stale only when another writer stored something newer than all of it.
    // Without a hard delete that is the record's own version; after one, the record put back
    // may be older than the version deleted (see `RecordWrite::PutAfterDelete`).
    let writes: Vec<RecordWrite> = applied
        .iter_mut()
        .map(|o| {
            let record = match o.current.take() {
                Some(r) if move_out => {
                    o.last_public = None;
                    Arc::unwrap_or_clone(r)
                }
                Some(r) => {
                    let record = Record::clone(&r);
                    o.current = Some(r);
                    record
                }
                None => {
                    return RecordWrite::Remove {
                        key: o.key.clone(),
                        version: o.newest,
                    }
                }
            };
            if o.hard_deleted {
                RecordWrite::PutAfterDelete {
                    record,
                    deleted: o.newest,
                }
            } else {
                RecordWrite::Put(record)
            }
        })
        .collect();
    let results = if writes.is_empty() {
        Vec::new()
    } else {
        store.write(&projection.name, writes).await?
    };
    for (o, result) in applied.into_iter().zip(results) {
        if result == WriteOutcome::Stale {
            report.stale += o.applied;
            continue;
        }
        report.applied += o.applied;
        if move_out {
            continue;
        }
        let new = o.current.map(Image);
        if let Some(events) = &projection.events {
            let live = |i: &Option<Image>| i.as_ref().is_some_and(Image::is_public);
            // A record that was not live before the batch and is not live after it, but was
            // live in between (inserted then deleted within the batch), is announced as an
            // insert then a delete, as one message per batch would publish: a consumer never
            // sees a delete of a record it was not told about, and sees the same sequence
            // whatever the batching. (Dropping both would hide a record that existed.)
            let between = match &o.last_public {
                Some(r) if !live(&o.old) && !live(&new) => Some(Image(r.clone())),
                _ => None,
            };
            let mut emit = |op: EventOp, before: Option<&Image>, after: Option<&Image>| {
                report.events.push(Event::ProjectionUpdate {
                    topic: events.topic.clone(),
                    projection: projection.name.clone(),
                    key: record::key_json(&projection.key, &o.key),
                    op,
                    before: events.before.then(|| before.map(Image::to_json)).flatten(),
                    after: events.after.then(|| after.map(Image::to_json)).flatten(),
                });
            };
            match &between {
                Some(public) => {
                    emit(EventOp::Insert, o.old.as_ref(), Some(public));
                    emit(EventOp::Delete, Some(public), new.as_ref());
                }
                None => {
                    let op = match (live(&o.old), live(&new)) {
                        (false, true) => EventOp::Insert,
                        (true, true) => EventOp::Update,
                        _ => EventOp::Delete,
                    };
                    emit(op, o.old.as_ref(), new.as_ref());
                }
            }
        }
        if !images {
            continue;
        }
        report.changes.push(AppliedChange {
            projection: pi,
            key: o.key,
            old: o.old,
            new,
        });
    }
    Ok(())
}

fn key_fields(projection: &fdc_plan::Projection, key: &[crate::value::Value]) -> Map {
    projection
        .key
        .iter()
        .map(|k| crate::value::Name::from(k.as_str()))
        .zip(key.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{delete, shop_plan, upsert};
    use crate::value::Value;
    use fdc_embedded::EmbeddedStore;
    use serde_json::json;

    fn order(id: i64, customer: i64, v: u128) -> Change {
        upsert(
            &shop_plan(),
            "orders",
            json!({"id": id, "customer_id": customer, "status": "NEW", "total": "1.00"}),
            v,
        )
    }

    #[tokio::test]
    async fn coalesces_per_key_and_keeps_first_old_and_last_new_image() {
        let plan = shop_plan();
        let store = EmbeddedStore::in_memory();
        write_batch(&plan, &store, vec![order(1, 10, 1)], 0)
            .await
            .unwrap();
        let r = write_batch(
            &plan,
            &store,
            vec![order(1, 11, 2), order(2, 20, 2), order(1, 12, 3)],
            5,
        )
        .await
        .unwrap();
        assert_eq!((r.applied, r.stale), (3, 0));
        assert_eq!(r.changes.len(), 2);
        let c = &r.changes[0];
        assert_eq!(
            c.old.as_ref().unwrap().fields()["customer_id"],
            Value::Int(10)
        );
        assert_eq!(
            c.new.as_ref().unwrap().fields()["customer_id"],
            Value::Int(12)
        );
        let stored = store.all_records("orders").unwrap();
        let one = stored
            .iter()
            .find(|r| r.key == vec![Value::Int(1)])
            .unwrap();
        assert_eq!(one.meta.version, 3);
        assert_eq!((one.meta.created_at, one.meta.updated_at), (0, 5));
    }

    #[tokio::test]
    async fn older_versions_are_stale_and_equal_versions_replay() {
        let plan = shop_plan();
        let store = EmbeddedStore::in_memory();
        write_batch(&plan, &store, vec![order(1, 10, 5)], 0)
            .await
            .unwrap();
        let r = write_batch(&plan, &store, vec![order(1, 11, 4)], 0)
            .await
            .unwrap();
        assert_eq!((r.applied, r.stale, r.changes.len()), (0, 1, 0));
        let r = write_batch(&plan, &store, vec![order(1, 10, 5)], 0)
            .await
            .unwrap();
        assert_eq!((r.applied, r.stale, r.changes.len()), (1, 0, 1));
        // Out of order inside one batch: the older one is stale against the newer.
        let r = write_batch(&plan, &store, vec![order(1, 13, 7), order(1, 12, 6)], 0)
            .await
            .unwrap();
        assert_eq!((r.applied, r.stale), (1, 1));
        assert_eq!(
            store.all_records("orders").unwrap()[0].fields["customer_id"],
            Value::Int(13)
        );
    }

    #[tokio::test]
    async fn soft_delete_keeps_the_version_and_hard_delete_does_not() {
        let plan = shop_plan();
        let store = EmbeddedStore::in_memory();
        write_batch(
            &plan,
            &store,
            vec![order(1, 10, 1), delete(&plan, "orders", 1, 3)],
            0,
        )
        .await
        .unwrap();
        let rec = &store.all_records("orders").unwrap()[0];
        assert_eq!(rec.state, RecordState::Deleted);
        assert_eq!(rec.fields["customer_id"], Value::Int(10));
        // A late, older insert cannot resurrect it.
        let r = write_batch(&plan, &store, vec![order(1, 10, 2)], 0)
            .await
            .unwrap();
        assert_eq!(r.stale, 1);
        assert_eq!(
            store.all_records("orders").unwrap()[0].state,
            RecordState::Deleted
        );

        // items are hard-deleted: the record goes, and so does the protection.
        let item = |v| {
            upsert(
                &plan,
                "items",
                json!({"id": 7, "order_id": 1, "product_id": 1, "qty": 1, "price": "2"}),
                v,
            )
        };
        write_batch(&plan, &store, vec![item(1)], 0).await.unwrap();
        let r = write_batch(&plan, &store, vec![delete(&plan, "items", 7, 3)], 0)
            .await
            .unwrap();
        assert_eq!(r.changes[0].new, None);
        assert!(r.changes[0].old.is_some());
        assert!(store.all_records("items").unwrap().is_empty());
        let r = write_batch(&plan, &store, vec![item(2)], 0).await.unwrap();
        assert_eq!(r.applied, 1);
    }

    #[tokio::test]
    async fn events_say_insert_update_delete_with_images() {
        let plan = shop_plan();
        let store = EmbeddedStore::in_memory();
        let c = |name: &str, v| {
            upsert(
                &plan,
                "customers",
                json!({"id": 1, "name": name, "country": null}),
                v,
            )
        };
        let r = write_batch(&plan, &store, vec![c("a", 1)], 0)
            .await
            .unwrap();
        let r2 = write_batch(&plan, &store, vec![c("b", 2)], 0)
            .await
            .unwrap();
        let r3 = write_batch(&plan, &store, vec![delete(&plan, "customers", 1, 3)], 0)
            .await
            .unwrap();
        let ops: Vec<EventOp> = [r, r2, r3]
            .iter()
            .map(|r| match &r.events[0] {
                Event::ProjectionUpdate { op, .. } => *op,
                Event::SingleViewUpdate { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(ops, vec![EventOp::Insert, EventOp::Update, EventOp::Delete]);
    }

    #[tokio::test]
    async fn a_record_inserted_and_deleted_in_one_batch_is_announced_then_deleted() {
        let plan = shop_plan();
        let store = EmbeddedStore::in_memory();
        let c = |name: &str, v| {
            upsert(
                &plan,
                "customers",
                json!({"id": 1, "name": name, "country": null}),
                v,
            )
        };
        let batch = vec![c("a", 1), c("b", 2), delete(&plan, "customers", 1, 3)];
        let r = write_batch(&plan, &store, batch, 0).await.unwrap();
        let events: Vec<(EventOp, serde_json::Value, serde_json::Value)> = r
            .events
            .iter()
            .map(|e| match e {
                Event::ProjectionUpdate {
                    op, before, after, ..
                } => (
                    *op,
                    before.clone().unwrap_or_default(),
                    after.clone().unwrap_or_default(),
                ),
                Event::SingleViewUpdate { .. } => unreachable!(),
            })
            .collect();
        let b = json!({"id": 1, "name": "b", "country": null, "__STATE__": "PUBLIC"});
        let gone = json!({"id": 1, "name": "b", "country": null, "__STATE__": "DELETED"});
        assert_eq!(
            events,
            vec![
                (EventOp::Insert, serde_json::Value::Null, b.clone()),
                (EventOp::Delete, b, gone),
            ]
        );
        // A delete of a record that was never live in the batch stays one delete.
        let r = write_batch(&plan, &store, vec![delete(&plan, "customers", 1, 3)], 0)
            .await
            .unwrap();
        assert_eq!(r.events.len(), 1);
    }

    #[tokio::test]
    async fn without_images_the_store_counts_and_events_are_the_same_and_no_changes_come_back() {
        let plan = shop_plan();
        let with = EmbeddedStore::in_memory();
        let without = EmbeddedStore::in_memory();
        let c = |name: &str, v| {
            upsert(
                &plan,
                "customers",
                json!({"id": 1, "name": name, "country": null}),
                v,
            )
        };
        let batches = vec![
            vec![order(1, 10, 1), order(2, 10, 1), c("a", 1)],
            vec![
                order(1, 11, 3),
                order(1, 12, 2),
                delete(&plan, "orders", 2, 4),
                c("b", 2),
            ],
        ];
        for batch in batches {
            let a = write_batch(&plan, &with, batch.clone(), 7).await.unwrap();
            let b = write_batch_without_images(&plan, &without, batch, 7)
                .await
                .unwrap();
            assert_eq!((a.applied, a.stale), (b.applied, b.stale));
            assert!(!a.changes.is_empty());
            assert!(b.changes.is_empty());
            assert!(!a.events.is_empty(), "customers declare events");
            assert_eq!(a.events, b.events);
        }
        for p in ["orders", "customers"] {
            assert_eq!(
                with.all_records(p).unwrap(),
                without.all_records(p).unwrap()
            );
        }
    }
}
