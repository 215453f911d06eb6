//! The store behaviour, run against each backend: in memory, disk-resident with its default
//! cache, and disk-resident without a cache (every read decodes from redb).

use super::*;
use fdc_core::change::Version;
use fdc_core::store::{RecordMeta, RecordState, STATE_FIELD};
use fdc_plan::{CompareOp, FieldCondition};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fdc-embedded-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Disk,
    DiskUncached,
}

fn store(kind: Kind, dir: &Scratch) -> EmbeddedStore {
    match kind {
        Kind::Memory => EmbeddedStore::in_memory(),
        Kind::Disk => EmbeddedStore::open_with(&dir.0, DiskOptions::default()).unwrap(),
        Kind::DiskUncached => {
            EmbeddedStore::open_with(&dir.0, DiskOptions { cache_mib: 0 }).unwrap()
        }
    }
}

/// One test per backend, named `<name>_<backend>`, each calling `$body(store)`.
macro_rules! on_each_backend {
    ($body:ident: $($name:ident => $kind:ident),+) => {
        $(
            #[tokio::test]
            async fn $name() {
                let dir = Scratch::new();
                $body(store(Kind::$kind, &dir)).await;
            }
        )+
    };
}

fn rec(id: i64, customer: i64, version: u128, state: RecordState) -> Record {
    let mut fields = Map::default();
    fields.insert("id".into(), Value::Int(id));
    fields.insert("customer_id".into(), Value::Int(customer));
    fields.insert("status".into(), Value::String(format!("s{}", id % 2)));
    Record {
        key: vec![Value::Int(id)],
        layout: Default::default(),
        fields,
        state,
        meta: RecordMeta {
            version,
            topic: "t".into(),
            partition: 0,
            offset: id,
            timestamp: None,
            created_at: 0,
            updated_at: 0,
        },
    }
}

fn layout() -> ProjectionLayout {
    ProjectionLayout {
        name: "orders".into(),
        key: vec!["id".into()],
        declared: vec![],
        queried: vec![vec!["customer_id".into()]],
    }
}

fn fields(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

on_each_backend!(version_guard:
    version_guard_skips_older_and_reapplies_equal_memory => Memory,
    version_guard_skips_older_and_reapplies_equal_disk => Disk,
    version_guard_skips_older_and_reapplies_equal_disk_uncached => DiskUncached);

async fn version_guard(s: EmbeddedStore) {
    s.ensure_projection(&layout()).await.unwrap();
    let out = ProjectionStore::write(
        &s,
        "orders",
        vec![RecordWrite::Put(rec(1, 10, 5, RecordState::Public))],
    )
    .await
    .unwrap();
    assert_eq!(out, vec![WriteOutcome::Applied]);
    let out = ProjectionStore::write(
        &s,
        "orders",
        vec![
            RecordWrite::Put(rec(1, 11, 4, RecordState::Public)),
            RecordWrite::Put(rec(1, 12, 5, RecordState::Public)),
            RecordWrite::Remove {
                key: vec![Value::Int(1)],
                version: Version(3),
            },
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        vec![
            WriteOutcome::Stale,
            WriteOutcome::Applied,
            WriteOutcome::Stale
        ]
    );
    let got = ProjectionStore::get_many(&s, "orders", &[vec![Value::Int(1)], vec![Value::Int(2)]])
        .await
        .unwrap();
    assert_eq!(
        got[0].as_ref().unwrap().fields["customer_id"],
        Value::Int(12)
    );
    assert!(got[1].is_none());
}

on_each_backend!(put_after_delete:
    a_put_after_a_hard_delete_is_guarded_by_the_deleted_version_memory => Memory,
    a_put_after_a_hard_delete_is_guarded_by_the_deleted_version_disk => Disk,
    a_put_after_a_hard_delete_is_guarded_by_the_deleted_version_disk_uncached => DiskUncached);

async fn put_after_delete(s: EmbeddedStore) {
    s.ensure_projection(&layout()).await.unwrap();
    let stored = vec![
        RecordWrite::Put(rec(1, 10, 20, RecordState::Public)),
        RecordWrite::Put(rec(2, 20, 40, RecordState::Public)),
    ];
    ProjectionStore::write(&s, "orders", stored).await.unwrap();
    let after_delete = |id, customer, version, deleted| RecordWrite::PutAfterDelete {
        record: rec(id, customer, version, RecordState::Public),
        deleted: Version(deleted),
    };
    let out = ProjectionStore::write(
        &s,
        "orders",
        vec![
            // A batch deleted version 30 of record 1, then put version 10 back: it replaces
            // the stored 20, which the delete was newer than.
            after_delete(1, 11, 10, 30),
            // Record 2 is stored at 40, newer than the batch's delete: it stays.
            after_delete(2, 21, 10, 30),
            // Nothing stored.
            after_delete(3, 31, 1, 2),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        vec![
            WriteOutcome::Applied,
            WriteOutcome::Stale,
            WriteOutcome::Applied
        ]
    );
    let keys: Vec<Vec<Value>> = (1..=3).map(|i| vec![Value::Int(i)]).collect();
    let got: Vec<(Value, u128)> = ProjectionStore::get_many(&s, "orders", &keys)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            (r.fields["customer_id"].clone(), r.meta.version)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Value::Int(11), 10),
            (Value::Int(20), 40),
            (Value::Int(31), 1)
        ]
    );
    // The index follows the put: record 1 moved from customer 10 to 11.
    let f = fields(&["customer_id"]);
    for (customer, found) in [(10, 0), (11, 1)] {
        let values = vec![vec![Value::Int(customer)]];
        let q = FindIn {
            fields: &f,
            values: &values,
            conditions: &[],
            public_only: true,
        };
        assert_eq!(s.find_in("orders", q).await.unwrap().len(), found);
    }
}

