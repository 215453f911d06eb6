//! The deployment record (`DeploymentStore`) and the single-view count of `fdc plan`'s
//! estimates, on the MongoDB store against a real server (`scripts/services up`; FerretDB v1
//! on `FDC_MONGO_URI`) and on the embedded store with the same assertions.
//!
//! Compiled with the `integration` feature; a missing server is a failure, never a skip.
#![cfg(feature = "integration")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod mongo_common;

use fdc_embedded::EmbeddedStore;
use fdc_engine::store::{DeploymentStore, SingleViewStore, ViewWrite};
use fdc_engine::value::{Map, Value};
use fdc_mongo::deployment::DEPLOYMENT_COLLECTION;
use fdc_plan::deployment::Deployment;
use fdc_plan::WriteMode;
use mongodb::bson::{doc, Document};

/// The record of the shop fixture plan (projections, views, indexes, strategies: every part
/// of the record's shape), applied by `by`; `text` sets its text hash.
fn record(text: &str, by: &str) -> Deployment {
    let mut r = Deployment::new(&fdc_engine::testkit::shop_plan(), &[text]);
    r.applied_at = Some("2026-12-07T05:00:00.000Z".into());
    r.applied_by = Some(by.into());
    r
}

/// Nothing stored, a first save, a replacing save: each load gives exactly what was saved.
async fn round_trip(store: &dyn DeploymentStore) {
    assert_eq!(store.load_deployment().await.unwrap(), None);
    let first = record("one", "ada");
    assert!(!first.projections.is_empty() && !first.views.is_empty());
    store.save_deployment(&first).await.unwrap();
    assert_eq!(store.load_deployment().await.unwrap(), Some(first.clone()));
    let mut second = record("two", "grace");
    second.applied_at = None;
    store.save_deployment(&second).await.unwrap();
    assert_eq!(store.load_deployment().await.unwrap(), Some(second));
}

async fn counts(store: &dyn SingleViewStore) {
    store.ensure_view("summary", &["id".into()]).await.unwrap();
    let writes = (1..=4)
        .map(|i| ViewWrite::Upsert {
            key: vec![Value::Int(i)],
            document: Map::default(),
        })
        .collect();
    store
        .write("summary", WriteMode::Replace, writes)
        .await
        .unwrap();
    assert_eq!(store.count_documents("summary").await.unwrap(), Some(4));
}

#[tokio::test]
async fn the_record_round_trips_on_the_embedded_store() {
    let store = EmbeddedStore::in_memory();
    round_trip(&store).await;
    counts(&store).await;
}

#[tokio::test]
async fn the_record_round_trips_in_one_mongodb_document() {
    let store = mongo_common::fresh_store("deployment_record").await;
    round_trip(&store).await;
    // One document, replaced in place, readable by an operator (the record's fields, not a
    // string).
    let coll = store
        .database()
        .collection::<Document>(DEPLOYMENT_COLLECTION);
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 1);
    let stored = coll.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(stored.get_str("_id").unwrap(), "current");
    assert_eq!(stored.get_str("applied_by").unwrap(), "grace");
    assert!(stored.get_document("projections").is_ok());
    counts(&store).await;
    store.drop_database().await.unwrap();
}

#[tokio::test]
async fn a_record_of_another_format_is_an_error_on_mongodb() {
    let store = mongo_common::fresh_store("deployment_format").await;
    store
        .database()
        .collection::<Document>(DEPLOYMENT_COLLECTION)
        .insert_one(doc! { "_id": "current", "format": 99 })
        .await
        .unwrap();
    let e = store.load_deployment().await.unwrap_err();
    assert!(e.to_string().contains("format 99"), "{e}");
    store.drop_database().await.unwrap();
}

