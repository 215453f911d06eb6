//! Strategies: from the records a batch changed to the single-view keys to rebuild.
//!
//! In: the [`AppliedChange`]s of a batch (old and new images). Out: per single view, the
//! de-duplicated keys to rebuild (triggers), in first-found order.
//!
//! Guarantees:
//! - for every single view and every [`fdc_plan::StrategyPath`] of a changed projection, each
//!   hop is one `find_in` query for the whole batch (`$in` over every join tuple);
//! - both images of every changed record start the walk (a moved record triggers the view it
//!   left and the view it joined), whatever their state (a delete triggers its views);
//!   conditions prune on both sides of every hop; walked-to records must be `PUBLIC`, except
//!   the root records reached by the last hop of a [`RootDelete::MarkDeleted`] view: a
//!   soft-deleted root keeps a document built from its last image, which its dependencies'
//!   changes rebuild too;
//! - a path without hops starts at the root: the key is read from the record itself, whatever
//!   its state;
//! - a trigger is produced once per view and key per batch.

use std::sync::Arc;

use fdc_plan::{Plan, RootDelete, SingleView};

use crate::project::AppliedChange;
use crate::store::{condition, key, FindIn, ProjectionStore, Record, StoreError};
use crate::value::{Map, Value};

/// The keys of one single view to rebuild.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Triggers {
    /// Index into `Plan::single_views`.
    pub view: usize,
    pub keys: Vec<Vec<Value>>,
}

/// De-duplicating collector of view keys.
#[derive(Default)]
pub struct KeySet {
    seen: key::TupleSet,
    keys: Vec<Vec<Value>>,
}

impl KeySet {
    /// Adds `key` unless it holds a null or was added before.
    pub fn add(&mut self, key: Vec<Value>) {
        if let Some(k) = key::encode(&key) {
            if self.seen.insert(k) {
                self.keys.push(key);
            }
        }
    }

    /// The keys in first-added order.
    pub fn into_keys(self) -> Vec<Vec<Value>> {
        self.keys
    }
}

