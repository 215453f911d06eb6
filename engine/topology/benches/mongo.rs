//! MongoDB store benchmark (not a test): needs a running MongoDB-wire server
//! (`scripts/services up`; `FDC_MONGO_URI`, default `mongodb://127.0.0.1:27017`).
//!
//! `cargo bench -p fdc-engine --features mongo --bench mongo [-- RECORDS BATCH]` (default
//! 20000 records in batches of 1000; under `cargo test --all-targets` it does nothing).
//!
//! Prints records/second of:
//! - `MongoStore::write` (version-guarded writes, first inserts then updates) beside raw
//!   baselines on the same documents in the same run: the driver's `insert_many`, and raw
//!   `update` commands of unguarded replacement upserts by `_id` (16 statements each, what
//!   FerretDB v1 can finish);
//! - `find_in` on an indexed field (`$in` over a batch of values) beside the raw `find` with the
//!   same filter, and `get_many` by primary key.

use std::time::Instant;

use fdc_engine::store::{
    FindIn, ProjectionLayout, ProjectionStore, Record, RecordMeta, RecordState, RecordWrite,
};
use fdc_engine::value::{Map, Value};
use fdc_mongo::documents::record_to_document;
use fdc_mongo::ids::id_of;
use fdc_mongo::{MongoStore, MongoStoreConfig};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