/// The pause state and a paused view's pending triggers (`PauseStore`): the conformance every
/// store passes, here on a real server, and one document per item.
#[tokio::test]
async fn the_pause_state_conforms_on_mongodb() {
    use fdc_engine::store::{PauseItem, PauseStore, PauseTarget};
    let store = mongo_common::fresh_store("pause_state").await;
    fdc_engine::store::pause::conformance(&store).await.unwrap();
    store
        .save_pause(&PauseItem {
            target: PauseTarget::Projection("orders".into()),
            since_ms: 1,
            by: "ada".into(),
            reason: None,
        })
        .await
        .unwrap();
    let coll = store
        .database()
        .collection::<Document>(fdc_mongo::pause::PAUSE_COLLECTION);
    // The view item of the conformance run, and this one.
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 2);
    let stored = coll
        .find_one(doc! { "_id": "projection:orders" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("by").unwrap(), "ada");
}

/// The source drift (`SourceDriftStore`): the conformance every store passes, here on a real
/// server, one readable document per projection, and a second store object (another process)
/// merging into what the first saved.
#[tokio::test]
async fn the_source_drift_conforms_on_mongodb() {
    use fdc_engine::store::{SourceDrift, SourceDriftStore};
    let store = mongo_common::fresh_store("source_drift").await;
    fdc_engine::store::drift::conformance(&store).await.unwrap();
    let coll = store
        .database()
        .collection::<Document>(fdc_mongo::drift::DRIFT_COLLECTION);
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 2);
    let stored = coll
        .find_one(doc! { "_id": "orders" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_i64("messages").unwrap(), 7);
    let names: Vec<&str> = stored
        .get_array("unmapped")
        .unwrap()
        .iter()
        .filter_map(|c| c.as_document()?.get_str("name").ok())
        .collect();
    assert_eq!(names, vec!["COUPON", "TIER"]);
    // What another process (`fdc plan --config`) reads, and merges into.
    let other = fdc_mongo::MongoStore::connect(fdc_mongo::MongoStoreConfig {
        uri: mongo_common::uri(),
        database: store.database().name().to_string(),
        server_selection_timeout_ms: 5_000,
        connect_timeout_ms: 5_000,
        ..fdc_mongo::MongoStoreConfig::default()
    })
    .await
    .unwrap();
    let mut delta = SourceDrift::new("orders");
    delta.messages = 3;
    other.merge_source_drift(&[delta]).await.unwrap();
    let loaded = store.load_source_drift().await.unwrap();
    let orders = loaded.iter().find(|d| d.projection == "orders").unwrap();
    assert_eq!(orders.messages, 10);
    assert_eq!(orders.unmapped.len(), 2);
    store.drop_database().await.unwrap();
}

/// The fields `fdc apply` and a running `fdc run` add (an apply's progress with a refresh
/// cursor, a heartbeat) round-trip through the MongoDB document as they are.
#[tokio::test]
async fn apply_progress_and_heartbeat_round_trip_on_mongodb() {
    let store = mongo_common::fresh_store("deployment_apply").await;
    let mut r = record("one", "ada");
    r.apply = Some(fdc_plan::deployment::ApplyProgress {
        target: "f".repeat(64),
        target_text_hash: "t".repeat(64),
        started_at: "2026-12-07T05:00:00.000Z".into(),
        started_by: "ada".into(),
        done: vec![
            "reingest orders".into(),
            "create_index orders(status)".into(),
        ],
        current: Some("refresh customer_360".into()),
        checkpoint: Some(serde_json::json!({
            "view": "customer_360", "filter": [], "pass": "roots",
            "after": [{"Int": 9_007_199_254_740_993_i64}, {"String": "o-1"}],
            "totals": {"scanned": 5000, "orphans_scanned": 0, "rebuilt": 4999}
        })),
    });
    r.heartbeat = Some(fdc_plan::deployment::Heartbeat {
        plan_fingerprint: "p".repeat(64),
        host: "vm".into(),
        pid: 4242,
        at: "2026-12-07T05:00:01.000Z".into(),
        at_ms: 1_796_619_601_000,
    });
    store.save_deployment(&r).await.unwrap();
    assert_eq!(store.load_deployment().await.unwrap(), Some(r));
    store.drop_database().await.unwrap();
}