on_each_backend!(unique_index:
    a_unique_index_refuses_a_taken_value_as_mongodb_does_memory => Memory,
    a_unique_index_refuses_a_taken_value_as_mongodb_does_disk => Disk,
    a_unique_index_refuses_a_taken_value_as_mongodb_does_disk_uncached => DiskUncached);

/// Record `id` whose unique `customer_id` is `customer` (`None`: the field is missing).
fn holding(id: i64, customer: Option<Value>, version: u128, state: RecordState) -> Record {
    let mut r = rec(id, 0, version, state);
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

async fn unique_index(s: EmbeddedStore) {
    let layout = ProjectionLayout {
        declared: vec![(fields(&["customer_id"]), true)],
        queried: vec![],
        ..layout()
    };
    s.ensure_projection(&layout).await.unwrap();
    let c = |v: i64| Some(Value::Int(v));
    let put = |id, customer, version| {
        RecordWrite::Put(holding(id, customer, version, RecordState::Public))
    };
    let customer_of = |id: i64| {
        let s = &s;
        async move {
            ProjectionStore::get_many(s, "orders", &[vec![Value::Int(id)]])
                .await
                .unwrap()
                .remove(0)
                .map(|r| r.fields.get("customer_id").cloned())
        }
    };
    let refused = |e: StoreError| {
        assert!(!e.retryable, "{e}");
        assert!(e.to_string().contains("refused by a unique index"), "{e}");
        assert!(!e.to_string().contains("4242"), "no value in {e}");
    };
    let w = |writes: Vec<RecordWrite>| ProjectionStore::write(&s, "orders", writes);
    assert_eq!(
        w(vec![put(1, c(4242), 1)]).await.unwrap(),
        vec![WriteOutcome::Applied]
    );
    // Across batches: the second holder of a value is refused, and nothing of it is stored.
    refused(w(vec![put(2, c(4242), 1)]).await.unwrap_err());
    assert_eq!(customer_of(2).await, None);
    // Within one call: the first in call order wins.
    refused(
        w(vec![put(3, c(30), 1), put(4, c(30), 1)])
            .await
            .unwrap_err(),
    );
    assert_eq!(customer_of(3).await, Some(c(30)));
    assert_eq!(customer_of(4).await, None);
    // A record not stored is written before the records stored are replaced (MongoDB's
    // `insert` command goes before its `update`): 5 takes 50, and record 1 cannot.
    refused(
        w(vec![put(1, c(50), 2), put(5, c(50), 1)])
            .await
            .unwrap_err(),
    );
    assert_eq!(customer_of(5).await, Some(c(50)));
    assert_eq!(customer_of(1).await, Some(c(4242)));
    // A value freed in the same call is taken by the write that waited for it.
    let out = w(vec![put(6, c(4242), 1), put(1, c(60), 3)]).await.unwrap();
    assert_eq!(out, vec![WriteOutcome::Applied; 2]);
    assert_eq!(customer_of(6).await, Some(c(4242)));
    assert_eq!(customer_of(1).await, Some(c(60)));
    // A replay of the holder itself is no conflict.
    assert_eq!(
        w(vec![put(1, c(60), 3)]).await.unwrap(),
        vec![WriteOutcome::Applied]
    );
    // A soft-deleted record keeps its value; a hard delete frees it.
    let soft = RecordWrite::Put(holding(1, c(60), 4, RecordState::Deleted));
    w(vec![soft]).await.unwrap();
    refused(w(vec![put(7, c(60), 1)]).await.unwrap_err());
    let hard = RecordWrite::Remove {
        key: vec![Value::Int(1)],
        version: Version(5),
    };
    assert_eq!(
        w(vec![hard, put(7, c(60), 1)]).await.unwrap(),
        vec![WriteOutcome::Applied; 2]
    );
    assert_eq!(customer_of(7).await, Some(c(60)));
    // Null is a value, and a missing field is null: the second is refused.
    w(vec![put(8, Some(Value::Null), 1)]).await.unwrap();
    refused(w(vec![put(9, None, 1)]).await.unwrap_err());
    assert_eq!(customer_of(9).await, None);
    // The index survives a second ensure, and a store whose records violate a unique index
    // cannot create it.
    s.ensure_projection(&layout).await.unwrap();
    refused(w(vec![put(9, c(50), 1)]).await.unwrap_err());
    let dup = ProjectionLayout {
        declared: vec![(fields(&["status"]), true)],
        ..layout
    };
    let e = s.ensure_projection(&dup).await.unwrap_err();
    assert!(
        !e.retryable && e.to_string().contains("unique index"),
        "{e}"
    );
}

on_each_backend!(find_in:
    find_in_uses_indexes_conditions_and_state_and_follows_moves_memory => Memory,
    find_in_uses_indexes_conditions_and_state_and_follows_moves_disk => Disk,
    find_in_uses_indexes_conditions_and_state_and_follows_moves_disk_uncached => DiskUncached);

async fn find_in(s: EmbeddedStore) {
    s.ensure_projection(&layout()).await.unwrap();
    let writes = vec![
        RecordWrite::Put(rec(1, 10, 1, RecordState::Public)),
        RecordWrite::Put(rec(2, 10, 1, RecordState::Deleted)),
        RecordWrite::Put(rec(3, 11, 1, RecordState::Public)),
        RecordWrite::Put(rec(4, 12, 1, RecordState::Public)),
    ];
    ProjectionStore::write(&s, "orders", writes).await.unwrap();
    let f = fields(&["customer_id"]);
    let values = vec![
        vec![Value::Int(10)],
        vec![Value::Int(11)],
        vec![Value::Null],
    ];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    let mut ids: Vec<Value> = s
        .find_in("orders", q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key[0].clone())
        .collect();
    ids.sort_by(|a, b| a.total_cmp(b));
    assert_eq!(ids, vec![Value::Int(1), Value::Int(3)]);
    // Not public-only: the soft-deleted record is found too; a condition prunes.
    let cond = [FieldCondition {
        field: "status".into(),
        op: CompareOp::Eq,
        value: serde_json::json!("s0"),
    }];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &cond,
        public_only: false,
    };
    let found = s.find_in("orders", q).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key, vec![Value::Int(2)]);
    // Moving record 3 to customer 12 updates the index.
    ProjectionStore::write(
        &s,
        "orders",
        vec![RecordWrite::Put(rec(3, 12, 2, RecordState::Public))],
    )
    .await
    .unwrap();
    let values = vec![vec![Value::Int(11)]];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &[],
        public_only: false,
    };
    assert!(s.find_in("orders", q).await.unwrap().is_empty());
    // An unindexed tuple is answered by a scan.
    let f = fields(&["status"]);
    let values = vec![vec![Value::String("s0".into())]];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    assert_eq!(s.find_in("orders", q).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_reopened_store_holds_what_was_committed() {
    let scratch = Scratch::new();
    let dir = scratch.0.clone();
    {
        let s = EmbeddedStore::open(&dir).unwrap();
        s.ensure_projection(&layout()).await.unwrap();
        ProjectionStore::write(
            &s,
            "orders",
            vec![
                RecordWrite::Put(rec(1, 10, 1, RecordState::Public)),
                RecordWrite::Put(rec(2, 10, 1, RecordState::Public)),
            ],
        )
        .await
        .unwrap();
        ProjectionStore::write(
            &s,
            "orders",
            vec![RecordWrite::Remove {
                key: vec![Value::Int(2)],
                version: Version(1),
            }],
        )
        .await
        .unwrap();
        let mut doc = Map::default();
        doc.insert("n".into(), Value::Decimal("1.50".parse().unwrap()));
        SingleViewStore::write(
            &s,
            "sv",
            WriteMode::Replace,
            vec![ViewWrite::Upsert {
                key: vec![Value::String("k".into())],
                document: doc,
            }],
        )
        .await
        .unwrap();
        s.save_checkpoints(&[("file:a".into(), 7)]).await.unwrap();
        s.dead_letter(vec![DeadLetter {
            topic: "t".into(),
            partition: 0,
            offset: 3,
            key: serde_json::Value::Null,
            value: serde_json::json!("x"),
            reason: "bad".into(),
            projection: None,
            original: None,
        }])
        .await
        .unwrap();
    }
    let s = EmbeddedStore::open(&dir).unwrap();
    s.ensure_projection(&layout()).await.unwrap();
    let all = s.all_records("orders").unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0], rec(1, 10, 1, RecordState::Public));
    let f = fields(&["customer_id"]);
    let values = vec![vec![Value::Int(10)]];
    let q = FindIn {
        fields: &f,
        values: &values,
        conditions: &[],
        public_only: true,
    };
    assert_eq!(s.find_in("orders", q).await.unwrap().len(), 1);
    let docs = s.all_documents("sv").unwrap();
    assert_eq!(docs[0].1["n"], Value::Decimal("1.50".parse().unwrap()));
    assert_eq!(docs[0].1["n"].to_json(), serde_json::json!("1.50"));
    assert_eq!(s.load_checkpoint("file:a").await.unwrap(), Some(7));
    assert_eq!(s.dead_letters().unwrap().len(), 1);
}

