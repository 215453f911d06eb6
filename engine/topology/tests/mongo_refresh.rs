//! Initial load and full refresh on a real MongoDB-wire server (`scripts/services up`;
//! FerretDB v1 on `FDC_MONGO_URI`, default `mongodb://127.0.0.1:27017`): projections written
//! with strategies off, then an interrupted refresh resumed from its cursor, give the same
//! single views as the steady state on the embedded store (the reference).
//!
//! Compiled with the engine's `integration` feature; a missing server is a failure with a clear
//! message, never a skip.
#![cfg(feature = "integration")]
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod mongo_common;

use std::sync::Arc;

use fdc_embedded::EmbeddedStore;
use fdc_engine::change::Message;
use fdc_engine::ingest::Router;
use fdc_engine::runtime::refresh::{refresh, Flow, Pass, RefreshCursor, RefreshOptions};
use fdc_engine::runtime::{Engine, MessageRouter, RoutedBatch, RuntimeConfig, Stores};
use fdc_engine::source::SourceItem;
use fdc_engine::store::{ProjectionStore, SingleViewStore};
use fdc_engine::value::{Map, Value};
use fdc_file::MemoryEvents;
use fdc_mongo::MongoStore;
use fdc_plan::Plan;
use serde_json::json;

async fn mongo(test: &str) -> Arc<MongoStore> {
    Arc::new(mongo_common::fresh_store(test).await)
}

fn plan() -> Plan {
    serde_json::from_str(include_str!("../../tests/fixtures/shop.plan.json")).unwrap()
}

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

/// Five customers with two orders of one item each, then a move, a rename and a delete.
fn history() -> Vec<Message> {
    let mut out = vec![message(
        "products",
        1,
        Some(json!({"id": 1, "name": "pen", "category": null})),
        1,
    )];
    for c in 1..=5 {
        out.push(message(
            "customers",
            c,
            Some(json!({"id": c, "name": format!("c{c}"), "country": "IT"})),
            2,
        ));
        for o in [c * 10, c * 10 + 1] {
            out.push(message(
                "orders",
                o,
                Some(json!({"id": o, "customer_id": c, "status": "PAID", "total": "3.50"})),
                2,
            ));
            out.push(message(
                "items",
                o * 10,
                Some(json!({"id": o * 10, "order_id": o, "product_id": 1, "qty": 1, "price": "3.50"})),
                2,
            ));
        }
    }
    out.push(message(
        "orders",
        10,
        Some(json!({"id": 10, "customer_id": 2, "status": "NEW", "total": "1.00"})),
        3,
    ));
    out.push(message(
        "products",
        1,
        Some(json!({"id": 1, "name": "ink", "category": null})),
        3,
    ));
    out.push(message("customers", 4, None, 3));
    out
}

async fn engine(
    projections: Arc<dyn ProjectionStore>,
    views: Arc<dyn SingleViewStore>,
    dead: Arc<EmbeddedStore>,
    strategies: bool,
) -> Engine {
    engine_of(plan(), projections, views, dead, strategies).await
}

async fn engine_of(
    plan: Plan,
    projections: Arc<dyn ProjectionStore>,
    views: Arc<dyn SingleViewStore>,
    dead: Arc<EmbeddedStore>,
    strategies: bool,
) -> Engine {
    let stores = Stores {
        projections,
        views,
        events: Arc::new(MemoryEvents::default()),
        dead_letters: dead,
    };
    let config = RuntimeConfig {
        strategies,
        ..RuntimeConfig::default()
    };
    Engine::build(plan, stores, config).await.unwrap()
}

async fn feed(engine: &Engine, messages: &[Message]) {
    let router = Router::new(engine.plan()).unwrap();
    let items = messages.iter().cloned().map(SourceItem::Message).collect();
    let routed = RoutedBatch::route(items, &router as &dyn MessageRouter);
    let out = engine.process(&routed).await.unwrap();
    assert!(out.dead_letters.is_empty());
    engine.commit(&out, 0);
}

