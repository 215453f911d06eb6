//! Micro-benchmark of ingestion: messages/second through `Router::route` (decode + cast) for
//! each format, against a raw baseline of `serde_json::from_slice::<serde_json::Value>` over the
//! same value bytes, measured in the same run. Prints numbers and ratios; asserts nothing.
//!
//! Run: `cargo bench -p fdc-engine --bench ingest [-- N] [FORMAT...]` (N messages per format,
//! default 100000; formats: basic, debezium, debezium_envelope, golden_gate, custom; default
//! all). `debezium_envelope` carries the JSON converter's `{schema, payload}` envelope.

use std::hint::black_box;
use std::time::{Duration, Instant};

use fdc_engine::change::{Message, MessageOutcome};
use fdc_engine::decode::json;
use fdc_engine::drift::BatchDrift;
use fdc_engine::ingest::Router;
use fdc_engine::value::Value;
use fdc_plan::Plan;
use serde_json::json;

fn fields() -> serde_json::Value {
    let f = |name: &str,
             ty: serde_json::Value,
             nullable: bool,
             source: &str,
             casts: serde_json::Value| {
        json!({"name": name, "ty": ty, "nullable": nullable, "source": [source], "casts": casts, "default": null})
    };
    json!([
        f("id", json!({"kind": "int"}), false, "ID", json!([])),
        f(
            "branch",
            json!({"kind": "string"}),
            false,
            "BRANCH",
            json!([{"function": "trim", "args": []}])
        ),
        f("name", json!({"kind": "string"}), true, "NAME", json!([])),
        f(
            "email",
            json!({"kind": "string"}),
            true,
            "EMAIL",
            json!([{"function": "lowercase", "args": []}])
        ),
        f(
            "balance",
            json!({"kind": "decimal"}),
            false,
            "BALANCE",
            json!([])
        ),
        f("opened", json!({"kind": "date"}), true, "OPENED", json!([])),
        f(
            "updated",
            json!({"kind": "datetime"}),
            false,
            "UPDATED_MS",
            json!([])
        ),
        f(
            "active",
            json!({"kind": "bool"}),
            false,
            "ACTIVE",
            json!([])
        ),
        f(
            "tags",
            json!({"kind": "array", "items": {"kind": "string"}}),
            true,
            "TAGS",
            json!([])
        ),
    ])
}

fn plan() -> Plan {
    let custom = json!({"kind": "custom", "name": "mine",
        "operation": {"part": {"kind": "value"}, "path": ["kind"]},
        "inserts": ["I"], "updates": ["U"], "deletes": ["D"], "skips": [],
        "before": null,
        "after": {"part": {"kind": "value"}, "path": ["data"]},
        "position": {"part": {"kind": "value"}, "path": ["seq"]}});
    let projection = |name: &str, format: serde_json::Value| {
        json!({"name": name, "system": "s", "topic": name, "format": format, "key": ["branch", "id"],
               "fields": fields(), "indexes": [], "delete": "soft", "events": null})
    };
    serde_json::from_value(json!({"version": 1, "single_views": [], "projections": [
        projection("basic", json!({"kind": "basic"})),
        projection("debezium", json!({"kind": "debezium"})),
        projection("debezium_envelope", json!({"kind": "debezium"})),
        projection("golden_gate", json!({"kind": "golden_gate"})),
        projection("custom", custom),
    ]}))
    .expect("plan")
}

fn row(i: u64) -> serde_json::Value {
    json!({
        "ID": i, "BRANCH": format!(" TO{:02} ", i % 50), "NAME": format!("Customer number {i}"),
        "EMAIL": format!("Customer.{i}@Example.ORG"), "BALANCE": format!("{}.{:02}", i % 100_000, i % 100),
        "OPENED": "2019-07-14", "UPDATED_MS": 1_709_367_303_480_u64 + i, "ACTIVE": i % 3 != 0,
        "TAGS": ["retail", "gold"], "EXTRA_1": "ignored column", "EXTRA_2": 12345
    })
}

/// The `schema` half of a Debezium JSON-converter envelope (`schemas.enable=true`), as real
/// connectors send it with every message: usually larger than the payload.
fn connect_schema() -> serde_json::Value {
    let column = |name: &str, ty: &str, optional: bool| json!({"type": ty, "optional": optional, "field": name});
    let row = |name: &str| {
        json!({"type": "struct", "optional": true, "name": name, "field": name, "fields": [
        column("ID", "int64", false), column("BRANCH", "string", false), column("NAME", "string", true),
        column("EMAIL", "string", true), column("BALANCE", "string", false),
        {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "version": 1, "field": "OPENED"},
        {"type": "int64", "optional": false, "name": "io.debezium.time.Timestamp", "version": 1, "field": "UPDATED_MS"},
        column("ACTIVE", "boolean", false),
        {"type": "array", "items": {"type": "string", "optional": false}, "optional": true, "field": "TAGS"},
        column("EXTRA_1", "string", true), column("EXTRA_2", "int64", true)]})
    };
    json!({"type": "struct", "optional": false, "name": "bank.public.accounts.Envelope", "version": 1,
        "fields": [row("before"), row("after"),
            {"type": "struct", "optional": false, "name": "io.debezium.connector.postgresql.Source", "field": "source",
             "fields": [column("version", "string", false), column("connector", "string", false),
                        column("name", "string", false), column("ts_ms", "int64", false),
                        column("db", "string", false), column("table", "string", false),
                        column("txId", "int64", true), column("lsn", "int64", true)]},
            column("op", "string", false), column("ts_ms", "int64", true)]})
}