on_each_backend!(merge_mode:
    merge_mode_keeps_foreign_fields_and_mark_deleted_keeps_the_document_memory => Memory,
    merge_mode_keeps_foreign_fields_and_mark_deleted_keeps_the_document_disk => Disk,
    merge_mode_keeps_foreign_fields_and_mark_deleted_keeps_the_document_disk_uncached => DiskUncached);

async fn merge_mode(s: EmbeddedStore) {
    let k = vec![Value::Int(1)];
    let mut d1 = Map::default();
    d1.insert("a".into(), Value::Int(1));
    d1.insert("other".into(), Value::Int(9));
    SingleViewStore::write(
        &s,
        "sv",
        WriteMode::Replace,
        vec![ViewWrite::Upsert {
            key: k.clone(),
            document: d1,
        }],
    )
    .await
    .unwrap();
    let mut d2 = Map::default();
    d2.insert("a".into(), Value::Int(2));
    SingleViewStore::write(
        &s,
        "sv",
        WriteMode::Merge,
        vec![ViewWrite::Upsert {
            key: k.clone(),
            document: d2,
        }],
    )
    .await
    .unwrap();
    SingleViewStore::write(
        &s,
        "sv",
        WriteMode::Merge,
        vec![ViewWrite::MarkDeleted { key: k.clone() }],
    )
    .await
    .unwrap();
    let got = SingleViewStore::get_many(&s, "sv", &[k]).await.unwrap();
    let doc = got[0].as_ref().unwrap();
    assert_eq!(doc["a"], Value::Int(2));
    assert_eq!(doc["other"], Value::Int(9));
    assert_eq!(doc[STATE_FIELD], Value::String("DELETED".into()));
}