/// The documents of a view in key order (stores scan in their own order).
async fn documents(store: &dyn SingleViewStore, view: &str) -> Vec<(Vec<Value>, Map)> {
    let mut docs = store.scan(view, None, 1000).await.unwrap().items;
    docs.sort_by(|a, b| fdc_engine::aggregate::compare_keys(&a.0, &b.0));
    docs
}

#[tokio::test]
async fn an_initial_load_and_a_resumed_refresh_on_mongodb_match_the_steady_state() {
    let reference = Arc::new(EmbeddedStore::in_memory());
    let steady = engine(
        reference.clone(),
        reference.clone(),
        reference.clone(),
        true,
    )
    .await;
    feed(&steady, &history()).await;

    let store = mongo("refresh").await;
    let dead = Arc::new(EmbeddedStore::in_memory());
    let loader = engine(store.clone(), store.clone(), dead, false).await;
    feed(&loader, &history()).await;
    assert!(documents(store.as_ref(), "customer_360").await.is_empty());
    assert_eq!(store.count("customers").await.unwrap(), Some(5));

    let options = RefreshOptions {
        view: "customer_360".into(),
        filter: vec![],
        page: 2,
    };
    let mut saved: Option<RefreshCursor> = None;
    let first = refresh(&loader, &options, None, |c| {
        saved = Some(c.clone());
        Flow::Stop
    })
    .await
    .unwrap();
    assert!(!first.complete);
    let cursor = saved.unwrap();
    assert_eq!(cursor.pass, Pass::Roots);
    let done = refresh(&loader, &options, Some(cursor), |_| Flow::Continue)
        .await
        .unwrap();
    assert!(done.complete);
    assert_eq!(done.totals.views.inserted, 4, "customer 4 is soft-deleted");
    for view in ["customer_360", "order_view"] {
        if view == "order_view" {
            let all = RefreshOptions {
                view: view.into(),
                filter: vec![],
                page: 3,
            };
            refresh(&loader, &all, None, |_| Flow::Continue)
                .await
                .unwrap();
        }
        assert_eq!(
            documents(store.as_ref(), view).await,
            documents(reference.as_ref(), view).await,
            "{view}"
        );
    }
    store.drop_database().await.unwrap();
}

/// MongoDB keeps a view's key fields in its documents (the key index needs them): a second
/// full refresh must still find every document unchanged and write nothing, whether the key
/// field is mapped first, mapped last, or not mapped at all.
#[tokio::test]
async fn a_second_refresh_on_mongodb_writes_nothing_wherever_the_key_field_is() {
    for variant in ["key first", "key last", "key not mapped"] {
        let mut plan = plan();
        let view = plan
            .single_views
            .iter_mut()
            .find(|v| v.name == "customer_360")
            .unwrap();
        let at = view
            .mapping
            .iter()
            .position(|m| m.name == "customer_id")
            .unwrap();
        let key_field = view.mapping.remove(at);
        match variant {
            "key first" => view.mapping.insert(0, key_field),
            "key last" => view.mapping.push(key_field),
            _ => {}
        }
        let store = mongo("refresh_again").await;
        let dead = Arc::new(EmbeddedStore::in_memory());
        let loader = engine_of(plan, store.clone(), store.clone(), dead, false).await;
        feed(&loader, &history()).await;
        let options = RefreshOptions {
            view: "customer_360".into(),
            filter: vec![],
            page: 2,
        };
        let first = refresh(&loader, &options, None, |_| Flow::Continue)
            .await
            .unwrap();
        assert_eq!(first.totals.views.inserted, 4, "{variant}");
        let second = refresh(&loader, &options, None, |_| Flow::Continue)
            .await
            .unwrap();
        let v = &second.totals.views;
        assert_eq!(
            (v.inserted, v.updated, v.deleted, v.unchanged),
            (0, 0, 0, 4),
            "{variant}: {v:?}"
        );
        store.drop_database().await.unwrap();
    }
}
