//! The preview run: the new pipeline on an overlay over MongoDB, fed by a group-less reader
//! of the topics, watched until the limit, the high watermarks or Ctrl-C.
//!
//! In: the arguments and the compiled plan. Out: the [`Report`]: the changed documents in the
//! order the new pipeline first wrote them (at most `--limit`), and the counts.
//!
//! Guarantees: the deployment is the production one of `fdc.yaml`
//! ([`crate::commands::production::deployment`]) with its input, store and sinks swapped for
//! the read-only ones (see the parent module); the documents written are compared with
//! MongoDB while the run goes on, so the run stops soon after `--limit` changed documents
//! (the batches in flight finish); the report compares the final state of every document
//! written with what MongoDB holds.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use fdc_core::store::key;
use fdc_core::store::record::key_json;
use fdc_core::store::SingleViewStore;
use fdc_core::value::Value;
use fdc_embedded::overlay::OverlayStore;
use fdc_engine::runtime::{Role, Shutdown};
use fdc_kafka::{PreviewSourceConfig, StartAt};
use fdc_plan::preview::{diff_document, DocumentDiff, Ended, Report, Summary, REPORT_FORMAT};
use fdc_plan::Plan;
use fdc_topology::{DeadLettersSpec, EventsSpec, Input, StoreSpec, TriggersSpec};

use super::PreviewArgs;
use crate::commands::production::{deployment, Options};
use crate::config::{load, ProcessEnv};

/// How often the documents written are compared with MongoDB while the run goes on.
const POLL: Duration = Duration::from_millis(100);

/// The documents written so far, distinct, in first-write order.
struct Seen {
    order: Vec<(String, Vec<Value>)>,
    known: HashSet<(String, Vec<u8>)>,
    changed: HashSet<(String, Vec<u8>)>,
}

/// Runs the preview (see the module docs); an error is the message of the `error:` line.
pub fn preview(args: &PreviewArgs, plan: Plan) -> Result<Report, String> {
    let config = load(Some(&args.config), &ProcessEnv).map_err(|e| e.to_string())?;
    let (Some(kafka), Some(_)) = (&config.kafka, &config.mongodb) else {
        return Err(format!(
            "`{}` must configure `kafka` and `mongodb`: the preview reads the live topics and \
             compares with the stored single views",
            crate::commands::paths::shown(&args.config)
        ));
    };
    let start = match (args.from_beginning, args.last) {
        (true, _) => StartAt::Earliest,
        (false, Some(n)) => StartAt::Last(n),
        (false, None) => StartAt::Now,
    };
    let source = PreviewSourceConfig {
        client: kafka.client.clone(),
        topics: vec![],
        topic_map: kafka.topics.clone(),
        linger: config.batch.linger,
        start,
    };
    let views = plan.single_views.clone();
    let mut d = deployment(plan, &config, &Options::default()).map_err(|f| f.message)?;
    d.input = Input::KafkaPreview(Box::new(source));
    d.store = StoreSpec::Overlay(Box::new(d.store));
    d.events = EventsSpec::Drop;
    d.dead_letters = DeadLettersSpec::Store;
    d.triggers = TriggersSpec::InProcess;
    d.role = Role::All;
    d.producer = None;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let mut built = fdc_topology::build(d).await.map_err(|e| e.message)?;
        let Some(overlay) = built.store.overlay().cloned() else {
            return Err("the preview's store is not an overlay".to_string());
        };
        let counters = built.counters.clone();
        // Watched before the line below: an operator (or a script) may stop as soon as it shows.
        let signal = |kind, name: &str| {
            tokio::signal::unix::signal(kind).map_err(|e| format!("cannot watch {name}: {e}"))
        };
        let mut interrupt = signal(tokio::signal::unix::SignalKind::interrupt(), "SIGINT")?;
        let mut terminate = signal(tokio::signal::unix::SignalKind::terminate(), "SIGTERM")?;
        // The partitions are assigned: from here on nothing produced is missed.
        let until = match start {
            StartAt::Now => "on the messages produced from now on",
            _ => "up to the high watermarks as of now",
        };
        eprintln!(
            "previewing {until} (at most {} changed document(s)); Ctrl-C stops and prints the \
             diffs",
            args.limit
        );
        let shutdown = Arc::new(Shutdown::new());
        let run_shutdown = shutdown.clone();
        let mut run = tokio::spawn(async move { built.run(&run_shutdown).await });
        let key_names = |view: &str| -> Vec<String> {
            views
                .iter()
                .find(|v| v.name == view)
                .map(|v| v.key.iter().map(|k| k.name.clone()).collect())
                .unwrap_or_default()
        };
        let mut seen = Seen {
            order: Vec::new(),
            known: HashSet::new(),
            changed: HashSet::new(),
        };
        let mut ended = None;
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                _ = interrupt.recv(), if ended.is_none() => {
                    ended = Some(Ended::Interrupted);
                    shutdown.trigger();
                }
                _ = terminate.recv(), if ended.is_none() => {
                    ended = Some(Ended::Interrupted);
                    shutdown.trigger();
                }
                () = tokio::time::sleep(POLL), if ended.is_none() => {
                    observe(&overlay, &mut seen, &args.views).await?;
                    if seen.changed.len() >= args.limit {
                        ended = Some(Ended::Limit);
                        shutdown.trigger();
                    }
                }
            }
        };
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(format!("the preview run failed: {e}")),
        }
        observe(&overlay, &mut seen, &args.views).await?;
        // Without a stop asked for, the run ended because its source did: at the watermarks.
        let ended = ended.unwrap_or(Ended::HighWatermarks);
        let all = diffs(&overlay, &seen.order, key_names).await?;
        let unchanged = all.iter().filter(|d| d.is_none()).count() as u64;
        let mut documents: Vec<DocumentDiff> = all.into_iter().flatten().collect();
        let changed = documents.len() as u64;
        documents.truncate(args.limit);
        let summary = counters.summary();
        Ok(Report {
            format: REPORT_FORMAT,
            pipeline: crate::commands::paths::shown(&args.pipeline),
            documents,
            summary: Summary {
                messages: summary.consumed,
                changed,
                unchanged,
                dead_letters: overlay.dead_letters(),
                view_failures: overlay.failures(),
                ended,
            },
        })
    })
}

