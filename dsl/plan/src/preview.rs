//! The report of `fdc preview`: per single-view document, what a new pipeline would change.
//!
//! In: a document as stored and the one the new pipeline would write (JSON; `None`: absent),
//! with the view and the key; the run's counts. Out: a [`DocumentDiff`] (field paths with old
//! and new values), or `None` when the document would not change, and the [`Report`] whose
//! JSON shape is `schemas/preview-report.schema.json` (generated from these types, checked by
//! a test).
//!
//! Guarantees: pure and deterministic (object fields compared in name order, array items by
//! index when both arrays have the same length, else the array as one value); a document
//! equal to the stored one gives no diff; a new document lists each of its top-level fields
//! with only a new value, a removed one each of its stored top-level fields with only an old
//! value. The JSON is stable (versioned by [`REPORT_FORMAT`]; fields only added within a
//! version). The values are record contents: the CLI prints them on stdout at the operator's
//! request, never in logs.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Version of the report's JSON shape.
pub const REPORT_FORMAT: u32 = 1;

/// What `fdc preview` found: the single-view documents a new pipeline would change, and the
/// counts of the run.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Report {
    /// The version of this JSON shape (`REPORT_FORMAT`: fields are only added within one).
    pub format: u32,
    /// The new pipeline, as given on the command line.
    pub pipeline: String,
    /// The changed documents, in the order the new pipeline first wrote them (at most
    /// `--limit`).
    pub documents: Vec<DocumentDiff>,
    pub summary: Summary,
}

/// One single-view document the new pipeline would change.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DocumentDiff {
    /// The single view.
    pub view: String,
    /// The single-view key as `{field: value}`.
    pub key: Value,
    pub change: DocumentChange,
    /// The fields that differ, in path order.
    pub fields: Vec<FieldChange>,
}

/// What happens to a document as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentChange {
    /// Not stored; the new pipeline would write it.
    Insert,
    /// Stored; the new pipeline would write it differently.
    Update,
    /// Stored; the new pipeline would remove it.
    Delete,
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FieldChange {
    /// The field's path: names joined by `.`, array items as `[i]` (`lines[2].qty`).
    pub path: String,
    /// The stored value; absent when the stored document has no such field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value the new pipeline would write; absent when it would have no such field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// The counts of a preview.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Summary {
    /// Messages read from the topics.
    pub messages: u64,
    /// Distinct documents the new pipeline would change (those listed, and any beyond the
    /// limit in the last batch).
    pub changed: u64,
    /// Distinct documents the new pipeline rewrote with what is stored (not listed).
    pub unchanged: u64,
    /// Messages the new pipeline would dead-letter (not produced anywhere).
    pub dead_letters: u64,
    /// Documents the new pipeline would refuse (for example failing their JSON Schema).
    pub view_failures: u64,
    pub ended: Ended,
}

/// Why the preview stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// `--limit` documents changed.
    Limit,
    /// `--last` / `--from-beginning`: every partition was read up to its high watermark as of
    /// the start.
    HighWatermarks,
    /// Ctrl-C (or SIGTERM).
    Interrupted,
}

/// The diff of one document (see the module docs); `None` when nothing would change.
pub fn diff_document(
    view: &str,
    key: Value,
    stored: Option<&Value>,
    new: Option<&Value>,
) -> Option<DocumentDiff> {
    let change = match (stored, new) {
        (None, None) => return None,
        (None, Some(_)) => DocumentChange::Insert,
        (Some(_), None) => DocumentChange::Delete,
        (Some(_), Some(_)) => DocumentChange::Update,
    };
    let empty = Value::Object(serde_json::Map::new());
    let mut fields = Vec::new();
    diff_values(
        "",
        Some(stored.unwrap_or(&empty)),
        Some(new.unwrap_or(&empty)),
        &mut fields,
    );
    if change == DocumentChange::Update && fields.is_empty() {
        return None;
    }
    Some(DocumentDiff {
        view: view.to_string(),
        key,
        change,
        fields,
    })
}