on_each_backend!(pages_and_counts:
    pages_keys_and_counts_agree_memory => Memory,
    pages_keys_and_counts_agree_disk => Disk,
    pages_keys_and_counts_agree_disk_uncached => DiskUncached);

async fn pages_and_counts(s: EmbeddedStore) {
    s.ensure_projection(&layout()).await.unwrap();
    let writes = (1..=7)
        .map(|i| RecordWrite::Put(rec(i, i % 3, 1, RecordState::Public)))
        .collect();
    ProjectionStore::write(&s, "orders", writes).await.unwrap();
    assert_eq!(s.count("orders").await.unwrap(), Some(7));
    assert_eq!(s.count("nothing").await.unwrap(), Some(0));
    let mut seen = Vec::new();
    let mut after: Option<Vec<Value>> = None;
    loop {
        let page = ProjectionStore::scan(&s, "orders", after.as_deref(), 3)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|r| r.key[0].clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, (1..=7).map(Value::Int).collect::<Vec<_>>());
    let views: Vec<ViewWrite> = (1..=5)
        .map(|i| {
            let mut d = Map::default();
            d.insert("n".into(), Value::Int(i));
            ViewWrite::Upsert {
                key: vec![Value::Int(i)],
                document: d,
            }
        })
        .collect();
    SingleViewStore::write(&s, "sv", WriteMode::Replace, views)
        .await
        .unwrap();
    SingleViewStore::write(
        &s,
        "sv",
        WriteMode::Replace,
        vec![ViewWrite::Delete {
            key: vec![Value::Int(2)],
        }],
    )
    .await
    .unwrap();
    let page = s.scan_keys("sv", Some(&[Value::Int(1)]), 2).await.unwrap();
    assert_eq!(page.items, vec![vec![Value::Int(3)], vec![Value::Int(4)]]);
    assert_eq!(page.next, Some(vec![Value::Int(4)]));
    let page = SingleViewStore::scan(&s, "sv", Some(&[Value::Int(4)]), 2)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].1["n"], Value::Int(5));
    assert_eq!(page.next, None);
    let got =
        SingleViewStore::get_many_shared(&s, "sv", &[vec![Value::Int(2)], vec![Value::Int(3)]])
            .await
            .unwrap();
    assert!(got[0].is_none());
    assert_eq!(got[1].as_ref().unwrap()["n"], Value::Int(3));
    // A null key fails the call and commits nothing.
    let bad = SingleViewStore::write(
        &s,
        "sv",
        WriteMode::Replace,
        vec![
            ViewWrite::Delete {
                key: vec![Value::Int(3)],
            },
            ViewWrite::Delete {
                key: vec![Value::Null],
            },
        ],
    )
    .await;
    assert!(bad.is_err());
    assert_eq!(s.all_documents("sv").unwrap().len(), 4);
    s.record_failures(vec![ViewFailure {
        view: "sv".into(),
        key: serde_json::json!({"id": 1}),
        reason: "r".into(),
        document: serde_json::json!({}),
    }])
    .await
    .unwrap();
    assert_eq!(s.view_failures().unwrap().len(), 1);
    assert_eq!(s.projection_names().unwrap(), vec!["orders".to_string()]);
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn sorted_find(
    s: &EmbeddedStore,
    field: &str,
    values: &[Vec<Value>],
    public_only: bool,
) -> Vec<Record> {
    let f = fields(&[field]);
    let q = FindIn {
        fields: &f,
        values,
        conditions: &[],
        public_only,
    };
    let mut found = s.find_in("orders", q).await.unwrap();
    found.sort_by(|a, b| a.key[0].total_cmp(&b.key[0]));
    found
}

