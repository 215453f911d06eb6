//! Source drift counted by the router, for every format, and its totals.

use super::*;
use crate::change::Message;
use crate::ingest::Router;
use crate::store::StoreError;
use serde_json::json;

fn field(name: &str, source: &str) -> serde_json::Value {
    json!({"name": name, "ty": {"kind": "string"}, "nullable": true, "source": [source],
           "casts": [], "default": null})
}

fn projection(
    name: &str,
    topic: &str,
    format: serde_json::Value,
    columns: &[&str],
) -> serde_json::Value {
    json!({"name": name, "system": "s", "topic": topic, "format": format, "key": [columns[0]],
           "fields": columns.iter().map(|c| field(c, c)).collect::<Vec<_>>(),
           "indexes": [], "delete": "soft", "events": null})
}

fn plan() -> Plan {
    let custom = json!({"kind": "custom", "name": "flat",
        "operation": {"part": {"kind": "value"}, "path": ["op"]},
        "inserts": ["I"], "updates": ["U"], "deletes": ["D"], "skips": [],
        "before": null,
        "after": {"part": {"kind": "value"}, "path": []},
        "position": {"part": {"kind": "value"}, "path": ["seq"]}});
    serde_json::from_value(json!({"version": 1, "single_views": [], "projections": [
        projection("accounts", "basic.t", json!({"kind": "basic"}), &["ID", "BALANCE", "OWNER"]),
        projection("customers", "dbz.t", json!({"kind": "debezium"}), &["id", "email", "ts"]),
        projection("emails", "dbz.t", json!({"kind": "debezium"}), &["email"]),
        projection("gg", "gg.t", json!({"kind": "golden_gate"}), &["ID", "BALANCE"]),
        projection("things", "custom.t", custom, &["id", "name"]),
    ]}))
    .expect("plan JSON")
}

fn message(
    topic: &str,
    key: Option<serde_json::Value>,
    value: Option<serde_json::Value>,
) -> Message {
    Message {
        topic: topic.into(),
        partition: 0,
        offset: 1,
        key: key.map(|k| k.to_string().into_bytes()),
        value: value.map(|v| v.to_string().into_bytes()),
        headers: vec![],
        timestamp: Some(1_000),
    }
}

/// The drift of `messages` routed as one batch, as deltas at time 7, by projection.
fn drift(messages: &[Message]) -> BTreeMap<String, SourceDrift> {
    let plan = plan();
    let router = Router::new(&plan).expect("router");
    let mut batch = BatchDrift::default();
    for m in messages {
        router.route_at_observed(m, 0, Some(&mut batch));
    }
    let counts = DriftCounts::default();
    counts.know_plan(&plan);
    let names = counts.lock().names.clone();
    batch
        .deltas(&names, 7)
        .into_iter()
        .map(|d| (d.projection.clone(), d))
        .collect()
}

fn unmapped(d: &SourceDrift) -> Vec<(&str, u64)> {
    d.unmapped
        .iter()
        .map(|c| (c.name.as_str(), c.messages))
        .collect()
}

fn gone(d: &SourceDrift) -> Vec<&str> {
    d.gone().map(|c| c.name.as_str()).collect()
}

#[test]
fn basic_counts_extra_and_missing_columns_of_upserts_and_nothing_of_deletes() {
    let key = || Some(json!({"ID": "1"}));
    let d = drift(&[
        message(
            "basic.t",
            key(),
            Some(json!({"ID": "1", "BALANCE": "2", "OWNER": null, "NEW": 1})),
        ),
        message(
            "basic.t",
            key(),
            Some(json!({"ID": "1", "OWNER": "x", "NEW": 2, "W": [1]})),
        ),
        // A delete (null value): nothing is missing.
        message("basic.t", key(), None),
    ]);
    let a = &d["accounts"];
    assert_eq!(a.messages, 3);
    assert_eq!(a.unmapped_messages, 2);
    assert_eq!(unmapped(a), vec![("NEW", 2), ("W", 1)]);
    assert_eq!(
        a.missing_messages, 1,
        "a null value is a value: OWNER arrived"
    );
    assert_eq!(gone(a), vec!["BALANCE"]);
    let balance = a
        .mapped
        .iter()
        .find(|c| c.name == "BALANCE")
        .expect("BALANCE");
    assert_eq!(
        (
            balance.missing_messages,
            balance.last_seen_ms,
            balance.missing_since_ms
        ),
        (1, Some(7), Some(7))
    );
    let id = a.mapped.iter().find(|c| c.name == "ID").expect("ID");
    assert!(!id.gone() && id.missing_messages == 0);
}

