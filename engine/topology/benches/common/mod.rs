//! What the benchmarks share: the shop data set of `tests/fixtures/shop.plan.json`
//! (customers, addresses, orders, items, products), sizes from the environment, the measures
//! of this process (peak RSS, CPU time), and feeding messages through an [`Engine`].
//!
//! Each bench target includes this module (`mod common;`) and uses part of it.
#![allow(dead_code)] // each bench target uses part of the module

use std::time::Instant;

use fdc_engine::change::Message;
use fdc_engine::ingest::Router;
use fdc_engine::runtime::refresh::{refresh, Flow, RefreshOptions, RefreshOutcome};
use fdc_engine::runtime::{Engine, MessageRouter, RoutedBatch};
use fdc_engine::source::SourceItem;
use fdc_plan::Plan;
use serde_json::json;

/// A size from the environment, `default` when unset or not a number.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The shop plan (`tests/fixtures/shop.plan.json`).
pub fn shop_plan() -> Plan {
    serde_json::from_str(include_str!("../../../tests/fixtures/shop.plan.json")).expect("plan")
}

/// `prefix`, this process's id and the time in milliseconds: a name no other run uses
/// (topics, consumer groups, databases).
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    )
}

/// A setting from the environment, `default` when unset or blank.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// A message of the shop plan keyed by `{"id": id}` (offset and timestamp `ts`).
pub fn message(projection: &str, id: u64, value: serde_json::Value, ts: i64) -> Message {
    Message {
        topic: format!("shop.{projection}"),
        partition: 0,
        offset: ts,
        key: Some(json!({ "id": id }).to_string().into_bytes()),
        value: Some(value.to_string().into_bytes()),
        headers: vec![],
        timestamp: Some(ts),
    }
}

/// `products` products (timestamp `ts`), then per customer `c` (timestamp `ts + c`): the
/// customer, a billing address, 3 orders with 3 items each (14 messages per customer).
pub fn dataset(customers: u64, products: u64, ts: i64) -> Vec<Message> {
    let mut out = product_rows(products, ts);
    out.extend(customer_rows(1..customers + 1, products, ts));
    out
}

/// Products `1..=products` (timestamp `ts`).
pub fn product_rows(products: u64, ts: i64) -> Vec<Message> {
    (1..=products)
        .map(|p| {
            let v = json!({"id": p, "name": format!("product {p}"), "category": "c"});
            message("products", p, v, ts)
        })
        .collect()
}

/// The 14 messages of each customer `c` of `customers` (timestamp `ts + c`), their items
/// spread over `products` products.
pub fn customer_rows(customers: std::ops::Range<u64>, products: u64, ts: i64) -> Vec<Message> {
    let mut out = Vec::new();
    for c in customers {
        let t = ts + c as i64;
        let v = json!({"id": c, "name": format!("name {c}"), "country": "IT"});
        out.push(message("customers", c, v, t));
        let v = json!({"id": c, "customer_id": c, "kind": "billing", "city": "Rome"});
        out.push(message("addresses", c, v, t));
        for o in 0..3 {
            let order = c * 3 + o;
            let v = json!({"id": order, "customer_id": c, "status": "PAID", "total": "10.50"});
            out.push(message("orders", order, v, t));
            for i in 0..3 {
                let item = order * 3 + i;
                let product = 1 + (item * 7919) % products;
                let v = json!({"id": item, "order_id": order, "product_id": product,
                    "qty": 1 + i, "price": "3.50"});
                out.push(message("items", item, v, t));
            }
        }
    }
    out
}

/// Resets the peak RSS (`VmHWM`) to the current RSS, so each phase reports its own peak.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// CPU time of this process's threads so far, in seconds: rates per CPU-second stay
/// meaningful when the machine is shared. The sum of `/proc/self/task/*/schedstat` (run time
/// in nanoseconds per thread; the runtime's threads live as long as the bench).
pub fn cpu_secs() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let mut ns = 0.0;
    for task in tasks.flatten() {
        let run = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
        ns += run.unwrap_or(0.0);
    }
    ns / 1e9
}

/// CPU seconds used so far by every thread of another process `pid` (a server on this
/// machine), from `/proc/<pid>/stat` (clock ticks of 10 ms); `None` when it cannot be read.
pub fn process_cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok()?;
    // The fields after the command name (which ends with `)`): utime and stime are the 12th
    // and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Routes `messages` in batches of `batch` and processes them with `engine`; the seconds
/// taken, the single views written and the messages dead-lettered.
pub async fn through_engine(
    engine: &Engine,
    router: &Router,
    messages: &[Message],
    batch: usize,
) -> (f64, u64, u64) {
    let start = Instant::now();
    let mut views = 0;
    let mut dead = 0;
    for chunk in messages.chunks(batch) {
        let items = chunk.iter().cloned().map(SourceItem::Message).collect();
        let batch = RoutedBatch::route(items, router as &dyn MessageRouter);
        let out = engine.process(&batch).await.expect("process");
        engine.commit(&out, 0);
        views += out.counts.views.inserted + out.counts.views.updated + out.counts.views.deleted;
        dead += out.dead_letters.len() as u64;
    }
    (start.elapsed().as_secs_f64(), views, dead)
}

/// Runs a complete refresh with the peak RSS reset first; the outcome, the wall time and the
/// CPU time of this process, in seconds.
pub async fn timed_refresh(
    engine: &Engine,
    options: &RefreshOptions,
) -> (RefreshOutcome, f64, f64) {
    reset_peak_rss();
    let t0 = Instant::now();
    let c0 = cpu_secs();
    let out = refresh(engine, options, None, |_| Flow::Continue)
        .await
        .expect("refresh");
    (out, t0.elapsed().as_secs_f64(), cpu_secs() - c0)
}