/// Random guarded writes on the three backends give the same outcomes and the same answers
/// to every read, with indexed, primary-key and unindexed queries.
#[tokio::test]
async fn random_writes_give_the_same_answers_on_every_backend() {
    let dirs = [Scratch::new(), Scratch::new()];
    let stores = [
        EmbeddedStore::in_memory(),
        EmbeddedStore::open_with(&dirs[0].0, DiskOptions::default()).unwrap(),
        EmbeddedStore::open_with(&dirs[1].0, DiskOptions { cache_mib: 0 }).unwrap(),
    ];
    for s in &stores {
        s.ensure_projection(&layout()).await.unwrap();
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _round in 0..40 {
        let mut writes = Vec::new();
        for _ in 0..rng.below(30) {
            let id = rng.below(40) as i64;
            let version = rng.below(20) as u128;
            writes.push(match rng.below(6) {
                0 => RecordWrite::Remove {
                    key: vec![Value::Int(id)],
                    version: Version(version),
                },
                1 => RecordWrite::Put(rec(id, rng.below(6) as i64, version, RecordState::Deleted)),
                _ => RecordWrite::Put(rec(id, rng.below(6) as i64, version, RecordState::Public)),
            });
        }
        let mut answers = Vec::new();
        for s in &stores {
            let outcomes = ProjectionStore::write(s, "orders", writes.clone())
                .await
                .unwrap();
            let keys: Vec<Vec<Value>> = (0..40).map(|i| vec![Value::Int(i)]).collect();
            let got = ProjectionStore::get_many(s, "orders", &keys).await.unwrap();
            let customers: Vec<Vec<Value>> = (0..4).map(|i| vec![Value::Int(i)]).collect();
            let by_customer = sorted_find(s, "customer_id", &customers, true).await;
            let by_key = sorted_find(s, "id", &keys[..20], false).await;
            let statuses = vec![vec![Value::String("s1".into())]];
            let by_status = sorted_find(s, "status", &statuses, true).await;
            let count = s.count("orders").await.unwrap();
            answers.push((outcomes, got, by_customer, by_key, by_status, count));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0], answers[2]);
    }
}

