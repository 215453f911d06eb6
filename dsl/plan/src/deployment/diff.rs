//! What applying a new deployment over an old one would do: the actions of `fdc plan`.
//!
//! In: the deployed [`Deployment`] record, the record of the new plan, and options (prune,
//! store counts). Out: a [`Changes`]: actions in a safe order, each with kind, target, reason,
//! what it touches and a cost estimate, and explanations of the changes that need nothing.
//!
//! Guarantees:
//! - reads only the two records (the old `.fdl` text may be gone);
//! - `diff(r, r)` has no action and no explanation; a record that differs only by its text
//!   hash gives no action and one explanation (comments, formatting, declaration order);
//! - actions come in the order they can safely run: indexes first (a drop before the create
//!   of the same fields), then (re-)ingestion of projections, then the builds and refreshes
//!   of views (after the re-ingestions they read), then strategy changes, then what is
//!   removed; each action lists in `after` the actions it must follow;
//! - deterministic: items are visited by name.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Deployment, IndexRecord, ProjectionRecord, ViewRecord};
use crate::{RootDelete, WriteMode};

/// Options of a diff.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffOptions {
    /// Drop the collections of removed views and projections (default: leave them alone).
    pub prune: bool,
    /// Store counts for the cost estimates; a name without a count is "unknown".
    pub counts: Counts,
}

/// Counts a store reports, for cost estimates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Records per projection.
    pub projections: BTreeMap<String, u64>,
    /// Documents per single view.
    pub views: BTreeMap<String, u64>,
}

/// The kind of an action.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Drop a secondary index no longer needed (or whose uniqueness changed).
    DropIndex,
    /// Create a secondary index.
    CreateIndex,
    /// Read a new projection's topic from its earliest retained offset.
    Ingest,
    /// Re-read a changed projection's topic from its earliest retained offset.
    Reingest,
    /// Build a new single view from the projections.
    Build,
    /// Rebuild every document of a single view.
    Refresh,
    /// Rebuild only some fields of a `write merge` single view.
    RefreshFields,
    /// The projections that trigger a view changed.
    UpdateStrategies,
    /// A removed single view's collection is left alone.
    KeepView,
    /// A removed single view's collection is dropped (`--prune`).
    DropView,
    /// A removed projection's collection is left alone.
    KeepProjection,
    /// A removed projection's collection is dropped (`--prune`).
    DropProjection,
}

/// What an estimate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Projection records.
    Records,
    /// Single-view documents.
    Documents,
}

/// The cost of an action: how many records or documents it touches, from the store's
/// counts (`count: null`: unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    pub unit: Unit,
    pub count: Option<u64>,
}

/// One step of applying a deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub kind: ActionKind,
    /// The view, projection or index (`projection(field, ...)`) acted on.
    pub target: String,
    /// Why, in one sentence.
    pub reason: String,
    /// Each change behind the reason (`field \`zip\`: casts ... -> ...`).
    pub changes: Vec<String>,
    /// The collection written or dropped.
    pub collection: String,
    /// The topic read, for (re-)ingestion.
    pub topic: Option<String>,
    /// The fields written (a field refresh) or indexed (an index).
    pub fields: Vec<String>,
    /// Positions (0-based) in the action list of the actions this one must follow.
    pub after: Vec<usize>,
    /// What it costs, when it touches stored data.
    pub estimate: Option<Estimate>,
    /// What the operator should know before it is done: for a (re-)ingest from Kafka, that
    /// the topic no longer holds its whole history (`fdc plan --config`, `fdc apply`). Absent
    /// when there is nothing to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A change that needs no action, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unchanged {
    /// The item concerned (`pipeline`, a view, a projection, a relation).
    pub subject: String,
    pub reason: String,
}

/// The outcome of a diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// Actions in the order they must run.
    pub actions: Vec<Action>,
    /// Changes that need nothing.
    pub unchanged: Vec<Unchanged>,
}

/// The actions that bring the stores from `old` to `new`.
pub fn diff(old: &Deployment, new: &Deployment, options: &DiffOptions) -> Changes {
    let mut out = Builder {
        old,
        new,
        options,
        changes: Changes::default(),
    };
    out.indexes();
    let ingested = out.projections();
    out.views(&ingested);
    out.strategies();
    out.removed();
    out.text();
    out.changes
}

struct Builder<'a> {
    old: &'a Deployment,
    new: &'a Deployment,
    options: &'a DiffOptions,
    changes: Changes,
}

