//! The embedded default: a whole pipeline on the embedded store and the file source, as
//! `fdc run` does when no Kafka or MongoDB is configured.
//!
//! In: a [`Plan`], the input (file, directory, stdin), an optional store directory and an
//! optional export directory. Out: the [`Summary`] and the store (to print or inspect).
//!
//! Guarantees: with a store directory the run is resumable (file positions are committed in
//! the store behind the durable watermark); dead letters go to the store (and, with an export
//! directory, to `dead-letters.jsonl`); events go to `events.jsonl` in the export directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fdc_plan::Plan;

use super::{run, Engine, EngineError, Route, RuntimeConfig, Shutdown, Stores, Summary};
use crate::embedded::EmbeddedStore;
use crate::file::{FileInput, FileSource, JsonlEvents, Resumed};
use crate::store::{record, EventSink, StoreError};
use crate::value::Value;

/// What to run on.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub input: FileInput,
    /// Persist (and resume) in this directory; in memory when `None`.
    pub store: Option<PathBuf>,
    /// Write `events.jsonl`, `dead-letters.jsonl`, `views/<view>.jsonl` and
    /// `projections/<projection>.jsonl` here.
    pub export: Option<PathBuf>,
    pub config: RuntimeConfig,
}

/// A finished local run.
pub struct LocalRun {
    pub summary: Summary,
    pub store: Arc<EmbeddedStore>,
    /// The input files resumed from the store's positions (lines already processed skipped).
    pub resumed: Vec<Resumed>,
}

/// Drops events (counted by the runtime) when nobody asked for them.
struct DiscardEvents;

#[async_trait::async_trait]
impl EventSink for DiscardEvents {
    async fn publish(&self, _events: Vec<crate::store::Event>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs `plan` over the input on the embedded store until the input ends or `shutdown` fires.
pub async fn run_local(
    plan: Plan,
    options: LocalOptions,
    shutdown: &Shutdown,
) -> Result<LocalRun, EngineError> {
    let store = Arc::new(match &options.store {
        Some(dir) => EmbeddedStore::open(dir)?,
        None => EmbeddedStore::in_memory(),
    });
    let events: Arc<dyn EventSink> = match &options.export {
        Some(dir) => Arc::new(JsonlEvents::open(&dir.join("events.jsonl"))?),
        None => Arc::new(DiscardEvents),
    };
    let stores = Stores {
        projections: store.clone(),
        views: store.clone(),
        events,
        dead_letters: store.clone(),
    };
    let router: Arc<dyn Route> = Arc::new(
        crate::ingest::Router::new(&plan)
            .map_err(|e| EngineError::Plan(e.to_string()))?
            .with_max_clock_skew(options.config.max_clock_skew),
    );
    let engine = Arc::new(Engine::build(plan, stores, options.config.clone()).await?);
    let checkpoints = options
        .store
        .as_ref()
        .map(|_| store.clone() as Arc<dyn crate::store::CheckpointStore>);
    let source = FileSource::open(options.input.clone(), checkpoints)?;
    let resumed = source.resumed();
    let summary = run(engine.clone(), source, router, shutdown.subscribe()).await?;
    if let Some(dir) = &options.export {
        export(engine.plan(), &store, dir)?;
    }
    let resumed = resumed.lock().map(|r| r.clone()).unwrap_or_default();
    Ok(LocalRun {
        summary,
        store,
        resumed,
    })
}

/// One single view as a JSON line: `{"view", "key", "document"}`, fields in mapping order.
pub fn view_line(plan: &Plan, view: &str, key: &[Value], doc: &crate::value::Map) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        view: &'a str,
        key: record::Ordered<'a>,
        document: record::Ordered<'a>,
    }
    let names: Vec<crate::value::Name> = plan
        .single_view(view)
        .map(|v| v.key.iter().map(|k| k.name.as_str().into()).collect())
        .unwrap_or_default();
    let key = Value::Object(names.into_iter().zip(key.iter().cloned()).collect());
    let doc = Value::Object(doc.clone());
    serde_json::to_string(&Line {
        view,
        key: record::Ordered(&key),
        document: record::Ordered(&doc),
    })
    .unwrap_or_default()
}

/// One projection record as a JSON line: `{"projection", "record"}`, fields in declaration
/// order.
pub fn projection_line(projection: &str, record: &crate::store::Record) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        projection: &'a str,
        record: record::OrderedRecord<'a>,
    }
    serde_json::to_string(&Line {
        projection,
        record: record::OrderedRecord(record),
    })
    .unwrap_or_default()
}

