//! Benchmark of the embedded path (not a test): the bulk paths (initial load, full refresh)
//! and the steady state on a generated data set (customers, addresses, orders, items,
//! products: the shop plan's `customer_360` view joins four relations over three hops), each
//! figure beside a raw baseline measured in the same run, with per-phase peak memory.
//!
//! Run: `cargo bench -p fdc-engine --bench embedded`. Sizes: `FDC_BENCH_CUSTOMERS` (default
//! 20000; 14.2 messages per customer: 1 customer, 1 address, 3 orders, 9 items, plus 1000
//! products: 7000 customers is about 100k messages, 70000 about 1M), `FDC_BENCH_UPDATES`
//! (steady-state messages, default 100000), `FDC_BENCH_RATE` and `FDC_BENCH_LATENCY_SECS`
//! (offered rate and duration of the latency phase, default 1000 msg/s for 5 s),
//! `FDC_BENCH_PRODUCT_RENAMES` (product renames per 100 updates, default 1; 0 keeps the
//! steady state to triggers of at most two hops),
//! `FDC_BENCH_DIR` (the disk-resident store in that directory instead of the in-memory one;
//! `FDC_STORE_CACHE_MB` sets its cache, default 64). The data set is generated one batch at
//! a time, so peak memory is the engine's and the store's, not the input's.
//!
//! Runtime: `FDC_BENCH_THREADS` tokio worker threads (default 1: a current-thread runtime).
//! With more than one, the engine spreads a batch's single-view rebuilds over as many tasks
//! (`rebuild_parallelism`); the raw baselines stay single-threaded.
//!
//! Phases, each timed on its own (wall time and the process's CPU time over all threads, so
//! that rates per CPU-second stay comparable on a shared machine), peak RSS reset before each:
//! 1. raw baseline: the messages decoded and cast (router) and bulk-written as records, no
//!    version read, no strategies, no single views; then the initial load through the engine
//!    (`strategies: false`: version guard, coalescing, projection writes), ratio to raw;
//! 2. full refresh of `customer_360` (every document inserted), then again (every document
//!    unchanged: the read + aggregate + compare cost), beside reading every record once;
//! 3. steady state: random updates (orders move between customers, item quantities, customer
//!    renames, address flips, product renames that fan out to every customer who bought the
//!    product) through every stage, beside the raw baseline on the same updates; then the
//!    latency from a message's arrival to its single views' write at a fixed offered rate
//!    (batches take what has arrived, up to the batch size), p50 / p99 / max;
//! 4. the steady-state shape on a fresh store: the same data set and updates with one
//!    view, `customer_orders` (`customer_360` without its product node: three relations, two
//!    hops; no events, no JSON Schema), full refresh (inserted, unchanged) and steady state,
//!    each beside the same raw baselines as above. `FDC_BENCH_ONLY_THREE=1` skips phases 2
//!    and 3 (for profiling this one).
//!
//! Allocator: mimalloc, with its purge delay disabled (`MIMALLOC_PURGE_DELAY=-1`: the bench
//! re-runs itself with it unless the variable is set; see `main`).

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{
    cpu_secs, customer_rows, env, message, peak_rss_mib, product_rows, reset_peak_rss, shop_plan,
    through_engine, timed_refresh,
};
use fdc_embedded::{DiskOptions, EmbeddedStore};
use fdc_engine::change::{Message, MessageOutcome};
use fdc_engine::ingest::Router;
use fdc_engine::runtime::refresh::{refresh, Flow, RefreshOptions};
use fdc_engine::runtime::{layouts, Engine, MessageRouter, RoutedBatch, RuntimeConfig};
use fdc_engine::source::SourceItem;
use fdc_engine::store::record::{Record, RecordMeta, RecordState};
use fdc_engine::store::{EventSink, ProjectionStore, RecordWrite};
use fdc_plan::Plan;
use fdc_topology::{build, Deployment, EventsSpec, OpenedStore, StoreSpec};
use serde_json::json;

const BATCH: usize = 5000;

// Under glibc malloc, perf showed ~40 % of this workload in the allocator (`_int_malloc`,
// `unlink_chunk`, `malloc_consolidate`): the engine allocates many small values. mimalloc
// keeps the measurement about the engine; the `fdc` binary uses it too (src/main.rs).
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