fn index_target(i: &IndexRecord) -> String {
    format!("{}({})", i.projection, i.fields.join(", "))
}

fn names(list: &[String]) -> String {
    list.iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Builder<'_> {
    fn push(&mut self, action: Action) -> usize {
        self.changes.actions.push(action);
        self.changes.actions.len() - 1
    }

    fn note(&mut self, subject: impl Into<String>, reason: impl Into<String>) {
        self.changes.unchanged.push(Unchanged {
            subject: subject.into(),
            reason: reason.into(),
        });
    }

    fn records(&self, projection: &str) -> Option<Estimate> {
        Some(Estimate {
            unit: Unit::Records,
            count: self.options.counts.projections.get(projection).copied(),
        })
    }

    fn documents(&self, view: &str) -> Option<Estimate> {
        Some(Estimate {
            unit: Unit::Documents,
            count: self.options.counts.views.get(view).copied(),
        })
    }

    /// Index drops and creations, for projections of the new plan (a removed projection's
    /// indexes go with its collection, or stay with it).
    fn indexes(&mut self) {
        let by_fields = |d: &Deployment| -> BTreeMap<(String, Vec<String>), IndexRecord> {
            d.indexes
                .iter()
                .map(|i| ((i.projection.clone(), i.fields.clone()), i.clone()))
                .collect()
        };
        let old = by_fields(self.old);
        let new = by_fields(self.new);
        let keys: BTreeSet<&(String, Vec<String>)> = old.keys().chain(new.keys()).collect();
        for k in keys {
            if !self.new.projections.contains_key(&k.0) {
                continue;
            }
            let (o, n) = (old.get(k), new.get(k));
            if let Some(o) = o {
                let gone = match n {
                    None => Some("no longer declared, joined on or queried by a strategy"),
                    Some(n) if n.unique != o.unique => Some(if n.unique {
                        "now unique: dropped, then created unique"
                    } else {
                        "no longer unique: dropped, then created without uniqueness"
                    }),
                    Some(_) => None,
                };
                if let Some(reason) = gone {
                    self.push(Action {
                        kind: ActionKind::DropIndex,
                        target: index_target(o),
                        reason: reason.into(),
                        changes: vec![],
                        collection: o.projection.clone(),
                        topic: None,
                        fields: o.fields.clone(),
                        after: vec![],
                        estimate: None,
                        warning: None,
                    });
                }
            }
            if let Some(n) = n {
                if o.is_some_and(|o| o.unique == n.unique) {
                    continue;
                }
                let after = match o {
                    Some(_) => vec![self.changes.actions.len() - 1],
                    None => vec![],
                };
                let kind = match (o.is_some(), n.unique) {
                    (true, true) => "recreated as a unique index",
                    (true, false) => "recreated without uniqueness",
                    (false, true) => "new unique index",
                    (false, false) => "new index",
                };
                let why = if n.declared {
                    "declared in the pipeline"
                } else {
                    "queried by a join, a view key or a strategy"
                };
                let records = self.records(&n.projection);
                self.push(Action {
                    kind: ActionKind::CreateIndex,
                    target: index_target(n),
                    reason: format!("{kind}: {why}"),
                    changes: vec![],
                    collection: n.projection.clone(),
                    topic: None,
                    fields: n.fields.clone(),
                    after,
                    estimate: records,
                    warning: None,
                });
            }
        }
    }

    /// Ingestion of new projections and re-ingestion of changed ones; returns the projections
    /// (re-)ingested with the position of their action.
    fn projections(&mut self) -> BTreeMap<String, usize> {
        let mut ingested = BTreeMap::new();
        let indexes_of = |actions: &[Action], projection: &str| -> Vec<usize> {
            (0..actions.len())
                .filter(|&i| actions[i].collection == projection)
                .collect()
        };
        for (name, n) in &self.new.projections {
            let Some(o) = self.old.projections.get(name) else {
                let at = self.push(Action {
                    kind: ActionKind::Ingest,
                    target: name.clone(),
                    reason: format!(
                        "new projection: read topic `{}` from its earliest retained offset",
                        n.topic
                    ),
                    changes: vec![],
                    collection: name.clone(),
                    topic: Some(n.topic.clone()),
                    fields: vec![],
                    after: indexes_of(&self.changes.actions, name),
                    estimate: None,
                    warning: None,
                });
                ingested.insert(name.clone(), at);
                continue;
            };
            if o.events != n.events {
                self.note(
                    format!("projection `{name}`"),
                    "its update events changed: takes effect at the next run, nothing stored changes",
                );
            }
            if o.fingerprint == n.fingerprint {
                if o.format != n.format {
                    self.note(
                        format!("projection `{name}`"),
                        format!(
                            "format renamed from `{}` to `{}` with the same definition",
                            o.format, n.format
                        ),
                    );
                }
                continue;
            }
            let changes = projection_changes(o, n);
            let records = self.records(name);
            let after = indexes_of(&self.changes.actions, name);
            let at = self.push(Action {
                kind: ActionKind::Reingest,
                target: name.clone(),
                reason: format!(
                    "stored records were ingested by the old definition: re-read topic `{}` \
                     from its earliest retained offset",
                    n.topic
                ),
                changes,
                collection: name.clone(),
                topic: Some(n.topic.clone()),
                fields: vec![],
                after,
                estimate: records,
                warning: None,
            });
            ingested.insert(name.clone(), at);
        }
        ingested
    }

    /// Builds and refreshes of views.
    fn views(&mut self, ingested: &BTreeMap<String, usize>) {
        // Every action so far is an index change or a (re-)ingestion.
        let done: Vec<(usize, String)> = self
            .changes
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| (i, a.collection.clone()))
            .collect();
        for (name, n) in &self.new.views {
            // A view waits for the index changes and the ingestions of what it reads.
            let after_reads = |reads: &[String]| -> Vec<usize> {
                done.iter()
                    .filter(|(_, c)| reads.contains(c))
                    .map(|(i, _)| *i)
                    .collect()
            };
            let Some(o) = self.old.views.get(name) else {
                let after = after_reads(&n.reads);
                let records = self.records(&n.root);
                self.push(Action {
                    kind: ActionKind::Build,
                    target: name.clone(),
                    reason: format!("new single view: one document per `{}` record", n.root),
                    changes: vec![],
                    collection: name.clone(),
                    topic: None,
                    fields: vec![],
                    after,
                    estimate: records,
                    warning: None,
                });
                continue;
            };
            if o.events != n.events {
                self.note(
                    format!("single view `{name}`"),
                    "its update events changed: takes effect at the next run, nothing stored changes",
                );
            }
            for (old_rel, shape) in &o.relations {
                if n.relations.contains_key(old_rel) {
                    continue;
                }
                let renamed: Vec<&String> = n
                    .relations
                    .iter()
                    .filter(|(nn, s)| *s == shape && !o.relations.contains_key(*nn))
                    .map(|(nn, _)| nn)
                    .collect();
                if let [to] = renamed.as_slice() {
                    if o.fingerprint == n.fingerprint {
                        self.note(
                            format!("relation `{old_rel}`"),
                            format!("renamed to `{to}` with the same walk: `{name}` needs nothing"),
                        );
                    }
                }
            }
            let reingested: Vec<String> = n
                .reads
                .iter()
                .filter(|r| ingested.contains_key(*r) && self.old.projections.contains_key(*r))
                .cloned()
                .collect();
            let (mut full, fields) = view_changes(o, n);
            let reason = if full.is_empty() {
                "the projections it reads are re-ingested: rebuild every document after them"
            } else {
                "stored documents were built by the old definition: rebuild every document"
            };
            if !reingested.is_empty() {
                full.push(format!(
                    "reads re-ingested projection(s) {}",
                    names(&reingested)
                ));
            }
            let after = after_reads(&n.reads);
            if !full.is_empty() {
                let mut changes = full;
                changes.extend(fields.iter().map(|(f, what)| format!("field `{f}` {what}")));
                let documents = self.documents(name);
                self.push(Action {
                    kind: ActionKind::Refresh,
                    target: name.clone(),
                    reason: reason.into(),
                    changes,
                    collection: name.clone(),
                    topic: None,
                    fields: vec![],
                    after,
                    estimate: documents,
                    warning: None,
                });
            } else if !fields.is_empty() {
                let names_only: Vec<String> = fields.iter().map(|(f, _)| f.clone()).collect();
                let documents = self.documents(name);
                self.push(Action {
                    kind: ActionKind::RefreshFields,
                    target: name.clone(),
                    reason: format!(
                        "`write merge` with only added or changed fields: set {} in every \
                         document, the other fields stay",
                        names(&names_only)
                    ),
                    changes: fields
                        .iter()
                        .map(|(f, what)| format!("field `{f}` {what}"))
                        .collect(),
                    collection: name.clone(),
                    topic: None,
                    fields: names_only,
                    after,
                    estimate: documents,
                    warning: None,
                });
            }
        }
    }

    /// Which projections now trigger which views.
    fn strategies(&mut self) {
        for (name, n) in &self.new.views {
            let Some(o) = self.old.views.get(name) else {
                continue;
            };
            let mut changes = Vec::new();
            let all: BTreeSet<&String> = o.strategies.keys().chain(n.strategies.keys()).collect();
            for p in all {
                match (o.strategies.get(p), n.strategies.get(p)) {
                    (None, Some(s)) => changes.push(format!(
                        "`{p}` now triggers `{name}` (via {})",
                        s.walks.join("; ")
                    )),
                    (Some(_), None) => changes.push(format!("`{p}` no longer triggers `{name}`")),
                    (Some(a), Some(b)) if a.fingerprint != b.fingerprint => changes.push(format!(
                        "`{p}` triggers `{name}` by another walk (was {}; now {})",
                        a.walks.join("; "),
                        b.walks.join("; ")
                    )),
                    _ => {}
                }
            }
            if changes.is_empty() {
                continue;
            }
            self.push(Action {
                kind: ActionKind::UpdateStrategies,
                target: name.clone(),
                reason: "the projections whose changes rebuild this view changed: the next run \
                         follows the new walks"
                    .into(),
                changes,
                collection: name.clone(),
                topic: None,
                fields: vec![],
                after: vec![],
                estimate: None,
                warning: None,
            });
        }
    }

    /// Removed views and projections: left alone, or dropped with `prune`.
    fn removed(&mut self) {
        let prune = self.options.prune;
        for name in self.old.views.keys() {
            if self.new.views.contains_key(name) {
                continue;
            }
            let documents = self.documents(name);
            self.push(Action {
                kind: if prune {
                    ActionKind::DropView
                } else {
                    ActionKind::KeepView
                },
                target: name.clone(),
                reason: if prune {
                    "single view removed from the pipeline: its collection is dropped (--prune)"
                        .into()
                } else {
                    "single view removed from the pipeline: its collection is left alone and no \
                     longer updated (drop it with --prune)"
                        .into()
                },
                changes: vec![],
                collection: name.clone(),
                topic: None,
                fields: vec![],
                after: vec![],
                estimate: if prune { documents } else { None },
                warning: None,
            });
        }
        for (name, p) in &self.old.projections {
            if self.new.projections.contains_key(name) {
                continue;
            }
            let records = self.records(name);
            self.push(Action {
                kind: if prune {
                    ActionKind::DropProjection
                } else {
                    ActionKind::KeepProjection
                },
                target: name.clone(),
                reason: if prune {
                    format!(
                        "projection removed from the pipeline: its collection is dropped \
                         (--prune); topic `{}` is no longer read by it",
                        p.topic
                    )
                } else {
                    format!(
                        "projection removed from the pipeline: its collection is left alone and \
                         topic `{}` is no longer read into it (drop it with --prune)",
                        p.topic
                    )
                },
                changes: vec![],
                collection: name.clone(),
                topic: None,
                fields: vec![],
                after: vec![],
                estimate: if prune { records } else { None },
                warning: None,
            });
        }
    }

    /// The explanation when the text changed, nothing needs doing and nothing else says why.
    fn text(&mut self) {
        // Only when nothing else explains the edit (a renamed relation, changed events).
        if self.old.text_hash != self.new.text_hash
            && self.old.plan_fingerprint == self.new.plan_fingerprint
            && self.changes.actions.is_empty()
            && self.changes.unchanged.is_empty()
        {
            self.note(
                "pipeline",
                "the text changed (comments, formatting or declaration order) but the compiled \
                 plan is the same",
            );
        }
    }
}

