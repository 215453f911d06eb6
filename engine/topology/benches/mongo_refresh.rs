//! Full refresh on MongoDB (not a test): single views/second of `fdc refresh` through the
//! engine API, beside the raw cost of reading the same projection records with plain driver
//! `find` calls, in one run, on the same data.
//!
//! Needs a MongoDB-wire server (`scripts/services up`; `FDC_MONGO_URI`, default
//! `mongodb://127.0.0.1:27017`). Run: `cargo bench -p fdc-engine --features mongo --bench
//! mongo_refresh` (under `cargo test --all-targets` it does nothing). Sizes:
//! `FDC_BENCH_CUSTOMERS` (default 1000; 14 records per customer: the customer, a billing
//! address, 3 orders, 9 items; plus 2 products per customer, at most 1000) and
//! `FDC_BENCH_PAGE` (default 5000, `fdc refresh`'s `--page`: root records read and single
//! views rebuilt per batch); `FDC_BENCH_REBUILD_TASKS` (default `RuntimeConfig`'s, which
//! `fdc refresh` uses: the tasks each chunk of keys is spread over).
//!
//! Phases, on a database of its own (dropped at the end), with the shop plan of
//! `tests/fixtures/shop.plan.json` (`customer_360` joins four relations over three hops):
//! 0. load: the data set through the engine with strategies off (an initial load) into the
//!    projections of a `MongoStore`;
//! 1. raw read: every record of the projections `customer_360` reads (its root and join
//!    nodes), one `find({})` per collection with its cursor in batches of `FDC_BENCH_PAGE`
//!    documents, decoded by the driver into BSON documents and dropped; timed before and after
//!    phase 2 (the machine is shared; the faster one is the baseline);
//! 2. `refresh` of `customer_360` as `fdc refresh` runs it (`rebuild_chunk` = page), first with
//!    an empty view collection (every document inserted), then again (every document
//!    unchanged); views/s, and the raw read's time as a share of the refresh's (the target is
//!    at least 70 %); with the server's CPU time known, the same ratio of CPU seconds (server
//!    and this process), steadier than wall time on a shared machine.
//!
//! Each phase prints its wall time, this process's CPU time (all threads; the server's work is
//! not in it),
//! its peak RSS, the server's CPU time when `FDC_BENCH_SERVER_PID` names the server process on
//! this machine (`FDC_BENCH_SERVER_PID=$(pgrep -x ferretdb)`), and the store's round trips by
//! command and collection with their documents and time (counted from the adapter's debug
//! events `mongo find` and `mongo write command`, which are not printed themselves).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{
    cpu_secs, env, env_or, peak_rss_mib, process_cpu_secs, reset_peak_rss, shop_plan,
    through_engine, timed_refresh, unique_name,
};
use fdc_engine::ingest::Router;
use fdc_engine::runtime::refresh::RefreshOptions;
use fdc_engine::runtime::{Engine, RuntimeConfig};
use fdc_mongo::{MongoStore, MongoStoreConfig};
use fdc_plan::Plan;
use fdc_topology::{build, DeadLettersSpec, Deployment, OpenedStore, StoreSpec};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const BATCH: usize = 5000;
const VIEW: &str = "customer_360";

/// Calls, documents (or statements) and server time of one kind of call on one collection.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    calls: u64,
    items: u64,
    micros: u64,
}

/// Counts the MongoDB adapter's debug events (`mongo find`, `mongo write command`) by
/// command and collection.
#[derive(Clone, Default)]
struct RoundTrips(Arc<Mutex<BTreeMap<String, Tally>>>);

