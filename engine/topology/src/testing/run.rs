//! Running one case on a fresh embedded store and checking its expectations.
//!
//! In: a [`Plan`] and a [`Case`]. Out: a [`CaseResult`] listing every mismatch.
//!
//! A case runs in three steps: `given` records are written as version-0 changes and the views
//! they imply are built (their events are dropped); the `when` messages go through the
//! engine (router, then [`Engine::process`] per batch of `batch` messages); the store, the
//! dead letters, the counts and the events are compared with `expect`. A case with
//! `expect_triggers` runs its whole input as one batch through the router, the projection
//! writer and the strategy stage directly, compares the triggered keys, then rebuilds them
//! so `expect` can be checked too.

use std::sync::Arc;
use std::time::Instant;

use fdc_plan::{Plan, Type};

use super::compare::{differences, field_path, short, Difference, MISSING};
use super::{encode, Batch, Case, CaseResult, Entry, Expect, Failure, TestFile};
use fdc_embedded::EmbeddedStore;
use fdc_engine::change::{Change, MessageOutcome, Op, Origin, Version};
use fdc_engine::project;
use fdc_engine::runtime::{Engine, MessageRouter, RoutedBatch, RuntimeConfig};
use fdc_file::MemoryEvents;

use crate::{Deployment, EventsSpec};
use fdc_engine::source::SourceItem;
use fdc_engine::store::{DeadLetter, Event, ProjectionStore, SingleViewStore, STATE_FIELD};
use fdc_engine::strategy;
use fdc_engine::value::{Map, Value};

/// Runs the cases of `file` whose name contains `filter` (all without one).
pub async fn run_file(plan: &Plan, file: &TestFile, filter: Option<&str>) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for case in &file.cases {
        if filter.is_some_and(|f| !case.name.contains(f)) {
            continue;
        }
        out.push(run_case(plan, case).await);
    }
    out
}

/// Runs one case isolated on a fresh in-memory store.
pub async fn run_case(plan: &Plan, case: &Case) -> CaseResult {
    let start = Instant::now();
    let mut result = CaseResult {
        name: case.name.clone(),
        failures: Vec::new(),
        error: None,
        millis: 0,
    };
    match execute(plan, case).await {
        Ok(failures) => result.failures = failures,
        Err(e) => result.error = Some(e),
    }
    result.millis = start.elapsed().as_millis();
    result
}

/// What the input did, gathered over the batches.
#[derive(Default)]
struct Observed {
    dead_letters: Vec<DeadLetter>,
    stale: u64,
    skipped: u64,
    events: Vec<Event>,
}

async fn execute(plan: &Plan, case: &Case) -> Result<Vec<Failure>, String> {
    let events = Arc::new(MemoryEvents::default());
    let mut deployment = Deployment::new(plan.clone());
    deployment.events = EventsSpec::Sink(events.clone());
    // The in-memory store's refusals (a unique index) are deterministic: waiting between the
    // attempts of a refused message would only slow the case down.
    deployment.runtime = RuntimeConfig {
        retry_backoff: std::time::Duration::from_millis(1),
        ..RuntimeConfig::default()
    };
    let built = crate::build(deployment).await.map_err(|e| e.to_string())?;
    let (Some(store), Some(stage)) = (built.store.embedded().cloned(), built.stages.first()) else {
        return Err("the test deployment has no in-memory store or engine".to_string());
    };
    let (engine, router) = (stage.engine.clone(), stage.router.clone());
    apply_given(plan, &engine, store.as_ref(), case).await?;

    let mut items = Vec::with_capacity(case.when.len());
    for (i, m) in case.when.iter().enumerate() {
        items.push(encode::item(plan, m, i as i64 + 1)?);
    }
    let mut failures = Vec::new();
    let mut observed = Observed::default();
    match &case.expect_triggers {
        Some(expected) => {
            let triggers =
                strategy_stage(plan, &engine, router.as_ref(), items, &mut observed).await?;
            check_triggers(plan, expected, &triggers, &mut failures)?;
        }
        None => {
            let size = match case.batch.unwrap_or(Batch::Size(1)) {
                Batch::Size(n) => n,
                Batch::All => items.len().max(1),
            };
            let mut items = items.into_iter().peekable();
            // As `fdc run`: a batch the store refuses (a unique index) is written message by
            // message, and the message it keeps refusing is dead-lettered.
            let mut refused_streak = 0;
            let mut stop = fdc_engine::runtime::retry::Stop::never();
            while items.peek().is_some() {
                let chunk: Vec<SourceItem> = items.by_ref().take(size).collect();
                let batch = RoutedBatch::route(chunk, router.as_ref());
                let outcome = engine
                    .process_or_isolate(&batch, &mut refused_streak, &mut stop)
                    .await
                    .map_err(|e| e.to_string())?;
                observed.dead_letters.extend(outcome.dead_letters);
                observed.stale += outcome.counts.stale;
                observed.skipped += outcome.skipped.len() as u64;
            }
            observed.events = events.events();
        }
    }
    if let Some(expect) = &case.expect {
        check(plan, store.as_ref(), expect, &observed, &mut failures).await?;
    } else if !observed.dead_letters.is_empty() {
        failures.push(dead_letter_failure(0, &observed.dead_letters));
    }
    Ok(failures)
}