#[test]
fn debezium_counts_row_columns_not_envelope_parts_and_never_a_delete_s_missing_columns() {
    let change = |op: &str, before: serde_json::Value, after: serde_json::Value| {
        json!({"op": op, "ts_ms": 5, "source": {"ts_ms": 4, "db": "crm"},
               "transaction": null, "before": before, "after": after})
    };
    let d = drift(&[
        message(
            "dbz.t",
            Some(json!({"id": "1"})),
            Some(json!({"schema": {"type": "struct"}, "payload": change(
                "u",
                json!({"id": "1", "email": "a", "ts": "t", "LEGACY": 1}),
                json!({"id": "1", "email": "b", "ts": "t", "TIER": "gold"}),
            )})),
        ),
        // A delete whose before image holds the key only (REPLICA IDENTITY DEFAULT).
        message(
            "dbz.t",
            Some(json!({"id": "1"})),
            Some(change("d", json!({"id": "1"}), json!(null))),
        ),
        // A tombstone is skipped: not counted.
        message("dbz.t", Some(json!({"id": "1"})), None),
    ]);
    let c = &d["customers"];
    assert_eq!(
        (c.messages, c.unmapped_messages, c.missing_messages),
        (2, 1, 0)
    );
    assert_eq!(unmapped(c), vec![("LEGACY", 1), ("TIER", 1)]);
    assert!(gone(c).is_empty());
    // The other projection of the topic maps `email` only: the columns `customers` reads are
    // unmapped for it.
    let e = &d["emails"];
    assert_eq!(
        (e.messages, e.unmapped_messages, e.missing_messages),
        (2, 2, 0)
    );
    assert_eq!(
        unmapped(e),
        vec![("LEGACY", 1), ("TIER", 1), ("id", 2), ("ts", 1)]
    );
}

#[test]
fn golden_gate_counts_a_partial_update_as_missing_but_not_a_delete() {
    let gg = |op: &str, before: serde_json::Value, after: serde_json::Value| {
        json!({"table": "BANK.ACCOUNTS", "op_type": op, "op_ts": "2026-12-07 10:00:00",
               "current_ts": "x", "pos": "0001", "primary_keys": ["ID"],
               "before": before, "after": after})
    };
    let d = drift(&[
        message(
            "gg.t",
            None,
            Some(gg("I", json!(null), json!({"ID": 1, "BALANCE": 2}))),
        ),
        message(
            "gg.t",
            None,
            Some(gg("U", json!({"ID": 1}), json!({"ID": 1, "FEE": 3}))),
        ),
        message("gg.t", None, Some(gg("D", json!({"ID": 1}), json!(null)))),
    ]);
    let g = &d["gg"];
    assert_eq!(
        (g.messages, g.unmapped_messages, g.missing_messages),
        (3, 1, 1)
    );
    assert_eq!(unmapped(g), vec![("FEE", 1)]);
    assert_eq!(gone(g), vec!["BALANCE"]);
}

#[test]
fn a_custom_format_s_own_names_in_its_row_are_not_unmapped() {
    let d = drift(&[message(
        "custom.t",
        None,
        Some(json!({"op": "I", "seq": 3, "id": "a", "name": "n", "colour": "red"})),
    )]);
    let t = &d["things"];
    assert_eq!(unmapped(t), vec![("colour", 1)]);
    assert_eq!(t.missing_messages, 0);
}

#[test]
fn undecodable_messages_are_not_counted_and_samples_stay_bounded() {
    let wide: serde_json::Map<String, serde_json::Value> = (0..200)
        .map(|i| (format!("C{i:03}{}", "x".repeat(100)), json!(i)))
        .chain([("ID".to_owned(), json!("1"))])
        .collect();
    let d = drift(&[
        message(
            "basic.t",
            Some(json!({"ID": "1"})),
            Some(serde_json::Value::Object(wide)),
        ),
        message("basic.t", Some(json!({"ID": "1"})), Some(json!([1, 2]))),
        message("nobody.t", None, Some(json!({"X": 1}))),
    ]);
    let a = &d["accounts"];
    assert_eq!(
        a.messages, 1,
        "a value that is no object is dead-lettered, not counted"
    );
    assert_eq!(a.unmapped.len(), SAMPLE_LIMIT);
    assert!(a.unmapped_overflow);
    assert!(a
        .unmapped
        .iter()
        .all(|c| c.name.chars().count() < crate::store::drift::MAX_COLUMN_CHARS + 30));
    assert_eq!(d.len(), 1);
}