impl RoundTrips {
    /// What was counted since the last call, and a fresh count.
    fn take(&self) -> BTreeMap<String, Tally> {
        self.0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct EventFields {
    message: String,
    command: String,
    collection: String,
    items: u64,
    micros: u64,
}

impl Visit for EventFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "collection" => self.collection = value.to_owned(),
            "command" => self.command = value.to_owned(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "documents" | "statements" => self.items = value,
            "micros" => self.micros = value,
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for RoundTrips {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut f = EventFields::default();
        event.record(&mut f);
        let kind = match f.message.as_str() {
            "mongo find" => "find",
            "mongo write command" => f.command.as_str(),
            _ => return,
        };
        if let Ok(mut m) = self.0.lock() {
            let t = m.entry(format!("{kind} {}", f.collection)).or_default();
            t.calls += 1;
            t.items += f.items;
            t.micros += f.micros;
        }
    }
}

fn print_round_trips(calls: &BTreeMap<String, Tally>) {
    let total: u64 = calls.values().map(|t| t.calls).sum();
    let parts: Vec<String> = calls
        .iter()
        .map(|(what, t)| {
            format!(
                "{what} x{} ({} docs, {:.2} s)",
                t.calls,
                t.items,
                t.micros as f64 / 1e6
            )
        })
        .collect();
    println!("      round trips: {total}: {}", parts.join(", "));
}

/// Reads every document of `collections` with one `find({})` each, in batches of `page`;
/// per collection, the number of documents and the seconds taken.
async fn raw_read(
    db: &mongodb::Database,
    collections: &[String],
    page: usize,
) -> Vec<(String, usize, f64)> {
    let mut out = Vec::new();
    for c in collections {
        let t0 = Instant::now();
        let mut n = 0;
        let mut cursor = db
            .collection::<Document>(c)
            .find(doc! {})
            .batch_size(page as u32)
            .await
            .expect("find");
        while let Some(d) = cursor.try_next().await.expect("read") {
            n += usize::from(!d.is_empty());
        }
        out.push((c.clone(), n, t0.elapsed().as_secs_f64()));
    }
    out
}

/// CPU seconds used so far by the server process `FDC_BENCH_SERVER_PID` (when given, on the
/// same machine): how much of a phase's wall time the server computed.
fn server_cpu_secs() -> Option<f64> {
    process_cpu_secs(&std::env::var("FDC_BENCH_SERVER_PID").ok()?)
}

/// What a phase cost: wall seconds, CPU seconds of this process and of the server (when known).
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: f64,
    here: f64,
    server: Option<f64>,
}

impl Cost {
    /// The server's CPU time since `before` (its reading at the start of the phase).
    fn new(wall: f64, here: f64, before: Option<f64>) -> Cost {
        let server = before.zip(server_cpu_secs()).map(|(a, b)| b - a);
        Cost { wall, here, server }
    }

    /// "; server X CPU-s" when the server's CPU time is known.
    fn server_part(&self) -> String {
        self.server
            .map(|s| format!("; server {s:.2} CPU-s"))
            .unwrap_or_default()
    }