/// Writes through a store reopened without its layout still maintain the indexes on disk;
/// an index added over stored records is built from them.
#[tokio::test]
async fn indexes_survive_reopening_and_are_built_over_stored_records() {
    let dir = Scratch::new();
    {
        let s = EmbeddedStore::open(&dir.0).unwrap();
        s.ensure_projection(&layout()).await.unwrap();
        ProjectionStore::write(
            &s,
            "orders",
            vec![RecordWrite::Put(rec(1, 10, 1, RecordState::Public))],
        )
        .await
        .unwrap();
    }
    {
        // No ensure_projection: the index of the first run is still maintained.
        let s = EmbeddedStore::open(&dir.0).unwrap();
        ProjectionStore::write(
            &s,
            "orders",
            vec![RecordWrite::Put(rec(1, 11, 2, RecordState::Public))],
        )
        .await
        .unwrap();
        s.dead_letter(vec![]).await.unwrap();
    }
    let s = EmbeddedStore::open(&dir.0).unwrap();
    let mut l = layout();
    l.queried.push(fields(&["status"]));
    s.ensure_projection(&l).await.unwrap();
    let old = sorted_find(&s, "customer_id", &[vec![Value::Int(10)]], false).await;
    assert!(old.is_empty());
    let new = sorted_find(&s, "customer_id", &[vec![Value::Int(11)]], false).await;
    assert_eq!(new.len(), 1);
    let by_status = sorted_find(&s, "status", &[vec![Value::String("s1".into())]], false).await;
    assert_eq!(by_status.len(), 1);
}

/// The decoded cache stays within its budget however much is written and read, and the
/// answers stay right when most reads miss it.
#[tokio::test]
async fn the_cache_stays_within_its_budget() {
    let dir = Scratch::new();
    let s = EmbeddedStore::open_with(&dir.0, DiskOptions { cache_mib: 1 }).unwrap();
    s.ensure_projection(&layout()).await.unwrap();
    let budget = 1024 * 1024 * 3 / 4;
    for chunk in 0..10 {
        let writes = (0..2000)
            .map(|i| {
                let id = chunk * 2000 + i;
                RecordWrite::Put(rec(id, id % 500, 1, RecordState::Public))
            })
            .collect();
        ProjectionStore::write(&s, "orders", writes).await.unwrap();
        let (bytes, _) = s.cache_usage().unwrap().unwrap();
        assert!(bytes <= budget + 4096, "{bytes} > {budget}");
    }
    let keys: Vec<Vec<Value>> = (0..20_000).map(|i| vec![Value::Int(i)]).collect();
    let got = ProjectionStore::get_many_shared(&s, "orders", &keys)
        .await
        .unwrap();
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, r)| r.as_ref().unwrap().key[0] == Value::Int(i as i64)));
    let (bytes, entries) = s.cache_usage().unwrap().unwrap();
    assert!(bytes <= budget + 4096, "{bytes} > {budget}");
    assert!(entries > 100 && entries < 20_000, "{entries}");
    let found = sorted_find(&s, "customer_id", &[vec![Value::Int(7)]], true).await;
    assert_eq!(found.len(), 40);
    assert_eq!(s.count("orders").await.unwrap(), Some(20_000));
    assert!(EmbeddedStore::in_memory().cache_usage().unwrap().is_none());
}

#[test]
fn the_cache_size_comes_from_the_setting_when_it_is_a_number() {
    let default = DiskOptions::default();
    assert_eq!(DiskOptions::with_cache_setting(None), default);
    assert_eq!(DiskOptions::with_cache_setting(Some(" 32 ")).cache_mib, 32);
    assert_eq!(DiskOptions::with_cache_setting(Some("lots")), default);
}

/// A copy of the store's file taken while it is open is what a crash leaves behind.
fn crash_copy(from: &Scratch) -> Scratch {
    let to = Scratch::new();
    std::fs::create_dir_all(&to.0).unwrap();
    std::fs::copy(from.0.join("fdc.redb"), to.0.join("fdc.redb")).unwrap();
    to
}

async fn holds(s: &EmbeddedStore, id: i64) -> bool {
    ProjectionStore::get_many(s, "orders", &[vec![Value::Int(id)]])
        .await
        .unwrap()[0]
        .is_some()
}

#[tokio::test]
async fn writes_are_durable_from_the_next_sync_or_checkpoint() {
    let dir = Scratch::new();
    let s = EmbeddedStore::open_with(&dir.0, DiskOptions::default()).unwrap();
    s.ensure_projection(&layout()).await.unwrap();
    let put = |id| vec![RecordWrite::Put(rec(id, 10, 1, RecordState::Public))];
    ProjectionStore::write(&s, "orders", put(1)).await.unwrap();
    // Visible at once, not yet durable: a crash now loses it.
    assert!(holds(&s, 1).await);
    let crashed = crash_copy(&dir);
    assert!(!holds(&EmbeddedStore::open(&crashed.0).unwrap(), 1).await);
    ProjectionStore::sync(&s).await.unwrap();
    let crashed = crash_copy(&dir);
    assert!(holds(&EmbeddedStore::open(&crashed.0).unwrap(), 1).await);
    // A checkpoint makes the writes before it durable too.
    ProjectionStore::write(&s, "orders", put(2)).await.unwrap();
    s.save_checkpoints(&[("file:x".into(), 7)]).await.unwrap();
    let crashed = crash_copy(&dir);
    let reopened = EmbeddedStore::open(&crashed.0).unwrap();
    assert_eq!(reopened.load_checkpoint("file:x").await.unwrap(), Some(7));
    assert!(holds(&reopened, 2).await);
}

