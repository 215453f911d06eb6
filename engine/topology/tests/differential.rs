//! Differential test: seeded random event streams through the incremental engine give exactly
//! the single views a full recomputation from the final projections gives, document for
//! document, `__STATE__` included (see [`compare_with_recomputation`]).
//!
//! The pipeline (`fixtures/shop.plan.json`): customers, orders, items, products, addresses;
//! four relations (one with a condition), a three-hop path (product -> item -> order ->
//! customer), a view that deletes on root delete (replace mode) and one that marks deleted
//! (merge mode, with a JSON Schema). Streams hold inserts, updates, deletes, foreign-key moves,
//! condition flips, primary-key changes (delete + insert), exact duplicates and out-of-order
//! (older) versions, in batches of random size.

mod shop;

use std::sync::Arc;

use fdc_embedded::EmbeddedStore;
use fdc_engine::aggregate::{self, Built};
use fdc_engine::ingest::Router;
use fdc_engine::runtime::{Engine, MessageRouter, RoutedBatch, RuntimeConfig, Stores};
use fdc_engine::source::SourceItem;
use fdc_engine::store::{ProjectionLayout, ProjectionStore, Record, RecordState, RecordWrite};
use fdc_engine::value::Value;
use fdc_engine::view::ViewSchema;
use fdc_file::MemoryEvents;
use fdc_plan::{DeleteMode, Plan, RootDelete};
use serde_json::json;
use shop::{plan, stream, Rng, Shape};

/// The engine's streams: few keys, so changes collide often.
const SHAPE: Shape = Shape {
    keys: [4, 6, 8, 3, 4],
    // customer 5 never exists: dangling foreign keys.
    references: [5, 7, 4],
    clock: 10,
    deletes: 20,
    key_changes: 5,
    offsets_from_clock: true,
};

async fn check_stream(seed: u64, plan: &Plan, router: &Router) {
    let mut rng = Rng::seeded(seed);
    let store = Arc::new(EmbeddedStore::in_memory());
    let stores = Stores {
        projections: store.clone(),
        views: store.clone(),
        events: Arc::new(MemoryEvents::default()),
        dead_letters: store.clone(),
    };
    let engine = Engine::build(plan.clone(), stores, RuntimeConfig::default())
        .await
        .expect("build");
    let len = 10 + rng.below(50) as usize;
    let messages = stream(&mut rng, &SHAPE, len);
    let max_batch = [1, 3, 7, 64][rng.below(4) as usize];
    let mut rest = messages.as_slice();
    while !rest.is_empty() {
        let n = (1 + rng.below(max_batch)) as usize;
        let (now, later) = rest.split_at(n.min(rest.len()));
        rest = later;
        let items = now.iter().cloned().map(SourceItem::Message).collect();
        let batch = RoutedBatch::route(items, router as &dyn MessageRouter);
        let outcome = engine.process(&batch).await.expect("process");
        assert!(
            outcome.dead_letters.is_empty(),
            "seed {seed}: {:?}",
            outcome.dead_letters
        );
        engine.commit(&outcome, 0);
    }
    compare_with_recomputation(seed, plan, &store).await;
}