/// Takes the documents written since the last call, and notes which of them now differ from
/// MongoDB (a document written again is compared again).
async fn observe(overlay: &OverlayStore, seen: &mut Seen, only: &[String]) -> Result<(), String> {
    let mut again: Vec<(String, Vec<Value>)> = Vec::new();
    let mut this_round = HashSet::new();
    for (view, k) in overlay.take_written() {
        if !only.is_empty() && !only.contains(&view) {
            continue;
        }
        let Some(e) = key::encode(&k) else { continue };
        let id = (view.clone(), e);
        if seen.known.insert(id.clone()) {
            seen.order.push((view.clone(), k.clone()));
        }
        if this_round.insert(id) {
            again.push((view, k));
        }
    }
    let now = diffs(overlay, &again, |_| Vec::new()).await?;
    for ((view, k), d) in again.into_iter().zip(now) {
        let id = (view, key::encode(&k).unwrap_or_default());
        if d.is_some() {
            seen.changed.insert(id);
        } else {
            seen.changed.remove(&id);
        }
    }
    Ok(())
}

/// The diffs of documents (MongoDB's against the overlay's), in the order of `docs`: one read
/// of each side per view. `key_names` names a view's key fields (for the report's keys).
async fn diffs(
    overlay: &OverlayStore,
    docs: &[(String, Vec<Value>)],
    key_names: impl Fn(&str) -> Vec<String>,
) -> Result<Vec<Option<DocumentDiff>>, String> {
    let mut by_view: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (view, _)) in docs.iter().enumerate() {
        by_view.entry(view.as_str()).or_default().push(i);
    }
    let mut out: Vec<Option<DocumentDiff>> = docs.iter().map(|_| None).collect();
    let json = |d: Option<fdc_core::value::Map>| d.map(|m| Value::Object(m).to_json());
    for (view, at) in by_view {
        let keys: Vec<Vec<Value>> = at.iter().map(|i| docs[*i].1.clone()).collect();
        let stored = overlay
            .stored_documents(view, &keys)
            .await
            .map_err(|e| e.to_string())?;
        let new = SingleViewStore::get_many(overlay, view, &keys)
            .await
            .map_err(|e| e.to_string())?;
        let names = key_names(view);
        for (((i, k), old), new) in at.iter().zip(&keys).zip(stored).zip(new) {
            out[*i] = diff_document(
                view,
                key_json(&names, k),
                json(old).as_ref(),
                json(new).as_ref(),
            );
        }
    }
    Ok(out)
}
