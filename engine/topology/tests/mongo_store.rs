//! The MongoDB store against a real MongoDB-wire server (`scripts/services up`; FerretDB v1 on
//! `FDC_MONGO_URI`, default `mongodb://127.0.0.1:27017`).
//!
//! Conformance: every case is a function generic over the store traits and runs against the
//! embedded store (the reference) and the MongoDB store, with the same assertions; a seeded
//! random differential run compares the two answer for answer. Then MongoDB-only cases:
//! indexes, concurrent writers on the version guard, the stored shape, errors.
//!
//! Compiled with the engine's `integration` feature; a missing server is a failure with a clear
//! message, never a skip. Each test uses its own database, so tests run in parallel.
#![cfg(feature = "integration")]

mod mongo_common;

use std::sync::Arc;

use fdc_embedded::EmbeddedStore;
use fdc_engine::change::Version;
use fdc_engine::store::{
    FindIn, Page, ProjectionLayout, ProjectionStore, Record, RecordMeta, RecordState, RecordWrite,
    SingleViewStore, ViewFailure, ViewWrite, WriteOutcome, STATE_FIELD,
};
use fdc_engine::value::{Map, Value};
use fdc_mongo::{MongoStore, MongoStoreConfig, WriteGuard};
use fdc_plan::{CompareOp, FieldCondition, WriteMode};
use mongodb::bson::{doc, Document};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A MongoDB store on a fresh database named after the test.
async fn mongo(test: &str) -> MongoStore {
    mongo_common::fresh_store(test).await
}

fn dec(s: &str) -> Value {
    Value::Decimal(s.parse().expect("decimal"))
}