/// The single-view key of a root record.
fn view_key(view: &fdc_plan::SingleView, r: &Record) -> Vec<Value> {
    view.key
        .iter()
        .map(|k| {
            r.fields
                .get(k.field.as_str())
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect()
}

/// A copy of every projection of `store` where the records of `revive` are all `PUBLIC`: the
/// oracle for a soft-deleted root's document (the mapping on its last image with the current
/// related records), built the plain way, independently of how the engine handles deleted
/// roots.
async fn revived(plan: &Plan, store: &EmbeddedStore, revive: &str) -> EmbeddedStore {
    let copy = EmbeddedStore::in_memory();
    for p in &plan.projections {
        copy.ensure_projection(&ProjectionLayout {
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
        .expect("layout");
        let writes: Vec<RecordWrite> = store
            .all_records(&p.name)
            .expect("records")
            .into_iter()
            .map(|mut r| {
                if p.name == revive {
                    r.state = RecordState::Public;
                }
                RecordWrite::Put(r)
            })
            .collect();
        if !writes.is_empty() {
            copy.write(&p.name, writes).await.expect("copy");
        }
    }
    copy
}

/// Every stored document equals what a full recomputation from the final projections gives:
/// - a `PUBLIC` root has its document, `PUBLIC`;
/// - with `on root delete: mark deleted`, a root stored soft-deleted has the document of the
///   mapping on its last image with the current related records, `DELETED` (whether or not a
///   document was written while it was live: the result must not depend on batching);
/// - any other stored document is refused, except a `DELETED` one of a mark-deleted view
///   whose root projection deletes hard (the root is gone with its image).
async fn compare_with_recomputation(seed: u64, plan: &Plan, store: &EmbeddedStore) {
    for view in &plan.single_views {
        let root = view.root();
        let mark = view.on_root_delete == RootDelete::MarkDeleted;
        assert!(
            view.nodes
                .iter()
                .skip(1)
                .all(|n| n.projection != root.projection),
            "the oracle revives root records: the root projection must not be another node"
        );
        let records = store.all_records(&root.projection).expect("records");
        let mut live_keys: Vec<Vec<Value>> = records
            .iter()
            .filter(|r| r.is_public())
            .map(|r| view_key(view, r))
            .collect();
        live_keys.sort_by(|a, b| aggregate::compare_keys(a, b));
        let mut deleted_keys: Vec<Vec<Value>> = records
            .iter()
            .filter(|r| mark && !r.is_public())
            .map(|r| view_key(view, r))
            .collect();
        deleted_keys.sort_by(|a, b| aggregate::compare_keys(a, b));
        let live = aggregate::build(plan, view, store, &live_keys)
            .await
            .expect("build");
        let marked = if deleted_keys.is_empty() {
            Default::default()
        } else {
            let copy = revived(plan, store, &root.projection).await;
            aggregate::build(plan, view, &copy, &deleted_keys)
                .await
                .expect("build")
        };
        // A document failing the view's JSON Schema is never written. In this fixture only a
        // soft-deleted root's key-only image (a delete of a key never stored) fails it, and such
        // a root was never live, so no document can have been written for it before.
        let schema = view
            .schema
            .as_ref()
            .map(|s| ViewSchema::compile(s).expect("schema"));
        let refused = |want: &fdc_engine::value::Map| {
            schema
                .as_ref()
                .is_some_and(|s| s.check(&Value::Object(want.clone()).to_json()).is_err())
        };
        let refused_keys: Vec<&Vec<Value>> = marked
            .documents
            .iter()
            .filter(|(_, b)| matches!(b, Built::Document(want) if refused(want)))
            .map(|(k, _)| k)
            .collect();
        let root_delete_is_hard = plan
            .projection(&root.projection)
            .is_some_and(|p| p.delete == DeleteMode::Hard);
        let stored = store.all_documents(&view.name).expect("documents");
        let (mut live_found, mut marked_found) = (0, 0);
        for (key, doc) in &stored {
            let state = doc.get("__STATE__").and_then(Value::as_str);
            let mut got = doc.clone();
            got.shift_remove("__STATE__");
            let find = |b: &aggregate::BuiltBatch| {
                b.documents
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, d)| d.clone())
            };
            let (want_state, want) = match (find(&live), find(&marked)) {
                (Some(Built::Document(want)), _) => {
                    live_found += 1;
                    ("PUBLIC", want)
                }
                (None, Some(Built::Document(want))) => {
                    assert!(
                        !refused(&want),
                        "seed {seed}, view {}, key {key:?}: a document refused by the schema \
                         is stored",
                        view.name
                    );
                    marked_found += 1;
                    ("DELETED", want)
                }
                (None, None) => {
                    assert!(
                        mark && root_delete_is_hard && state == Some("DELETED"),
                        "seed {seed}, view {}, key {key:?}: stored state {state:?} but the recomputation \
                         has no document",
                        view.name
                    );
                    continue;
                }
                other => panic!(
                    "seed {seed}, view {}, key {key:?}: stored state {state:?} but \
                     recomputation {other:?}",
                    view.name
                ),
            };
            assert_eq!(
                state,
                Some(want_state),
                "seed {seed}, view {}, key {key:?}",
                view.name
            );
            assert_eq!(
                Value::Object(got).to_json(),
                Value::Object(want).to_json(),
                "seed {seed}, view {}, key {key:?} ({want_state})",
                view.name
            );
        }
        assert_eq!(
            live_found,
            live_keys.len(),
            "seed {seed}, view {}: every live root has its document",
            view.name
        );
        assert_eq!(
            marked_found + refused_keys.len(),
            deleted_keys.len(),
            "seed {seed}, view {}: every soft-deleted root has its marked document",
            view.name
        );
        let failures = store.view_failures().expect("failures");
        let key_names: Vec<String> = view.key.iter().map(|k| k.name.clone()).collect();
        for key in refused_keys {
            let key_json = fdc_engine::store::record::key_json(&key_names, key);
            assert!(
                failures
                    .iter()
                    .any(|f| f["view"] == json!(view.name) && f["key"] == key_json),
                "seed {seed}, view {}, key {key:?}: refused by the schema but not recorded",
                view.name
            );
        }
    }
}

#[tokio::test]
async fn incremental_single_views_equal_a_full_recomputation() {
    let plan = plan();
    let router = Router::new(&plan).expect("router");
    let streams: u64 = std::env::var("FDC_DIFFERENTIAL_STREAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    for seed in 1..=streams {
        check_stream(seed, &plan, &router).await;
    }
}