/// What changed in a projection, one line per change.
fn projection_changes(o: &ProjectionRecord, n: &ProjectionRecord) -> Vec<String> {
    let mut out = Vec::new();
    if o.topic != n.topic {
        out.push(format!("topic `{}` -> `{}`", o.topic, n.topic));
    }
    if o.format_fingerprint != n.format_fingerprint {
        out.push(if o.format == n.format {
            format!("format `{}` redefined", n.format)
        } else {
            format!("format `{}` -> `{}`", o.format, n.format)
        });
    }
    if o.key != n.key {
        out.push(format!(
            "key ({}) -> ({})",
            o.key.join(", "),
            n.key.join(", ")
        ));
    }
    if o.delete != n.delete {
        out.push(format!("delete {:?} -> {:?}", o.delete, n.delete).to_lowercase());
    }
    let all: BTreeSet<&String> = o.fields.keys().chain(n.fields.keys()).collect();
    for f in all {
        match (o.fields.get(f), n.fields.get(f)) {
            (None, Some(_)) => out.push(format!("field `{f}` added")),
            (Some(_), None) => out.push(format!("field `{f}` removed")),
            (Some(a), Some(b)) if a.fingerprint != b.fingerprint => {
                let mut parts = Vec::new();
                if a.ty != b.ty {
                    parts.push(format!("type `{}` -> `{}`", a.ty, b.ty));
                }
                if a.source != b.source {
                    parts.push(format!("source `{}` -> `{}`", a.source, b.source));
                }
                if a.casts != b.casts {
                    let shown = |c: &str| {
                        if c.is_empty() {
                            "(none)".to_string()
                        } else {
                            format!("`{c}`")
                        }
                    };
                    parts.push(format!("casts {} -> {}", shown(&a.casts), shown(&b.casts)));
                }
                if a.default != b.default {
                    let shown = |d: &Option<serde_json::Value>| {
                        d.as_ref().map_or("(none)".to_string(), |v| v.to_string())
                    };
                    parts.push(format!(
                        "default {} -> {}",
                        shown(&a.default),
                        shown(&b.default)
                    ));
                }
                if parts.is_empty() {
                    parts.push("changed".into());
                }
                out.push(format!("field `{f}`: {}", parts.join(", ")));
            }
            _ => {}
        }
    }
    out
}

