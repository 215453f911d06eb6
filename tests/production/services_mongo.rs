//! Proof that the MongoDB-wire server of `scripts/services` is real and supports the portable
//! core of the MongoDB API that fdc's MongoDB adapter uses, through the project's own client
//! crate (`mongodb`): unique indexes, bulk upserts as ONE `update` command with many upsert
//! statements, `find` with `$in`, duplicate-key errors (code 11000), bulk deletes as one
//! `delete` command, and the version-guarded upsert that turns a stale write into a
//! duplicate-key error (how the projection writer can skip old messages in one round trip).
//! docs/services.md lists what works and what does not.
//!
//! Needs a server at `FDC_MONGO_URI` (default `mongodb://127.0.0.1:27017`); a missing one fails.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

/// MongoDB's code for a unique-index violation.
const DUPLICATE_KEY: i32 = 11000;

/// A fresh database for one test; dropped when the test is done with it.
async fn fresh_database(prefix: &str) -> (Client, Database) {
    let uri = support::require_mongo();
    let mut options = ClientOptions::parse(&uri)
        .await
        .unwrap_or_else(|e| panic!("FDC_MONGO_URI {uri:?} is not a valid URI: {e}"));
    options.server_selection_timeout = Some(Duration::from_secs(10));
    options.app_name = Some("fdc-integration-tests".into());
    let client = Client::with_options(options).expect("client");
    let db = client.database(&support::unique_name(prefix));
    db.run_command(doc! { "ping": 1 })
        .await
        .unwrap_or_else(|e| panic!("MongoDB at {uri} does not answer ping: {e}"));
    (client, db)
}

async fn unique_index_on_id(coll: &Collection<Document>) {
    let model = IndexModel::builder()
        .keys(doc! { "id": 1 })
        .options(
            IndexOptions::builder()
                .unique(true)
                .name("id_unique".to_owned())
                .build(),
        )
        .build();
    let created = coll.create_index(model).await.expect("create unique index");
    assert_eq!(created.index_name, "id_unique");
    let names = coll.list_index_names().await.expect("list indexes");
    assert!(names.iter().any(|n| n == "id_unique"), "{names:?}");
}

/// One `update` command whose statements are upserts keyed by `id` (ordered: false).
fn upsert_command(coll: &str, rows: &[(i32, &str, i64)]) -> Document {
    let updates: Vec<Bson> = rows
        .iter()
        .map(|(id, name, version)| {
            Bson::Document(doc! {
                "q": { "id": id },
                "u": { "$set": { "name": *name, "version": *version } },
                "upsert": true,
            })
        })
        .collect();
    doc! { "update": coll, "updates": updates, "ordered": false }
}

fn int(doc: &Document, field: &str) -> i64 {
    match doc.get(field) {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Double(v)) if v.fract() == 0.0 => *v as i64,
        other => panic!("field {field} is {other:?} in {doc}"),
    }
}

