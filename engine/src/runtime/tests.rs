use super::*;
use crate::store::{ProjectionLayout, ProjectionStore, StoreError};
use crate::testkit::shop_plan;
use crate::trigger::TriggerRecord;
use crate::value::Value;
use fdc_embedded::EmbeddedStore;
use fdc_file::{FileInput, FileSource, MemoryEvents};
use serde_json::json;

fn line(topic: &str, id: i64, value: serde_json::Value, ts: i64) -> String {
    json!({"topic": format!("shop.{topic}"), "key": {"id": id}, "value": value, "timestamp": ts})
        .to_string()
}

fn input() -> Vec<String> {
    vec![
        line(
            "customers",
            1,
            json!({"id": 1, "name": "Ann", "country": "IT"}),
            1,
        ),
        line(
            "orders",
            10,
            json!({"id": 10, "customer_id": 1, "status": "PAID", "total": "5.00"}),
            1,
        ),
        line(
            "items",
            100,
            json!({"id": 100, "order_id": 10, "product_id": 7, "qty": 2, "price": "2.50"}),
            1,
        ),
        line(
            "products",
            7,
            json!({"id": 7, "name": "pen", "category": null}),
            1,
        ),
        "{not json".to_string(),
        line(
            "orders",
            11,
            json!({"id": 11, "customer_id": "x", "status": "NEW", "total": "1"}),
            2,
        ),
        json!({"topic": "nobody.reads.this", "key": 1, "value": 1}).to_string(),
        line(
            "customers",
            2,
            json!({"id": 2, "name": "Bob", "country": null}),
            2,
        ),
        // Out of order: an older version of order 10 arrives late.
        line(
            "orders",
            10,
            json!({"id": 10, "customer_id": 2, "status": "PAID", "total": "5.00"}),
            0,
        ),
        // A move of order 10 to customer 2, then a delete of customer 1.
        line(
            "orders",
            10,
            json!({"id": 10, "customer_id": 2, "status": "PAID", "total": "5.00"}),
            3,
        ),
        json!({"topic": "shop.customers", "key": {"id": 1}, "value": null, "timestamp": 4})
            .to_string(),
    ]
}

async fn engine_on(
    store: Arc<EmbeddedStore>,
    events: Arc<MemoryEvents>,
    batch: usize,
) -> Arc<Engine> {
    let stores = Stores {
        projections: store.clone(),
        views: store.clone(),
        events,
        dead_letters: store,
    };
    let config = RuntimeConfig {
        batch_size: batch,
        ..RuntimeConfig::default()
    };
    Arc::new(Engine::build(shop_plan(), stores, config).await.unwrap())
}