/// What changed in a view: the changes that need a full refresh, and the mapped fields added
/// or changed (`(name, "added" | "changed")`) when a field refresh may do.
fn view_changes(o: &ViewRecord, n: &ViewRecord) -> (Vec<String>, Vec<(String, String)>) {
    let mut full = Vec::new();
    if o.root != n.root {
        full.push(format!("root `{}` -> `{}`", o.root, n.root));
    }
    if o.key != n.key {
        full.push(format!(
            "key ({}) -> ({})",
            o.key.join(", "),
            n.key.join(", ")
        ));
    }
    if o.write != n.write {
        full.push(format!("write {:?} -> {:?}", o.write, n.write).to_lowercase());
    }
    if o.on_root_delete != n.on_root_delete {
        // As written in `.fdl`: `on root delete: mark deleted`.
        let spelled = |r: RootDelete| match r {
            RootDelete::Delete => "delete",
            RootDelete::MarkDeleted => "mark deleted",
        };
        full.push(format!(
            "on root delete: {} -> {}",
            spelled(o.on_root_delete),
            spelled(n.on_root_delete)
        ));
    }
    if o.schema != n.schema {
        full.push(match (&o.schema, &n.schema) {
            (None, Some(_)) => "validation schema added".into(),
            (Some(_), None) => "validation schema removed".into(),
            _ => "validation schema changed".into(),
        });
    }
    let mut fields = Vec::new();
    let all: BTreeSet<&String> = o.mapping.keys().chain(n.mapping.keys()).collect();
    for f in all {
        match (o.mapping.get(f), n.mapping.get(f)) {
            (None, Some(_)) => fields.push((f.clone(), "added".to_string())),
            (Some(_), None) => full.push(format!(
                "field `{f}` removed{}",
                if n.write == WriteMode::Merge {
                    " (a merge write keeps fields it does not write: `fdc apply` removes it from every stored document)"
                } else {
                    ""
                }
            )),
            (Some(a), Some(b)) if a.fingerprint != b.fingerprint => {
                fields.push((f.clone(), "changed".to_string()));
            }
            _ => {}
        }
    }
    let merge_both = o.write == WriteMode::Merge && n.write == WriteMode::Merge;
    if !merge_both || !full.is_empty() {
        // A replace write rewrites whole documents, and a change beyond fields needs every
        // document rebuilt: a changed field is part of a full refresh.
        full.extend(fields.iter().map(|(f, what)| format!("field `{f}` {what}")));
        return (full, vec![]);
    }
    (full, fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployment::{FieldRecord, MappedFieldRecord, StrategyRecord};
    use crate::{DeleteMode, EventOutput};

    fn field(fp: &str) -> FieldRecord {
        FieldRecord {
            fingerprint: fp.into(),
            ty: "int".into(),
            source: "ID".into(),
            casts: String::new(),
            default: None,
        }
    }

    /// Two projections (`a` root of view `v`, `b` read by it) and an index on `b`.
    fn record() -> Deployment {
        let projection = |topic: &str| ProjectionRecord {
            fingerprint: format!("p-{topic}"),
            topic: topic.into(),
            format: "basic".into(),
            format_fingerprint: "f".into(),
            key: vec!["id".into()],
            delete: DeleteMode::Soft,
            fields: [("id".to_string(), field("id"))].into(),
            events: None,
        };
        let mapped = |fp: &str, reads: &[&str]| MappedFieldRecord {
            fingerprint: fp.into(),
            reads: reads.iter().map(|r| r.to_string()).collect(),
        };
        let view = ViewRecord {
            fingerprint: "v".into(),
            root: "a".into(),
            key: vec!["id = a.id".into()],
            write: WriteMode::Merge,
            on_root_delete: RootDelete::Delete,
            schema: None,
            mapping: [
                ("id".to_string(), mapped("m1", &["a"])),
                ("bs".to_string(), mapped("m2", &["a", "b"])),
            ]
            .into(),
            reads: vec!["a".into(), "b".into()],
            relations: [("a_b".to_string(), "shape".to_string())].into(),
            strategies: [
                (
                    "a".to_string(),
                    StrategyRecord {
                        fingerprint: "s1".into(),
                        walks: vec!["(root)".into()],
                    },
                ),
                (
                    "b".to_string(),
                    StrategyRecord {
                        fingerprint: "s2".into(),
                        walks: vec!["b -> a".into()],
                    },
                ),
            ]
            .into(),
            events: None,
        };
        Deployment {
            format: 1,
            text_hash: "t".into(),
            plan_fingerprint: "plan".into(),
            applied_at: None,
            applied_by: None,
            projections: [
                ("a".to_string(), projection("ta")),
                ("b".to_string(), projection("tb")),
            ]
            .into(),
            views: [("v".to_string(), view)].into(),
            indexes: vec![IndexRecord {
                projection: "b".into(),
                fields: vec!["a_id".into()],
                unique: false,
                declared: false,
            }],
            apply: None,
            heartbeat: None,
        }
    }

    fn kinds(c: &Changes) -> Vec<(ActionKind, &str)> {
        c.actions
            .iter()
            .map(|a| (a.kind, a.target.as_str()))
            .collect()
    }

    #[test]
    fn the_same_record_needs_nothing_and_another_text_is_explained() {
        let old = record();
        assert_eq!(
            diff(&old, &old, &DiffOptions::default()),
            Changes::default()
        );
        let mut new = record();
        new.text_hash = "t2".into();
        let c = diff(&old, &new, &DiffOptions::default());
        assert!(c.actions.is_empty());
        assert_eq!(c.unchanged.len(), 1);
        assert_eq!(c.unchanged[0].subject, "pipeline");
    }

    #[test]
    fn a_changed_cast_reingests_then_refreshes_the_view_with_store_counts() {
        let old = record();
        let mut new = record();
        let b = new.projections.get_mut("b").unwrap();
        b.fingerprint = "p-tb-2".into();
        let id = b.fields.get_mut("id").unwrap();
        id.fingerprint = "id2".into();
        id.casts = "to_int".into();
        // A merge view whose projection is re-ingested needs every document rebuilt.
        let options = DiffOptions {
            counts: Counts {
                projections: [("b".to_string(), 40)].into(),
                views: [("v".to_string(), 7)].into(),
            },
            ..DiffOptions::default()
        };
        let c = diff(&old, &new, &options);
        assert_eq!(
            kinds(&c),
            vec![(ActionKind::Reingest, "b"), (ActionKind::Refresh, "v")]
        );
        assert_eq!(c.actions[0].topic.as_deref(), Some("tb"));
        assert_eq!(
            c.actions[0].changes,
            vec!["field `id`: casts (none) -> `to_int`"]
        );
        assert_eq!(
            c.actions[0].estimate,
            Some(Estimate {
                unit: Unit::Records,
                count: Some(40)
            })
        );
        assert_eq!(c.actions[1].after, vec![0]);
        assert_eq!(
            c.actions[1].estimate,
            Some(Estimate {
                unit: Unit::Documents,
                count: Some(7)
            })
        );
    }

    #[test]
    fn merge_views_refresh_only_added_or_changed_fields_but_a_removed_one_needs_all() {
        let old = record();
        let mut new = record();
        let v = new.views.get_mut("v").unwrap();
        v.mapping.get_mut("bs").unwrap().fingerprint = "m2b".into();
        v.mapping.insert(
            "extra".into(),
            MappedFieldRecord {
                fingerprint: "m3".into(),
                reads: vec!["a".into()],
            },
        );
        let c = diff(&old, &new, &DiffOptions::default());
        assert_eq!(kinds(&c), vec![(ActionKind::RefreshFields, "v")]);
        assert_eq!(c.actions[0].fields, vec!["bs", "extra"]);
        assert_eq!(
            c.actions[0].estimate,
            Some(Estimate {
                unit: Unit::Documents,
                count: None
            })
        );

        new.views.get_mut("v").unwrap().mapping.remove("id");
        let c = diff(&old, &new, &DiffOptions::default());
        assert_eq!(kinds(&c), vec![(ActionKind::Refresh, "v")]);
        assert!(
            c.actions[0].changes[0].contains("field `id` removed (a merge write keeps fields it does not write: `fdc apply` removes it"),
            "{:?}",
            c.actions[0].changes
        );
    }

    #[test]
    fn removed_items_are_left_alone_or_pruned_and_their_indexes_go_with_them() {
        let old = record();
        let mut new = record();
        new.views.clear();
        new.projections.remove("b");
        new.indexes.clear();
        let c = diff(&old, &new, &DiffOptions::default());
        assert_eq!(
            kinds(&c),
            vec![
                (ActionKind::KeepView, "v"),
                (ActionKind::KeepProjection, "b")
            ]
        );
        assert!(c.actions.iter().all(|a| a.estimate.is_none()));
        let pruned = diff(
            &old,
            &new,
            &DiffOptions {
                prune: true,
                ..DiffOptions::default()
            },
        );
        assert_eq!(
            kinds(&pruned),
            vec![
                (ActionKind::DropView, "v"),
                (ActionKind::DropProjection, "b")
            ]
        );
    }

    #[test]
    fn uniqueness_changes_drop_before_create_and_indexes_come_first() {
        let old = record();
        let mut new = record();
        new.indexes[0].unique = true;
        new.indexes.push(IndexRecord {
            projection: "a".into(),
            fields: vec!["x".into()],
            unique: false,
            declared: true,
        });
        new.projections
            .insert("c".into(), old.projections.get("a").cloned().unwrap());
        let c = diff(&old, &new, &DiffOptions::default());
        assert_eq!(
            kinds(&c),
            vec![
                (ActionKind::CreateIndex, "a(x)"),
                (ActionKind::DropIndex, "b(a_id)"),
                (ActionKind::CreateIndex, "b(a_id)"),
                (ActionKind::Ingest, "c"),
            ]
        );
        assert_eq!(c.actions[2].after, vec![1]);
        assert!(c.actions[2]
            .reason
            .starts_with("recreated as a unique index"));
    }

    #[test]
    fn strategies_events_and_renamed_relations_are_named() {
        let old = record();
        let mut new = record();
        let v = new.views.get_mut("v").unwrap();
        v.relations = [("renamed".to_string(), "shape".to_string())].into();
        v.events = Some(EventOutput {
            topic: "sv".into(),
            before: false,
            after: true,
        });
        let c = diff(&old, &new, &DiffOptions::default());
        assert!(c.actions.is_empty());
        let subjects: Vec<&str> = c.unchanged.iter().map(|u| u.subject.as_str()).collect();
        assert_eq!(subjects, vec!["single view `v`", "relation `a_b`"]);
        assert!(c.unchanged[1].reason.contains("renamed to `renamed`"));

        let v = new.views.get_mut("v").unwrap();
        v.fingerprint = "v2".into();
        v.strategies.remove("b");
        let c = diff(&old, &new, &DiffOptions::default());
        assert_eq!(kinds(&c), vec![(ActionKind::UpdateStrategies, "v")]);
        assert_eq!(c.actions[0].changes, vec!["`b` no longer triggers `v`"]);
    }
}
