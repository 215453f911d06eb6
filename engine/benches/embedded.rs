//! Benchmark of the embedded path (not a test): messages/second and single views/second on a
//! generated data set (customers, orders, items, products, addresses), beside a raw baseline
//! measured in the same run, with peak memory.
//!
//! Run: `cargo bench -p fdc-engine --bench embedded`. Sizes: `FDC_BENCH_CUSTOMERS` (default
//! 20000; 3 orders per customer, 3 items per order, 1 address per customer, 1000 products),
//! `FDC_BENCH_UPDATES` (steady-state messages, default 100000), `FDC_BENCH_DIR` (persist the
//! store there with redb instead of memory).
//!
//! Phases, each timed on its own:
//! 1. raw baseline: the same messages decoded and cast (router) and bulk-written as records,
//!    no version read, no strategies, no single views;
//! 2. initial load through the engine: projection writes with version guard, strategies,
//!    aggregation and single-view writes;
//! 3. steady state: random updates (orders move between customers, item quantities, product
//!    renames, address flips) through the engine;
//! 4. full refresh: every customer view rebuilt from the projections (documents unchanged, so
//!    this is the read + aggregate + compare cost), against reading the same records raw.

use std::sync::Arc;
use std::time::Instant;

use fdc_engine::change::{Ingested, Message};
use fdc_engine::embedded::EmbeddedStore;
use fdc_engine::ingest::Router;
use fdc_engine::runtime::{layouts, Engine, Route, RoutedBatch, RuntimeConfig, Stores};
use fdc_engine::store::record::{Record, RecordMeta, RecordState};
use fdc_engine::store::source::SourceItem;
use fdc_engine::store::{EventSink, ProjectionStore, RecordWrite};
use fdc_engine::value::Value;
use fdc_plan::Plan;
use serde_json::json;

const BATCH: usize = 5000;

// Under glibc malloc, perf showed ~40 % of this workload in the allocator (`_int_malloc`,
// `unlink_chunk`, `malloc_consolidate`): the engine allocates many small values. mimalloc
// keeps the measurement about the engine. (The `fdc` binary still uses the system allocator.)
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
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

/// CPU time of this (single-threaded) process so far, in seconds: rates per CPU-second stay
/// meaningful when the machine is shared.
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map(|ns| ns / 1e9)
        .unwrap_or(f64::NAN)
}

fn message(projection: &str, id: u64, value: serde_json::Value, ts: i64) -> Message {
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

fn dataset(customers: u64) -> Vec<Message> {
    let mut out = Vec::new();
    let mut ts = 1;
    let products = 1000;
    for p in 1..=products {
        out.push(message(
            "products",
            p,
            json!({"id": p, "name": format!("product {p}"), "category": "c"}),
            ts,
        ));
    }
    for c in 1..=customers {
        ts += 1;
        out.push(message(
            "customers",
            c,
            json!({"id": c, "name": format!("name {c}"), "country": "IT"}),
            ts,
        ));
        out.push(message(
            "addresses",
            c,
            json!({"id": c, "customer_id": c, "kind": "billing", "city": "Rome"}),
            ts,
        ));
        for o in 0..3 {
            let order = c * 3 + o;
            out.push(message(
                "orders",
                order,
                json!({"id": order, "customer_id": c, "status": "PAID", "total": "10.50"}),
                ts,
            ));
            for i in 0..3 {
                let item = order * 3 + i;
                let product = 1 + (item * 7919) % products;
                out.push(message("items", item, json!({"id": item, "order_id": order, "product_id": product, "qty": 1 + i, "price": "3.50"}), ts));
            }
        }
    }
    out
}

fn updates(customers: u64, n: u64, start_ts: i64) -> Vec<Message> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut out = Vec::with_capacity(n as usize);
    for k in 0..n {
        let ts = start_ts + k as i64;
        let m = match rng.below(100) {
            0..=39 => {
                let order = 3 + rng.below(customers * 3);
                let c = 1 + rng.below(customers);
                message(
                    "orders",
                    order,
                    json!({"id": order, "customer_id": c, "status": "PAID", "total": "12.00"}),
                    ts,
                )
            }
            40..=79 => {
                let item = 9 + rng.below(customers * 9);
                let order = item / 3;
                message(
                    "items",
                    item,
                    json!({"id": item, "order_id": order, "product_id": 1 + rng.below(1000), "qty": rng.below(9), "price": "3.50"}),
                    ts,
                )
            }
            80..=89 => {
                let c = 1 + rng.below(customers);
                message(
                    "customers",
                    c,
                    json!({"id": c, "name": format!("renamed {k}"), "country": "FR"}),
                    ts,
                )
            }
            90..=98 => {
                let c = 1 + rng.below(customers);
                let kind = if rng.below(2) == 0 {
                    "billing"
                } else {
                    "shipping"
                };
                message(
                    "addresses",
                    c,
                    json!({"id": c, "customer_id": c, "kind": kind, "city": "Oslo"}),
                    ts,
                )
            }
            _ => {
                let p = 1 + rng.below(1000);
                message(
                    "products",
                    p,
                    json!({"id": p, "name": format!("p{k}"), "category": "c"}),
                    ts,
                )
            }
        };
        out.push(m);
    }
    out
}

