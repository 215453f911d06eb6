use super::*;
use crate::project::write_batch;
use crate::testkit::{delete, shop_plan, upsert};
use fdc_embedded::EmbeddedStore;
use serde_json::json;

async fn seeded() -> (Plan, EmbeddedStore) {
    let plan = shop_plan();
    let store = EmbeddedStore::in_memory();
    let p = &plan;
    let seed = vec![
        upsert(
            p,
            "customers",
            json!({"id": 1, "name": "Ann", "country": null}),
            1,
        ),
        upsert(
            p,
            "customers",
            json!({"id": 2, "name": "Bob", "country": "FR"}),
            1,
        ),
        upsert(
            p,
            "orders",
            json!({"id": 10, "customer_id": 1, "status": "PAID", "total": "5.50"}),
            1,
        ),
        upsert(
            p,
            "orders",
            json!({"id": 11, "customer_id": 1, "status": "NEW", "total": "7.00"}),
            1,
        ),
        upsert(
            p,
            "orders",
            json!({"id": 12, "customer_id": 1, "status": "PAID", "total": "1.25"}),
            1,
        ),
        upsert(
            p,
            "items",
            json!({"id": 100, "order_id": 10, "product_id": 7, "qty": 2, "price": "1.50"}),
            1,
        ),
        upsert(
            p,
            "items",
            json!({"id": 101, "order_id": 10, "product_id": 8, "qty": 1, "price": "2.50"}),
            1,
        ),
        upsert(
            p,
            "items",
            json!({"id": 102, "order_id": 11, "product_id": 9, "qty": 4, "price": "1.75"}),
            1,
        ),
        upsert(
            p,
            "products",
            json!({"id": 7, "name": "pen", "category": null}),
            1,
        ),
        upsert(
            p,
            "products",
            json!({"id": 8, "name": "ink", "category": null}),
            1,
        ),
        upsert(
            p,
            "addresses",
            json!({"id": 5, "customer_id": 1, "kind": "shipping", "city": "Rome"}),
            1,
        ),
        upsert(
            p,
            "addresses",
            json!({"id": 6, "customer_id": 1, "kind": "billing", "city": "Milan"}),
            1,
        ),
    ];
    write_batch(p, &store, seed, 0).await.unwrap();
    (plan, store)
}

fn doc_json(b: &Built) -> serde_json::Value {
    match b {
        Built::Document(d) => Value::Object(d.clone()).to_json(),
        Built::Deleted(d) => json!({ "deleted": Value::Object(d.clone()).to_json() }),
        Built::RootGone => json!("gone"),
    }
}

#[tokio::test]
async fn builds_nested_arrays_aggregates_and_one_node_lookups() {
    let (plan, store) = seeded().await;
    let view = &plan.single_views[0];
    let keys = vec![
        vec![Value::Int(1)],
        vec![Value::Int(2)],
        vec![Value::Int(3)],
    ];
    let b = build(&plan, view, &store, &keys).await.unwrap();
    assert_eq!(b.mapping_errors, 0);
    assert_eq!(
        doc_json(&b.documents[0].1),
        json!({
            "customer_id": 1,
            "name": "Ann",
            "label": "Ann / ??",
            "city": "Milan",
            "orders": [
                {"id": 11, "status": "NEW", "total": "7.00",
                 "items": [{"product": null, "qty": 4, "amount": "7.00"}]},
                {"id": 10, "status": "PAID", "total": "5.50",
                 "items": [{"product": "pen", "qty": 2, "amount": "3.00"},
                           {"product": "ink", "qty": 1, "amount": "2.50"}]},
                {"id": 12, "status": "PAID", "total": "1.25", "items": []}
            ],
            "order_count": 3,
            "spent": "6.75",
            "products": ["ink", "pen"],
            "total_qty": 7,
            "max_price": "2.50",
            "avg_qty": 7.0 / 3.0,
            "last_status": "PAID",
            "big_spender": true,
            "ratio": 1
        })
    );
    assert_eq!(
        doc_json(&b.documents[1].1),
        json!({
            "customer_id": 2, "name": "Bob", "label": "Bob / FR", "city": null, "orders": [],
            "order_count": 0, "spent": "0", "products": [], "total_qty": 0, "max_price": null,
            "avg_qty": null, "last_status": null, "big_spender": false, "ratio": null
        })
    );
    assert_eq!(b.documents[2].1, Built::RootGone);
}