fn write_input(dir: &std::path::Path, lines: &[String]) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("events.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

async fn run_file(
    engine: Arc<Engine>,
    path: &std::path::Path,
    store: Arc<EmbeddedStore>,
) -> Summary {
    let plan = engine.plan().clone();
    let router: Arc<dyn MessageRouter> = Arc::new(crate::ingest::Router::new(&plan).unwrap());
    let source = FileSource::open(FileInput::File(path.to_path_buf()), Some(store)).unwrap();
    let shutdown = Shutdown::new();
    run(engine, source, router, shutdown.subscribe())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_file_runs_through_every_stage_and_every_message_is_accounted_for() {
    for batch in [1, 3, 100] {
        let dir = std::env::temp_dir().join(format!("fdc-rt-{}-{batch}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = write_input(&dir, &input());
        let store = Arc::new(EmbeddedStore::in_memory());
        let events = Arc::new(MemoryEvents::default());
        let engine = engine_on(store.clone(), events.clone(), batch).await;
        let s = run_file(engine, &path, store.clone()).await;
        assert_eq!(s.consumed, 11, "batch {batch}");
        assert_eq!(
            s.dead_lettered, 3,
            "malformed line, bad cast, unknown topic"
        );
        assert_eq!(s.stale, 1);
        assert_eq!(s.applied, 7);
        let dead = store.dead_letters().unwrap();
        assert_eq!(dead.len(), 3);
        assert!(dead.iter().any(|d| d["projection"] == json!("orders")));
        let docs = store.all_documents("customer_360").unwrap();
        assert_eq!(docs.len(), 1, "customer 1 was deleted");
        let bob = &docs[0].1;
        assert_eq!(bob["customer_id"], Value::Int(2));
        assert_eq!(bob["order_count"], Value::Int(1));
        assert_eq!(
            Value::Object(bob.clone()).to_json()["orders"][0]["items"][0],
            json!({"product": "pen", "qty": 2, "amount": "5.00"})
        );
        let orders = store.all_documents("order_view").unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].1["customer"], Value::String("Bob".into()));
        // customer_360 publishes events (order_view declares none): customer 1 was inserted
        // first and deleted last.
        let ops: Vec<(serde_json::Value, crate::store::EventOp)> = events
            .events()
            .into_iter()
            .filter_map(|e| match e {
                crate::store::Event::SingleViewUpdate { view, key, op, .. } => {
                    assert_eq!(view, "customer_360");
                    Some((key, op))
                }
                crate::store::Event::ProjectionUpdate { .. } => None,
            })
            .collect();
        let ann: Vec<_> = ops
            .iter()
            .filter(|(k, _)| k == &json!({"customer_id": 1}))
            .collect();
        if batch < 100 {
            let first = ann.first().map(|e| e.1);
            assert_eq!(first, Some(crate::store::EventOp::Insert));
            let last = ann.last().map(|e| e.1);
            assert_eq!(last, Some(crate::store::EventOp::Delete));
        } else {
            // Inserted and deleted inside one batch: the view never existed, nothing to say.
            assert!(ann.is_empty());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test]
async fn a_persisted_run_resumes_after_its_last_committed_batch() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let lines = input();
    let path = write_input(&dir, &lines[..6]);
    {
        let store = Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap());
        let engine = engine_on(store.clone(), Arc::new(MemoryEvents::default()), 2).await;
        let s = run_file(engine, &path, store).await;
        assert_eq!(s.consumed, 6);
    }
    // The file grows; a restarted run reads only the new lines.
    write_input(&dir, &lines);
    let store = Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap());
    let engine = engine_on(store.clone(), Arc::new(MemoryEvents::default()), 2).await;
    let s = run_file(engine, &path, store.clone()).await;
    assert_eq!(s.consumed, 5);
    let docs = store.all_documents("customer_360").unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].1["order_count"], Value::Int(1));
    assert_eq!(store.dead_letters().unwrap().len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Delegates to an embedded store; fails the first `failures` projection writes, and
/// (non-retryably) every write to the projection `poison` when one is named. With `hang`,
/// every projection write hangs instead (a database that stopped answering).
struct Flaky {
    inner: Arc<EmbeddedStore>,
    failures: std::sync::atomic::AtomicU32,
    retryable: bool,
    poison: Option<&'static str>,
    hang: bool,
}

#[async_trait::async_trait]
impl ProjectionStore for Flaky {
    async fn ensure_projection(&self, l: &ProjectionLayout) -> Result<(), StoreError> {
        self.inner.ensure_projection(l).await
    }
    async fn get_many(
        &self,
        p: &str,
        k: &[Vec<Value>],
    ) -> Result<Vec<Option<crate::store::Record>>, StoreError> {
        ProjectionStore::get_many(self.inner.as_ref(), p, k).await
    }
    async fn find_in(
        &self,
        p: &str,
        q: crate::store::FindIn<'_>,
    ) -> Result<Vec<crate::store::Record>, StoreError> {
        self.inner.find_in(p, q).await
    }
    async fn write(
        &self,
        p: &str,
        w: Vec<crate::store::RecordWrite>,
    ) -> Result<Vec<crate::store::WriteOutcome>, StoreError> {
        use std::sync::atomic::Ordering;
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.poison == Some(p) {
            return Err(StoreError::fatal(
                "write projection",
                "document refused (code 2)",
            ));
        }
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures
                .store(left.saturating_sub(1), Ordering::SeqCst);
            return Err(if self.retryable {
                StoreError::retryable("write projection", "connection refused")
            } else {
                StoreError::fatal("write projection", "disk full")
            });
        }
        ProjectionStore::write(self.inner.as_ref(), p, w).await
    }
    async fn scan(
        &self,
        p: &str,
        a: Option<&[Value]>,
        l: usize,
    ) -> Result<crate::store::Page<crate::store::Record>, StoreError> {
        ProjectionStore::scan(self.inner.as_ref(), p, a, l).await
    }
}