fn messages(format: &str, n: u64) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let after = row(i);
            let before = row(i);
            let key = json!({"ID": i, "BRANCH": format!(" TO{:02} ", i % 50)});
            let value = match format {
                "basic" => after,
                "debezium" => json!({"before": before, "after": after, "op": "u",
                    "source": {"db": "bank", "table": "accounts", "ts_ms": 1_709_367_303_000_u64 + i},
                    "ts_ms": 1_709_367_303_480_u64 + i}),
                "golden_gate" => json!({"table": "BANK.ACCOUNTS", "op_type": "U",
                    "op_ts": "2024-03-02 08:15:03.480000", "pos": format!("{:020}", i),
                    "before": before, "after": after}),
                "debezium_envelope" => json!({"schema": connect_schema(), "payload": {
                    "before": before, "after": after, "op": "u",
                    "source": {"version": "2.5.0.Final", "connector": "postgresql", "name": "bank",
                        "ts_ms": 1_709_367_303_000_u64 + i, "snapshot": "false", "db": "bank",
                        "schema": "public", "table": "accounts", "txId": i, "lsn": i * 8},
                    "ts_ms": 1_709_367_303_480_u64 + i}}),
                _ => json!({"kind": "U", "seq": i, "data": after}),
            };
            Message {
                topic: format.to_owned(),
                partition: 0,
                offset: i as i64,
                key: Some(serde_json::to_vec(&key).expect("key")),
                value: Some(serde_json::to_vec(&value).expect("value")),
                headers: vec![],
                timestamp: Some(1_709_367_303_480 + i as i64),
            }
        })
        .collect()
}

/// Best of `runs` timings of `f`.
fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    // Optional format names to run (default: all); cargo's own `--bench` flag is ignored.
    let only: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-') && a.parse::<u64>().is_err())
        .collect();
    let router = Router::new(&plan()).expect("router");
    println!("ingest benchmark: {n} messages per format, best of 5 runs");
    println!(
        "{:<18} {:>8} {:>14} {:>14} {:>14} {:>14} {:>8} {:>8} {:>8}",
        "format",
        "bytes",
        "route msg/s",
        "drift msg/s",
        "raw msg/s",
        "visitor msg/s",
        "raw/rt",
        "vis/raw",
        "drift/rt"
    );
    for format in [
        "basic",
        "debezium",
        "debezium_envelope",
        "golden_gate",
        "custom",
    ] {
        if !only.is_empty() && !only.contains(&format) {
            continue;
        }
        let msgs = messages(format, n);
        let bytes = msgs
            .iter()
            .map(|m| m.value.as_ref().map_or(0, Vec::len))
            .sum::<usize>()
            / msgs.len();
        // Sanity: every message gives changes, nothing dead-lettered.
        for m in msgs.iter().take(1000) {
            for out in router.route(m) {
                assert!(
                    matches!(out, MessageOutcome::Changes(_)),
                    "{format}: {out:?}"
                );
            }
        }
        let raw = best(5, || {
            for m in &msgs {
                let v: serde_json::Value =
                    serde_json::from_slice(m.value.as_deref().unwrap_or(b"null")).expect("json");
                black_box(v);
            }
        });
        let visitor = best(5, || {
            for m in &msgs {
                let v: Value =
                    json::parse_slice(m.value.as_deref().unwrap_or(b"null")).expect("json");
                black_box(v);
            }
        });
        let routed = best(5, || {
            for m in &msgs {
                black_box(router.route(m));
            }
        });
        // What the run loop does: route while counting the source drift, one tally per batch
        // of 5000.
        let observed = best(5, || {
            for batch in msgs.chunks(5000) {
                let mut drift = BatchDrift::default();
                for m in batch {
                    black_box(router.route_observed(m, Some(&mut drift)));
                }
                black_box(drift);
            }
        });
        let len = msgs.len();
        println!(
            "{:<18} {:>8} {:>14.0} {:>14.0} {:>14.0} {:>14.0} {:>8.2} {:>8.2} {:>8.2}",
            format,
            bytes,
            rate(len, routed),
            rate(len, observed),
            rate(len, raw),
            rate(len, visitor),
            routed.as_secs_f64() / raw.as_secs_f64(),
            visitor.as_secs_f64() / raw.as_secs_f64(),
            observed.as_secs_f64() / routed.as_secs_f64(),
        );
    }
    // The alternative the visitor replaces: serde_json::Value, then Value::from_json.
    let msgs = messages("debezium", n.min(50_000));
    let via_tree = best(5, || {
        for m in &msgs {
            let j: serde_json::Value =
                serde_json::from_slice(m.value.as_deref().unwrap_or(b"null")).expect("json");
            black_box(Value::from_json(&j));
        }
    });
    let direct = best(5, || {
        for m in &msgs {
            black_box(json::parse_slice(m.value.as_deref().unwrap_or(b"null")).expect("json"));
        }
    });
    println!(
        "debezium JSON -> Value: via serde_json::Value {:.0} msg/s, direct visitor {:.0} msg/s ({:.2}x faster)",
        rate(msgs.len(), via_tree),
        rate(msgs.len(), direct),
        via_tree.as_secs_f64() / direct.as_secs_f64()
    );
    println!(
        "columns: raw/rt = route time / raw parse time; vis/raw = visitor parse time / raw parse \
         time; drift/rt = route time counting source drift / route time"
    );
}
