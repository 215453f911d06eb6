use std::sync::Arc;

use fdc_plan::CompareOp;
use serde_json::json;

use super::*;
use crate::change::Message;
use crate::runtime::{MessageRouter, RoutedBatch, RuntimeConfig, Stores};
use crate::source::SourceItem;
use crate::testkit::shop_plan;
use crate::value::Map;
use fdc_embedded::EmbeddedStore;
use fdc_file::MemoryEvents;

fn message(projection: &str, id: i64, value: Option<serde_json::Value>, ts: i64) -> Message {
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

/// Seven customers (odd ones in IT) with orders, items, products and billing addresses, then
/// moves, updates and deletes (a deleted customer, a deleted order).
fn history() -> Vec<Message> {
    let mut out = Vec::new();
    let mut ts = 1;
    for p in 1..=3 {
        out.push(message(
            "products",
            p,
            Some(json!({"id": p, "name": format!("p{p}"), "category": null})),
            ts,
        ));
    }
    for c in 1..=7 {
        ts += 1;
        let country = if c % 2 == 1 { "IT" } else { "FR" };
        out.push(message(
            "customers",
            c,
            Some(json!({"id": c, "name": format!("c{c}"), "country": country})),
            ts,
        ));
        out.push(message(
            "addresses",
            c,
            Some(json!({"id": c, "customer_id": c, "kind": "billing", "city": "x"})),
            ts,
        ));
        for o in 0..2 {
            let order = c * 10 + o;
            out.push(message(
                "orders",
                order,
                Some(json!({"id": order, "customer_id": c, "status": "PAID", "total": "2.50"})),
                ts,
            ));
            out.push(message(
                "items",
                order * 10,
                Some(json!({"id": order * 10, "order_id": order, "product_id": 1 + order % 3, "qty": 2, "price": "1.25"})),
                ts,
            ));
        }
    }
    ts += 1;
    out.push(message(
        "orders",
        10,
        Some(json!({"id": 10, "customer_id": 2, "status": "NEW", "total": "9.00"})),
        ts,
    ));
    out.push(message(
        "products",
        2,
        Some(json!({"id": 2, "name": "renamed", "category": null})),
        ts,
    ));
    out.push(message("customers", 3, None, ts));
    out.push(message("orders", 51, None, ts));
    out
}

async fn engine(store: Arc<EmbeddedStore>, strategies: bool) -> Engine {
    let stores = Stores {
        projections: store.clone(),
        views: store.clone(),
        events: Arc::new(MemoryEvents::default()),
        dead_letters: store,
    };
    let config = RuntimeConfig {
        strategies,
        rebuild_chunk: 3,
        ..RuntimeConfig::default()
    };
    Engine::build(shop_plan(), stores, config).await.unwrap()
}

async fn feed(engine: &Engine, messages: &[Message], batch: usize) {
    let router = crate::ingest::Router::new(engine.plan()).unwrap();
    for chunk in messages.chunks(batch) {
        let items = chunk.iter().cloned().map(SourceItem::Message).collect();
        let routed = RoutedBatch::route(items, &router as &dyn MessageRouter);
        let out = engine.process(&routed).await.unwrap();
        assert!(out.dead_letters.is_empty());
        engine.commit(&out, 0);
    }
}

fn documents(store: &EmbeddedStore, view: &str) -> Vec<(Vec<Value>, Map)> {
    store.all_documents(view).unwrap()
}

/// The single views the steady state keeps (strategies on, small batches).
async fn incremental() -> Arc<EmbeddedStore> {
    let store = Arc::new(EmbeddedStore::in_memory());
    feed(&engine(store.clone(), true).await, &history(), 3).await;
    store
}

fn options(view: &str, filter: Vec<FieldCondition>, page: usize) -> RefreshOptions {
    RefreshOptions {
        view: view.into(),
        filter,
        page,
    }
}

#[tokio::test]
async fn an_initial_load_then_a_refresh_gives_what_the_steady_state_gives() {
    let expected = incremental().await;
    let store = Arc::new(EmbeddedStore::in_memory());
    let loader = engine(store.clone(), false).await;
    feed(&loader, &history(), 1000).await;
    assert!(
        documents(&store, "customer_360").is_empty(),
        "strategies off"
    );
    assert_eq!(loader.counters().summary().triggered, 0);
    for view in ["customer_360", "order_view"] {
        let mut batches = 0;
        let out = refresh(&loader, &options(view, vec![], 4), None, |_| {
            batches += 1;
            Flow::Continue
        })
        .await
        .unwrap();
        assert!(out.complete);
        assert!(batches > 1, "{view}: pages of 4");
        assert_eq!(
            documents(&store, view),
            documents(&expected, view),
            "{view}"
        );
        assert!(out.totals.views.inserted > 0);
    }
    // A second refresh finds nothing to write.
    let out = refresh(&loader, &options("customer_360", vec![], 4), None, |_| {
        Flow::Continue
    })
    .await
    .unwrap();
    assert_eq!(
        (
            out.totals.views.inserted,
            out.totals.views.updated,
            out.totals.views.deleted
        ),
        (0, 0, 0)
    );
    assert_eq!(out.totals.views.unchanged, 6, "customers 1, 2, 4, 5, 6, 7");
    assert_eq!(
        roots_to_scan(&loader, "customer_360").await.unwrap(),
        Some(7)
    );
}

#[tokio::test]
async fn documents_whose_root_is_gone_are_deleted_or_marked_by_the_orphans_pass() {
    let store = Arc::new(EmbeddedStore::in_memory());
    let steady = engine(store.clone(), true).await;
    let h = history();
    // Everything but the final moves and deletes: seven customers.
    feed(&steady, &h[..h.len() - 4], 1000).await;
    assert_eq!(documents(&store, "customer_360").len(), 7);
    // Deleted while strategies are off: the documents are now stale.
    let loader = engine(store.clone(), false).await;
    let deletes = vec![
        message("customers", 1, None, 100),
        message("orders", 11, None, 100),
    ];
    feed(&loader, &deletes, 10).await;
    assert_eq!(documents(&store, "customer_360").len(), 7);
    for view in ["customer_360", "order_view"] {
        refresh(&loader, &options(view, vec![], 2), None, |_| Flow::Continue)
            .await
            .unwrap();
    }
    let customers = documents(&store, "customer_360");
    assert_eq!(customers.len(), 6);
    assert!(!customers.iter().any(|(k, _)| k == &vec![Value::Int(1)]));
    let orders = documents(&store, "order_view");
    let order_11 = orders
        .iter()
        .find(|(k, _)| k == &vec![Value::Int(11)])
        .unwrap();
    assert_eq!(order_11.1["__STATE__"], Value::String("DELETED".into()));
}

#[tokio::test]
async fn an_interrupted_refresh_resumes_from_its_cursor_and_refuses_another_filter() {
    let expected = incremental().await;
    let store = Arc::new(EmbeddedStore::in_memory());
    let loader = engine(store.clone(), false).await;
    feed(&loader, &history(), 1000).await;
    let opts = options("customer_360", vec![], 2);
    let mut saved: Option<String> = None;
    let out = refresh(&loader, &opts, None, |c| {
        saved = Some(serde_json::to_string(c).unwrap());
        Flow::Stop
    })
    .await
    .unwrap();
    assert!(!out.complete);
    assert_eq!(out.totals.scanned, 2);
    assert_eq!(documents(&store, "customer_360").len(), 2);
    let cursor: RefreshCursor = serde_json::from_str(&saved.unwrap()).unwrap();
    assert_eq!(cursor.pass, Pass::Roots);
    assert_eq!(cursor.after, Some(vec![Value::Int(2)]));

    let other = options(
        "customer_360",
        vec![FieldCondition {
            field: "country".into(),
            op: CompareOp::Eq,
            value: json!("IT"),
        }],
        2,
    );
    let refused = refresh(&loader, &other, Some(cursor.clone()), |_| Flow::Continue).await;
    assert!(matches!(refused, Err(EngineError::Plan(m)) if m.contains("another filter")));

    let mut last = None;
    let out = refresh(&loader, &opts, Some(cursor), |c| {
        last = Some(c.clone());
        Flow::Continue
    })
    .await
    .unwrap();
    assert!(out.complete);
    assert_eq!(last.unwrap().pass, Pass::Done);
    // 7 roots, then the 6 stored documents of the orphans pass, counted apart.
    assert_eq!(out.totals.scanned, 7);
    assert_eq!(out.totals.orphans_scanned, 6);
    assert_eq!(
        documents(&store, "customer_360"),
        documents(&expected, "customer_360")
    );
}

#[tokio::test]
async fn a_filter_rebuilds_only_the_matching_roots_and_names_unknown_fields() {
    let store = Arc::new(EmbeddedStore::in_memory());
    let loader = engine(store.clone(), false).await;
    feed(&loader, &history(), 1000).await;
    let italians = vec![FieldCondition {
        field: "country".into(),
        op: CompareOp::Eq,
        value: json!("IT"),
    }];
    let out = refresh(
        &loader,
        &options("customer_360", italians, 100),
        None,
        |_| Flow::Continue,
    )
    .await
    .unwrap();
    assert!(out.complete);
    let keys: Vec<Vec<Value>> = documents(&store, "customer_360")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // Customer 3 is deleted; no orphans pass under a filter.
    assert_eq!(
        keys,
        vec![
            vec![Value::Int(1)],
            vec![Value::Int(5)],
            vec![Value::Int(7)]
        ]
    );
    assert_eq!(out.totals.scanned, 7);

    let bad = options(
        "customer_360",
        vec![FieldCondition {
            field: "colour".into(),
            op: CompareOp::Eq,
            value: json!("red"),
        }],
        10,
    );
    let err = validate(&loader, &bad, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the filter names `colour`, which is not a field of the root projection `customers`"
    );
    assert_eq!(
        validate(&loader, &options("nope", vec![], 1), None).unwrap_err(),
        RefreshError::UnknownView("nope".into())
    );
}

#[test]
fn cursor_totals_keep_their_flat_json_and_older_cursors_still_load() {
    let totals = RefreshTotals {
        scanned: 1,
        orphans_scanned: 2,
        rebuilt: 3,
        views: ViewCounts {
            inserted: 4,
            updated: 5,
            unchanged: 6,
            deleted: 7,
            failed: 8,
            mapping_errors: 9,
        },
    };
    let json = r#"{"scanned":1,"orphans_scanned":2,"rebuilt":3,"inserted":4,"updated":5,"unchanged":6,"deleted":7,"failed":8,"mapping_errors":9}"#;
    assert_eq!(serde_json::to_string(&totals).unwrap(), json);
    assert_eq!(serde_json::from_str::<RefreshTotals>(json).unwrap(), totals);
    // A cursor written before `orphans_scanned` existed.
    let older = r#"{"scanned":1,"rebuilt":3,"inserted":4,"updated":5,"unchanged":6,"deleted":7,"failed":8,"mapping_errors":9}"#;
    let loaded: RefreshTotals = serde_json::from_str(older).unwrap();
    assert_eq!((loaded.orphans_scanned, loaded.views), (0, totals.views));
}