/// The single-view key of a root record (`None` when a key field is null).
pub fn view_key(view: &SingleView, root: &Map) -> Vec<Value> {
    view.key
        .iter()
        .map(|k| {
            crate::value::field(root, &k.field)
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect()
}

/// Runs every strategy of every single view on `changes`.
pub async fn triggers(
    plan: &Plan,
    store: &dyn ProjectionStore,
    changes: &[AppliedChange],
) -> Result<Vec<Triggers>, StoreError> {
    let mut out = Vec::with_capacity(plan.single_views.len());
    for (vi, view) in plan.single_views.iter().enumerate() {
        let mut keys = KeySet::default();
        for strategy in &view.strategies {
            let images: Vec<&Map> = changes
                .iter()
                .filter(|c| plan.projections[c.projection].name == strategy.projection)
                .flat_map(|c| c.old.iter().chain(c.new.iter()))
                .map(|i| i.fields())
                .collect();
            if images.is_empty() {
                continue;
            }
            let deleted_roots = view.on_root_delete == RootDelete::MarkDeleted;
            for path in &strategy.paths {
                match walk(store, path, &images, deleted_roots).await? {
                    Reached::Start => {
                        for root in &images {
                            keys.add(view_key(view, root));
                        }
                    }
                    Reached::Records(roots) => {
                        for root in &roots {
                            keys.add(view_key(view, &root.fields));
                        }
                    }
                }
            }
        }
        out.push(Triggers {
            view: vi,
            keys: keys.into_keys(),
        });
    }
    Ok(out)
}

/// The root records a walk reached.
enum Reached {
    /// The path has no hops: the start images are the roots.
    Start,
    Records(Vec<Arc<Record>>),
}

/// Walks `path` from `start` records to root records (`DELETED` ones too when
/// `deleted_roots`).
async fn walk(
    store: &dyn ProjectionStore,
    path: &fdc_plan::StrategyPath,
    start: &[&Map],
    deleted_roots: bool,
) -> Result<Reached, StoreError> {
    if path.hops.is_empty() {
        return Ok(Reached::Start);
    }
    let mut current: Vec<Arc<Record>> = Vec::new();
    let mut first = true;
    for (i, hop) in path.hops.iter().enumerate() {
        let last = i + 1 == path.hops.len();
        let records: Vec<&Map> = if first {
            start.to_vec()
        } else {
            current.iter().map(|r| &r.fields).collect()
        };
        first = false;
        let mut seen = key::TupleSet::default();
        let mut tuples = Vec::new();
        for r in records {
            if !condition::all_hold(r, &hop.from_conditions) {
                continue;
            }
            let t = key::tuple(r, &hop.from_fields);
            if let Some(k) = key::encode(&t) {
                if seen.insert(k) {
                    tuples.push(t);
                }
            }
        }
        if tuples.is_empty() {
            return Ok(Reached::Records(Vec::new()));
        }
        current = store
            .find_in_shared(
                &hop.to,
                FindIn {
                    fields: &hop.to_fields,
                    values: &tuples,
                    conditions: &hop.to_conditions,
                    public_only: !(last && deleted_roots),
                },
            )
            .await?;
    }
    Ok(Reached::Records(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::write_batch;
    use crate::testkit::{delete, shop_plan, upsert};
    use fdc_embedded::EmbeddedStore;
    use serde_json::json;

    async fn setup() -> (Plan, EmbeddedStore) {
        let plan = shop_plan();
        let store = EmbeddedStore::in_memory();
        for p in &plan.projections {
            store
                .ensure_projection(&crate::store::ProjectionLayout {
                    name: p.name.clone(),
                    key: p.key.clone(),
                    declared: p
                        .indexes
                        .iter()
                        .map(|i| (i.fields.clone(), i.unique))
                        .collect(),
                    queried: vec![],
                })
                .await
                .unwrap();
        }
        let seed = vec![
            upsert(
                &plan,
                "customers",
                json!({"id": 1, "name": "a", "country": "IT"}),
                1,
            ),
            upsert(
                &plan,
                "customers",
                json!({"id": 2, "name": "b", "country": "FR"}),
                1,
            ),
            upsert(
                &plan,
                "orders",
                json!({"id": 10, "customer_id": 1, "status": "PAID", "total": "5"}),
                1,
            ),
            upsert(
                &plan,
                "orders",
                json!({"id": 20, "customer_id": 2, "status": "PAID", "total": "5"}),
                1,
            ),
            upsert(
                &plan,
                "items",
                json!({"id": 100, "order_id": 10, "product_id": 7, "qty": 1, "price": "5"}),
                1,
            ),
            upsert(
                &plan,
                "items",
                json!({"id": 200, "order_id": 20, "product_id": 7, "qty": 1, "price": "5"}),
                1,
            ),
            upsert(
                &plan,
                "products",
                json!({"id": 7, "name": "p", "category": null}),
                1,
            ),
            upsert(
                &plan,
                "addresses",
                json!({"id": 5, "customer_id": 1, "kind": "billing", "city": "x"}),
                1,
            ),
        ];
        write_batch(&plan, &store, seed, 0).await.unwrap();
        (plan, store)
    }

    fn keys(t: &[Triggers], view: usize) -> Vec<Value> {
        let mut k: Vec<Value> = t[view].keys.iter().map(|k| k[0].clone()).collect();
        k.sort_by(|a, b| a.total_cmp(b));
        k
    }

    async fn run(
        plan: &Plan,
        store: &EmbeddedStore,
        c: Vec<crate::change::Change>,
    ) -> Vec<Triggers> {
        let r = write_batch(plan, store, c, 0).await.unwrap();
        triggers(plan, store, &r.changes).await.unwrap()
    }

    #[tokio::test]
    async fn a_moved_record_triggers_both_views_and_multi_hop_reaches_every_root() {
        let (plan, store) = setup().await;
        let moved = upsert(
            &plan,
            "orders",
            json!({"id": 10, "customer_id": 2, "status": "PAID", "total": "5"}),
            2,
        );
        let t = run(&plan, &store, vec![moved]).await;
        assert_eq!(keys(&t, 0), vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(keys(&t, 1), vec![Value::Int(10)]);
        // products -> items -> orders -> customers: one product in both customers' orders.
        let p = upsert(
            &plan,
            "products",
            json!({"id": 7, "name": "q", "category": null}),
            2,
        );
        let t = run(&plan, &store, vec![p]).await;
        assert_eq!(
            keys(&t, 0),
            vec![Value::Int(2)],
            "both orders now belong to customer 2"
        );
        assert!(
            t[1].keys.is_empty(),
            "order_view does not depend on products"
        );
    }

    #[tokio::test]
    async fn conditions_prune_and_deletes_trigger() {
        let (plan, store) = setup().await;
        // A shipping address is not part of the view.
        let a = upsert(
            &plan,
            "addresses",
            json!({"id": 6, "customer_id": 2, "kind": "shipping", "city": "y"}),
            2,
        );
        assert!(keys(&run(&plan, &store, vec![a]).await, 0).is_empty());
        // Flipping the billing address to shipping triggers (through the old image).
        let a = upsert(
            &plan,
            "addresses",
            json!({"id": 5, "customer_id": 1, "kind": "shipping", "city": "x"}),
            2,
        );
        assert_eq!(
            keys(&run(&plan, &store, vec![a]).await, 0),
            vec![Value::Int(1)]
        );
        // A hard-deleted item triggers through its old image.
        let d = delete(&plan, "items", 200, 2);
        assert_eq!(
            keys(&run(&plan, &store, vec![d]).await, 0),
            vec![Value::Int(2)]
        );
        // A deleted root triggers its own key.
        let d = delete(&plan, "customers", 1, 2);
        let t = run(&plan, &store, vec![d]).await;
        assert_eq!(keys(&t, 0), vec![Value::Int(1)]);
        // Walked-to records must be public: items of a deleted order reach no customer.
        let d = delete(&plan, "orders", 20, 2);
        run(&plan, &store, vec![d]).await;
        let i = upsert(
            &plan,
            "items",
            json!({"id": 201, "order_id": 20, "product_id": 7, "qty": 1, "price": "5"}),
            3,
        );
        let t = run(&plan, &store, vec![i]).await;
        assert!(t[0].keys.is_empty());
        // Except a mark-deleted view's root: order 20's marked document is rebuilt from the
        // deleted order's image with its current items.
        assert_eq!(keys(&t, 1), vec![Value::Int(20)]);
        // Intermediate hops still require PUBLIC: a product change reaches customer 1 through
        // order 10 only, not customer 2 through the deleted order 20.
        let p = upsert(
            &plan,
            "products",
            json!({"id": 7, "name": "q", "category": null}),
            2,
        );
        let t = run(&plan, &store, vec![p]).await;
        assert!(
            keys(&t, 0).is_empty(),
            "customer 1 is deleted, order 20 too"
        );
    }
}