/// Writes the `given` records as version-0 changes and builds the views they imply.
async fn apply_given(
    plan: &Plan,
    engine: &Engine,
    store: &EmbeddedStore,
    case: &Case,
) -> Result<(), String> {
    for (view, documents) in &case.given_views {
        let (names, types) = view_key_types(plan, view)?;
        let mut writes = Vec::new();
        for (i, d) in documents.iter().enumerate() {
            let key = typed_key(&format!("given_views.{view}[{i}]"), &d.key, &names, &types)?;
            let mut document: Map = d
                .document
                .iter()
                .map(|(k, v)| (k.as_str().into(), Value::from_json(v)))
                .collect();
            if !document.contains_key(STATE_FIELD) {
                document.insert(STATE_FIELD.into(), Value::String("PUBLIC".into()));
            }
            writes.push(fdc_engine::store::ViewWrite::Upsert { key, document });
        }
        SingleViewStore::write(store, view, fdc_plan::WriteMode::Replace, writes)
            .await
            .map_err(|e| e.to_string())?;
    }
    if case.given.is_empty() {
        return Ok(());
    }
    let mut changes = Vec::new();
    for (name, records) in &case.given {
        let (pi, projection) = plan
            .projections
            .iter()
            .enumerate()
            .find(|(_, p)| &p.name == name)
            .ok_or_else(|| format!("given: no projection `{name}` in the pipeline"))?;
        for (ri, record) in records.iter().enumerate() {
            let at = format!("given.{name}[{ri}]");
            let obj = record
                .as_object()
                .ok_or_else(|| format!("{at}: not an object"))?;
            if let Some(unknown) = obj.keys().find(|k| projection.field(k).is_none()) {
                return Err(format!("{at}: `{name}` has no field `{unknown}`"));
            }
            let mut fields = Map::default();
            for f in &projection.fields {
                let json = obj.get(&f.name).unwrap_or(&serde_json::Value::Null);
                let v = Value::from_json_typed(json, &f.ty)
                    .ok_or_else(|| format!("{at}.{}: not a valid {}", f.name, f.ty))?;
                if v.is_null() && !f.nullable {
                    return Err(format!(
                        "{at}.{}: required field is missing or null",
                        f.name
                    ));
                }
                fields.insert(f.name.as_str().into(), v);
            }
            let key = fdc_engine::store::key::tuple(&fields, &projection.key);
            changes.push(Change {
                projection: pi,
                op: Op::Upsert,
                key,
                before: None,
                after: Some(fields),
                version: Version(0),
                origin: Origin {
                    topic: projection.topic.clone(),
                    partition: 0,
                    offset: 0,
                    timestamp: None,
                    source_ms: None,
                },
            });
        }
    }
    let now = chrono::Utc::now().timestamp_millis();
    let written = project::write_batch(plan, store, changes, now)
        .await
        .map_err(|e| e.to_string())?;
    let triggers = strategy::triggers(plan, store, &written.changes)
        .await
        .map_err(|e| e.to_string())?;
    for t in triggers {
        engine
            .rebuild_keys(t.view, &t.keys)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs the input as one batch through routing, projection writes and strategies; rebuilds
/// the triggered keys; returns the triggers.
async fn strategy_stage(
    plan: &Plan,
    engine: &Engine,
    router: &dyn MessageRouter,
    items: Vec<SourceItem>,
    observed: &mut Observed,
) -> Result<Vec<strategy::Triggers>, String> {
    let batch = RoutedBatch::route(items, router);
    observed
        .dead_letters
        .extend(batch.malformed.iter().cloned());
    let mut changes = Vec::new();
    for r in &batch.messages {
        for outcome in &r.outcomes {
            match outcome {
                MessageOutcome::Changes(c) => changes.extend(c.iter().cloned()),
                MessageOutcome::Skipped { .. } => observed.skipped += 1,
                // The plan's router makes no triggers: those are an aggregate stage's input.
                MessageOutcome::Trigger { .. } => {
                    return Err("a trigger record among a test's messages".to_string())
                }
                MessageOutcome::DeadLetter { projection, reason } => observed.dead_letters.push(
                    DeadLetter::from_message(&r.message, reason.as_str())
                        .meant_for(plan, *projection),
                ),
            }
        }
    }
    let store = engine.stores().projections.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let written = project::write_batch(plan, store.as_ref(), changes, now)
        .await
        .map_err(|e| e.to_string())?;
    observed.stale += written.stale;
    observed.events.extend(written.events.iter().cloned());
    let triggers = strategy::triggers(plan, store.as_ref(), &written.changes)
        .await
        .map_err(|e| e.to_string())?;
    for t in &triggers {
        let report = engine
            .rebuild_keys(t.view, &t.keys)
            .await
            .map_err(|e| e.to_string())?;
        observed.events.extend(report.events);
    }
    Ok(triggers)
}

/// `[1]`, `["acme","V1"]`: a key as shown in paths.
fn key_label(key: &[Value]) -> String {
    let parts: Vec<String> = key.iter().map(|v| v.to_json().to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// Reads an expected key (a list in key order, an object by field name, or a scalar) in the
/// key's types.
fn typed_key(
    what: &str,
    json: &serde_json::Value,
    names: &[String],
    types: &[Type],
) -> Result<Vec<Value>, String> {
    let values: Vec<serde_json::Value> = match json {
        serde_json::Value::Array(items) => items.clone(),
        serde_json::Value::Object(m) => {
            if let Some(k) = m.keys().find(|k| !names.contains(k)) {
                return Err(format!("{what}: the key has no field `{k}`"));
            }
            names
                .iter()
                .map(|n| m.get(n).cloned().unwrap_or_default())
                .collect()
        }
        scalar => vec![scalar.clone()],
    };
    if values.len() != types.len() {
        return Err(format!(
            "{what}: the key has {} field(s), {} value(s) given",
            types.len(),
            values.len()
        ));
    }
    values
        .iter()
        .zip(types)
        .zip(names)
        .map(|((v, ty), n)| {
            Value::from_json_typed(v, ty)
                .ok_or_else(|| format!("{what}: key field `{n}` is not a valid {ty}"))
        })
        .collect()
}

/// Names and types of a view's key.
fn view_key_types(plan: &Plan, view: &str) -> Result<(Vec<String>, Vec<Type>), String> {
    let v = plan
        .single_view(view)
        .ok_or_else(|| format!("no single view `{view}` in the pipeline"))?;
    if plan.projection(&v.root().projection).is_none() {
        return Err(format!("single view `{view}`: unknown root"));
    }
    let names = v.key.iter().map(|k| k.name.clone()).collect();
    Ok((names, plan.view_key_types(v)))
}

fn check_triggers(
    plan: &Plan,
    expected: &indexmap::IndexMap<String, Vec<serde_json::Value>>,
    actual: &[strategy::Triggers],
    failures: &mut Vec<Failure>,
) -> Result<(), String> {
    for (view, keys) in expected {
        let (names, types) = view_key_types(plan, view)?;
        let vi = plan
            .single_views
            .iter()
            .position(|v| &v.name == view)
            .unwrap_or_default();
        let mut want = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            want.push(typed_key(
                &format!("expect_triggers.{view}[{i}]"),
                k,
                &names,
                &types,
            )?);
        }
        let got: Vec<Vec<Value>> = actual
            .iter()
            .filter(|t| t.view == vi)
            .flat_map(|t| t.keys.iter().cloned())
            .collect();
        let enc = |k: &Vec<Value>| fdc_engine::store::key::encode(k).unwrap_or_default();
        let mut want_set: Vec<Vec<u8>> = want.iter().map(enc).collect();
        want_set.sort();
        want_set.dedup();
        let mut got_set: Vec<Vec<u8>> = got.iter().map(enc).collect();
        got_set.sort();
        if want_set != got_set {
            let show = |ks: &[Vec<Value>]| {
                let mut labels: Vec<String> = ks.iter().map(|k| key_label(k)).collect();
                labels.sort();
                format!("[{}]", labels.join(", "))
            };
            failures.push(Failure {
                path: format!("triggers of {view}"),
                expected: show(&want),
                actual: show(&got),
            });
        }
    }
    Ok(())
}

fn dead_letter_failure(expected: u64, letters: &[DeadLetter]) -> Failure {
    let reasons: Vec<&str> = letters.iter().map(|d| d.reason.as_str()).collect();
    Failure {
        path: "dead letters".into(),
        expected: format!("{expected}"),
        actual: format!("{} ({})", letters.len(), reasons.join("; ")),
    }
}

fn map_json(m: &Map) -> serde_json::Map<String, serde_json::Value> {
    m.iter()
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect()
}

/// Compares one stored document (or record fields + state) with an entry.
fn check_entry(
    path: &str,
    entry: &Entry,
    actual: Option<serde_json::Map<String, serde_json::Value>>,
    failures: &mut Vec<Failure>,
) {
    let Some(mut actual) = actual else {
        if !entry.absent {
            failures.push(Failure {
                path: path.to_owned(),
                expected: "a document".into(),
                actual: "(absent)".into(),
            });
        }
        return;
    };
    if entry.absent {
        failures.push(Failure {
            path: path.to_owned(),
            expected: "(absent)".into(),
            actual: short(&serde_json::Value::Object(actual)),
        });
        return;
    }
    if let Some(doc) = &entry.document {
        if !doc.contains_key(STATE_FIELD) {
            let state = actual.remove(STATE_FIELD);
            if let Some(s) = state.filter(|s| s != "PUBLIC") {
                // Reported, and the fields are compared all the same.
                failures.push(Failure {
                    path: field_path(path, STATE_FIELD),
                    expected: "\"PUBLIC\"".into(),
                    actual: short(&s),
                });
            }
        }
        let expected = serde_json::Value::Object(doc.clone());
        let actual = serde_json::Value::Object(actual);
        failures.extend(
            differences(path, &expected, &actual)
                .into_iter()
                .map(Failure::from),
        );
    } else if let Some(fields) = &entry.fields {
        for (k, ev) in fields {
            let p = field_path(path, k);
            match actual.get(k) {
                Some(av) => failures.extend(differences(&p, ev, av).into_iter().map(Failure::from)),
                None => failures.push(Failure {
                    path: p,
                    expected: short(ev),
                    actual: MISSING.into(),
                }),
            }
        }
    }
}

async fn check(
    plan: &Plan,
    store: &EmbeddedStore,
    expect: &Expect,
    observed: &Observed,
    failures: &mut Vec<Failure>,
) -> Result<(), String> {
    for (view, entries) in &expect.views {
        let (names, types) = view_key_types(plan, view)?;
        let mut listed = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let key = typed_key(
                &format!("expect.views.{view}[{i}]"),
                &entry.key,
                &names,
                &types,
            )?;
            let stored = SingleViewStore::get_many(store, view, std::slice::from_ref(&key))
                .await
                .map_err(|e| e.to_string())?;
            let actual = stored.into_iter().next().flatten().map(|d| map_json(&d));
            check_entry(
                &format!("{view}{}", key_label(&key)),
                entry,
                actual,
                failures,
            );
            listed.extend(fdc_engine::store::key::encode(&key));
        }
        if expect.exhaustive {
            for (key, doc) in store.all_documents(view).map_err(|e| e.to_string())? {
                if !fdc_engine::store::key::encode(&key).is_some_and(|k| listed.contains(&k)) {
                    failures.push(Failure {
                        path: format!("{view}{}", key_label(&key)),
                        expected: "(absent: not listed)".into(),
                        actual: short(&serde_json::Value::Object(map_json(&doc))),
                    });
                }
            }
        }
    }
    for (name, entries) in &expect.projections {
        let projection = plan
            .projection(name)
            .ok_or_else(|| format!("no projection `{name}` in the pipeline"))?;
        let types = projection.key_types();
        let mut listed = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let key = typed_key(
                &format!("expect.projections.{name}[{i}]"),
                &entry.key,
                &projection.key,
                &types,
            )?;
            let stored = ProjectionStore::get_many(store, name, std::slice::from_ref(&key))
                .await
                .map_err(|e| e.to_string())?;
            let actual = stored.into_iter().next().flatten().map(|r| {
                let mut m = map_json(&r.fields);
                m.insert(STATE_FIELD.into(), r.state.as_str().into());
                m
            });
            check_entry(
                &format!("{name}{}", key_label(&key)),
                entry,
                actual,
                failures,
            );
            listed.extend(fdc_engine::store::key::encode(&key));
        }
        if expect.exhaustive {
            for r in store.all_records(name).map_err(|e| e.to_string())? {
                if !fdc_engine::store::key::encode(&r.key).is_some_and(|k| listed.contains(&k)) {
                    failures.push(Failure {
                        path: format!("{name}{}", key_label(&r.key)),
                        expected: "(absent: not listed)".into(),
                        actual: short(&serde_json::Value::Object(map_json(&r.fields))),
                    });
                }
            }
        }
    }
    let letters = &observed.dead_letters;
    match &expect.dead_letters {
        None => {
            if !letters.is_empty() {
                failures.push(dead_letter_failure(0, letters));
            }
        }
        Some(d) => {
            if let Some(count) = d.count {
                if count != letters.len() as u64 {
                    failures.push(dead_letter_failure(count, letters));
                }
            }
            for reason in &d.reasons {
                if !letters.iter().any(|l| l.reason.contains(reason.as_str())) {
                    let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
                    failures.push(Failure {
                        path: "dead letter reasons".into(),
                        expected: format!("one containing {:?}", reason),
                        actual: format!("{reasons:?}"),
                    });
                }
            }
        }
    }
    for (what, want, got) in [
        ("stale changes", expect.stale, observed.stale),
        ("skipped messages", expect.skipped, observed.skipped),
    ] {
        if let Some(want) = want {
            if want != got {
                failures.push(Failure {
                    path: what.into(),
                    expected: want.to_string(),
                    actual: got.to_string(),
                });
            }
        }
    }
    if let Some(want) = &expect.events {
        let got: Vec<serde_json::Value> = observed
            .events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .collect();
        // Every field an expected event names, of every event (fields it leaves out are
        // not compared).
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            let path = format!("events[{i}]");
            let diffs = match (w, g) {
                (serde_json::Value::Object(wm), serde_json::Value::Object(gm)) => wm
                    .iter()
                    .flat_map(|(k, wv)| {
                        let p = field_path(&path, k);
                        match gm.get(k) {
                            Some(gv) => differences(&p, wv, gv),
                            None => vec![Difference {
                                path: p,
                                expected: short(wv),
                                actual: MISSING.into(),
                            }],
                        }
                    })
                    .collect(),
                _ => differences(&path, w, g),
            };
            failures.extend(diffs.into_iter().map(Failure::from));
        }
        if want.len() != got.len() {
            let kinds: Vec<String> = got
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {}",
                        e["view"]
                            .as_str()
                            .or(e["projection"].as_str())
                            .unwrap_or("?"),
                        e["op"].as_str().unwrap_or("?"),
                        e["key"]
                    )
                })
                .collect();
            failures.push(Failure {
                path: "events".into(),
                expected: format!("{} event(s)", want.len()),
                actual: format!("{} event(s): {}", got.len(), kinds.join("; ")),
            });
        }
    }
    Ok(())
}