struct NoEvents;

#[async_trait::async_trait]
impl EventSink for NoEvents {
    async fn publish(
        &self,
        _e: Vec<fdc_engine::store::Event>,
    ) -> Result<(), fdc_engine::store::StoreError> {
        Ok(())
    }
}

fn open_store(tag: &str) -> Arc<EmbeddedStore> {
    match std::env::var("FDC_BENCH_DIR") {
        Ok(dir) => {
            let path = std::path::Path::new(&dir).join(tag);
            let _ = std::fs::remove_dir_all(&path);
            Arc::new(EmbeddedStore::open(&path).expect("open store"))
        }
        Err(_) => Arc::new(EmbeddedStore::in_memory()),
    }
}

async fn engine(plan: &Plan, store: Arc<EmbeddedStore>) -> Engine {
    let stores = Stores {
        projections: store.clone(),
        views: store.clone(),
        events: Arc::new(NoEvents),
        dead_letters: store,
    };
    Engine::build(plan.clone(), stores, RuntimeConfig::default())
        .await
        .expect("build")
}

async fn through_engine(engine: &Engine, router: &Router, messages: &[Message]) -> (f64, u64, u64) {
    let start = Instant::now();
    let mut views = 0;
    let mut dead = 0;
    for chunk in messages.chunks(BATCH) {
        let items = chunk.iter().cloned().map(SourceItem::Message).collect();
        let batch = RoutedBatch::route(items, router as &dyn Route);
        let out = engine.process(&batch).await.expect("process");
        engine.commit(&out, 0);
        views += out.counts.views_inserted + out.counts.views_updated + out.counts.views_deleted;
        dead += out.dead_letters.len() as u64;
    }
    (start.elapsed().as_secs_f64(), views, dead)
}

