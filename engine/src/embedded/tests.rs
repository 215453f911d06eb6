use super::*;
use crate::change::Version;
use crate::store::{RecordMeta, RecordState};
use fdc_plan::{CompareOp, FieldCondition};

fn rec(id: i64, customer: i64, version: u128, state: RecordState) -> Record {
    let mut fields = Map::new();
    fields.insert("id".into(), Value::Int(id));
    fields.insert("customer_id".into(), Value::Int(customer));
    fields.insert("status".into(), Value::String(format!("s{}", id % 2)));
    Record {
        key: vec![Value::Int(id)],
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

#[tokio::test]
async fn version_guard_skips_older_and_reapplies_equal() {
    let s = EmbeddedStore::in_memory();
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

#[tokio::test]
async fn find_in_uses_indexes_conditions_and_state_and_follows_moves() {
    let s = EmbeddedStore::in_memory();
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
    let dir = std::env::temp_dir().join(format!("fdc-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
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
        let mut doc = Map::new();
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
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn merge_mode_keeps_foreign_fields_and_mark_deleted_keeps_the_document() {
    let s = EmbeddedStore::in_memory();
    let k = vec![Value::Int(1)];
    let mut d1 = Map::new();
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
    let mut d2 = Map::new();
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