/// A deployment record of an empty plan; `text` makes two records differ (their text hash).
fn deployment_record(text: &str, by: &str) -> Deployment {
    let plan = fdc_plan::Plan {
        version: fdc_plan::PLAN_VERSION,
        projections: vec![],
        single_views: vec![],
    };
    let mut record = Deployment::new(&plan, &[text]);
    record.applied_at = Some("2026-12-07T05:00:00.000Z".into());
    record.applied_by = Some(by.into());
    record
}

on_each_backend!(deployment_record_round_trips:
    deployment_record_round_trips_memory => Memory,
    deployment_record_round_trips_disk => Disk,
    deployment_record_round_trips_disk_uncached => DiskUncached);

async fn deployment_record_round_trips(s: EmbeddedStore) {
    assert_eq!(s.load_deployment().await.unwrap(), None);
    let first = deployment_record("one", "ada");
    s.save_deployment(&first).await.unwrap();
    assert_eq!(s.load_deployment().await.unwrap(), Some(first.clone()));
    let second = deployment_record("two", "grace");
    assert_ne!(first, second);
    s.save_deployment(&second).await.unwrap();
    assert_eq!(s.load_deployment().await.unwrap(), Some(second));
}

#[tokio::test]
async fn a_reopened_store_holds_the_deployment_record() {
    let dir = Scratch::new();
    let record = deployment_record("one", "ada");
    let s = store(Kind::Disk, &dir);
    s.save_deployment(&record).await.unwrap();
    // Copied while the store is open, with no sync after the save: the save itself is
    // durable (as a crash would leave the file).
    let copy = crash_copy(&dir);
    drop(s);
    let reopened = store(Kind::Disk, &copy);
    assert_eq!(reopened.load_deployment().await.unwrap(), Some(record));
}

on_each_backend!(single_views_are_counted:
    single_views_are_counted_memory => Memory,
    single_views_are_counted_disk => Disk,
    single_views_are_counted_disk_uncached => DiskUncached);

async fn single_views_are_counted(s: EmbeddedStore) {
    s.ensure_view("v", &fields(&["id"])).await.unwrap();
    assert_eq!(s.count_documents("v").await.unwrap(), Some(0));
    let writes = (1..=3)
        .map(|i| ViewWrite::Upsert {
            key: vec![Value::Int(i)],
            document: Map::default(),
        })
        .collect();
    SingleViewStore::write(&s, "v", WriteMode::Replace, writes)
        .await
        .unwrap();
    assert_eq!(s.count_documents("v").await.unwrap(), Some(3));
    assert_eq!(s.count_documents("nothing").await.unwrap(), Some(0));
}

on_each_backend!(pause_state_conforms:
    pause_state_conforms_memory => Memory,
    pause_state_conforms_disk => Disk,
    pause_state_conforms_disk_uncached => DiskUncached);

async fn pause_state_conforms(s: EmbeddedStore) {
    fdc_core::store::pause::conformance(&s).await.unwrap();
}

on_each_backend!(source_drift_conforms:
    source_drift_conforms_memory => Memory,
    source_drift_conforms_disk => Disk,
    source_drift_conforms_disk_uncached => DiskUncached);

async fn source_drift_conforms(s: EmbeddedStore) {
    fdc_core::store::drift::conformance(&s).await.unwrap();
}

