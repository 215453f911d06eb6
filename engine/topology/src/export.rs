//! The embedded store written out as JSON lines: what `fdc run --export` leaves and what
//! `fdc run` prints.
//!
//! In: a [`Plan`] and an [`EmbeddedStore`]. Out: `views/<view>.jsonl`,
//! `projections/<projection>.jsonl` and `dead-letters.jsonl` under a directory, or one line per
//! document or record ([`view_line`], [`projection_line`]).
//!
//! Guarantees: fields keep the mapping's (views) or declaration's (projections) order; a line
//! is one JSON object, so the files are valid JSON lines whatever the values.

use std::path::{Path, PathBuf};

use fdc_embedded::EmbeddedStore;
use fdc_engine::store::{record, StoreError};
use fdc_engine::value::Value;
use fdc_plan::Plan;

/// One single view as a JSON line: `{"view", "key", "document"}`, fields in mapping order.
pub fn view_line(plan: &Plan, view: &str, key: &[Value], doc: &fdc_engine::value::Map) -> String {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        view: &'a str,
        key: record::Ordered<'a>,
        document: record::Ordered<'a>,
    }
    let names: Vec<fdc_engine::value::Name> = plan
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
pub fn projection_line(projection: &str, record: &fdc_engine::store::Record) -> String {
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

#[cfg(test)]
mod tests {
    use fdc_engine::runtime::Shutdown;
    use fdc_engine::testkit::shop_plan;
    use fdc_file::FileInput;

    use crate::{build, Deployment};

    #[tokio::test]
    async fn a_local_run_exports_views_projections_events_and_dead_letters() {
        let dir = std::env::temp_dir().join(format!("fdc-local-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("out")).unwrap();
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
        let out = dir.join("out");
        let deployment = Deployment::embedded(
            shop_plan(),
            FileInput::File(input),
            Some(dir.join("store")),
            fdc_embedded::DiskOptions::default(),
            Some(&out),
        );
        let mut built = build(deployment).await.unwrap();
        let summary = built.run(&Shutdown::new()).await.unwrap();
        let store = built.store.embedded().unwrap().clone();
        super::export(&shop_plan(), &store, &dir.join("out")).unwrap();
        assert_eq!((summary.consumed, summary.dead_lettered), (3, 1));
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
        let _ = std::fs::remove_dir_all(&dir);
    }
}
