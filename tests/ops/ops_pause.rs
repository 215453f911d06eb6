//! Pause and resume on Kafka + MongoDB: a paused projection's topic is held (its lag grows,
//! nothing of it is written, the other projections go on), a paused single view keeps its
//! triggers in the store (deduplicated) and rebuilds them on resume, `fdc run --paused` starts
//! with nothing consumed and a restart stays paused, two replicas share the state, and the
//! write routes need the configured bearer token. Every run ends with single views equal to
//! the embedded run of the whole stream.
//!
//! Needs the services of `scripts/services` (`FDC_KAFKA_BROKERS`, `FDC_MONGO_URI`); a missing
//! service fails. Topics, group and database are unique to each test.

use crate::kafka_common;
use crate::ops_common;
use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fdc_engine::store::ProjectionStore;
use fdc_mongo::{MongoStore, MongoStoreConfig};
use kafka_common::*;
use ops_common::*;

const PARTITIONS: i32 = 2;
const TOKEN: &str = "t0ken-for-the-pause-tests";

/// `fdc pause|resume ARGS --addr ADDR` with the token file `token` (if any): exit code, stdout,
/// stderr.
fn cli(verb: &str, addr: &str, token: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fdc"));
    c.arg(verb)
        .args(args)
        .args(["--addr", addr])
        .env_remove("FDC_TOKEN");
    if let Some(t) = token {
        c.arg("--token-file").arg(t);
    }
    c.env("FDC_DEPLOYED_BY", "ops-test");
    let out = c.output().expect("fdc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// [`cli`] that must succeed: its stdout.
fn done(verb: &str, addr: &str, token: Option<&Path>, args: &[&str]) -> String {
    let (code, out, err) = cli(verb, addr, token, args);
    assert_eq!(code, 0, "{err}");
    out
}

/// A raw `POST path` with `authorization` and `body`: the status code and body.
fn post(addr: &str, path: &str, authorization: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("http");
    (
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status"),
        body.to_string(),
    )
}

async fn mongo(uri: &str, database: &str) -> MongoStore {
    MongoStore::connect(MongoStoreConfig {
        uri: uri.to_string(),
        database: database.to_string(),
        ..MongoStoreConfig::default()
    })
    .await
    .expect("connect")
}

/// The lag the member reports for the partitions of `topic` (the plan's name).
fn lag(fdc: &Fdc, topic: &str) -> f64 {
    fdc.metrics()
        .lines()
        .filter(|l| l.starts_with(&format!("fdc_consumer_lag_messages{{topic=\"{topic}\"")))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The messages of `messages` on plan topic `topic`.
fn on_topic(messages: &[fdc_engine::change::Message], topic: &str) -> i64 {
    messages.iter().filter(|m| m.topic == topic).count() as i64
}

/// Waits until the group committed every one of `n` messages on the input topics.
async fn wait_all_committed(brokers: &str, c: &Customer360, n: usize) {
    wait_committed(brokers, &c.group, &c.topics, PARTITIONS, n as i64).await;
}

/// `config_text` with the pause poll at 200 ms, the trigger topic between stages (several
/// replicas: each view key has one rebuilding owner) and, when given, the token file.
fn config(c: &Customer360, brokers: &str, uri: &str, token: Option<&Path>) -> String {
    let mut text = config_text(brokers, &c.group, uri, &c.prefix, &c.map.renames, "dlq")
        + "pause:\n  poll_ms: 200\ntriggers:\n  in_process: false\n";
    if let Some(t) = token {
        text += &format!("http:\n  token_file: \"{}\"\n", t.display());
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_projection_and_a_paused_view_hold_back_and_catch_up_on_resume() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(&brokers, support::unique_name("it_ops_pause"), PARTITIONS).await;
    let token = c.dir.join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
    let wrong = c.dir.join("wrong");
    std::fs::write(&wrong, "not-it\n").expect("token");
    std::fs::write(&c.config, config(&c, &brokers, &uri, Some(&token))).expect("config");
    let stream = c.dir.join("stream.jsonl");
    synthetic_stream(&stream, 40, now_ms());
    let messages = file_messages(&stream).await;
    let customers = on_topic(&messages, "crm.public.customers");
    let orders = on_topic(&messages, "shop.orders");
    let topic = |t: &str| c.map.to_broker(t).to_string();
    let store = mongo(&uri, &c.prefix).await;

    let a = Fdc::start("customer360", &c.config, &[], &c.dir.join("a.log"));
    wait_group_stable(&brokers, &c.group, 1).await;
    // The write routes want the token: none or a wrong one is refused and changes nothing.
    let (code, _, err) = cli("pause", &a.addr, None, &["--projection", "orders"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("401"), "{err}");
    let (code, _, err) = cli("pause", &a.addr, Some(&wrong), &["--projection", "orders"]);
    assert!(code == 1 && err.contains("401"), "{err}");
    assert!(!err.contains(TOKEN) && !a.stderr().contains(TOKEN));
    let (status, body) = post(&a.addr, "/pause", Some("Bearer not-it"), r#"{"all":true}"#);
    assert_eq!(status, 401, "{body}");
    let out = done(
        "pause",
        &a.addr,
        Some(&token),
        &["--projection", "orders", "--reason", "source repair"],
    );
    assert!(out.contains("paused projection `orders`"), "{out}");
    // An unknown name is refused.
    let (code, _, err) = cli("pause", &a.addr, Some(&token), &["--view", "nope"]);
    assert!(code == 1 && err.contains("404"), "{err}");

    // Under load: the customers go through, the orders wait, their lag grows.
    let p = producer(&brokers);
    let (first, second) = messages.split_at(messages.len() / 2);
    produce(&p, &c.map, first).await;
    let first_orders = on_topic(first, "shop.orders");
    wait_committed(
        &brokers,
        &c.group,
        &[topic("crm.public.customers")],
        PARTITIONS,
        on_topic(first, "crm.public.customers"),
    )
    .await;
    wait_for("the held orders' lag", Duration::from_secs(30), || {
        (lag(&a, "shop.orders") >= first_orders as f64).then_some(())
    });
    produce(&p, &c.map, second).await;
    wait_committed(
        &brokers,
        &c.group,
        &[topic("crm.public.customers")],
        PARTITIONS,
        customers,
    )
    .await;
    wait_for("the lag to grow", Duration::from_secs(30), || {
        (lag(&a, "shop.orders") >= orders as f64).then_some(())
    });
    assert_eq!(
        committed_total(&brokers, &c.group, &[topic("shop.orders")], PARTITIONS),
        0
    );
    assert_eq!(store.count("orders").await.expect("count"), Some(0));
    assert_eq!(
        store.count("customers").await.expect("count"),
        Some(customers as u64)
    );
    let metrics = a.metrics();
    assert_eq!(
        metric(
            &metrics,
            "fdc_paused_items{kind=\"projection\",name=\"orders\"}"
        ),
        Some(1.0)
    );
    // The retry gauge keeps its meaning.
    assert_eq!(metric(&metrics, "fdc_paused"), Some(0.0));
    let status = a.get("/status").expect("status").1;
    assert!(status.contains("\"by\":\"ops-test\""), "{status}");
    assert!(status.contains("\"reason\":\"source repair\""), "{status}");
    let shown = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .args(["status", "--addr", &a.addr])
        .output()
        .expect("fdc status");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("projection orders: since"), "{shown}");
    assert!(shown.contains("by ops-test: source repair"), "{shown}");

    // The view paused, the orders released: their triggers are kept, one per customer.
    done("pause", &a.addr, Some(&token), &["--view", "customer_360"]);
    wait_for("the view pause in /status", Duration::from_secs(10), || {
        a.get("/status")?
            .1
            .contains("\"kind\":\"view\"")
            .then_some(())
    });
    let out = done("resume", &a.addr, Some(&token), &["--projection", "orders"]);
    assert!(out.contains("resumed projection `orders`"), "{out}");
    wait_all_committed(&brokers, &c, messages.len()).await;
    // Two orders messages per customer, kept once per key (a count above 40 never settles).
    wait_for("40 kept triggers", Duration::from_secs(30), || {
        let m = a.metrics();
        (metric(&m, "fdc_pending_triggers{view=\"customer_360\"}") == Some(40.0)).then_some(())
    });
    // Every batch is durable (committed above): after a few more polls the count stays.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        metric(&a.metrics(), "fdc_pending_triggers{view=\"customer_360\"}"),
        Some(40.0)
    );
    assert!(
        metric(
            &a.metrics(),
            "fdc_triggers_kept_total{view=\"customer_360\"}"
        ) >= Some(40.0)
    );

    done("resume", &a.addr, Some(&token), &["--view", "customer_360"]);
    wait_for("the kept triggers rebuilt", Duration::from_secs(30), || {
        let m = a.metrics();
        (metric(&m, "fdc_pending_triggers{view=\"customer_360\"}") == Some(0.0)).then_some(())
    });
    assert!(a.terminate().success());
    let (expected, dead) = assert_views_of_reference(&uri, &c.prefix, &c.plan, &stream).await;
    assert_eq!((expected.len(), dead), (40, 0));
    store.drop_database().await.expect("drop");
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_start_survives_a_restart_and_replicas_share_the_pause() {
    let brokers = support::require_kafka();
    let uri = support::require_mongo();
    let c = Customer360::new(&brokers, support::unique_name("it_ops_paused"), PARTITIONS).await;
    let token = c.dir.join("token");
    std::fs::write(&token, TOKEN).expect("token");
    std::fs::write(&c.config, config(&c, &brokers, &uri, Some(&token))).expect("config");
    // The second replica has no token: its write routes are off.
    let no_token = c.dir.join("no-token.yaml");
    std::fs::write(&no_token, config(&c, &brokers, &uri, None)).expect("config");
    let stream = c.dir.join("stream.jsonl");
    synthetic_stream(&stream, 30, now_ms());
    let messages = file_messages(&stream).await;

    let a = Fdc::start(
        "customer360",
        &c.config,
        &["--paused"],
        &c.dir.join("a.log"),
    );
    wait_group_stable(&brokers, &c.group, 1).await;
    produce(&producer(&brokers), &c.map, &messages).await;
    // Paused: a member of the group that consumes nothing, ready, with the lag in view.
    wait_for(
        "the lag of the paused process",
        Duration::from_secs(30),
        || {
            (metric_sum(&a.metrics(), "fdc_consumer_lag_messages") >= messages.len() as f64)
                .then_some(())
        },
    );
    assert!(a.ready());
    assert_eq!(metric_sum(&a.metrics(), "fdc_messages_consumed_total"), 0.0);
    assert_eq!(
        metric(&a.metrics(), "fdc_paused_items{kind=\"all\",name=\"\"}"),
        Some(1.0)
    );
    assert!(a
        .get("/status")
        .expect("status")
        .1
        .contains("fdc run --paused"));

    // Restarted without --paused: still paused (the state is in the store).
    assert!(a.terminate().success());
    let a = Fdc::start("customer360", &c.config, &[], &c.dir.join("a2.log"));
    let b = Fdc::start("customer360", &no_token, &[], &c.dir.join("b.log"));
    wait_group_stable(&brokers, &c.group, 2).await;
    for member in [&a, &b] {
        wait_for("the lag while paused", Duration::from_secs(30), || {
            (metric_sum(&member.metrics(), "fdc_consumer_lag_messages") > 0.0).then_some(())
        });
        assert_eq!(
            metric_sum(&member.metrics(), "fdc_messages_consumed_total"),
            0.0
        );
        assert!(member
            .get("/status")
            .expect("status")
            .1
            .contains("\"kind\":\"all\""));
    }
    assert_eq!(
        committed_total(&brokers, &c.group, &c.topics, PARTITIONS),
        0
    );
    // Without a configured token the write routes are refused, saying how to set one.
    let (status, body) = post(
        &b.addr,
        "/resume",
        Some(&format!("Bearer {TOKEN}")),
        r#"{"all":true}"#,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("http.token_env"), "{body}");
    assert!(b
        .get("/status")
        .expect("status")
        .1
        .contains("\"kind\":\"all\""));

    // Resumed through one endpoint: both consume.
    let out = done("resume", &a.addr, Some(&token), &["--all"]);
    assert!(out.contains("resumed the whole process"), "{out}");
    wait_all_committed(&brokers, &c, messages.len()).await;
    // Paused through one endpoint, seen by the other replica.
    done("pause", &a.addr, Some(&token), &["--projection", "orders"]);
    wait_for(
        "the other replica to follow",
        Duration::from_secs(10),
        || {
            let m = b.metrics();
            metric(&m, "fdc_paused_items{kind=\"projection\",name=\"orders\"}").map(|_| ())
        },
    );
    done("resume", &a.addr, Some(&token), &["--projection", "orders"]);
    wait_for(
        "the other replica to resume",
        Duration::from_secs(10),
        || {
            let m = b.metrics();
            (!m.contains("fdc_paused_items{")).then_some(())
        },
    );
    stop_all([a, b]);
    let (expected, dead) = assert_views_of_reference(&uri, &c.prefix, &c.plan, &stream).await;
    assert_eq!((expected.len(), dead), (30, 0));
    mongo(&uri, &c.prefix)
        .await
        .drop_database()
        .await
        .expect("drop");
    let _ = std::fs::remove_dir_all(&c.dir);
}

/// The projection-changes collection as a trigger transport: an aggregate stage of a paused
/// process claims nothing (the changes stay pending for later), and claims again once resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_aggregate_claims_no_projection_change() {
    use fdc_engine::source::{Held, Source};
    use fdc_engine::trigger::{TriggerRecord, TriggerSink};
    use fdc_engine::value::Value;
    use fdc_mongo::triggers::{MongoTriggerSource, MongoTriggers};
    use std::sync::Arc;

    let uri = support::require_mongo();
    let database = support::unique_name("it_ops_paused_claims");
    let store = Arc::new(mongo(&uri, &database).await);
    let sink = MongoTriggers::open(store.clone(), "changes")
        .await
        .expect("open");
    let poll = Duration::from_millis(10);
    let mut source =
        MongoTriggerSource::new(&store, "changes", "a", Duration::from_secs(600), poll);
    sink.publish(vec![TriggerRecord {
        view: "v".into(),
        key: vec![Value::Int(1)],
        origin_ms: None,
        source_ms: None,
    }])
    .await
    .expect("publish");
    source.hold(Held::All);
    let held = source.next_batch(10).await.expect("read").expect("batch");
    assert!(held.items.is_empty() && held.ack.positions.is_empty());
    let pending = store
        .database()
        .collection::<mongodb::bson::Document>("changes")
        .count_documents(mongodb::bson::doc! { "state": "pending" })
        .await
        .expect("count");
    assert_eq!(pending, 1);
    source.hold(Held::Nothing);
    let released = source.next_batch(10).await.expect("read").expect("batch");
    assert_eq!(released.items.len(), 1);
    store.drop_database().await.expect("drop");
}