fn write_error_codes(reply: &Document) -> BTreeMap<i64, i64> {
    match reply.get_array("writeErrors") {
        Ok(errors) => errors
            .iter()
            .map(|e| {
                let e = e.as_document().expect("write error is a document");
                (int(e, "index"), int(e, "code"))
            })
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

async fn names_by_id(coll: &Collection<Document>, ids: &[i32]) -> BTreeMap<i32, String> {
    let cursor = coll
        .find(doc! { "id": { "$in": ids.to_vec() } })
        .await
        .expect("find with $in");
    let docs: Vec<Document> = cursor.try_collect().await.expect("read cursor");
    docs.iter()
        .map(|d| {
            let id = i32::try_from(int(d, "id")).expect("id fits i32");
            (id, d.get_str("name").expect("name").to_owned())
        })
        .collect()
}

#[tokio::test]
async fn unique_index_bulk_upsert_in_query_duplicate_key_and_delete() {
    let (_client, db) = fresh_database("fdc_it_mongo").await;
    let coll: Collection<Document> = db.collection("customers");
    unique_index_on_id(&coll).await;

    // Bulk upsert: 500 new rows in ONE update command.
    let first: Vec<(i32, String)> = (0..500).map(|i| (i, format!("name-{i}"))).collect();
    let rows: Vec<(i32, &str, i64)> = first.iter().map(|(i, n)| (*i, n.as_str(), 1)).collect();
    let reply = db
        .run_command(upsert_command("customers", &rows))
        .await
        .expect("bulk upsert");
    assert_eq!(int(&reply, "ok"), 1, "{reply}");
    assert_eq!(int(&reply, "n"), 500, "{reply}");
    assert_eq!(reply.get_array("upserted").map(Vec::len).unwrap_or(0), 500);
    assert!(write_error_codes(&reply).is_empty(), "{reply}");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 500);

    // The same command form updates existing rows and inserts new ones together.
    let reply = db
        .run_command(upsert_command(
            "customers",
            &[
                (1, "renamed-1", 2),
                (2, "renamed-2", 2),
                (500, "new-500", 1),
            ],
        ))
        .await
        .expect("mixed upsert");
    assert_eq!(int(&reply, "n"), 3, "{reply}");
    assert_eq!(int(&reply, "nModified"), 2, "{reply}");
    assert_eq!(
        reply.get_array("upserted").map(Vec::len).unwrap_or(0),
        1,
        "{reply}"
    );
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 501);

    // $in finds exactly the asked-for rows, with their new values.
    let found = names_by_id(&coll, &[1, 2, 7, 500, 9999]).await;
    let expected: BTreeMap<i32, String> = [
        (1, "renamed-1"),
        (2, "renamed-2"),
        (7, "name-7"),
        (500, "new-500"),
    ]
    .into_iter()
    .map(|(i, n)| (i, n.to_owned()))
    .collect();
    assert_eq!(found, expected);

    // A violating insert is refused with the duplicate-key code, and nothing is written.
    let err = coll
        .insert_one(doc! { "id": 7, "name": "impostor" })
        .await
        .expect_err("a second document with id 7 violates the unique index");
    match *err.kind {
        ErrorKind::Write(WriteFailure::WriteError(ref e)) => {
            assert_eq!(e.code, DUPLICATE_KEY, "{e:?}")
        }
        ref other => panic!("expected a duplicate-key write error, got {other:?}"),
    }
    assert_eq!(names_by_id(&coll, &[7]).await[&7], "name-7");
    assert_eq!(
        coll.count_documents(doc! { "id": 7 }).await.expect("count"),
        1
    );

    // Bulk delete: ONE delete command with many statements, then a delete_many with $in.
    let deletes: Vec<Bson> = (0..10)
        .map(|i| Bson::Document(doc! { "q": { "id": i }, "limit": 1 }))
        .collect();
    let reply = db
        .run_command(doc! { "delete": "customers", "deletes": deletes, "ordered": false })
        .await
        .expect("bulk delete");
    assert_eq!(int(&reply, "n"), 10, "{reply}");
    let deleted = coll
        .delete_many(doc! { "id": { "$in": [10, 11, 12, 9999] } })
        .await
        .expect("delete_many with $in");
    assert_eq!(deleted.deleted_count, 3);
    assert_eq!(
        coll.count_documents(doc! {}).await.expect("count"),
        501 - 13
    );
    assert!(names_by_id(&coll, &[0, 5, 11]).await.is_empty());
    assert_eq!(names_by_id(&coll, &[13]).await.len(), 1);

    db.drop().await.expect("drop the test database");
}