#[tokio::test]
async fn deleted_records_leave_the_document_and_a_deleted_root_is_gone() {
    let (plan, store) = seeded().await;
    let p = &plan;
    write_batch(
        p,
        &store,
        vec![
            delete(p, "orders", 11, 2),
            delete(p, "addresses", 6, 2),
            delete(p, "customers", 2, 2),
        ],
        0,
    )
    .await
    .unwrap();
    let view = &plan.single_views[0];
    let keys = vec![vec![Value::Int(1)], vec![Value::Int(2)]];
    let b = build(&plan, view, &store, &keys).await.unwrap();
    let d = doc_json(&b.documents[0].1);
    assert_eq!(d["order_count"], json!(2));
    assert_eq!(d["city"], json!(null));
    assert_eq!(d["total_qty"], json!(3));
    assert_eq!(b.documents[1].1, Built::RootGone);
    // One find per node: the store answers without the records of other customers.
    let all = store.all_records("orders").unwrap();
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn a_mark_deleted_view_builds_a_soft_deleted_root_from_its_last_image() {
    let (plan, store) = seeded().await;
    let p = &plan;
    write_batch(
        p,
        &store,
        vec![
            delete(p, "orders", 10, 2),
            delete(p, "items", 101, 2),
            delete(p, "customers", 1, 2),
        ],
        0,
    )
    .await
    .unwrap();
    // order_view marks deleted: order 10's last image, with its current PUBLIC related records
    // (customer 1 is deleted, item 101 is gone).
    let view = &plan.single_views[1];
    assert_eq!(view.on_root_delete, fdc_plan::RootDelete::MarkDeleted);
    let keys = vec![
        vec![Value::Int(10)],
        vec![Value::Int(11)],
        vec![Value::Int(99)],
    ];
    let b = build(&plan, view, &store, &keys).await.unwrap();
    let d = doc_json(&b.documents[0].1);
    assert_eq!(d["deleted"]["status"], json!("PAID"));
    assert_eq!(d["deleted"]["customer"], json!(null));
    assert_eq!(d["deleted"]["lines"], json!(1));
    assert!(matches!(b.documents[1].1, Built::Document(_)));
    assert_eq!(b.documents[2].1, Built::RootGone, "never stored");
    // customer_360 deletes on root delete: a soft-deleted root is gone.
    let b = build(&plan, &plan.single_views[0], &store, &[vec![Value::Int(1)]])
        .await
        .unwrap();
    assert_eq!(b.documents[0].1, Built::RootGone);
}

#[tokio::test]
async fn bad_function_input_gives_null_and_is_counted() {
    let (mut plan, store) = seeded().await;
    plan.single_views[0].mapping = vec![fdc_plan::MappedField {
        name: "x".into(),
        expr: fdc_plan::Expr::Call {
            function: "substring".into(),
            args: vec![
                fdc_plan::Expr::Field {
                    node: 0,
                    path: vec!["name".into()],
                },
                fdc_plan::Expr::Literal {
                    value: json!(-1),
                    ty: fdc_plan::Type::Int,
                },
            ],
        },
    }];
    let view = &plan.single_views[0];
    let b = build(&plan, view, &store, &[vec![Value::Int(1)]])
        .await
        .unwrap();
    assert_eq!(doc_json(&b.documents[0].1), json!({"x": null}));
    assert_eq!(b.mapping_errors, 1);
}

#[tokio::test]
async fn records_with_fields_out_of_declaration_order_build_the_same_documents() {
    // Slots are taken from the declaration order; records decoded from elsewhere (a database
    // document written by hand, another version) may hold their fields in any order.
    let (plan, store) = seeded().await;
    let reordered = EmbeddedStore::in_memory();
    for (i, p) in plan.projections.iter().enumerate() {
        let writes = store
            .all_records(&p.name)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(j, mut r)| {
                // Every record of even projections, every other record of odd ones.
                if i % 2 == 0 || j % 2 == 0 {
                    r.fields.reverse();
                }
                crate::store::RecordWrite::Put(r)
            })
            .collect();
        reordered.write(&p.name, writes).await.unwrap();
    }
    let keys = vec![vec![Value::Int(1)], vec![Value::Int(2)]];
    for view in &plan.single_views {
        let keys: Vec<Vec<Value>> = if view.name == "order_view" {
            vec![vec![Value::Int(10)], vec![Value::Int(11)]]
        } else {
            keys.clone()
        };
        let a = build(&plan, view, &store, &keys).await.unwrap();
        let b = build(&plan, view, &reordered, &keys).await.unwrap();
        assert_eq!(a.documents, b.documents, "{}", view.name);
        assert!(matches!(a.documents[0].1, Built::Document(_)));
    }
}