#[tokio::test]
async fn a_reopened_store_holds_the_source_drift_and_merges_into_it() {
    use fdc_core::store::drift::UnmappedColumn;
    use fdc_core::store::{SourceDrift, SourceDriftStore};
    let dir = Scratch::new();
    let delta = |at: i64| SourceDrift {
        projection: "orders".into(),
        messages: 2,
        unmapped_messages: 1,
        unmapped: vec![UnmappedColumn {
            name: "COUPON".into(),
            messages: 1,
            first_seen_ms: at,
            last_seen_ms: at,
        }],
        first_ms: at,
        updated_ms: at,
        ..SourceDrift::default()
    };
    {
        let s = EmbeddedStore::open(&dir.0).unwrap();
        s.merge_source_drift(&[delta(10)]).await.unwrap();
    }
    let reopened = EmbeddedStore::open(&dir.0).unwrap();
    reopened.merge_source_drift(&[delta(20)]).await.unwrap();
    drop(reopened);
    let again = EmbeddedStore::open(&dir.0).unwrap();
    let stored = again.load_source_drift().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].messages, stored[0].unmapped_messages), (4, 2));
    assert_eq!(
        stored[0].unmapped,
        vec![UnmappedColumn {
            name: "COUPON".into(),
            messages: 2,
            first_seen_ms: 10,
            last_seen_ms: 20,
        }]
    );
    assert_eq!((stored[0].first_ms, stored[0].updated_ms), (10, 20));
}

#[tokio::test]
async fn a_reopened_store_holds_the_pause_state_and_pending_keys() {
    use fdc_core::store::{PauseItem, PauseStore, PauseTarget};
    let dir = Scratch::new();
    let item = PauseItem {
        target: PauseTarget::Projection("orders".into()),
        since_ms: 5,
        by: "ada".into(),
        reason: None,
    };
    {
        let s = EmbeddedStore::open(&dir.0).unwrap();
        s.save_pause(&item).await.unwrap();
        s.keep_pending("v", &[vec![Value::Int(1)]], 7)
            .await
            .unwrap();
        s.sync_to_disk().unwrap();
    }
    let reopened = EmbeddedStore::open(&dir.0).unwrap();
    assert_eq!(reopened.load_pauses().await.unwrap(), vec![item]);
    assert_eq!(reopened.count_pending("v").await.unwrap(), 1);
}

on_each_backend!(dropped_indexes_and_collections_are_gone:
    dropped_indexes_and_collections_are_gone_memory => Memory,
    dropped_indexes_and_collections_are_gone_disk => Disk,
    dropped_indexes_and_collections_are_gone_disk_uncached => DiskUncached);

/// `fdc apply`'s drops: a dropped unique index no longer refuses (and is not rebuilt by an
/// ensure without it), a dropped projection or view has nothing left; dropping what is not
/// there is fine.
async fn dropped_indexes_and_collections_are_gone(s: EmbeddedStore) {
    let unique = ProjectionLayout {
        declared: vec![(fields(&["customer_id"]), true)],
        queried: vec![],
        ..layout()
    };
    s.ensure_projection(&unique).await.unwrap();
    let put = |id| RecordWrite::Put(holding(id, Some(Value::Int(7)), 1, RecordState::Public));
    ProjectionStore::write(&s, "orders", vec![put(1)])
        .await
        .unwrap();
    assert!(ProjectionStore::write(&s, "orders", vec![put(2)])
        .await
        .is_err());
    s.drop_index("orders", &fields(&["customer_id"]))
        .await
        .unwrap();
    s.drop_index("orders", &fields(&["customer_id"]))
        .await
        .unwrap();
    let plain = ProjectionLayout {
        declared: vec![(fields(&["customer_id"]), false)],
        ..unique.clone()
    };
    s.ensure_projection(&plain).await.unwrap();
    ProjectionStore::write(&s, "orders", vec![put(2)])
        .await
        .unwrap();
    assert_eq!(s.count("orders").await.unwrap(), Some(2));

    s.drop_projection("orders").await.unwrap();
    s.drop_projection("orders").await.unwrap();
    s.ensure_projection(&unique).await.unwrap();
    assert_eq!(s.count("orders").await.unwrap(), Some(0));
    let page = ProjectionStore::scan(&s, "orders", None, 10).await.unwrap();
    assert!(page.items.is_empty());
    // The unique index of the dropped collection went with it: a fresh one starts empty.
    ProjectionStore::write(&s, "orders", vec![put(3)])
        .await
        .unwrap();

    s.ensure_view("v", &fields(&["id"])).await.unwrap();
    let upsert = ViewWrite::Upsert {
        key: vec![Value::Int(1)],
        document: Map::default(),
    };
    SingleViewStore::write(&s, "v", WriteMode::Replace, vec![upsert])
        .await
        .unwrap();
    assert_eq!(s.count_documents("v").await.unwrap(), Some(1));
    s.drop_view("v").await.unwrap();
    s.drop_view("v").await.unwrap();
    s.ensure_view("v", &fields(&["id"])).await.unwrap();
    assert_eq!(s.count_documents("v").await.unwrap(), Some(0));
    assert!(s.all_documents("v").unwrap().is_empty());
}