async fn run_flaky(
    retryable: bool,
    dir: &std::path::Path,
) -> (Result<Summary, EngineError>, Arc<EmbeddedStore>) {
    run_faulty(retryable, 2, None, dir).await
}

async fn run_faulty(
    retryable: bool,
    failures: u32,
    poison: Option<&'static str>,
    dir: &std::path::Path,
) -> (Result<Summary, EngineError>, Arc<EmbeddedStore>) {
    let fault = Fault {
        retryable,
        failures,
        poison,
        ..Fault::default()
    };
    run_with_fault(fault, RuntimeConfig::default(), &Shutdown::new(), dir).await
}

/// What the projection store of [`run_with_fault`] does wrong.
#[derive(Default)]
struct Fault {
    retryable: bool,
    failures: u32,
    poison: Option<&'static str>,
    hang: bool,
}

/// Runs the shop input in batches of 4 over a [`Flaky`] projection store; `config` gives the
/// retry and shutdown settings.
async fn run_with_fault(
    fault: Fault,
    config: RuntimeConfig,
    shutdown: &Shutdown,
    dir: &std::path::Path,
) -> (Result<Summary, EngineError>, Arc<EmbeddedStore>) {
    let path = write_input(dir, &input());
    let store = Arc::new(EmbeddedStore::open(&dir.join("store")).unwrap());
    let flaky = Arc::new(Flaky {
        inner: store.clone(),
        failures: std::sync::atomic::AtomicU32::new(fault.failures),
        retryable: fault.retryable,
        poison: fault.poison,
        hang: fault.hang,
    });
    let stores = Stores {
        projections: flaky,
        views: store.clone(),
        events: Arc::new(MemoryEvents::default()),
        dead_letters: store.clone(),
    };
    let config = RuntimeConfig {
        batch_size: 4,
        retry_backoff: if config.retry_backoff == RuntimeConfig::default().retry_backoff {
            std::time::Duration::from_millis(1)
        } else {
            config.retry_backoff
        },
        ..config
    };
    let engine = Arc::new(Engine::build(shop_plan(), stores, config).await.unwrap());
    let router: Arc<dyn MessageRouter> =
        Arc::new(crate::ingest::Router::new(&shop_plan()).unwrap());
    let source = FileSource::open(FileInput::File(path), Some(store.clone())).unwrap();
    (
        run(engine, source, router, shutdown.subscribe()).await,
        store,
    )
}

/// The committed position of the shop input in `dir` (none: nothing was committed).
async fn committed(dir: &std::path::Path, store: &EmbeddedStore) -> Option<String> {
    use crate::store::CheckpointStore;
    let stream = format!(
        "file:{}",
        std::fs::canonicalize(dir.join("events.jsonl"))
            .unwrap()
            .display()
    );
    store
        .load_checkpoint(&stream)
        .await
        .unwrap()
        .map(|c| format!("{c:?}"))
}

/// Runs a faulty store for 300 ms, then asks for shutdown. The run must end by itself within
/// 20 s (a test failure, not a hang, when it does not), interrupted, with nothing committed;
/// returns how long it took after shutdown was asked for.
async fn shut_down_during(
    fault: Fault,
    config: RuntimeConfig,
    dir: &std::path::Path,
) -> std::time::Duration {
    let limit = std::time::Duration::from_secs(20);
    let _ = std::fs::remove_dir_all(dir);
    let shutdown = Shutdown::new();
    let run = run_with_fault(fault, config, &shutdown, dir);
    tokio::pin!(run);
    let early = tokio::select! {
        r = &mut run => Some(r),
        () = tokio::time::sleep(std::time::Duration::from_millis(300)) => None,
    };
    assert!(
        early.is_none(),
        "the run ended before shutdown was asked for"
    );
    shutdown.trigger();
    let asked = std::time::Instant::now();
    let (result, store) = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("the run did not stop within {limit:?} of shutdown"));
    let took = asked.elapsed();
    assert!(
        matches!(result, Err(EngineError::Interrupted { pending }) if pending >= 1),
        "{result:?}"
    );
    assert_eq!(committed(dir, &store).await, None);
    let _ = std::fs::remove_dir_all(dir);
    took
}