/// Appends the differences between `old` and `new` at `path` to `out`.
fn diff_values(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                diff_values(&child, a.get(name), b.get(name), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() && a != b => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_values(&format!("{path}[{i}]"), Some(x), Some(y), out);
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            path: path.to_string(),
            old: a.cloned(),
            new: b.cloned(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(d: &DocumentDiff) -> Vec<(&str, Option<&Value>, Option<&Value>)> {
        d.fields
            .iter()
            .map(|f| (f.path.as_str(), f.old.as_ref(), f.new.as_ref()))
            .collect()
    }

    #[test]
    fn an_equal_document_has_no_diff_and_nothing_has_none() {
        let doc = json!({"id": 1, "name": "a", "lines": [{"q": 1}], "__STATE__": "PUBLIC"});
        assert_eq!(
            diff_document("v", json!({"id": 1}), Some(&doc), Some(&doc)),
            None
        );
        assert_eq!(diff_document("v", json!({"id": 1}), None, None), None);
    }

    #[test]
    fn nested_fields_array_items_added_and_removed_fields_are_listed_by_path() {
        let old = json!({"id": 1, "name": "a", "address": {"city": "X", "zip": "1"},
                         "lines": [{"q": 1}, {"q": 2}], "tags": ["a"], "gone": true});
        let new = json!({"id": 1, "name": "b", "address": {"city": "Y", "zip": "1"},
                         "lines": [{"q": 1}, {"q": 3}], "tags": ["a", "b"], "added": null});
        let d = diff_document("v", json!({"id": 1}), Some(&old), Some(&new)).expect("a diff");
        assert_eq!(d.change, DocumentChange::Update);
        assert_eq!(
            paths(&d),
            vec![
                ("added", None, Some(&Value::Null)),
                ("address.city", Some(&json!("X")), Some(&json!("Y"))),
                ("gone", Some(&json!(true)), None),
                ("lines[1].q", Some(&json!(2)), Some(&json!(3))),
                ("name", Some(&json!("a")), Some(&json!("b"))),
                ("tags", Some(&json!(["a"])), Some(&json!(["a", "b"]))),
            ]
        );
    }

    #[test]
    fn a_type_change_is_one_change_of_the_whole_value() {
        let old = json!({"a": {"b": 1}});
        let new = json!({"a": [1]});
        let d = diff_document("v", json!({}), Some(&old), Some(&new)).expect("a diff");
        assert_eq!(
            paths(&d),
            vec![("a", Some(&json!({"b": 1})), Some(&json!([1])))]
        );
    }

    #[test]
    fn a_new_document_lists_its_fields_and_a_removed_one_its_stored_fields() {
        let doc = json!({"id": 1, "name": "a"});
        let ins = diff_document("v", json!({"id": 1}), None, Some(&doc)).expect("insert");
        assert_eq!(ins.change, DocumentChange::Insert);
        assert_eq!(
            paths(&ins),
            vec![
                ("id", None, Some(&json!(1))),
                ("name", None, Some(&json!("a")))
            ]
        );
        let del = diff_document("v", json!({"id": 1}), Some(&doc), None).expect("delete");
        assert_eq!(del.change, DocumentChange::Delete);
        assert_eq!(
            paths(&del),
            vec![
                ("id", Some(&json!(1)), None),
                ("name", Some(&json!("a")), None)
            ]
        );
    }

    #[test]
    fn the_json_leaves_out_absent_sides_and_names_changes_in_snake_case() {
        let d =
            diff_document("v", json!({"id": 1}), None, Some(&json!({"x": null}))).expect("insert");
        assert_eq!(
            serde_json::to_value(&d).expect("json"),
            json!({"view": "v", "key": {"id": 1}, "change": "insert",
                   "fields": [{"path": "x", "new": null}]})
        );
    }
}