/// The projection writer's stale check, portable to FerretDB v1. Upserts are guarded by the
/// filter `{id: K, version: {$lte: V}}`: a newer or equal version matches and is applied, a
/// missing row is inserted, and an older version does not match, so the upsert tries to insert
/// a second row with id K and the unique index refuses it with code 11000.
///
/// FerretDB v1 stops an `update` batch at its first write error even with `ordered: false`,
/// then omits `n`, `nModified` and `upserted` from the reply, and reports the error at index
/// 0 whichever statement failed (seen with v1.24.0). So a batch's reply cannot say which
/// statements were applied. The portable protocol: read the stored versions of the batch's
/// keys with one `$in` query (the writer reads them anyway for the old images), drop the stale
/// messages client-side, and send the rest as guarded upserts; a duplicate-key error then only
/// means a concurrent writer got there first, and the writer re-reads and re-sends (guarded
/// upserts are idempotent).
#[tokio::test]
async fn version_guarded_upsert_turns_stale_writes_into_duplicate_key_errors() {
    let (_client, db) = fresh_database("fdc_it_guard").await;
    let coll: Collection<Document> = db.collection("orders");
    unique_index_on_id(&coll).await;
    let seed = db
        .run_command(upsert_command(
            "orders",
            &[(1, "one@v5", 5), (2, "two@v5", 5)],
        ))
        .await
        .expect("seed");
    assert_eq!(int(&seed, "n"), 2, "{seed}");

    let guarded = |id: i32, name: &str, version: i64| {
        Bson::Document(doc! {
            "q": { "id": id, "version": { "$lte": version } },
            "u": { "$set": { "name": name, "version": version } },
            "upsert": true,
        })
    };

    // The guard on its own: a stale upsert is refused with 11000 and changes nothing.
    let reply = db
        .run_command(doc! {
            "update": "orders",
            "updates": [guarded(1, "one@v3", 3)],
            "ordered": true,
        })
        .await
        .expect("stale upsert");
    assert_eq!(int(&reply, "ok"), 1, "{reply}");
    assert_eq!(
        write_error_codes(&reply),
        BTreeMap::from([(0, i64::from(DUPLICATE_KEY))]),
        "{reply}"
    );
    assert_eq!(names_by_id(&coll, &[1]).await[&1], "one@v5");

    // A batch: read the stored versions with $in, drop the stale messages, write the rest.
    let messages: [(i32, &str, i64); 5] = [
        (2, "two@v5-replay", 5), // equal: a replay, applied
        (1, "one@v3", 3),        // older than stored v5: stale
        (3, "three@v1", 1),      // new row
        (2, "two@v4", 4),        // older than stored v5: stale
        (1, "one@v7", 7),        // newer: applied
    ];
    let ids: Vec<i32> = messages.iter().map(|m| m.0).collect();
    let stored: Vec<Document> = coll
        .find(doc! { "id": { "$in": ids } })
        .await
        .expect("read stored versions")
        .try_collect()
        .await
        .expect("cursor");
    let stored: BTreeMap<i64, i64> = stored
        .iter()
        .map(|d| (int(d, "id"), int(d, "version")))
        .collect();
    let (fresh, stale): (Vec<_>, Vec<_>) = messages.iter().enumerate().partition(|(_, m)| {
        stored
            .get(&i64::from(m.0))
            .is_none_or(|&version| m.2 >= version)
    });
    let stale: Vec<usize> = stale.into_iter().map(|(i, _)| i).collect();
    assert_eq!(stale, vec![1, 3], "the stale messages");
    let updates: Vec<Bson> = fresh
        .iter()
        .map(|(_, (id, name, version))| guarded(*id, name, *version))
        .collect();
    let reply = db
        .run_command(doc! { "update": "orders", "updates": updates, "ordered": true })
        .await
        .expect("guarded batch");
    assert_eq!(int(&reply, "ok"), 1, "{reply}");
    assert!(write_error_codes(&reply).is_empty(), "{reply}");
    assert_eq!(int(&reply, "n"), 3, "{reply}");

    let found = names_by_id(&coll, &[1, 2, 3]).await;
    assert_eq!(found[&1], "one@v7");
    assert_eq!(found[&2], "two@v5-replay");
    assert_eq!(found[&3], "three@v1");
    assert_eq!(coll.count_documents(doc! {}).await.expect("count"), 3);

    db.drop().await.expect("drop the test database");
}