/// Writes every view, projection and dead letter of `store` under `dir`.
pub fn export(plan: &Plan, store: &EmbeddedStore, dir: &Path) -> Result<(), StoreError> {
    let op = "export";
    let write = |path: PathBuf, lines: Vec<String>| -> Result<(), StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::fatal(op, e))?;
        }
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| StoreError::fatal(op, e))
    };
    for v in &plan.single_views {
        let lines = store
            .all_documents(&v.name)?
            .iter()
            .map(|(k, d)| view_line(plan, &v.name, k, d))
            .collect();
        write(dir.join("views").join(format!("{}.jsonl", v.name)), lines)?;
    }
    for p in &plan.projections {
        let lines = store
            .all_records(&p.name)?
            .iter()
            .map(|r| projection_line(&p.name, r))
            .collect();
        write(
            dir.join("projections").join(format!("{}.jsonl", p.name)),
            lines,
        )?;
    }
    let dead = store
        .dead_letters()?
        .iter()
        .map(|d| d.to_string())
        .collect();
    write(dir.join("dead-letters.jsonl"), dead)
}

/// A key given on the command line, read in the type of each key field: JSON when it parses
/// (`42`, `"x"`), else the text as a string.
pub fn parse_key(types: &[fdc_plan::Type], args: &[String]) -> Result<Vec<Value>, String> {
    if types.len() != args.len() {
        return Err(format!(
            "the key has {} field(s), {} value(s) given",
            types.len(),
            args.len()
        ));
    }
    types
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (ty, a))| {
            let json = serde_json::from_str(a).unwrap_or(serde_json::Value::String(a.clone()));
            let json = match (ty, &json) {
                (fdc_plan::Type::String, serde_json::Value::Number(_)) => {
                    serde_json::Value::String(a.clone())
                }
                _ => json,
            };
            Value::from_json_typed(&json, ty)
                .ok_or_else(|| format!("key value {} is not a valid {ty:?}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testkit::shop_plan;

    #[tokio::test]
    async fn a_local_run_exports_views_projections_events_and_dead_letters() {
        let dir = std::env::temp_dir().join(format!("fdc-local-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in.jsonl");
        std::fs::write(
            &input,
            [
                r#"{"topic":"shop.customers","key":{"id":1},"value":{"id":1,"name":"Ann","country":"IT"},"timestamp":1}"#,
                r#"{"topic":"shop.orders","key":{"id":5},"value":{"id":5,"customer_id":1,"status":"PAID","total":"3"},"timestamp":1}"#,
                "garbage",
            ]
            .join("\n"),
        )
        .unwrap();
        let options = LocalOptions {
            input: FileInput::File(input),
            store: Some(dir.join("store")),
            export: Some(dir.join("out")),
            config: RuntimeConfig::default(),
        };
        let run = run_local(shop_plan(), options, &Shutdown::new())
            .await
            .unwrap();
        assert_eq!((run.summary.consumed, run.summary.dead_lettered), (3, 1));
        let views = std::fs::read_to_string(dir.join("out/views/customer_360.jsonl")).unwrap();
        let line: serde_json::Value = serde_json::from_str(views.trim()).unwrap();
        assert_eq!(line["key"], serde_json::json!({"customer_id": 1}));
        assert_eq!(line["document"]["spent"], serde_json::json!("3"));
        // Documents keep the mapping's field order.
        assert!(
            views.find("\"customer_id\":1,\"name\"").is_some(),
            "{views}"
        );
        let orders = std::fs::read_to_string(dir.join("out/projections/orders.jsonl")).unwrap();
        assert!(orders.contains(r#""__STATE__":"PUBLIC""#));
        let events = std::fs::read_to_string(dir.join("out/events.jsonl")).unwrap();
        assert_eq!(
            events.lines().count(),
            2,
            "a customer event and a view event"
        );
        let dead = std::fs::read_to_string(dir.join("out/dead-letters.jsonl")).unwrap();
        assert_eq!(dead.lines().count(), 1);
        let key = parse_key(&[fdc_plan::Type::Int], &["1".into()]).unwrap();
        assert_eq!(key, vec![Value::Int(1)]);
        assert_eq!(
            parse_key(&[fdc_plan::Type::String], &["007".into()]).unwrap(),
            vec![Value::String("007".into())]
        );
        assert!(parse_key(&[fdc_plan::Type::Int], &["x".into()]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