fn record(id: i64, version: u128) -> Record {
    let mut fields = Map::default();
    fields.insert("id".into(), Value::Int(id));
    fields.insert("customer_id".into(), Value::Int(id / 10));
    fields.insert("status".into(), Value::String(format!("status-{}", id % 5)));
    fields.insert(
        "total".into(),
        Value::Decimal(rust_decimal::Decimal::new(id * 137 % 100_000, 2)),
    );
    fields.insert("note".into(), Value::String("x".repeat(40)));
    Record {
        key: vec![Value::Int(id)],
        layout: Default::default(),
        fields,
        state: RecordState::Public,
        meta: RecordMeta {
            version,
            topic: "bench.orders".into(),
            partition: (id % 6) as i32,
            offset: id,
            timestamp: Some(1_700_000_000_000 + id),
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_000,
        },
    }
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

fn line(what: &str, per_s: f64, baseline: Option<f64>) {
    match baseline {
        Some(b) => println!("{what:<58} {per_s:>10.0} /s   ratio {:.2}", per_s / b),
        None => println!("{what:<58} {per_s:>10.0} /s"),
    }
}

/// Statements per raw `update` command: FerretDB v1 never finishes a command whose statements
/// match 100 stored documents (docs/services.md), so the baseline sends what the adapter sends
/// there.
const RAW_UPDATE_STATEMENTS: usize = 16;

async fn raw_update(db: &mongodb::Database, coll: &str, docs: &[Document]) {
    for part in docs.chunks(RAW_UPDATE_STATEMENTS) {
        let updates: Vec<Document> = part
            .iter()
            .map(|d| {
                let id = d.get_str("_id").expect("_id").to_owned();
                doc! { "q": { "_id": id }, "u": d.clone(), "upsert": true }
            })
            .collect();
        let reply = db
            .run_command(doc! { "update": coll, "updates": updates, "ordered": false,
            "writeConcern": { "w": "majority" } })
            .await
            .expect("raw update");
        assert!(
            reply.get_array("writeErrors").is_err(),
            "raw update refused"
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this without it: the
    // workload needs minutes on FerretDB v1 (each upsert statement is committed on its own), so
    // it only runs when asked for.
    let benching = std::env::args().any(|a| a == "--bench");
    if !benching {
        println!(
            "mongo bench: run with `cargo bench -p fdc-engine --features mongo --bench mongo`"
        );
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let default_n = 20_000;
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(default_n);
    let batch: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let uri = std::env::var("FDC_MONGO_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let config = MongoStoreConfig {
        uri,
        database: format!("fdc_bench_{}", std::process::id()),
        ..MongoStoreConfig::default()
    };
    let store = match MongoStore::connect(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("no MongoDB-wire server ({e}): run `scripts/services up` first");
            std::process::exit(2);
        }
    };
    store.drop_database().await.expect("drop");
    let layout = ProjectionLayout {
        name: "orders".into(),
        key: vec!["id".into()],
        declared: vec![],
        queried: vec![vec!["customer_id".into()]],
    };
    store.ensure_projection(&layout).await.expect("ensure");
    let db = store.database().clone();
    for c in ["raw_insert", "raw_update"] {
        db.run_command(doc! { "createIndexes": c, "indexes": [
        { "key": { "customer_id": 1 }, "name": "ix_customer" } ] })
            .await
            .expect("index");
    }
    println!("records {n}, batch {batch}; writes (records/s):");

    let v1: Vec<Record> = (0..n as i64).map(|i| record(i, 1)).collect();
    let docs: Vec<Document> = v1
        .iter()
        .map(|r| record_to_document(&id_of(&r.key).expect("id"), r).expect("doc"))
        .collect();

    // Raw baselines first (same documents, same batch size).
    let raw_insert_coll = db.collection::<Document>("raw_insert");
    let t = Instant::now();
    for chunk in docs.chunks(batch) {
        raw_insert_coll
            .insert_many(chunk.to_vec())
            .await
            .expect("insert_many");
    }
    let raw_insert = rate(n, t);
    line("raw insert_many (fresh collection)", raw_insert, None);
    let t = Instant::now();
    for chunk in docs.chunks(batch) {
        raw_update(&db, "raw_update", chunk).await;
    }
    let raw_upsert_insert = rate(n, t);
    line(
        "raw update command, upsert by _id (inserts)",
        raw_upsert_insert,
        None,
    );
    let t = Instant::now();
    for chunk in docs.chunks(batch) {
        raw_update(&db, "raw_update", chunk).await;
    }
    let raw_upsert_replace = rate(n, t);
    line(
        "raw update command, upsert by _id (replaces)",
        raw_upsert_replace,
        None,
    );

    let t = Instant::now();
    for chunk in v1.chunks(batch) {
        let writes = chunk.iter().cloned().map(RecordWrite::Put).collect();
        store.write("orders", writes).await.expect("write");
    }
    let fdc_insert = rate(n, t);
    line(
        "MongoStore::write guarded (inserts) vs raw upsert",
        fdc_insert,
        Some(raw_upsert_insert),
    );
    line(
        "MongoStore::write guarded (inserts) vs insert_many",
        fdc_insert,
        Some(raw_insert),
    );
    let v2: Vec<Record> = (0..n as i64).map(|i| record(i, 2)).collect();
    let t = Instant::now();
    for chunk in v2.chunks(batch) {
        let writes = chunk.iter().cloned().map(RecordWrite::Put).collect();
        store.write("orders", writes).await.expect("write");
    }
    let fdc_replace = rate(n, t);
    line(
        "MongoStore::write guarded (newer versions) vs raw upsert",
        fdc_replace,
        Some(raw_upsert_replace),
    );
    // Stale replays: every write older than what is stored (the guard's worst case).
    let t = Instant::now();
    for chunk in v1.chunks(batch) {
        let writes = chunk.iter().cloned().map(RecordWrite::Put).collect();
        store.write("orders", writes).await.expect("write");
    }
    let fdc_stale = rate(n, t);
    line(
        "MongoStore::write guarded (all stale) vs raw upsert",
        fdc_stale,
        Some(raw_upsert_replace),
    );

    // Reads: `$in` over `batch / 10` customers (about `batch` records) per query.
    let customers = (n / 10).max(1);
    let per_query = (batch / 10).max(1);
    let field = vec!["customer_id".to_owned()];
    let t = Instant::now();
    let mut found = 0usize;
    let mut start = 0;
    while start < customers {
        let values: Vec<Vec<Value>> = (start..(start + per_query).min(customers))
            .map(|c| vec![Value::Int(c as i64)])
            .collect();
        let q = FindIn {
            fields: &field,
            values: &values,
            conditions: &[],
            public_only: true,
        };
        found += store.find_in("orders", q).await.expect("find").len();
        start += per_query;
    }
    let fdc_find = rate(found, t);
    let coll = db.collection::<Document>("orders");
    let t = Instant::now();
    let mut raw_found = 0usize;
    let mut start = 0;
    while start < customers {
        let values: Vec<i64> = (start..(start + per_query).min(customers))
            .map(|c| c as i64)
            .collect();
        let cursor = coll
            .find(doc! { "__STATE__": "PUBLIC", "customer_id": { "$in": values } })
            .await
            .expect("find");
        let docs: Vec<Document> = cursor.try_collect().await.expect("docs");
        raw_found += docs.len();
        start += per_query;
    }
    let raw_find = rate(raw_found, t);
    assert_eq!(found, raw_found, "find_in and raw find disagree");
    let keys: Vec<Vec<Value>> = (0..n as i64).map(|i| vec![Value::Int(i)]).collect();
    let t = Instant::now();
    for chunk in keys.chunks(batch) {
        store.get_many("orders", chunk).await.expect("get_many");
    }
    let fdc_get = rate(n, t);
    println!("reads (records/s):");
    line("raw find {customer_id: {$in}} (documents)", raw_find, None);
    line(
        "MongoStore::find_in customer_id (decoded records)",
        fdc_find,
        Some(raw_find),
    );
    line("MongoStore::get_many by key", fdc_get, Some(raw_find));
    store.drop_database().await.expect("drop");
}