#[tokio::test]
async fn shutdown_during_an_outage_ends_the_retry_wait_and_commits_nothing() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-stop-outage-{}", std::process::id()));
    // An outage that never ends, and retry waits (30 s) and a grace period (60 s) longer than
    // the 20 s limit: only a wait that ends on shutdown lets the run stop in time.
    let fault = Fault {
        retryable: true,
        failures: u32::MAX,
        ..Fault::default()
    };
    let config = RuntimeConfig {
        retry_backoff: std::time::Duration::from_secs(60),
        shutdown_grace: std::time::Duration::from_secs(60),
        ..RuntimeConfig::default()
    };
    shut_down_during(fault, config, &dir).await;
}

#[tokio::test]
async fn shutdown_abandons_a_hanging_write_after_the_grace_period_and_commits_nothing() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-stop-hang-{}", std::process::id()));
    let fault = Fault {
        hang: true,
        ..Fault::default()
    };
    let config = RuntimeConfig {
        shutdown_grace: std::time::Duration::from_millis(500),
        ..RuntimeConfig::default()
    };
    let took = shut_down_during(fault, config, &dir).await;
    // Not before the grace period: work in flight is given its chance.
    assert!(took >= std::time::Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn shutdown_of_a_healthy_run_finishes_the_batches_read() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-stop-ok-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shutdown = Shutdown::new();
    shutdown.trigger();
    let (result, store) =
        run_with_fault(Fault::default(), RuntimeConfig::default(), &shutdown, &dir).await;
    // Asked before the first read: nothing read, nothing abandoned, a clean end.
    let s = result.unwrap();
    assert_eq!(s.consumed, 0);
    assert_eq!(committed(&dir, &store).await, None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_outage_pauses_and_retries_and_nothing_is_counted_twice() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-flaky-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (result, store) = run_flaky(true, &dir).await;
    let s = result.unwrap();
    assert_eq!(
        (s.consumed, s.applied, s.stale, s.dead_lettered),
        (11, 7, 1, 3)
    );
    assert_eq!(store.dead_letters().unwrap().len(), 3);
    assert_eq!(store.all_documents("customer_360").unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_fatal_error_stops_the_run_without_committing_the_failed_batch() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-fatal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Every write refused: the store, not a message, is at fault.
    let (result, store) = run_faulty(false, u32::MAX, None, &dir).await;
    assert!(matches!(result, Err(EngineError::External(e)) if !e.retryable));
    // The first batch failed: no position was committed, so a restart reads from the start.
    let stream = format!(
        "file:{}",
        std::fs::canonicalize(dir.join("events.jsonl"))
            .unwrap()
            .display()
    );
    use crate::store::CheckpointStore;
    assert_eq!(store.load_checkpoint(&stream).await.unwrap(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_message_the_store_keeps_refusing_is_dead_lettered_and_the_rest_goes_through() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-poison-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A transient refusal of the first batch is retried, not dead-lettered; the product
    // message is refused every time.
    let (result, store) = run_faulty(false, 1, Some("products"), &dir).await;
    let s = result.unwrap();
    // As the clean run (11 consumed, 7 applied, 1 stale, 3 dead letters) minus the product
    // change, plus its dead letter.
    assert_eq!(
        (s.consumed, s.applied, s.stale, s.dead_lettered),
        (11, 6, 1, 4)
    );
    let letters = store.dead_letters().unwrap();
    let refused: Vec<_> = letters
        .iter()
        .filter(|d| {
            d["reason"]
                .as_str()
                .unwrap_or("")
                .contains("refused it 3 times")
        })
        .collect();
    assert_eq!(refused.len(), 1, "{letters:?}");
    assert_eq!(refused[0]["topic"], "shop.products");
    assert!(refused[0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("document refused (code 2)"));
    assert_eq!(store.all_documents("customer_360").unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keeps published triggers in memory.
#[derive(Default)]
struct MemoryTriggers(std::sync::Mutex<Vec<TriggerRecord>>);

#[async_trait::async_trait]
impl TriggerSink for MemoryTriggers {
    async fn publish(&self, triggers: Vec<TriggerRecord>) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend(triggers);
        Ok(())
    }
}

#[tokio::test]
async fn split_ingest_and_aggregate_stages_build_the_views_of_one_process() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-roles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = write_input(&dir, &input());

    // One process: both stages.
    let whole = Arc::new(EmbeddedStore::in_memory());
    let engine = engine_on(whole.clone(), Arc::new(MemoryEvents::default()), 4).await;
    run_file(engine, &path, Arc::new(EmbeddedStore::in_memory())).await;

    // Ingest: projections written, triggers published, no single view built.
    let split = Arc::new(EmbeddedStore::in_memory());
    let sink = Arc::new(MemoryTriggers::default());
    let ingest = engine_on(split.clone(), Arc::new(MemoryEvents::default()), 4).await;
    let ingest = Arc::new(
        Arc::try_unwrap(ingest)
            .ok()
            .unwrap()
            .ingest_only(sink.clone()),
    );
    assert_eq!(ingest.role(), Role::Ingest);
    let s = run_file(ingest, &path, Arc::new(EmbeddedStore::in_memory())).await;
    assert!(s.triggered > 0);
    assert_eq!(s.views.inserted + s.views.updated + s.views.deleted, 0);
    assert!(split.all_documents("customer_360").unwrap().is_empty());

    // Aggregate: the triggers (and one record that is not a trigger) as messages.
    let mut lines: Vec<String> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|t| json!({"topic": "fdc.triggers", "key": null, "value": t}).to_string())
        .collect();
    lines.push(json!({"topic": "fdc.triggers", "key": null, "value": {"view": 1}}).to_string());
    let triggers = dir.join("triggers");
    let triggers_path = write_input(&triggers, &lines);
    let aggregate = engine_on(split.clone(), Arc::new(MemoryEvents::default()), 3).await;
    let aggregate = Arc::new(Arc::try_unwrap(aggregate).ok().unwrap().aggregate_only());
    let source = FileSource::open(FileInput::File(triggers_path), None).unwrap();
    let router = Arc::new(TriggerRouter::new(aggregate.plan()));
    let s = run(aggregate, source, router, Shutdown::new().subscribe())
        .await
        .unwrap();
    assert_eq!(s.dead_lettered, 1);
    let letters = split.dead_letters().unwrap();
    let refused: Vec<_> = letters
        .iter()
        .filter(|d| d["topic"] == "fdc.triggers")
        .collect();
    assert_eq!(refused.len(), 1, "{letters:?}");
    assert!(refused[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a trigger record"));
    assert_eq!(
        split.all_documents("customer_360").unwrap(),
        whole.all_documents("customer_360").unwrap()
    );
    assert!(!whole.all_documents("customer_360").unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilds_spread_over_tasks_or_chunks_write_and_publish_what_one_task_does() {
    // 300 customers, each with an order and an item, then every product renamed: one batch
    // triggers hundreds of keys per view.
    let mut lines = vec![line(
        "products",
        7,
        json!({"id": 7, "name": "pen", "category": null}),
        1,
    )];
    for c in 1..=300 {
        let o = 1000 + c;
        lines.push(line(
            "customers",
            c,
            json!({"id": c, "name": format!("C{c}"), "country": "IT"}),
            1,
        ));
        lines.push(line(
            "orders",
            o,
            json!({"id": o, "customer_id": c, "status": "PAID", "total": "1"}),
            1,
        ));
        lines.push(line(
            "items",
            o,
            json!({"id": o, "order_id": o, "product_id": 7, "qty": c % 4, "price": "2.50"}),
            1,
        ));
    }
    lines.push(line(
        "products",
        7,
        json!({"id": 7, "name": "ink", "category": null}),
        2,
    ));
    let dir = std::env::temp_dir().join(format!("fdc-rt-parallel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = write_input(&dir, &lines);
    let mut results = Vec::new();
    // One task; four; four with small chunks (events published chunk by chunk).
    for (tasks, chunk) in [(1, 5000), (4, 5000), (4, 100)] {
        let store = Arc::new(EmbeddedStore::in_memory());
        let events = Arc::new(MemoryEvents::default());
        let stores = Stores {
            projections: store.clone(),
            views: store.clone(),
            events: events.clone(),
            dead_letters: store.clone(),
        };
        let config = RuntimeConfig {
            batch_size: 1000,
            rebuild_parallelism: tasks,
            rebuild_chunk: chunk,
            ..RuntimeConfig::default()
        };
        let engine = Arc::new(Engine::build(shop_plan(), stores, config).await.unwrap());
        let summary = run_file(engine, &path, store.clone()).await;
        assert!(summary.triggered >= 600, "{summary:?}");
        results.push((
            summary,
            store.all_documents("customer_360").unwrap(),
            store.all_documents("order_view").unwrap(),
            events.events(),
        ));
    }
    assert_eq!(results[0].1.len(), 300);
    assert!(results[0].0.events >= 300, "{:?}", results[0].0);
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A declared unique index on the embedded store refuses a value another record holds, as the
/// MongoDB adapter does: the batch is written again message by message, the refused message is
/// dead-lettered with the store's reason and counted, the rest goes through. Once the holder
/// lets the value go (in the batch of three, in the same batch), it can be taken.
#[tokio::test]
async fn a_value_a_unique_index_holds_is_dead_lettered_on_the_embedded_store() {
    let mut plan = shop_plan();
    let customers = plan
        .projections
        .iter_mut()
        .find(|p| p.name == "customers")
        .unwrap();
    customers.indexes.push(fdc_plan::Index {
        name: "ix_customers_name".into(),
        fields: vec!["name".into()],
        unique: true,
    });
    let customer =
        |id: i64, name: &str, ts: i64| line("customers", id, json!({"id": id, "name": name}), ts);
    let lines = vec![
        customer(1, "Ann", 1),
        customer(2, "Ann", 2),
        customer(3, "Cy", 3),
        customer(1, "Bo", 4),
        customer(2, "Ann", 5),
    ];
    for batch in [1, 3] {
        let dir =
            std::env::temp_dir().join(format!("fdc-rt-unique-{}-{batch}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = write_input(&dir, &lines);
        let store = Arc::new(EmbeddedStore::in_memory());
        let stores = Stores {
            projections: store.clone(),
            views: store.clone(),
            events: Arc::new(MemoryEvents::default()),
            dead_letters: store.clone(),
        };
        let config = RuntimeConfig {
            batch_size: batch,
            retry_backoff: std::time::Duration::from_millis(1),
            ..RuntimeConfig::default()
        };
        let engine = Arc::new(Engine::build(plan.clone(), stores, config).await.unwrap());
        let router: Arc<dyn MessageRouter> = Arc::new(crate::ingest::Router::new(&plan).unwrap());
        let source = FileSource::open(FileInput::File(path), None).unwrap();
        let s = run(engine, source, router, Shutdown::new().subscribe())
            .await
            .unwrap();
        assert_eq!(
            (s.consumed, s.applied, s.stale, s.dead_lettered),
            (5, 4, 0, 1),
            "batch {batch}"
        );
        let dead = store.dead_letters().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0]["offset"], json!(2), "the second Ann");
        let reason = dead[0]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("the store refused it 3 times: write projection customers failed: 1 record(s) refused by a unique index of the projection"),
            "{reason}"
        );
        assert!(!reason.contains("Ann"), "{reason}");
        let names: Vec<(Value, Value)> = store
            .all_records("customers")
            .unwrap()
            .into_iter()
            .map(|r| (r.key[0].clone(), r.fields["name"].clone()))
            .collect();
        let name = |id: i64, n: &str| (Value::Int(id), Value::String(n.into()));
        assert_eq!(names, vec![name(1, "Bo"), name(2, "Ann"), name(3, "Cy")]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The age of each view's newest source change, measured at its rebuild, in one process and
/// across split roles (the source time travels in the trigger records).
#[tokio::test]
async fn view_freshness_is_measured_from_the_source_time_in_one_process_and_across_roles() {
    let dir = std::env::temp_dir().join(format!("fdc-rt-fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Changes that happened 30 s ago at their source.
    let source_ms = chrono::Utc::now().timestamp_millis() - 30_000;
    let lines = vec![
        line(
            "customers",
            1,
            json!({"id": 1, "name": "Ann", "country": "IT"}),
            source_ms - 5_000,
        ),
        line(
            "orders",
            10,
            json!({"id": 10, "customer_id": 1, "status": "PAID", "total": "5.00"}),
            source_ms,
        ),
    ];
    let path = write_input(&dir, &lines);
    let within = |seconds: f64| (30.0..33.0).contains(&seconds);
    let mean = |h: &HistogramSnapshot| h.sum / h.count as f64;

    let whole = Arc::new(EmbeddedStore::in_memory());
    let engine = engine_on(whole, Arc::new(MemoryEvents::default()), 10).await;
    let counters = engine.counters().clone();
    run_file(engine, &path, Arc::new(EmbeddedStore::in_memory())).await;
    let now = chrono::Utc::now().timestamp_millis();
    let views = counters.freshness().views(&[], now);
    let v360 = views.iter().find(|v| v.view == "customer_360").unwrap();
    assert_eq!(v360.newest_source_ms, Some(source_ms));
    assert_eq!(v360.freshness_seconds.count, 1, "one batch rebuilt it");
    assert!(within(mean(&v360.freshness_seconds)), "{v360:?}");
    assert_eq!(v360.behind_seconds, Some(0.0), "no lag: caught up");
    let stages = counters.freshness().stages();
    let names: Vec<&str> = stages.iter().map(|s| s.stage).collect();
    assert_eq!(names, ["ingest", "aggregate"]);
    assert!(stages.iter().all(|s| within(mean(&s.freshness_seconds))));

    // Split roles: the ingest stage publishes the source time with each trigger.
    let split = Arc::new(EmbeddedStore::in_memory());
    let sink = Arc::new(MemoryTriggers::default());
    let ingest = engine_on(split.clone(), Arc::new(MemoryEvents::default()), 10).await;
    let ingest = Arc::new(
        Arc::try_unwrap(ingest)
            .ok()
            .unwrap()
            .ingest_only(sink.clone()),
    );
    let ingest_counters = ingest.counters().clone();
    run_file(ingest, &path, Arc::new(EmbeddedStore::in_memory())).await;
    let published = sink.0.lock().unwrap().clone();
    assert!(!published.is_empty());
    assert!(
        published.iter().all(|t| t.source_ms == Some(source_ms)),
        "{published:?}"
    );
    // The ingest process rebuilds no view: nothing observed per view there.
    let ingest_views = ingest_counters.freshness().views(&[], now);
    assert!(ingest_views.iter().all(|v| v.freshness_seconds.count == 0));
    let published_ms = chrono::Utc::now().timestamp_millis() - 2_000;
    let trigger_lines: Vec<String> = published
        .iter()
        .map(|t| {
            json!({"topic": "fdc.triggers", "key": null, "value": t, "timestamp": published_ms})
                .to_string()
        })
        .collect();
    let triggers_path = write_input(&dir.join("triggers"), &trigger_lines);
    let aggregate = engine_on(split, Arc::new(MemoryEvents::default()), 10).await;
    let aggregate = Arc::new(Arc::try_unwrap(aggregate).ok().unwrap().aggregate_only());
    let counters = aggregate.counters().clone();
    let source = FileSource::open(FileInput::File(triggers_path), None).unwrap();
    let router = Arc::new(TriggerRouter::new(aggregate.plan()));
    run(aggregate, source, router, Shutdown::new().subscribe())
        .await
        .unwrap();
    let views = counters
        .freshness()
        .views(&[], chrono::Utc::now().timestamp_millis());
    let v360 = views.iter().find(|v| v.view == "customer_360").unwrap();
    assert!(within(mean(&v360.freshness_seconds)), "{v360:?}");
    let stages = counters.freshness().stages();
    let triggers = stages.iter().find(|s| s.stage == "triggers").unwrap();
    assert!(
        (2.0..5.0).contains(&mean(&triggers.freshness_seconds)),
        "the triggers stage measures from the trigger's publication: {triggers:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