async fn raw(plan: &Plan, store: &EmbeddedStore, router: &Router, messages: &[Message]) -> f64 {
    for l in layouts(plan) {
        store.ensure_projection(&l).await.expect("ensure");
    }
    let start = Instant::now();
    for chunk in messages.chunks(BATCH) {
        let mut per: Vec<Vec<RecordWrite>> = vec![Vec::new(); plan.projections.len()];
        for m in chunk {
            for o in router.route(m) {
                if let Ingested::Changes(changes) = o {
                    for c in changes {
                        if let Some(after) = c.after {
                            per[c.projection].push(RecordWrite::Put(Record {
                                key: c.key,
                                fields: after,
                                state: RecordState::Public,
                                meta: RecordMeta::new(c.version, &c.origin, 0, 0),
                            }));
                        }
                    }
                }
            }
        }
        for (i, writes) in per.into_iter().enumerate() {
            if !writes.is_empty() {
                store
                    .write(&plan.projections[i].name, writes)
                    .await
                    .expect("write");
            }
        }
    }
    start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let plan: Plan =
        serde_json::from_str(include_str!("../tests/fixtures/shop.plan.json")).expect("plan");
    let router = Router::new(&plan).expect("router");
    let customers = env("FDC_BENCH_CUSTOMERS", 20_000);
    let n_updates = env("FDC_BENCH_UPDATES", 100_000);
    let data = dataset(customers);
    let n = data.len() as f64;
    println!(
        "data set: {customers} customers, {} messages (customers, addresses, 3 orders each, 3 items per order, 1000 products); batch {BATCH}; store {}",
        data.len(),
        if std::env::var("FDC_BENCH_DIR").is_ok() { "redb on disk" } else { "in memory" }
    );

    let raw_store = open_store("raw");
    let c0 = cpu_secs();
    let t_raw = raw(&plan, &raw_store, &router, &data).await;
    let c_raw = cpu_secs() - c0;
    println!(
        "1. raw baseline (decode + cast + bulk write):    {:>9.0} msg/s  ({t_raw:.2} s; {:.0} msg per CPU-s)  peak RSS {:.0} MiB",
        n / t_raw,
        n / c_raw,
        peak_rss_mib()
    );
    // Raw read cost of the records a refresh reads (every projection, once).
    let t0 = Instant::now();
    let mut read = 0usize;
    for p in &plan.projections {
        read += raw_store.all_records(&p.name).expect("read").len();
    }
    let t_read = t0.elapsed().as_secs_f64();
    drop(raw_store);

    let store = open_store("engine");
    let eng = engine(&plan, store.clone()).await;
    let c0 = cpu_secs();
    let (t_load, views, dead) = through_engine(&eng, &router, &data).await;
    let c_load = cpu_secs() - c0;
    assert_eq!(dead, 0);
    println!(
        "2. initial load through the engine:              {:>9.0} msg/s  ({t_load:.2} s, {views} view writes = {:.0} views/s; {:.0} msg and {:.0} views per CPU-s)  CPU ratio to raw {:.2}  peak RSS {:.0} MiB",
        n / t_load,
        views as f64 / t_load,
        n / c_load,
        views as f64 / c_load,
        c_raw / c_load,
        peak_rss_mib()
    );

    let ups = updates(customers, n_updates, 10_000_000);
    let before = eng.counters().summary().triggered;
    let c0 = cpu_secs();
    let (t_steady, views, dead) = through_engine(&eng, &router, &ups).await;
    let c_steady = cpu_secs() - c0;
    assert_eq!(dead, 0);
    let triggered = eng.counters().summary().triggered - before;
    println!(
        "3. steady state (random updates, 2-3 hops):      {:>9.0} msg/s  ({t_steady:.2} s, {triggered} triggered, {views} view writes = {:.0} views/s; {:.0} msg and {:.0} views per CPU-s)  peak RSS {:.0} MiB",
        n_updates as f64 / t_steady,
        views as f64 / t_steady,
        n_updates as f64 / c_steady,
        views as f64 / c_steady,
        peak_rss_mib()
    );
    let c0 = cpu_secs();
    let t_raw_updates = raw(&plan, &open_store("raw2"), &router, &ups).await;
    let c_raw_updates = cpu_secs() - c0;
    println!(
        "   raw baseline on the same updates:             {:>9.0} msg/s  ({:.0} msg per CPU-s)  CPU ratio {:.3}",
        n_updates as f64 / t_raw_updates,
        n_updates as f64 / c_raw_updates,
        c_raw_updates / c_steady
    );

    let keys: Vec<Vec<Value>> = (1..=customers)
        .map(|c| vec![Value::Int(c as i64)])
        .collect();
    let t0 = Instant::now();
    let c0 = cpu_secs();
    let mut unchanged = 0;
    for chunk in keys.chunks(BATCH) {
        let r = eng.rebuild_keys(0, chunk).await.expect("refresh");
        unchanged += r.unchanged;
    }
    let t_refresh = t0.elapsed().as_secs_f64();
    let c_refresh = cpu_secs() - c0;
    println!(
        "4. full refresh of customer_360:                 {:>9.0} views/s ({t_refresh:.2} s, {unchanged} unchanged; {:.0} views per CPU-s); raw read of all {read} records {:.3} s  peak RSS {:.0} MiB",
        customers as f64 / t_refresh,
        customers as f64 / c_refresh,
        t_read,
        peak_rss_mib()
    );
}
