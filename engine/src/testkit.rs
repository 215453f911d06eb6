//! Test helpers shared by the engine's unit tests: the shop fixture plan and change builders.

use fdc_plan::Plan;

use crate::change::{Change, Op, Origin, Version};
use crate::value::{Map, Value};

/// The fixture plan `engine/tests/fixtures/shop.plan.json`.
pub fn shop_plan() -> Plan {
    serde_json::from_str(include_str!("../tests/fixtures/shop.plan.json")).expect("plan")
}

/// Fields from JSON, typed with the projection's declared types.
pub fn fields(plan: &Plan, projection: &str, json: serde_json::Value) -> Map {
    let p = plan.projection(projection).expect("projection");
    let obj = json.as_object().expect("object");
    obj.iter()
        .map(|(k, v)| {
            let ty = &p.field(k).expect("field").ty;
            (
                k.as_str().into(),
                Value::from_json_typed(v, ty).expect("typed"),
            )
        })
        .collect()
}

/// An upsert of `json` (which holds the `id` key) into `projection`.
pub fn upsert(plan: &Plan, projection: &str, json: serde_json::Value, version: u128) -> Change {
    let after = fields(plan, projection, json);
    Change {
        projection: plan
            .projections
            .iter()
            .position(|p| p.name == projection)
            .expect("projection"),
        op: Op::Upsert,
        key: vec![after.get("id").cloned().unwrap_or_default()],
        before: None,
        after: Some(after),
        version: Version(version),
        origin: Origin {
            topic: format!("shop.{projection}"),
            partition: 0,
            offset: version as i64,
            timestamp: Some(version as i64),
            source_ms: Some(version as i64),
        },
    }
}

/// A delete of key `id` from `projection`.
pub fn delete(plan: &Plan, projection: &str, id: i64, version: u128) -> Change {
    let mut c = upsert(plan, projection, serde_json::json!({ "id": id }), version);
    c.op = Op::Delete;
    c.after = None;
    c
}