fn date(s: &str) -> Value {
    Value::Date(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date"))
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn meta(version: u128, offset: i64) -> RecordMeta {
    RecordMeta {
        version,
        topic: "shop.orders".into(),
        partition: 1,
        offset,
        timestamp: Some(1_700_000_000_000 + offset),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_500 + offset,
    }
}

/// An order: key `id`, joined to a customer, with a decimal total and a date.
fn order(id: i64, customer: i64, version: u128, state: RecordState) -> Record {
    let mut fields = Map::default();
    fields.insert("id".into(), Value::Int(id));
    fields.insert("customer_id".into(), Value::Int(customer));
    fields.insert("status".into(), Value::String(format!("s{}", id % 2)));
    fields.insert("total".into(), dec(&format!("{}.50", id)));
    fields.insert("day".into(), date("2024-03-01"));
    Record {
        key: vec![Value::Int(id)],
        layout: Default::default(),
        fields,
        state,
        meta: meta(version, id),
    }
}

fn orders_layout() -> ProjectionLayout {
    ProjectionLayout {
        name: "orders".into(),
        key: strings(&["id"]),
        declared: vec![(strings(&["status"]), false)],
        queried: vec![strings(&["customer_id"]), strings(&["region", "code"])],
    }
}

/// A record of the composite-key projection `lines` (key `order_id, line`).
fn line(order_id: &str, line: i64, version: u128) -> Record {
    let mut fields = Map::default();
    fields.insert("order_id".into(), Value::String(order_id.into()));
    fields.insert("line".into(), Value::Int(line));
    fields.insert("price".into(), dec("1.10"));
    Record {
        key: vec![Value::String(order_id.into()), Value::Int(line)],
        layout: Default::default(),
        fields,
        state: RecordState::Public,
        meta: meta(version, line),
    }
}

fn lines_layout() -> ProjectionLayout {
    ProjectionLayout {
        name: "lines".into(),
        key: strings(&["order_id", "line"]),
        declared: vec![],
        queried: vec![strings(&["price"])],
    }
}

async fn put<S: ProjectionStore>(
    s: &S,
    projection: &str,
    records: Vec<Record>,
) -> Vec<WriteOutcome> {
    s.write(
        projection,
        records.into_iter().map(RecordWrite::Put).collect(),
    )
    .await
    .expect("write")
}

fn sorted_keys(records: &[Record]) -> Vec<Vec<Value>> {
    let mut keys: Vec<Vec<Value>> = records.iter().map(|r| r.key.clone()).collect();
    keys.sort_by(|a, b| Value::Array(a.clone()).total_cmp(&Value::Array(b.clone())));
    keys
}

fn ints(ids: &[i64]) -> Vec<Vec<Value>> {
    ids.iter().map(|i| vec![Value::Int(*i)]).collect()
}

// ---------------------------------------------------------------------------------------------
// Conformance cases (generic; run on both stores)
// ---------------------------------------------------------------------------------------------

async fn case_version_guard<S: ProjectionStore>(s: &S) {
    s.ensure_projection(&orders_layout()).await.expect("ensure");
    let out = put(s, "orders", vec![order(1, 10, 5, RecordState::Public)]).await;
    assert_eq!(out, vec![WriteOutcome::Applied]);
    // Older: stale; equal: a replay, applied; removing with an older version: stale.
    let out = s
        .write(
            "orders",
            vec![
                RecordWrite::Put(order(1, 11, 4, RecordState::Public)),
                RecordWrite::Put(order(1, 12, 5, RecordState::Public)),
                RecordWrite::Remove {
                    key: vec![Value::Int(1)],
                    version: Version(3),
                },
                RecordWrite::Put(order(2, 20, 1, RecordState::Public)),
                // Removing what was never stored is applied (nothing is stored afterwards).
                RecordWrite::Remove {
                    key: vec![Value::Int(99)],
                    version: Version(1),
                },
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        out,
        vec![
            WriteOutcome::Stale,
            WriteOutcome::Applied,
            WriteOutcome::Stale,
            WriteOutcome::Applied,
            WriteOutcome::Applied,
        ]
    );
    let got = s
        .get_many("orders", &ints(&[1, 2, 3, 1]))
        .await
        .expect("get");
    assert_eq!(got[0], Some(order(1, 12, 5, RecordState::Public)));
    assert_eq!(got[1], Some(order(2, 20, 1, RecordState::Public)));
    assert_eq!(got[2], None);
    assert_eq!(got[3], got[0]);
    // A soft delete keeps the version: an older insert cannot resurrect the record.
    put(s, "orders", vec![order(2, 20, 9, RecordState::Deleted)]).await;
    let out = put(s, "orders", vec![order(2, 21, 8, RecordState::Public)]).await;
    assert_eq!(out, vec![WriteOutcome::Stale]);
    let got = s.get_many("orders", &ints(&[2])).await.expect("get");
    assert_eq!(got[0].as_ref().map(|r| r.state), Some(RecordState::Deleted));
    // A hard delete with a newer version removes it.
    let out = s
        .write(
            "orders",
            vec![RecordWrite::Remove {
                key: vec![Value::Int(2)],
                version: Version(9),
            }],
        )
        .await
        .expect("remove");
    assert_eq!(out, vec![WriteOutcome::Applied]);
    assert_eq!(
        s.get_many("orders", &ints(&[2])).await.expect("get")[0],
        None
    );
    // Versions beyond 64 bits compare as numbers, not as text of different widths.
    let big = 1u128 << 100;
    put(s, "orders", vec![order(3, 30, big, RecordState::Public)]).await;
    let out = put(s, "orders", vec![order(3, 31, 99, RecordState::Public)]).await;
    assert_eq!(out, vec![WriteOutcome::Stale]);
    let out = put(
        s,
        "orders",
        vec![order(3, 32, u128::MAX, RecordState::Public)],
    )
    .await;
    assert_eq!(out, vec![WriteOutcome::Applied]);
    // Several writes for one key in one call apply in call order.
    let out = s
        .write(
            "orders",
            vec![
                RecordWrite::Put(order(4, 40, 1, RecordState::Public)),
                RecordWrite::Put(order(4, 41, 3, RecordState::Public)),
                RecordWrite::Put(order(4, 42, 2, RecordState::Public)),
                RecordWrite::Remove {
                    key: vec![Value::Int(4)],
                    version: Version(3),
                },
                RecordWrite::Put(order(4, 43, 1, RecordState::Public)),
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        out,
        vec![
            WriteOutcome::Applied,
            WriteOutcome::Applied,
            WriteOutcome::Stale,
            WriteOutcome::Applied,
            WriteOutcome::Applied,
        ]
    );
    let got = s.get_many("orders", &ints(&[4])).await.expect("get");
    assert_eq!(got[0], Some(order(4, 43, 1, RecordState::Public)));
    // A put after a hard delete of its batch is guarded by the version deleted, not its own:
    // it replaces what the delete was newer than, never a record newer than the delete.
    let after_delete = |id, customer, version, deleted| RecordWrite::PutAfterDelete {
        record: order(id, customer, version, RecordState::Public),
        deleted: Version(deleted),
    };
    let out = s
        .write(
            "orders",
            vec![
                after_delete(4, 44, 0, 5),
                after_delete(3, 33, 2, 5),
                after_delete(7, 70, 1, 2),
            ],
        )
        .await
        .expect("write");
    assert_eq!(
        out,
        vec![
            WriteOutcome::Applied,
            WriteOutcome::Stale,
            WriteOutcome::Applied,
        ]
    );
    let got = s.get_many("orders", &ints(&[4, 3, 7])).await.expect("get");
    assert_eq!(got[0], Some(order(4, 44, 0, RecordState::Public)));
    assert_eq!(got[1], Some(order(3, 32, u128::MAX, RecordState::Public)));
    assert_eq!(got[2], Some(order(7, 70, 1, RecordState::Public)));
    // A null key is refused before anything is written.
    let mut bad = order(5, 50, 1, RecordState::Public);
    bad.key = vec![Value::Null];
    let e = s
        .write(
            "orders",
            vec![
                RecordWrite::Put(order(6, 60, 1, RecordState::Public)),
                RecordWrite::Put(bad),
            ],
        )
        .await
        .expect_err("null key");
    assert!(!e.retryable);
    assert_eq!(
        s.get_many("orders", &ints(&[6])).await.expect("get")[0],
        None
    );
}

async fn case_find_in<S: ProjectionStore>(s: &S) {
    s.ensure_projection(&orders_layout()).await.expect("ensure");
    put(
        s,
        "orders",
        vec![
            order(1, 10, 1, RecordState::Public),
            order(2, 10, 1, RecordState::Deleted),
            order(3, 11, 1, RecordState::Public),
            order(4, 12, 1, RecordState::Public),
            order(5, 10, 1, RecordState::Public),
        ],
    )
    .await;
    let f = strings(&["customer_id"]);
    let values = vec![
        vec![Value::Int(10)],
        vec![Value::Int(11)],
        vec![Value::Null],
        vec![Value::Int(10)],
        // Equal by value: a float and a decimal find the int-valued field.
        vec![Value::Float(12.0)],
    ];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    let found = s.find_in("orders", q).await.expect("find");
    assert_eq!(sorted_keys(&found), ints(&[1, 3, 4, 5]));
    // Records come back whole and exact (decimal scale, date).
    let one = found
        .iter()
        .find(|r| r.key == vec![Value::Int(3)])
        .expect("3");
    assert_eq!(one, &order(3, 11, 1, RecordState::Public));
    // All states; conditions prune (equality pushed down, ordering checked after).
    let cond = [
        FieldCondition {
            field: "status".into(),
            op: CompareOp::Eq,
            value: serde_json::json!("s1"),
        },
        FieldCondition {
            field: "total".into(),
            op: CompareOp::Gt,
            value: serde_json::json!("2"),
        },
    ];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &cond,
        public_only: false,
    };
    assert_eq!(
        sorted_keys(&s.find_in("orders", q).await.expect("find")),
        ints(&[3, 5])
    );
    // A decimal constant compares by value, not as text ("10" < "9.50" as strings).
    let cond = [FieldCondition {
        field: "total".into(),
        op: CompareOp::Ge,
        value: serde_json::json!("4.5"),
    }];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &cond,
        public_only: true,
    };
    assert_eq!(
        sorted_keys(&s.find_in("orders", q).await.expect("find")),
        ints(&[4, 5])
    );
    // By primary key, and on an unindexed field, and on a decimal field by value.
    let k = strings(&["id"]);
    let values = ints(&[2, 4, 77]);
    let q = FindIn {
        fields: &k,
        values: &values,
        conditions: &[],
        public_only: false,
    };
    assert_eq!(
        sorted_keys(&s.find_in("orders", q).await.expect("find")),
        ints(&[2, 4])
    );
    let t = strings(&["total"]);
    let values = vec![vec![dec("3.5")], vec![dec("5.500")], vec![dec("7.50")]];
    let q = FindIn {
        fields: &t,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    assert_eq!(
        sorted_keys(&s.find_in("orders", q).await.expect("find")),
        ints(&[3, 5])
    );
    let d = strings(&["day"]);
    let values = vec![vec![date("2024-03-01")]];
    let q = FindIn {
        fields: &d,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    assert_eq!(s.find_in("orders", q).await.expect("find").len(), 4);
    // Nothing to look for, or an unknown projection: nothing found.
    let q = FindIn {
        fields: &f,
        values: &[],
        conditions: &[],
        public_only: true,
    };
    assert!(s.find_in("orders", q).await.expect("find").is_empty());
    let values = ints(&[10]);
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    assert!(s.find_in("nothing_here", q).await.expect("find").is_empty());
    // A record moved to another customer is found under the new one only.
    put(s, "orders", vec![order(3, 12, 2, RecordState::Public)]).await;
    let values = ints(&[11]);
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &[],
        public_only: false,
    };
    assert!(s.find_in("orders", q).await.expect("find").is_empty());
}

async fn case_composite<S: ProjectionStore>(s: &S) {
    s.ensure_projection(&lines_layout()).await.expect("ensure");
    put(
        s,
        "lines",
        vec![
            line("a", 1, 1),
            line("a", 2, 1),
            line("b", 1, 1),
            line("b", 2, 1),
        ],
    )
    .await;
    let k = strings(&["order_id", "line"]);
    let values = vec![
        vec![Value::String("a".into()), Value::Int(2)],
        vec![Value::String("b".into()), Value::Int(1)],
        vec![Value::String("b".into()), Value::Null],
    ];
    let q = FindIn {
        fields: &k,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    let found = s.find_in("lines", q).await.expect("find");
    assert_eq!(
        sorted_keys(&found),
        vec![
            vec![Value::String("a".into()), Value::Int(2)],
            vec![Value::String("b".into()), Value::Int(1)],
        ]
    );
    // The same tuples in another field order are another query (line, order_id): the pairs
    // (a,1) and (b,2) exist but (2,"a") does not match anything.
    let k2 = strings(&["line", "order_id"]);
    let values = vec![vec![Value::Int(1), Value::String("b".into())]];
    let q = FindIn {
        fields: &k2,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    assert_eq!(
        sorted_keys(&s.find_in("lines", q).await.expect("find")),
        vec![vec![Value::String("b".into()), Value::Int(1)]]
    );
    let got = s
        .get_many(
            "lines",
            &[
                vec![Value::String("b".into()), Value::Int(2)],
                vec![Value::String("c".into()), Value::Int(2)],
            ],
        )
        .await
        .expect("get");
    assert_eq!(got[0], Some(line("b", 2, 1)));
    assert_eq!(got[1], None);
}

/// Every record, by pages of `size`.
async fn scan_all<S: ProjectionStore>(s: &S, projection: &str, size: usize) -> Vec<Record> {
    let mut out = Vec::new();
    let mut after: Option<Vec<Value>> = None;
    loop {
        let Page { items, next } = s
            .scan(projection, after.as_deref(), size)
            .await
            .expect("scan");
        out.extend(items);
        match next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

async fn case_scan<S: ProjectionStore>(s: &S) -> Vec<Vec<Value>> {
    s.ensure_projection(&orders_layout()).await.expect("ensure");
    let ids: Vec<i64> = vec![5, -3, 12, 0, 7, 100, 42];
    put(
        s,
        "orders",
        ids.iter()
            .map(|i| order(*i, 1, 1, RecordState::Public))
            .collect(),
    )
    .await;
    let all = scan_all(s, "orders", 3).await;
    assert_eq!(all.len(), ids.len());
    let one_page = scan_all(s, "orders", 100).await;
    assert_eq!(all, one_page);
    let mut keys: Vec<Vec<Value>> = all.iter().map(|r| r.key.clone()).collect();
    keys.dedup();
    assert_eq!(keys.len(), ids.len());
    keys
}

async fn case_views<S: SingleViewStore>(s: &S) {
    let kf = strings(&["customer_id"]);
    s.ensure_view("sv", &kf).await.expect("ensure view");
    let k1 = vec![Value::Int(1)];
    let k2 = vec![Value::Int(2)];
    let mut d1 = Map::default();
    d1.insert("customer_id".into(), Value::Int(1));
    d1.insert("name".into(), Value::String("Ann".into()));
    d1.insert("spent".into(), dec("10.50"));
    d1.insert(
        "orders".into(),
        Value::Array(vec![Value::Object(Map::from_iter([
            ("id".into(), Value::Int(7)),
            ("total".into(), dec("10.50")),
            ("day".into(), date("2024-01-02")),
        ]))]),
    );
    d1.insert("other".into(), Value::Int(9));
    d1.insert(STATE_FIELD.into(), Value::String("PUBLIC".into()));
    let mut d2 = d1.clone();
    d2.insert("customer_id".into(), Value::Int(2));
    s.write(
        "sv",
        WriteMode::Replace,
        vec![
            ViewWrite::Upsert {
                key: k1.clone(),
                document: d1.clone(),
            },
            ViewWrite::Upsert {
                key: k2.clone(),
                document: d2.clone(),
            },
        ],
    )
    .await
    .expect("write");
    let got = s
        .get_many("sv", &[k1.clone(), vec![Value::Int(3)]])
        .await
        .expect("get");
    assert_eq!(got[0].as_ref(), Some(&d1));
    assert_eq!(got[1], None);
    // Merge: only the mapped fields change; `other` (not mapped) stays.
    let mut m = Map::default();
    m.insert("customer_id".into(), Value::Int(1));
    m.insert("name".into(), Value::String("Anna".into()));
    m.insert("spent".into(), Value::Int(11));
    s.write(
        "sv",
        WriteMode::Merge,
        vec![ViewWrite::Upsert {
            key: k1.clone(),
            document: m,
        }],
    )
    .await
    .expect("merge");
    let got = s
        .get_many("sv", std::slice::from_ref(&k1))
        .await
        .expect("get");
    let doc = got[0].as_ref().expect("doc");
    assert_eq!(doc["name"], Value::String("Anna".into()));
    assert_eq!(doc["spent"], Value::Int(11));
    assert_eq!(doc["other"], Value::Int(9));
    assert_eq!(doc["orders"], d1["orders"]);
    // Mark deleted keeps the document; marking a missing one creates nothing; delete removes.
    s.write(
        "sv",
        WriteMode::Replace,
        vec![
            ViewWrite::MarkDeleted { key: k1.clone() },
            ViewWrite::MarkDeleted {
                key: vec![Value::Int(5)],
            },
            ViewWrite::Delete { key: k2.clone() },
        ],
    )
    .await
    .expect("delete");
    let got = s
        .get_many("sv", &[k1.clone(), k2.clone(), vec![Value::Int(5)]])
        .await
        .expect("get");
    let doc = got[0].as_ref().expect("kept");
    assert_eq!(doc[STATE_FIELD], Value::String("DELETED".into()));
    assert_eq!(doc["other"], Value::Int(9));
    assert_eq!(got[1], None);
    assert_eq!(got[2], None);
    // Replace drops fields the new document does not have.
    let mut r = Map::default();
    r.insert("customer_id".into(), Value::Int(1));
    r.insert(STATE_FIELD.into(), Value::String("PUBLIC".into()));
    s.write(
        "sv",
        WriteMode::Replace,
        vec![ViewWrite::Upsert {
            key: k1.clone(),
            document: r.clone(),
        }],
    )
    .await
    .expect("replace");
    assert_eq!(
        s.get_many("sv", std::slice::from_ref(&k1))
            .await
            .expect("get")[0],
        Some(r)
    );
    // Scan pages through every document with its key (a decimal key keeps its type).
    let mut keys = Vec::new();
    let mut after: Option<Vec<Value>> = None;
    let decimal = Value::Decimal("12.50".parse().expect("decimal"));
    for k in (10..20).map(Value::Int).chain([decimal.clone()]) {
        let mut d = Map::default();
        d.insert("customer_id".into(), k.clone());
        d.insert(
            "orders".into(),
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
        );
        s.write(
            "sv",
            WriteMode::Replace,
            vec![ViewWrite::Upsert {
                key: vec![k],
                document: d,
            }],
        )
        .await
        .expect("write");
    }
    loop {
        let page = SingleViewStore::scan(s, "sv", after.as_deref(), 4)
            .await
            .expect("scan");
        for (k, d) in &page.items {
            assert_eq!(d["customer_id"], k[0]);
            keys.push(k.clone());
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(keys.len(), 12);
    assert!(keys.contains(&vec![decimal]));
    // `scan_keys` gives the same keys in the same order, without the documents.
    let mut only_keys = Vec::new();
    let mut after: Option<Vec<Value>> = None;
    loop {
        let page = s
            .scan_keys("sv", after.as_deref(), 5)
            .await
            .expect("scan keys");
        only_keys.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(only_keys, keys);
    // A failure is recorded.
    s.record_failures(vec![ViewFailure {
        view: "sv".into(),
        key: serde_json::json!({"customer_id": 1}),
        reason: "field `spent`: expected number".into(),
        document: serde_json::json!({"customer_id": 1, "spent": "x"}),
    }])
    .await
    .expect("failures");
}

// ---------------------------------------------------------------------------------------------
// The cases on both stores
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn version_guard_conforms() {
    case_version_guard(&EmbeddedStore::in_memory()).await;
    case_version_guard(&mongo("guard").await).await;
}

/// The other write guard than the one chosen for this server gives the same answers (on
/// FerretDB: the version in the filter, as on MongoDB; on MongoDB: `{_id}` alone).
#[tokio::test]
async fn version_guard_conforms_with_the_other_write_guard() {
    let m = mongo("guard_other").await;
    let other = match m.write_guard() {
        WriteGuard::IdOnly => WriteGuard::VersionInFilter,
        WriteGuard::VersionInFilter => WriteGuard::IdOnly,
    };
    case_version_guard(&m.with_write_guard(other)).await;
}

#[tokio::test]
async fn find_in_conforms() {
    case_find_in(&EmbeddedStore::in_memory()).await;
    case_find_in(&mongo("find").await).await;
}

#[tokio::test]
async fn composite_keys_conform() {
    case_composite(&EmbeddedStore::in_memory()).await;
    case_composite(&mongo("composite").await).await;
}

#[tokio::test]
async fn scan_conforms_and_pages_in_the_same_order() {
    let embedded = case_scan(&EmbeddedStore::in_memory()).await;
    let mongo = case_scan(&mongo("scan").await).await;
    assert_eq!(embedded, mongo);
}

#[tokio::test]
async fn single_views_conform() {
    case_views(&EmbeddedStore::in_memory()).await;
    let m = mongo("views").await;
    case_views(&m).await;
    let failures = m.view_failures().await.expect("failures");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].get_str("view").expect("view"), "sv");
    assert_eq!(
        failures[0]
            .get_document("key")
            .expect("key")
            .get_i64("customer_id")
            .expect("id"),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// MongoDB only
// ---------------------------------------------------------------------------------------------

async fn index_names(s: &MongoStore, collection: &str) -> Vec<(String, bool)> {
    let reply = s
        .database()
        .run_command(doc! { "listIndexes": collection })
        .await
        .expect("listIndexes");
    let batch = reply
        .get_document("cursor")
        .and_then(|c| c.get_array("firstBatch"))
        .expect("batch");
    let mut out: Vec<(String, bool)> = batch
        .iter()
        .filter_map(|i| i.as_document())
        .map(|i: &Document| {
            (
                i.get_str("name").unwrap_or_default().to_owned(),
                i.get_bool("unique").unwrap_or(false),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn indexes_are_created_once_and_unique_where_declared() {
    let s = mongo("indexes").await;
    s.ensure_projection(&orders_layout()).await.expect("ensure");
    s.ensure_projection(&orders_layout())
        .await
        .expect("ensure twice");
    let names = index_names(&s, "orders").await;
    assert!(names.contains(&("fdc_key_id".into(), true)), "{names:?}");
    assert!(
        names.contains(&("fdc_ix_status".into(), false)),
        "{names:?}"
    );
    assert!(
        names.contains(&("fdc_ix_customer_id".into(), false)),
        "{names:?}"
    );
    assert!(
        names.contains(&("fdc_ix_region_code".into(), false)),
        "{names:?}"
    );
    s.ensure_view("sv", &strings(&["customer_id"]))
        .await
        .expect("view");
    s.ensure_view("sv", &strings(&["customer_id"]))
        .await
        .expect("view twice");
    let names = index_names(&s, "sv").await;
    assert!(
        names.contains(&("fdc_key_customer_id".into(), true)),
        "{names:?}"
    );
}

/// Every field tuple the engine queries for the shop plan (the root key of each view, each join
/// node's join fields, each strategy hop's target fields) has an index once the engine is
/// built: the key index when the tuple is the primary key, else an `fdc_ix_` one.
#[tokio::test]
async fn every_field_tuple_the_plan_queries_has_an_index() {
    use fdc_engine::runtime::{Engine, RuntimeConfig, Stores};
    let plan: fdc_plan::Plan =
        serde_json::from_str(include_str!("../../tests/fixtures/shop.plan.json")).expect("plan");
    let s = Arc::new(mongo("plan_indexes").await);
    let stores = Stores {
        projections: s.clone(),
        views: s.clone(),
        events: Arc::new(fdc_file::MemoryEvents::default()),
        dead_letters: Arc::new(EmbeddedStore::in_memory()),
    };
    Engine::build(plan.clone(), stores, RuntimeConfig::default())
        .await
        .expect("build");
    let mut queried: Vec<(String, Vec<String>)> = Vec::new();
    for v in &plan.single_views {
        let root = v.root();
        queried.push((
            root.projection.clone(),
            v.key.iter().map(|k| k.field.clone()).collect(),
        ));
        for n in v.nodes.iter().skip(1) {
            queried.push((n.projection.clone(), n.fields.clone()));
        }
        for st in &v.strategies {
            for path in &st.paths {
                for hop in &path.hops {
                    queried.push((hop.to.clone(), hop.to_fields.clone()));
                }
            }
        }
    }
    assert!(queried.len() > 5, "{queried:?}");
    for (projection, fields) in queried {
        let key = &plan.projection(&projection).expect("projection").key;
        let name = if *key == fields {
            format!("fdc_key_{}", fields.join("_"))
        } else {
            format!("fdc_ix_{}", fields.join("_"))
        };
        let names = index_names(&s, &projection).await;
        assert!(
            names.iter().any(|(n, _)| *n == name),
            "{projection}: no index {name} in {names:?}"
        );
    }
    for v in &plan.single_views {
        let key: Vec<String> = v.key.iter().map(|k| k.name.clone()).collect();
        let name = format!("fdc_key_{}", key.join("_"));
        assert!(index_names(&s, &v.name).await.contains(&(name, true)));
    }
}

#[tokio::test]
async fn records_are_stored_in_the_documented_shape() {
    let s = mongo("shape").await;
    s.ensure_projection(&orders_layout()).await.expect("ensure");
    let big = (1u128 << 90) + 7;
    put(&s, "orders", vec![order(7, 70, big, RecordState::Public)]).await;
    let coll = s.database().collection::<Document>("orders");
    let d = coll
        .find_one(doc! { "id": 7_i64 })
        .await
        .expect("find")
        .expect("stored");
    assert_eq!(d.get_str("total").expect("total"), "7.50");
    assert_eq!(d.get_str("day").expect("day"), "2024-03-01");
    assert_eq!(d.get_i64("customer_id").expect("int64"), 70);
    assert_eq!(d.get_str(STATE_FIELD).expect("state"), "PUBLIC");
    let meta = d.get_document("__meta").expect("meta");
    assert_eq!(
        meta.get_str("version").expect("version"),
        format!("{big:039}")
    );
    assert!(meta.get_datetime("updated_at").is_ok());
    assert_eq!(meta.get_i32("partition").expect("partition"), 1);
}

/// Order `id` whose unique `customer_id` is `customer` (`None`: the field is missing).
fn holding(id: i64, customer: Option<Value>, version: u128, state: RecordState) -> Record {
    let mut r = order(id, 0, version, state);
    match customer {
        Some(v) => {
            r.fields.insert("customer_id".into(), v);
        }
        None => {
            r.fields.shift_remove("customer_id");
        }
    }
    r
}

/// A declared unique index: the second holder of a value is refused with a non-retryable
/// error that names no value, never counted stale; in one call records not stored are written
/// first; a value freed in the call is taken; soft-deleted records keep their value, hard
/// deletes free it; null and missing are one value.
///
/// `nulls_collide` is false on FerretDB v1 only: its unique index (SQLite) accepts a missing
/// value next to a null, where MongoDB (and so the embedded store) refuses the second.
async fn case_unique_index<S: ProjectionStore>(s: &S, nulls_collide: bool) {
    let layout = ProjectionLayout {
        name: "orders".into(),
        key: strings(&["id"]),
        declared: vec![(strings(&["customer_id"]), true)],
        queried: vec![],
    };
    s.ensure_projection(&layout).await.expect("ensure");
    let c = |v: i64| Some(Value::Int(v));
    let put = |id, customer, version| {
        RecordWrite::Put(holding(id, customer, version, RecordState::Public))
    };
    let customer_of = |id: i64| async move {
        s.get_many("orders", &ints(&[id]))
            .await
            .expect("get")
            .remove(0)
            .map(|r| r.fields.get("customer_id").cloned())
    };
    let refused = |e: fdc_engine::store::StoreError| {
        assert!(!e.retryable, "{e}");
        assert!(e.to_string().contains("refused by a unique index"), "{e}");
        assert!(!e.to_string().contains("4242"), "no value in {e}");
    };
    let w = |writes: Vec<RecordWrite>| s.write("orders", writes);
    assert_eq!(
        w(vec![put(1, c(4242), 1)]).await.expect("write"),
        vec![WriteOutcome::Applied]
    );
    refused(w(vec![put(2, c(4242), 1)]).await.expect_err("taken"));
    assert_eq!(customer_of(2).await, None);
    refused(
        w(vec![put(3, c(30), 1), put(4, c(30), 1)])
            .await
            .expect_err("taken in the call"),
    );
    assert_eq!(customer_of(3).await, Some(c(30)));
    assert_eq!(customer_of(4).await, None);
    // Record 1's replacement is refused: FerretDB v1 reports an `update` that a unique index
    // refuses as `InternalError (code 1)`, not 11000, so only the kind of error is compared.
    let e = w(vec![put(1, c(50), 2), put(5, c(50), 1)])
        .await
        .expect_err("taken by the insert");
    assert!(!e.retryable && !e.to_string().contains("4242"), "{e}");
    assert_eq!(customer_of(5).await, Some(c(50)));
    assert_eq!(customer_of(1).await, Some(c(4242)));
    let out = w(vec![put(6, c(4242), 1), put(1, c(60), 3)])
        .await
        .expect("freed in the call");
    assert_eq!(out, vec![WriteOutcome::Applied; 2]);
    assert_eq!(customer_of(6).await, Some(c(4242)));
    assert_eq!(customer_of(1).await, Some(c(60)));
    let soft = RecordWrite::Put(holding(1, c(60), 4, RecordState::Deleted));
    w(vec![soft]).await.expect("soft delete");
    refused(
        w(vec![put(7, c(60), 1)])
            .await
            .expect_err("held while soft-deleted"),
    );
    let hard = RecordWrite::Remove {
        key: vec![Value::Int(1)],
        version: Version(5),
    };
    assert_eq!(
        w(vec![hard, put(7, c(60), 1)]).await.expect("freed"),
        vec![WriteOutcome::Applied; 2]
    );
    assert_eq!(customer_of(7).await, Some(c(60)));
    w(vec![put(8, Some(Value::Null), 1)]).await.expect("null");
    if nulls_collide {
        refused(w(vec![put(9, None, 1)]).await.expect_err("missing is null"));
        assert_eq!(customer_of(9).await, None);
    } else {
        w(vec![put(9, None, 1)])
            .await
            .expect("FerretDB v1 takes a second null");
    }
}

#[tokio::test]
async fn a_unique_secondary_index_conforms() {
    case_unique_index(&EmbeddedStore::in_memory(), true).await;
    let dir = std::env::temp_dir().join(format!("fdc-mongo-unique-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    case_unique_index(&EmbeddedStore::open(&dir).expect("open"), true).await;
    let _ = std::fs::remove_dir_all(&dir);
    let m = mongo("unique_conform").await;
    // FerretDB v1 is what picks the `{_id}` write guard at connect.
    let mongodb = m.write_guard() == WriteGuard::VersionInFilter;
    case_unique_index(&m, mongodb).await;
}

#[tokio::test]
async fn a_unique_secondary_index_violation_is_an_error_not_a_stale_write() {
    let dir = std::env::temp_dir().join(format!("fdc-mongo-unique1-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    case_unique_violation(&EmbeddedStore::in_memory()).await;
    case_unique_violation(&EmbeddedStore::open(&dir).expect("open")).await;
    let _ = std::fs::remove_dir_all(&dir);
    case_unique_violation(&mongo("unique").await).await;
}

async fn case_unique_violation<S: ProjectionStore>(s: &S) {
    let layout = ProjectionLayout {
        name: "orders".into(),
        key: strings(&["id"]),
        declared: vec![(strings(&["customer_id"]), true)],
        queried: vec![],
    };
    s.ensure_projection(&layout).await.expect("ensure");
    put(s, "orders", vec![order(1, 4242, 1, RecordState::Public)]).await;
    let e = s
        .write(
            "orders",
            vec![RecordWrite::Put(order(2, 4242, 1, RecordState::Public))],
        )
        .await
        .expect_err("unique violation");
    assert!(!e.retryable);
    assert!(e.to_string().contains("unique index"), "{e}");
    // The message names no value (customer 4242).
    assert!(!e.to_string().contains("4242"), "{e}");
}

/// Several tasks writing the same records through one store (as the runtime's concurrent
/// batches do) never let an older version win. (Across processes the guard relies on the
/// server's per-document atomicity, which MongoDB has and FerretDB v1 lacks: its `update` is a
/// query then a write, FerretDB issue #3040.)
#[tokio::test]
async fn concurrent_writers_keep_the_newest_version() {
    let store = Arc::new(mongo("concurrent").await);
    let stores: Vec<Arc<MongoStore>> = (0..4).map(|_| Arc::clone(&store)).collect();
    stores[0]
        .ensure_projection(&orders_layout())
        .await
        .expect("ensure");
    let keys = 20i64;
    let rounds = 15u128;
    let mut tasks = Vec::new();
    for (w, s) in stores.iter().enumerate() {
        let s = Arc::clone(s);
        tasks.push(tokio::spawn(async move {
            let mut applied = Vec::new();
            for r in 0..rounds {
                // Each writer writes every key with versions interleaved with the others'
                // (writer w writes r*4+w, in a writer-specific key order).
                let version = r * 4 + w as u128;
                let writes: Vec<RecordWrite> = (0..keys)
                    .map(|k| (k + w as i64 * 7) % keys)
                    .map(|k| RecordWrite::Put(order(k, w as i64, version, RecordState::Public)))
                    .collect();
                let out = ProjectionStore::write(s.as_ref(), "orders", writes.clone())
                    .await
                    .expect("write");
                for (wr, o) in writes.iter().zip(out) {
                    if let (RecordWrite::Put(r), WriteOutcome::Applied) = (wr, o) {
                        applied.push((r.key.clone(), r.meta.version));
                    }
                }
            }
            applied
        }));
    }
    let mut max_applied: std::collections::HashMap<i64, u128> = Default::default();
    for t in tasks {
        for (k, v) in t.await.expect("task") {
            let Value::Int(k) = k[0] else {
                panic!("int key")
            };
            let e = max_applied.entry(k).or_insert(0);
            *e = (*e).max(v);
        }
    }
    let top = (rounds - 1) * 4 + 3;
    let all: Vec<Vec<Value>> = (0..keys).map(|k| vec![Value::Int(k)]).collect();
    let got = ProjectionStore::get_many(stores[0].as_ref(), "orders", &all)
        .await
        .expect("get");
    for (k, r) in got.into_iter().enumerate() {
        let r = r.expect("stored");
        // The newest version of all writers wins, and it is the newest one reported applied.
        assert_eq!(r.meta.version, top, "key {k}");
        assert_eq!(max_applied[&(k as i64)], top);
        assert_eq!(r.fields["customer_id"], Value::Int(3));
    }
}

/// The same with the version in the filter of every statement (MongoDB's guard; on FerretDB it
/// is slow, but must still be right).
#[tokio::test]
async fn concurrent_writers_keep_the_newest_version_with_the_version_in_the_filter() {
    let store = Arc::new(
        mongo("concurrent_filter")
            .await
            .with_write_guard(WriteGuard::VersionInFilter),
    );
    store
        .ensure_projection(&orders_layout())
        .await
        .expect("ensure");
    let keys = 10i64;
    let rounds = 6u128;
    let mut tasks = Vec::new();
    for w in 0..3u128 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for r in 0..rounds {
                let version = r * 3 + w;
                let writes: Vec<RecordWrite> = (0..keys)
                    .map(|k| RecordWrite::Put(order(k, w as i64, version, RecordState::Public)))
                    .collect();
                ProjectionStore::write(s.as_ref(), "orders", writes)
                    .await
                    .expect("write");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let all: Vec<Vec<Value>> = (0..keys).map(|k| vec![Value::Int(k)]).collect();
    let got = ProjectionStore::get_many(store.as_ref(), "orders", &all)
        .await
        .expect("get");
    for r in got {
        let r = r.expect("stored");
        assert_eq!(r.meta.version, (rounds - 1) * 3 + 2);
        assert_eq!(r.fields["customer_id"], Value::Int(2));
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retryable_and_no_password_leaks() {
    let config = MongoStoreConfig {
        uri: "mongodb://fdc:sup3rsecret@127.0.0.1:1/?directConnection=true".into(),
        server_selection_timeout_ms: 300,
        connect_timeout_ms: 300,
        ..MongoStoreConfig::default()
    };
    let e = MongoStore::connect(config).await.expect_err("unreachable");
    assert!(e.retryable, "{e}");
    assert!(!e.to_string().contains("sup3rsecret"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Differential: a seeded random history on both stores gives the same answers
// ---------------------------------------------------------------------------------------------

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_write(rng: &mut Rng) -> RecordWrite {
    let id = rng.below(40) as i64;
    let version = u128::from(rng.below(30)) << (if rng.below(4) == 0 { 70 } else { 0 });
    if rng.below(6) == 0 {
        return RecordWrite::Remove {
            key: vec![Value::Int(id)],
            version: Version(version),
        };
    }
    let state = if rng.below(5) == 0 {
        RecordState::Deleted
    } else {
        RecordState::Public
    };
    let mut r = order(id, rng.below(8) as i64, version, state);
    r.fields
        .insert("status".into(), Value::String(format!("s{}", rng.below(3))));
    r.fields.insert(
        "total".into(),
        dec(&format!("{}.{}0", rng.below(5), rng.below(10))),
    );
    RecordWrite::Put(r)
}

#[tokio::test]
async fn a_random_history_gives_the_same_answers_on_both_stores() {
    let e = EmbeddedStore::in_memory();
    let m = mongo("differential").await;
    e.ensure_projection(&orders_layout()).await.expect("ensure");
    m.ensure_projection(&orders_layout()).await.expect("ensure");
    let mut rng = Rng(0x5eed_f00d_1234_5678);
    for step in 0..60 {
        let n = 1 + rng.below(25) as usize;
        let writes: Vec<RecordWrite> = (0..n).map(|_| random_write(&mut rng)).collect();
        let a = ProjectionStore::write(&e, "orders", writes.clone())
            .await
            .expect("embedded");
        let b = ProjectionStore::write(&m, "orders", writes)
            .await
            .expect("mongo");
        assert_eq!(a, b, "outcomes at step {step}");
        if step % 10 == 9 {
            let customers: Vec<Vec<Value>> = (0..8)
                .filter(|_| rng.below(2) == 0)
                .map(|c| vec![Value::Int(c)])
                .collect();
            let f = strings(&["customer_id"]);
            let cond = [FieldCondition {
                field: "status".into(),
                op: CompareOp::Ne,
                value: serde_json::json!("s0"),
            }];
            for public_only in [true, false] {
                let q = FindIn {
                    fields: &f,
                    values: &customers,
                    conditions: &cond,
                    public_only,
                };
                let mut x = e.find_in("orders", q).await.expect("embedded find");
                let mut y = m.find_in("orders", q).await.expect("mongo find");
                x.sort_by_key(|r| format!("{:?}", r.key));
                y.sort_by_key(|r| format!("{:?}", r.key));
                assert_eq!(x, y, "find_in at step {step}");
            }
            assert_eq!(
                scan_all(&e, "orders", 7).await,
                scan_all(&m, "orders", 7).await,
                "scan at step {step}"
            );
        }
    }
    let keys: Vec<Vec<Value>> = (0..40).map(|i| vec![Value::Int(i)]).collect();
    assert_eq!(
        ProjectionStore::get_many(&e, "orders", &keys)
            .await
            .expect("e"),
        ProjectionStore::get_many(&m, "orders", &keys)
            .await
            .expect("m"),
    );
}

/// `fdc apply`'s drops on MongoDB: a dropped unique index no longer refuses a taken value (the
/// ensure of the new plan then creates a plain one of the same fields), a dropped projection
/// or single view collection is gone; dropping what is not there is fine.
#[tokio::test]
async fn indexes_and_collections_are_dropped() {
    let s = mongo("drops").await;
    let unique = ProjectionLayout {
        declared: vec![(strings(&["customer_id"]), true)],
        queried: vec![],
        ..orders_layout()
    };
    s.ensure_projection(&unique).await.expect("ensure");
    put(&s, "orders", vec![order(1, 70, 1, RecordState::Public)]).await;
    let taken = ProjectionStore::write(
        &s,
        "orders",
        vec![RecordWrite::Put(order(2, 70, 1, RecordState::Public))],
    )
    .await;
    assert!(taken.is_err(), "the unique index refuses a taken value");
    s.drop_index("orders", &strings(&["customer_id"]))
        .await
        .expect("drop index");
    s.drop_index("orders", &strings(&["customer_id"]))
        .await
        .expect("dropping a missing index is fine");
    let plain = ProjectionLayout {
        declared: vec![(strings(&["customer_id"]), false)],
        ..unique.clone()
    };
    s.ensure_projection(&plain).await.expect("ensure plain");
    put(&s, "orders", vec![order(2, 70, 1, RecordState::Public)]).await;

    s.ensure_view("summary", &strings(&["id"]))
        .await
        .expect("view");
    let names = || async { s.database().list_collection_names().await.expect("names") };
    assert!(names().await.contains(&"orders".to_string()));
    assert!(names().await.contains(&"summary".to_string()));
    s.drop_projection("orders").await.expect("drop projection");
    s.drop_view("summary").await.expect("drop view");
    s.drop_projection("orders").await.expect("again: fine");
    s.drop_view("summary").await.expect("again: fine");
    let left = names().await;
    assert!(!left.contains(&"orders".to_string()), "{left:?}");
    assert!(!left.contains(&"summary".to_string()), "{left:?}");
    s.drop_database().await.expect("drop the test database");
}