#[test]
fn totals_follow_a_column_that_stops_and_comes_back_and_flag_news() {
    let plan = plan();
    let router = Router::new(&plan).expect("router");
    let counts = DriftCounts::default();
    counts.know_plan(&plan);
    let batch = |values: &[serde_json::Value]| {
        let mut b = BatchDrift::default();
        for v in values {
            router.route_at_observed(
                &message("basic.t", Some(json!({"ID": "1"})), Some(v.clone())),
                0,
                Some(&mut b),
            );
        }
        b
    };
    let full = json!({"ID": "1", "BALANCE": "2", "OWNER": "o"});
    let no_owner = json!({"ID": "1", "BALANCE": "2"});
    counts.batch_durable(&batch(std::slice::from_ref(&full)), 10);
    assert!(!counts.news(), "nothing drifted");
    counts.batch_durable(&batch(&[full.clone(), no_owner.clone()]), 20);
    assert!(counts.news());
    counts.batch_durable(&batch(std::slice::from_ref(&no_owner)), 30);
    let accounts = |c: &DriftCounts| {
        c.snapshot()
            .into_iter()
            .find(|d| d.projection == "accounts")
            .expect("accounts")
    };
    let a = accounts(&counts);
    assert_eq!(a.messages, 4);
    assert_eq!(a.missing_messages, 2);
    assert_eq!(
        a.mapped,
        vec![MappedColumn {
            name: "OWNER".into(),
            missing_messages: 2,
            last_seen_ms: Some(20),
            missing_since_ms: Some(20),
        }],
        "missing since the first batch that lacked it, never-missing columns left out"
    );
    counts.batch_durable(&batch(&[full]), 40);
    assert!(
        accounts(&counts).gone().next().is_none(),
        "it arrives again"
    );
    // Every projection of the plan is shown, at zero until it drifts.
    assert_eq!(counts.snapshot().len(), plan.projections.len());
}

/// A store that refuses, then accepts.
struct Flaky {
    fail: std::sync::atomic::AtomicBool,
    merged: Mutex<Vec<SourceDrift>>,
}

#[async_trait::async_trait]
impl SourceDriftStore for Flaky {
    async fn load_source_drift(&self) -> Result<Vec<SourceDrift>, StoreError> {
        Ok(self.merged.lock().expect("lock").clone())
    }

    async fn merge_source_drift(&self, deltas: &[SourceDrift]) -> Result<(), StoreError> {
        if self.fail.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::retryable("merge source drift", "unavailable"));
        }
        self.merged
            .lock()
            .expect("lock")
            .extend(deltas.iter().cloned());
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_flush_keeps_its_deltas_for_the_next_one() {
    let plan = plan();
    let router = Router::new(&plan).expect("router");
    let counts = DriftCounts::default();
    counts.know_plan(&plan);
    let mut b = BatchDrift::default();
    router.route_at_observed(
        &message(
            "basic.t",
            Some(json!({"ID": "1"})),
            Some(json!({"ID": "1", "X": 1})),
        ),
        0,
        Some(&mut b),
    );
    counts.batch_durable(&b, 10);
    let store = Flaky {
        fail: true.into(),
        merged: Mutex::default(),
    };
    assert!(flush(&counts, &store).await.is_err());
    counts.batch_durable(&b, 20);
    flush(&counts, &store).await.expect("flushed");
    let merged = store.merged.lock().expect("lock").clone();
    assert_eq!(merged.len(), 1);
    assert_eq!((merged[0].messages, merged[0].unmapped_messages), (2, 2));
    assert_eq!(merged[0].unmapped[0].first_seen_ms, 10);
    assert_eq!(merged[0].unmapped[0].last_seen_ms, 20);
    flush(&counts, &store).await.expect("nothing to flush");
    assert_eq!(store.merged.lock().expect("lock").len(), 1);
}
