//! Differential test: seeded random event streams through the incremental engine give exactly
//! the single views a full recomputation from the final projections gives.
//!
//! The pipeline (`fixtures/shop.plan.json`): customers, orders, items, products, addresses;
//! four relations (one with a condition), a three-hop path (product -> item -> order ->
//! customer), a view that deletes on root delete (replace mode) and one that marks deleted
//! (merge mode, with a JSON Schema). Streams hold inserts, updates, deletes, foreign-key moves,
//! condition flips, primary-key changes (delete + insert), exact duplicates and out-of-order
//! (older) versions, in batches of random size.

use std::sync::Arc;

use fdc_engine::aggregate::{self, Built};
use fdc_engine::change::Message;
use fdc_engine::embedded::EmbeddedStore;
use fdc_engine::file::MemoryEvents;
use fdc_engine::ingest::Router;
use fdc_engine::runtime::{Engine, Route, RoutedBatch, RuntimeConfig, Stores};
use fdc_engine::store::source::SourceItem;
use fdc_engine::value::Value;
use fdc_plan::{Plan, RootDelete};
use serde_json::json;

/// xorshift64*: a tiny deterministic generator (no dependency, reproducible by seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn plan() -> Plan {
    serde_json::from_str(include_str!("fixtures/shop.plan.json")).expect("fixture plan")
}

fn nullable_id(rng: &mut Rng, max: u64) -> serde_json::Value {
    if rng.chance(8) {
        serde_json::Value::Null
    } else {
        json!(1 + rng.below(max))
    }
}

fn row(rng: &mut Rng, projection: &str, id: u64) -> serde_json::Value {
    match projection {
        "customers" => json!({"id": id, "name": rng.pick(&["Ann", "Bob", "Cy"]),
            "country": if rng.chance(30) { serde_json::Value::Null } else { json!(rng.pick(&["IT", "FR"])) }}),
        // customer 5 never exists: dangling foreign keys.
        "orders" => json!({"id": id, "customer_id": nullable_id(rng, 5),
            "status": rng.pick(&["PAID", "NEW", "PAID"]),
            "total": rng.pick(&["1.00", "2.50", "10", "0.10", "2.5"])}),
        "items" => {
            json!({"id": id, "order_id": nullable_id(rng, 7), "product_id": nullable_id(rng, 4),
            "qty": rng.below(5), "price": rng.pick(&["1.50", "2", "0.25"])})
        }
        "products" => json!({"id": id, "name": rng.pick(&["pen", "ink", "pad"]),
            "category": serde_json::Value::Null}),
        _ => json!({"id": id, "customer_id": nullable_id(rng, 5),
            "kind": rng.pick(&["billing", "shipping"]), "city": rng.pick(&["Rome", "Oslo"])}),
    }
}

fn message(projection: &str, id: u64, value: Option<serde_json::Value>, ts: i64) -> Message {
    Message {
        topic: format!("shop.{projection}"),
        partition: 0,
        offset: ts,
        key: Some(json!({ "id": id }).to_string().into_bytes()),
        value: value.map(|v| v.to_string().into_bytes()),
        headers: vec![],
        timestamp: Some(ts),
    }
}

/// A random stream of basic-format messages.
fn stream(rng: &mut Rng, len: usize) -> Vec<Message> {
    let sizes = [
        ("customers", 4),
        ("orders", 6),
        ("items", 8),
        ("products", 3),
        ("addresses", 4),
    ];
    let mut out: Vec<Message> = Vec::with_capacity(len + 8);
    let mut clock: i64 = 10;
    while out.len() < len {
        if !out.is_empty() && rng.chance(8) {
            // An exact duplicate (a re-delivery).
            let i = rng.below(out.len() as u64) as usize;
            out.push(out[i].clone());
            continue;
        }
        let (projection, n) = sizes[rng.below(sizes.len() as u64) as usize];
        let id = 1 + rng.below(n);
        clock += 1;
        // Out of order: sometimes an older version (or an equal one).
        let ts = if rng.chance(10) {
            clock - 1 - rng.below(6) as i64
        } else {
            clock
        };
        if rng.chance(20) {
            out.push(message(projection, id, None, ts));
        } else if rng.chance(5) {
            // A primary-key change: the row moves to a new key.
            let new_id = 1 + rng.below(n);
            let value = row(rng, projection, new_id);
            out.push(message(projection, id, None, ts));
            out.push(message(projection, new_id, Some(value), ts));
        } else {
            let value = row(rng, projection, id);
            out.push(message(projection, id, Some(value), ts));
        }
    }
    out
}

async fn check_stream(seed: u64, plan: &Plan, router: &Router) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
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
    let messages = stream(&mut rng, len);
    let max_batch = [1, 3, 7, 64][rng.below(4) as usize];
    let mut rest = messages.as_slice();
    while !rest.is_empty() {
        let n = (1 + rng.below(max_batch)) as usize;
        let (now, later) = rest.split_at(n.min(rest.len()));
        rest = later;
        let items = now.iter().cloned().map(SourceItem::Message).collect();
        let batch = RoutedBatch::route(items, router as &dyn Route);
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

async fn compare_with_recomputation(seed: u64, plan: &Plan, store: &EmbeddedStore) {
    for view in &plan.single_views {
        let root = view.root();
        let mut keys: Vec<Vec<Value>> = store
            .all_records(&root.projection)
            .expect("records")
            .into_iter()
            .filter(|r| r.is_public())
            .map(|r| {
                view.key
                    .iter()
                    .map(|k| r.fields.get(&k.field).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .collect();
        keys.sort_by(|a, b| aggregate::compare_keys(a, b));
        let expected = aggregate::build(plan, view, store, &keys)
            .await
            .expect("build");
        let stored = store.all_documents(&view.name).expect("documents");
        let mut live = 0;
        for (key, doc) in &stored {
            let state = doc.get("__STATE__").and_then(Value::as_str);
            let found = expected.documents.iter().find(|(k, _)| k == key);
            match (state, found) {
                (Some("PUBLIC"), Some((_, Built::Document(want)))) => {
                    live += 1;
                    let mut got = doc.clone();
                    got.shift_remove("__STATE__");
                    assert_eq!(
                        Value::Object(got).to_json(),
                        Value::Object(want.clone()).to_json(),
                        "seed {seed}, view {}, key {key:?}",
                        view.name
                    );
                }
                (Some("DELETED"), None) => {
                    assert_eq!(
                        view.on_root_delete,
                        RootDelete::MarkDeleted,
                        "seed {seed}: {} kept a deleted document",
                        view.name
                    );
                }
                other => panic!(
                    "seed {seed}, view {}, key {key:?}: stored state {:?} but recomputation {:?}",
                    view.name, other.0, other.1
                ),
            }
        }
        assert_eq!(
            live,
            keys.len(),
            "seed {seed}, view {}: every live root has its document",
            view.name
        );
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