    /// CPU seconds of this process and the server together, when the server's are known.
    fn cpu(&self) -> Option<f64> {
        self.server.map(|s| s + self.here)
    }
}

/// The engine of `fdc refresh` on `store` (events dropped, no dead letters).
async fn engine(plan: &Plan, store: Arc<MongoStore>, config: RuntimeConfig) -> Arc<Engine> {
    let mut deployment = Deployment::new(plan.clone());
    deployment.store = StoreSpec::Opened(OpenedStore::Mongo(store));
    deployment.dead_letters = DeadLettersSpec::Refused("a refresh has no dead letters");
    deployment.runtime = config;
    let built = build(deployment).await.expect("build");
    built.stages[0].engine.clone()
}

// Multi-thread, as `fdc refresh` runs (there a chunk is spread over `rebuild_parallelism`
// tasks).
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The workload takes tens of seconds on FerretDB v1: it only runs under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("mongo_refresh bench: run with `cargo bench -p fdc-engine --features mongo --bench mongo_refresh`");
        return;
    }
    let round_trips = RoundTrips::default();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
        )
        .with(
            round_trips.clone().with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("fdc_mongo", tracing::Level::DEBUG),
            ),
        )
        .init();
    let customers = env("FDC_BENCH_CUSTOMERS", 1000);
    let products = (customers * 2).clamp(1, 1000);
    let page = env("FDC_BENCH_PAGE", 5000).max(1) as usize;
    let plan = shop_plan();
    let config = MongoStoreConfig {
        uri: env_or("FDC_MONGO_URI", "mongodb://127.0.0.1:27017"),
        database: unique_name("fdc_bench_refresh"),
        ..MongoStoreConfig::default()
    };
    let store = match MongoStore::connect(config).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("no MongoDB-wire server ({e}): run `scripts/services up` first");
            std::process::exit(2);
        }
    };
    let db = store.database().clone();
    let data = common::dataset(customers, products, 1);
    println!(
        "data set: {customers} customers, {products} products, {} records; page {page}",
        data.len()
    );

    // 0. Load.
    let router = Router::new(&plan).expect("router");
    let loader = engine(
        &plan,
        store.clone(),
        RuntimeConfig {
            batch_size: BATCH,
            strategies: false,
            ..RuntimeConfig::default()
        },
    )
    .await;
    let (t_load, _, dead) = through_engine(&loader, &router, &data, BATCH).await;
    assert_eq!(dead, 0);
    println!(
        "0. initial load (engine, strategies off): {:>7.0} records/s ({t_load:.2} s)",
        data.len() as f64 / t_load
    );
    round_trips.take();

    // 1. Raw read.
    let view = plan.single_view(VIEW).expect("view");
    let mut collections: Vec<String> = Vec::new();
    for n in &view.nodes {
        if !collections.contains(&n.projection) {
            collections.push(n.projection.clone());
        }
    }
    let records = data.len();
    let raw_phase = |label: &'static str| {
        let db = db.clone();
        let collections = collections.clone();
        let round_trips = round_trips.clone();
        async move {
            reset_peak_rss();
            let c0 = cpu_secs();
            let s0 = server_cpu_secs();
            let t0 = Instant::now();
            let per = raw_read(&db, &collections, page).await;
            let t = t0.elapsed().as_secs_f64();
            let cost = Cost::new(t, cpu_secs() - c0, s0);
            let n: usize = per.iter().map(|(_, n, _)| n).sum();
            assert_eq!(n, records, "raw read count");
            let parts: Vec<String> = per
                .iter()
                .map(|(c, n, t)| format!("{c} {n} in {t:.2} s"))
                .collect();
            println!(
                "1. raw read of every record{label} ({n}): {:>7.0} records/s ({t:.2} s; {:.2} CPU-s here{})  peak RSS {:.0} MiB",
                n as f64 / t,
                cost.here,
                cost.server_part(),
                peak_rss_mib()
            );
            println!("      {}", parts.join(", "));
            round_trips.take();
            cost
        }
    };
    let raw_before = raw_phase("").await;

    // 2. Refresh.
    let defaults = RuntimeConfig::default();
    let refresher = engine(
        &plan,
        store.clone(),
        RuntimeConfig {
            rebuild_chunk: page,
            rebuild_parallelism: env(
                "FDC_BENCH_REBUILD_TASKS",
                defaults.rebuild_parallelism as u64,
            ) as usize,
            ..defaults
        },
    )
    .await;
    println!(
        "   refresh: page {page}, rebuild tasks per chunk: {}",
        refresher.config().rebuild_parallelism
    );
    let options = RefreshOptions {
        view: VIEW.into(),
        filter: vec![],
        page,
    };
    let mut refreshes = Vec::new();
    for label in ["inserted", "unchanged"] {
        round_trips.take();
        let s0 = server_cpu_secs();
        let c0 = cpu_secs();
        let (out, t, _) = timed_refresh(&refresher, &options).await;
        let c = cpu_secs() - c0;
        assert!(out.complete);
        assert_eq!(out.totals.rebuilt, customers);
        let views = out.totals.rebuilt as f64;
        println!(
            "2. full refresh of {VIEW} ({label}): {:>7.0} views/s ({t:.2} s, {} views, {} inserted, {} unchanged; {c:.2} CPU-s here, {:.0} views per CPU-s{})  peak RSS {:.0} MiB",
            views / t,
            out.totals.rebuilt,
            out.totals.views.inserted,
            out.totals.views.unchanged,
            views / c,
            Cost::new(t, c, s0).server_part(),
            peak_rss_mib()
        );
        print_round_trips(&round_trips.take());
        refreshes.push((label, Cost::new(t, c, s0)));
    }
    let raw_after = raw_phase(" again").await;
    // The faster of the two raw reads is the baseline (the machine is shared).
    let raw = [raw_before, raw_after];
    let t_raw = raw.iter().map(|c| c.wall).fold(f64::INFINITY, f64::min);
    let cpu_raw = raw
        .iter()
        .map(Cost::cpu)
        .collect::<Option<Vec<f64>>>()
        .map(|v| v.into_iter().fold(f64::INFINITY, f64::min));
    for (label, cost) in refreshes {
        let cpu = match cpu_raw.zip(cost.cpu()) {
            Some((r, c)) => format!("; CPU (server + here) ratio {:.2}", r / c),
            None => String::new(),
        };
        println!(
            "   refresh ({label}) vs raw read: raw read = {:.0} % of the refresh time, i.e. the refresh runs at {:.2} of the raw read rate (target >= 0.70){cpu}",
            100.0 * t_raw / cost.wall,
            t_raw / cost.wall
        );
    }
    store.drop_database().await.expect("drop");
}
