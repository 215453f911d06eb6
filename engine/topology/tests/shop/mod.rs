//! Seeded random streams of the shop pipeline (`fixtures/shop.plan.json`: customers, orders,
//! items, products, addresses in the basic format) for the differential tests of the engine
//! (`engine/topology/tests/differential.rs`) and of the Kafka + MongoDB path
//! (`tests/kafka/kafka_differential.rs`, which includes this file by path).
//!
//! A stream holds inserts, updates, deletes, primary-key changes, exact duplicates
//! (re-deliveries) and out-of-order versions; a [`Shape`] sets how many keys each projection
//! has, how far foreign keys reach (beyond the keys that exist: dangling references) and how
//! often each kind of change comes. The same seed and shape give the same stream.
#![allow(dead_code)]

use fdc_engine::change::Message;
use fdc_plan::Plan;
use serde_json::json;

/// xorshift64*: a tiny deterministic generator (no dependency, reproducible by seed).
pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The shop plan.
pub fn plan() -> Plan {
    serde_json::from_str(include_str!("../../../tests/fixtures/shop.plan.json"))
        .expect("fixture plan")
}

/// How a stream looks.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Keys per projection: customers, orders, items, products, addresses.
    pub keys: [u64; 5],
    /// Foreign keys reach `1..=max`: customer, order, product references.
    pub references: [u64; 3],
    /// Timestamp of the first message (epoch ms).
    pub clock: i64,
    /// Percent of deletes, then of primary-key changes among the rest.
    pub deletes: u64,
    pub key_changes: u64,
    /// Messages carry their timestamp as offset (a file-like source) instead of 0.
    pub offsets_from_clock: bool,
}

const PROJECTIONS: [&str; 5] = ["customers", "orders", "items", "products", "addresses"];

fn nullable_id(rng: &mut Rng, max: u64) -> serde_json::Value {
    if rng.chance(8) {
        serde_json::Value::Null
    } else {
        json!(1 + rng.below(max))
    }
}

fn row(rng: &mut Rng, shape: &Shape, projection: &str, id: u64) -> serde_json::Value {
    let [customer, order, product] = shape.references;
    match projection {
        "customers" => json!({"id": id, "name": rng.pick(&["Ann", "Bob", "Cy"]),
            "country": if rng.chance(30) { serde_json::Value::Null } else { json!(rng.pick(&["IT", "FR"])) }}),
        "orders" => json!({"id": id, "customer_id": nullable_id(rng, customer),
            "status": rng.pick(&["PAID", "NEW", "PAID"]),
            "total": rng.pick(&["1.00", "2.50", "10", "0.10", "2.5"])}),
        "items" => json!({"id": id, "order_id": nullable_id(rng, order),
            "product_id": nullable_id(rng, product), "qty": rng.below(5),
            "price": rng.pick(&["1.50", "2", "0.25"])}),
        "products" => json!({"id": id, "name": rng.pick(&["pen", "ink", "pad"]),
            "category": serde_json::Value::Null}),
        _ => json!({"id": id, "customer_id": nullable_id(rng, customer),
            "kind": rng.pick(&["billing", "shipping"]), "city": rng.pick(&["Rome", "Oslo"])}),
    }
}

fn message(
    shape: &Shape,
    projection: &str,
    id: u64,
    value: Option<serde_json::Value>,
    ts: i64,
) -> Message {
    Message {
        topic: format!("shop.{projection}"),
        partition: 0,
        offset: if shape.offsets_from_clock { ts } else { 0 },
        key: Some(json!({ "id": id }).to_string().into_bytes()),
        value: value.map(|v| v.to_string().into_bytes()),
        headers: vec![],
        timestamp: Some(ts),
    }
}

/// A random stream of about `len` basic-format messages.
pub fn stream(rng: &mut Rng, shape: &Shape, len: usize) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(len + 8);
    let mut clock = shape.clock;
    while out.len() < len {
        if !out.is_empty() && rng.chance(8) {
            // An exact duplicate (a re-delivery).
            let i = rng.below(out.len() as u64) as usize;
            out.push(out[i].clone());
            continue;
        }
        let p = rng.below(PROJECTIONS.len() as u64) as usize;
        let (projection, n) = (PROJECTIONS[p], shape.keys[p]);
        let id = 1 + rng.below(n);
        clock += 1;
        // Out of order: sometimes an older version (or an equal one).
        let ts = if rng.chance(10) {
            clock - 1 - rng.below(6) as i64
        } else {
            clock
        };
        if rng.chance(shape.deletes) {
            out.push(message(shape, projection, id, None, ts));
        } else if rng.chance(shape.key_changes) {
            // A primary-key change: the row moves to a new key.
            let new_id = 1 + rng.below(n);
            let value = row(rng, shape, projection, new_id);
            out.push(message(shape, projection, id, None, ts));
            out.push(message(shape, projection, new_id, Some(value), ts));
        } else {
            let value = row(rng, shape, projection, id);
            out.push(message(shape, projection, id, Some(value), ts));
        }
    }
    out
}