/// The data set in chunks of about one batch, generated as they are consumed, so that the
/// bench holds one chunk at a time whatever the size (the products first, then customers).
fn dataset(customers: u64) -> impl Iterator<Item = Vec<Message>> {
    let per = BATCH as u64 / 14;
    std::iter::once(product_rows(1000, 1)).chain(
        (1..=customers)
            .step_by(per as usize)
            .map(move |c| customer_rows(c..(c + per).min(customers + 1), 1000, 1)),
    )
}

/// Random updates; `product_renames` of every 100 messages rename a product (each reaches
/// every customer who bought it, through items and orders), the rest are spread over orders
/// (40), items (40), customers (10) and addresses (9) as far as they go.
fn updates(customers: u64, n: u64, start_ts: i64, product_renames: u64) -> Vec<Message> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut out = Vec::with_capacity(n as usize);
    for k in 0..n {
        let ts = start_ts + k as i64;
        let roll = rng.below(100);
        let roll = if roll >= 100 - product_renames.min(100) {
            99
        } else {
            roll.min(98)
        };
        let m = match roll {
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

/// Whether `expr` (a plan expression as JSON) reads node `node` anywhere.
fn reads_node(expr: &serde_json::Value, node: u64) -> bool {
    match expr {
        serde_json::Value::Object(m) => {
            m.get("node").and_then(serde_json::Value::as_u64) == Some(node)
                || m.values().any(|v| reads_node(v, node))
        }
        serde_json::Value::Array(items) => items.iter().any(|v| reads_node(v, node)),
        _ => false,
    }
}

/// Renumbers every `"node": from` of `json` to `to`.
fn renumber(json: &mut serde_json::Value, from: u64, to: u64) {
    match json {
        serde_json::Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if (k == "node" || k == "id" || k == "parent") && v.as_u64() == Some(from) {
                    *v = json!(to);
                } else {
                    renumber(v, from, to);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| renumber(v, from, to)),
        _ => {}
    }
}

/// The shop plan reduced to the steady-state shape: one single view,
/// `customer_orders`, over three relations and two hops (customer -> orders -> items,
/// customer -> billing address): `customer_360` without its product node (and whatever reads
/// it), without events and without a JSON Schema. The five projections stay (product messages
/// are still written; they trigger nothing).
fn three_relation_plan(shop: &str) -> Plan {
    const PRODUCTS: u64 = 3;
    let mut plan: serde_json::Value = serde_json::from_str(shop).expect("plan");
    let mut view = plan["single_views"][0].clone();
    assert_eq!(view["nodes"][PRODUCTS as usize]["projection"], "products");
    view["name"] = json!("customer_orders");
    view["events"] = serde_json::Value::Null;
    view["schema"] = serde_json::Value::Null;
    let keep = |items: &mut serde_json::Value| {
        if let Some(a) = items.as_array_mut() {
            a.retain(|f| !reads_node(f, PRODUCTS));
        }
    };
    // Inside `orders[]` first: the `items[]` element's fields.
    for field in view["mapping"].as_array_mut().expect("mapping") {
        for order_field in field["expr"]["element"]["fields"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            keep(&mut order_field["expr"]["element"]["fields"]);
        }
    }
    keep(&mut view["mapping"]);
    if let Some(nodes) = view["nodes"].as_array_mut() {
        nodes.retain(|n| n["id"] != json!(PRODUCTS));
    }
    if let Some(strategies) = view["strategies"].as_array_mut() {
        strategies.retain(|s| s["projection"] != "products");
    }
    renumber(&mut view, 4, PRODUCTS);
    assert!(!reads_node(&view["mapping"], 4));
    plan["single_views"] = json!([view]);
    serde_json::from_value(plan).expect("three-relation plan")
}

struct NoEvents;

/// The most events one publish call (one batch) carried: what a batch holds until it ends.
static LARGEST_EVENT_BATCH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[async_trait::async_trait]
impl EventSink for NoEvents {
    async fn publish(
        &self,
        e: Vec<fdc_engine::store::Event>,
    ) -> Result<(), fdc_engine::store::StoreError> {
        LARGEST_EVENT_BATCH.fetch_max(e.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The store directory's options, with the cache size of `FDC_STORE_CACHE_MB` as `fdc` reads it.
fn disk_options() -> DiskOptions {
    DiskOptions::with_cache_setting(std::env::var("FDC_STORE_CACHE_MB").ok().as_deref())
}

fn open_store(tag: &str) -> Arc<EmbeddedStore> {
    match std::env::var("FDC_BENCH_DIR") {
        Ok(dir) => {
            let path = std::path::Path::new(&dir).join(tag);
            let _ = std::fs::remove_dir_all(&path);
            Arc::new(EmbeddedStore::open_with(&path, disk_options()).expect("open store"))
        }
        Err(_) => Arc::new(EmbeddedStore::in_memory()),
    }
}

async fn engine(plan: &Plan, store: Arc<EmbeddedStore>, strategies: bool) -> Arc<Engine> {
    let mut deployment = Deployment::new(plan.clone());
    deployment.store = StoreSpec::Opened(OpenedStore::Embedded(store));
    deployment.events = EventsSpec::Sink(Arc::new(NoEvents));
    deployment.runtime = RuntimeConfig {
        batch_size: BATCH,
        strategies,
        rebuild_parallelism: threads(),
        ..RuntimeConfig::default()
    };
    let built = build(deployment).await.expect("build");
    built.stages[0].engine.clone()
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
                if let MessageOutcome::Changes(changes) = o {
                    for c in changes {
                        if let Some(after) = c.after {
                            per[c.projection].push(RecordWrite::Put(Record {
                                key: c.key,
                                layout: Default::default(),
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

/// Latency from arrival to single-view write at `rate` messages/second for `secs` seconds:
/// the engine takes every message that has arrived (up to a batch) whenever it is free.
async fn latency(engine: &Engine, router: &Router, messages: &[Message], rate: f64) -> Vec<f64> {
    let start = Instant::now();
    let arrival = |i: usize| std::time::Duration::from_secs_f64(i as f64 / rate);
    let mut next = 0;
    let mut out = Vec::with_capacity(messages.len());
    while next < messages.len() {
        let now = start.elapsed();
        if arrival(next) > now {
            tokio::time::sleep(arrival(next) - now).await;
            continue;
        }
        let mut end = next;
        while end < messages.len() && end - next < BATCH && arrival(end) <= now {
            end += 1;
        }
        let items = messages[next..end]
            .iter()
            .cloned()
            .map(SourceItem::Message)
            .collect();
        let batch = RoutedBatch::route(items, router as &dyn MessageRouter);
        let o = engine.process(&batch).await.expect("process");
        engine.commit(&o, 0);
        let done = start.elapsed();
        for i in next..end {
            out.push((done - arrival(i)).as_secs_f64() * 1000.0);
        }
        next = end;
    }
    out.sort_by(f64::total_cmp);
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Worker threads of the bench's runtime (`FDC_BENCH_THREADS`, default 1).
fn threads() -> usize {
    env("FDC_BENCH_THREADS", 1).max(1) as usize
}

fn main() {
    let runtime = match threads() {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    runtime.expect("tokio runtime").block_on(bench());
}

async fn bench() {
    // mimalloc returns freed memory to the OS 10 ms after it is freed; with transparent huge
    // pages every re-fault then zeroes 2 MiB in the kernel (`clear_page_erms`: 11-13 % of a
    // refresh, up to a third under perf). The option can only be set before the allocator
    // starts (or through `unsafe` FFI), so the bench re-runs itself with the purge disabled
    // unless the variable is set (`MIMALLOC_PURGE_DELAY=10` measures mimalloc's default).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        let status = std::process::Command::new(std::env::current_exe().expect("own path"))
            .args(std::env::args_os().skip(1))
            .env("MIMALLOC_PURGE_DELAY", "-1")
            .status()
            .expect("re-run with MIMALLOC_PURGE_DELAY=-1");
        std::process::exit(status.code().unwrap_or(1));
    }
    let plan = shop_plan();
    let router = Router::new(&plan).expect("router");
    let customers = env("FDC_BENCH_CUSTOMERS", 20_000);
    let n_updates = env("FDC_BENCH_UPDATES", 100_000);
    let product_renames = env("FDC_BENCH_PRODUCT_RENAMES", 1);
    let n = (1000 + customers * 14) as f64;
    println!(
        "data set: {customers} customers, {n} messages (customers, addresses, 3 orders each, 3 items per order, 1000 products); batch {BATCH}; {} runtime thread(s); store {}; MIMALLOC_PURGE_DELAY={}",
        threads(),
        match std::env::var("FDC_BENCH_DIR") {
            Ok(_) => format!("disk-resident (redb), cache {} MiB", disk_options().cache_mib),
            Err(_) => "in memory".into(),
        },
        std::env::var("MIMALLOC_PURGE_DELAY").unwrap_or_default()
    );

    // 1. Ingestion. A first raw pass warms the heap (the allocator's first growth costs page
    // faults that later phases do not pay), so the measured baseline is not handicapped.
    let warm = open_store("warm");
    for chunk in dataset(customers) {
        raw(&plan, &warm, &router, &chunk).await;
    }
    drop(warm);
    reset_peak_rss();
    let raw_store = open_store("raw");
    let (mut t_raw, mut c_raw) = (0.0, 0.0);
    for chunk in dataset(customers) {
        let c0 = cpu_secs();
        t_raw += raw(&plan, &raw_store, &router, &chunk).await;
        c_raw += cpu_secs() - c0;
    }
    println!(
        "1. raw baseline (decode + cast + bulk write):      {:>9.0} msg/s  ({t_raw:.2} s; {:.0} msg per CPU-s)  peak RSS {:.0} MiB",
        n / t_raw,
        n / c_raw,
        peak_rss_mib()
    );
    drop(raw_store);

    reset_peak_rss();
    let store = open_store("engine");
    let loader = engine(&plan, store.clone(), false).await;
    let (mut t_load, mut c_load) = (0.0, 0.0);
    for chunk in dataset(customers) {
        let c0 = cpu_secs();
        let (t, _, dead) = through_engine(&loader, &router, &chunk, BATCH).await;
        c_load += cpu_secs() - c0;
        t_load += t;
        assert_eq!(dead, 0);
    }
    println!(
        "   initial load (engine, strategies off):         {:>9.0} msg/s  ({t_load:.2} s; {:.0} msg per CPU-s)  ratio to raw: wall {:.2}, CPU {:.2}  peak RSS {:.0} MiB",
        n / t_load,
        n / c_load,
        t_raw / t_load,
        c_raw / c_load,
        peak_rss_mib()
    );

    // 2. Full refresh.
    reset_peak_rss();
    let t0 = Instant::now();
    let c0 = cpu_secs();
    let mut read = 0usize;
    for p in &plan.projections {
        let mut after = None;
        loop {
            let page = ProjectionStore::scan(&*store, &p.name, after.as_deref(), BATCH)
                .await
                .expect("read");
            read += page.items.len();
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    let t_read = t0.elapsed().as_secs_f64();
    let c_read = cpu_secs() - c0;
    println!(
        "2. raw read of every record ({read}):             {:>9.0} records/s ({t_read:.2} s; {:.0} per CPU-s)",
        read as f64 / t_read,
        read as f64 / c_read
    );
    let ups = updates(customers, n_updates, 10_000_000, product_renames);
    if env("FDC_BENCH_ONLY_THREE", 0) == 0 {
        heavy(&plan, &router, store.clone(), &ups, t_read, customers).await;
    }
    drop((loader, store));

    // 4. The shape: a three-relation, two-hop view, alone, on its own store.
    let light = three_relation_plan(include_str!("../../tests/fixtures/shop.plan.json"));
    let light_router = Router::new(&light).expect("router");
    println!("4. view `customer_orders`: three relations, two hops (customer -> orders -> items, customer -> billing address), no events, no schema");
    let store = open_store("three");
    let loader = engine(&light, store.clone(), false).await;
    for chunk in dataset(customers) {
        let (_, _, dead) = through_engine(&loader, &light_router, &chunk, BATCH).await;
        assert_eq!(dead, 0);
    }
    let eng = engine(&light, store.clone(), true).await;
    refresh_twice(&eng, "customer_orders", t_read).await;
    steady(
        &eng,
        &light,
        &light_router,
        &ups,
        &format!("   steady state ({product_renames} % product renames):       "),
    )
    .await;
}

/// Phases 2 (the refreshes) and 3 (steady state, latency) on `customer_360` and `order_view`.
async fn heavy(
    plan: &Plan,
    router: &Router,
    store: Arc<EmbeddedStore>,
    ups: &[Message],
    t_read: f64,
    customers: u64,
) {
    let rate = env("FDC_BENCH_RATE", 1000) as f64;
    let latency_secs = env("FDC_BENCH_LATENCY_SECS", 5);
    let product_renames = env("FDC_BENCH_PRODUCT_RENAMES", 1);
    let eng_store = store.clone();
    let eng = engine(plan, store, true).await;
    refresh_twice(&eng, "customer_360", t_read).await;
    let order_options = RefreshOptions {
        view: "order_view".into(),
        filter: vec![],
        page: BATCH,
    };
    refresh(&eng, &order_options, None, |_| Flow::Continue)
        .await
        .expect("refresh order_view");

    // 3. Steady state.
    LARGEST_EVENT_BATCH.store(0, std::sync::atomic::Ordering::Relaxed);
    steady(
        &eng,
        plan,
        router,
        ups,
        &format!("3. steady state ({product_renames} % product renames):       "),
    )
    .await;
    reset_peak_rss();
    let offered = (rate as u64 * latency_secs) as usize;
    let more = updates(customers, offered as u64, 20_000_000, product_renames);
    let lat = latency(&eng, router, &more, rate).await;
    println!(
        "   latency at {rate:.0} msg/s offered for {latency_secs} s ({offered} messages): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms  peak RSS {:.0} MiB",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        peak_rss_mib()
    );
    println!(
        "   largest event batch (steady state and latency): {} events",
        LARGEST_EVENT_BATCH.load(std::sync::atomic::Ordering::Relaxed)
    );
    if let Ok(Some((bytes, entries))) = eng_store.cache_usage() {
        println!(
            "   disk-resident store cache: {:.0} MiB estimated in {entries} records and documents",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
}

/// Two full refreshes of `view` (every document inserted, then every one unchanged), each
/// beside the raw read of every record (`t_read` seconds).
async fn refresh_twice(eng: &Engine, view: &str, t_read: f64) {
    let options = RefreshOptions {
        view: view.into(),
        filter: vec![],
        page: BATCH,
    };
    for label in ["inserted", "unchanged"] {
        let (out, t, c) = timed_refresh(eng, &options).await;
        let views = out.totals.rebuilt as f64;
        println!(
            "   full refresh of {view} ({label}):      {:>9.0} views/s ({t:.2} s, {} views, {} inserted, {} unchanged; {:.0} views per CPU-s)  raw read of the same records takes {:.0} % of this time  peak RSS {:.0} MiB",
            views / t,
            out.totals.rebuilt,
            out.totals.views.inserted,
            out.totals.views.unchanged,
            views / c,
            100.0 * t_read / t,
            peak_rss_mib()
        );
    }
}

/// The steady state: `ups` through every stage of `eng`, then the raw baseline on the same
/// updates (decode + cast + bulk write on a fresh store).
async fn steady(eng: &Engine, plan: &Plan, router: &Router, ups: &[Message], label: &str) {
    reset_peak_rss();
    let n = ups.len() as f64;
    let before = eng.counters().summary().triggered;
    let c0 = cpu_secs();
    let (t_steady, views, dead) = through_engine(eng, router, ups, BATCH).await;
    let c_steady = cpu_secs() - c0;
    assert_eq!(dead, 0);
    let triggered = eng.counters().summary().triggered - before;
    println!(
        "{label} {:>9.0} msg/s  ({t_steady:.2} s, {triggered} views triggered, {views} written = {:.0} views/s; {:.0} msg and {:.0} triggered views per CPU-s)  peak RSS {:.0} MiB",
        n / t_steady,
        views as f64 / t_steady,
        n / c_steady,
        triggered as f64 / c_steady,
        peak_rss_mib()
    );
    let c0 = cpu_secs();
    let t_raw_updates = raw(plan, &open_store("raw2"), router, ups).await;
    let c_raw_updates = cpu_secs() - c0;
    println!(
        "   raw baseline on the same updates:              {:>9.0} msg/s  ({:.0} msg per CPU-s)  ratio: wall {:.3}, CPU {:.3}",
        n / t_raw_updates,
        n / c_raw_updates,
        t_raw_updates / t_steady,
        c_raw_updates / c_steady
    );
}
