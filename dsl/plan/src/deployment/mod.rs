//! The deployment record: what a compiled pipeline puts in the stores, described so that a
//! later version can be compared with it from the record alone.
//!
//! In: a compiled [`Plan`] and the texts of the pipeline's files. Out: a [`Deployment`]:
//! the text hash, a fingerprint of the whole plan, and per projection, single view, secondary
//! index and strategy a readable description with its fingerprint; [`diff`] compares a record
//! with a newer one and lists the actions that would bring the stores to the new plan.
//!
//! Guarantees:
//! - serializable (serde JSON, `deny_unknown_fields`), versioned by [`DEPLOYMENT_FORMAT`];
//!   the same plan gives byte-identical JSON in every process (SHA-256 over canonical JSON,
//!   maps sorted by name: see [`canonical`]);
//! - fingerprints are insensitive to comments, formatting and declaration order (they are
//!   computed from the plan, items sorted by name), to how join nodes are numbered and to
//!   relation names (a renamed relation with the same walk changes no fingerprint); the text
//!   hash is not, so a record tells "the text changed but the plan did not";
//! - the record holds no record contents, only names, types and casts of the pipeline.
//!
//! `applied_at` and `applied_by` are filled by the caller that applies the deployment.

pub mod canonical;
pub mod diff;
pub mod report;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    Call, DeleteMode, EventOutput, Expr, FieldCondition, Format, Hop, Plan, Projection, RootDelete,
    SingleView, WriteMode,
};

/// Version of the record's JSON shape. Bumped on any incompatible change.
pub const DEPLOYMENT_FORMAT: u32 = 1;

/// What one compiled pipeline deploys: the record a store keeps of the deployed plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Always [`DEPLOYMENT_FORMAT`] for records written by this build.
    pub format: u32,
    /// SHA-256 of the pipeline's file texts (sorted, each length-prefixed): changes with any
    /// edit, comments and formatting included.
    pub text_hash: String,
    /// SHA-256 of the canonical plan (projections, views, indexes; event outputs excluded):
    /// equal for two pipelines that store the same data the same way.
    pub plan_fingerprint: String,
    /// When the deployment was applied (RFC 3339), filled by the caller that applies it.
    pub applied_at: Option<String>,
    /// Who applied it (`FDC_DEPLOYED_BY` or the user name), filled by the caller.
    pub applied_by: Option<String>,
    /// Projections by name.
    pub projections: BTreeMap<String, ProjectionRecord>,
    /// Single views by name.
    pub views: BTreeMap<String, ViewRecord>,
    /// Secondary indexes of every projection (`fdc_plan::indexes`), sorted by projection and
    /// fields.
    pub indexes: Vec<IndexRecord>,
    /// An `fdc apply` toward another plan that has not finished (interrupted, or limited with
    /// `--only`): while it is there the store holds a mix of both plans, and `fdc run` refuses.
    /// Absent from records written before `fdc apply` existed. Not part of any fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyProgress>,
    /// The last sign of life of an `fdc run` on this store (written every few seconds while it
    /// runs); `fdc apply` refuses while it is recent. Not part of any fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Heartbeat>,
}

/// How far an unfinished `fdc apply` got: enough to resume it with the same target plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyProgress {
    /// The plan fingerprint the apply brings the store to.
    pub target: String,
    /// The text hash of the target pipeline (to tell the operator which version it was).
    pub target_text_hash: String,
    /// When the apply started (RFC 3339) and who started it.
    pub started_at: String,
    pub started_by: String,
    /// The actions done, each as `kind target` (e.g. `refresh customer_360`).
    pub done: Vec<String>,
    /// The action in progress, as `kind target`, with its own checkpoint (a refresh's cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Value>,
}

/// A running `fdc run`'s sign of life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The plan fingerprint the run runs.
    pub plan_fingerprint: String,
    /// The host name and process id of the run.
    pub host: String,
    pub pid: u32,
    /// When it was written (RFC 3339) and the same as epoch milliseconds (for the age).
    pub at: String,
    pub at_ms: i64,
}

/// A projection as deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectionRecord {
    /// Fingerprint of topic, format, key, delete mode and fields.
    pub fingerprint: String,
    /// The ingestion topic.
    pub topic: String,
    /// The message format (`debezium`, `basic`, `golden-gate`, or `custom NAME`).
    pub format: String,
    /// Fingerprint of the format's definition (a custom format's name excluded).
    pub format_fingerprint: String,
    /// Primary-key fields in key order.
    pub key: Vec<String>,
    /// Delete mode.
    pub delete: DeleteMode,
    /// Fields by name.
    pub fields: BTreeMap<String, FieldRecord>,
    /// Projection-update events (not part of the fingerprint: they store nothing).
    pub events: Option<EventOutput>,
}

/// One projection field as deployed: type, source column and casts, readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldRecord {
    /// Fingerprint of type, nullability, source, casts and default.
    pub fingerprint: String,
    /// The type as written in `.fdl` (`string?`, `[int]`).
    #[serde(rename = "type")]
    pub ty: String,
    /// The source column path, dot-separated.
    pub source: String,
    /// The cast chain as written (`trim | lowercase`), empty when none.
    pub casts: String,
    /// The default value, when declared.
    pub default: Option<Value>,
}

/// A single view as deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewRecord {
    /// Fingerprint of root, key, write mode, root delete, schema, mapping and strategies.
    pub fingerprint: String,
    /// The root projection.
    pub root: String,
    /// The key, as `name = root_field` pairs in key order.
    pub key: Vec<String>,
    /// How documents are written.
    pub write: WriteMode,
    /// What a deleted root does to the document.
    pub on_root_delete: RootDelete,
    /// Fingerprint of the validation schema, when there is one.
    pub schema: Option<String>,
    /// Top-level mapped fields by name.
    pub mapping: BTreeMap<String, MappedFieldRecord>,
    /// Every projection the view reads (its join tree's projections), sorted.
    pub reads: Vec<String>,
    /// Relations the join tree walks, by name: the shape of each (for "renamed" notes).
    pub relations: BTreeMap<String, String>,
    /// Which projections trigger this view, and how (by projection).
    pub strategies: BTreeMap<String, StrategyRecord>,
    /// Single-view-update events (not part of the fingerprint: they store nothing).
    pub events: Option<EventOutput>,
}

/// One top-level mapped field of a single view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappedFieldRecord {
    /// Fingerprint of the expression, join walks included (relation names and node numbers
    /// excluded).
    pub fingerprint: String,
    /// The projections the expression reads, sorted.
    pub reads: Vec<String>,
}

/// How changes of one projection reach a view's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyRecord {
    /// Fingerprint of the walks (hops and conditions; relation names excluded).
    pub fingerprint: String,
    /// Each walk as the projections it visits (`order_items -> orders -> customers`); the
    /// root's own strategy is `(root)`.
    pub walks: Vec<String>,
}

/// One secondary index of a projection's collection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexRecord {
    pub projection: String,
    /// Indexed fields in order.
    pub fields: Vec<String>,
    pub unique: bool,
    /// Declared in the pipeline (`index ...`), rather than derived from joins and strategies.
    pub declared: bool,
}

/// Why a record cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordError {
    /// Not JSON of the record's shape.
    Invalid(String),
    /// A record of another format version.
    Format(u32),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Invalid(e) => write!(f, "not a deployment record: {e}"),
            RecordError::Format(n) => write!(
                f,
                "deployment record format {n} is not supported by this fdc (it reads format \
                 {DEPLOYMENT_FORMAT})"
            ),
        }
    }
}

impl std::error::Error for RecordError {}

impl Deployment {
    /// The record of `plan`, compiled from files whose texts are `texts` (any order).
    /// `applied_at` and `applied_by` are left empty for the caller.
    pub fn new(plan: &Plan, texts: &[&str]) -> Deployment {
        let projections: BTreeMap<String, ProjectionRecord> = plan
            .projections
            .iter()
            .map(|p| (p.name.clone(), projection_record(p)))
            .collect();
        let views: BTreeMap<String, ViewRecord> = plan
            .single_views
            .iter()
            .map(|v| (v.name.clone(), view_record(v)))
            .collect();
        let mut indexes = Vec::new();
        for (projection, list) in crate::indexes::of_plan(plan) {
            let declared: Vec<&Vec<String>> = plan
                .projection(&projection)
                .map(|p| p.indexes.iter().map(|i| &i.fields).collect())
                .unwrap_or_default();
            for (fields, unique) in list {
                indexes.push(IndexRecord {
                    declared: declared.contains(&&fields),
                    projection: projection.clone(),
                    fields,
                    unique,
                });
            }
        }
        indexes.sort();
        let plan_fingerprint = canonical::long(&json!({
            "projections": projections.iter()
                .map(|(n, p)| (n.clone(), Value::from(p.fingerprint.clone())))
                .collect::<serde_json::Map<_, _>>(),
            "views": views.iter()
                .map(|(n, v)| (n.clone(), Value::from(v.fingerprint.clone())))
                .collect::<serde_json::Map<_, _>>(),
            "indexes": indexes.iter()
                .map(|i| json!([i.projection, i.fields, i.unique]))
                .collect::<Vec<_>>(),
        }));
        Deployment {
            format: DEPLOYMENT_FORMAT,
            text_hash: text_hash(texts),
            plan_fingerprint,
            applied_at: None,
            applied_by: None,
            projections,
            views,
            indexes,
            apply: None,
            heartbeat: None,
        }
    }

    /// Reads a record written by [`Deployment::to_json`] (any build of the same format).
    pub fn from_json(text: &str) -> Result<Deployment, RecordError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| RecordError::Invalid(e.to_string()))?;
        match value.get("format").and_then(Value::as_u64) {
            Some(n) if n == u64::from(DEPLOYMENT_FORMAT) => {}
            Some(n) => return Err(RecordError::Format(u32::try_from(n).unwrap_or(u32::MAX))),
            None => return Err(RecordError::Invalid("no `format` number".into())),
        }
        serde_json::from_value(value).map_err(|e| RecordError::Invalid(e.to_string()))
    }

    /// The record as pretty JSON with a final newline (stable: same plan, same bytes).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// SHA-256 of `texts`, sorted, each prefixed by its length (so files cannot run together).
pub fn text_hash(texts: &[&str]) -> String {
    let mut sorted: Vec<&str> = texts.to_vec();
    sorted.sort_unstable();
    let mut bytes = Vec::new();
    for t in sorted {
        bytes.extend_from_slice(format!("{}:", t.len()).as_bytes());
        bytes.extend_from_slice(t.as_bytes());
    }
    canonical::sha256_hex(&bytes)
}

fn call_text(c: &Call) -> String {
    if c.args.is_empty() {
        return c.function.clone();
    }
    let args: Vec<String> = c.args.iter().map(|a| a.to_string()).collect();
    format!("{}({})", c.function, args.join(", "))
}

fn format_text(f: &Format) -> String {
    match f {
        Format::Custom(c) => format!("custom {}", c.name),
        other => other.name().to_string(),
    }
}

fn projection_record(p: &Projection) -> ProjectionRecord {
    let format_fingerprint = canonical::short(&match &p.format {
        Format::Custom(c) => {
            let mut v = canonical::json(c);
            if let Some(o) = v.as_object_mut() {
                o.remove("name");
            }
            json!({ "custom": v })
        }
        other => canonical::json(other),
    });
    let fields: BTreeMap<String, FieldRecord> = p
        .fields
        .iter()
        .map(|f| {
            let fingerprint = canonical::short(&json!({
                "ty": canonical::json(&f.ty),
                "nullable": f.nullable,
                "source": f.source,
                "casts": canonical::json(&f.casts),
                "default": f.default,
            }));
            let mut ty = f.ty.to_string();
            if f.nullable {
                ty.push('?');
            }
            let record = FieldRecord {
                fingerprint,
                ty,
                source: f.source.join("."),
                casts: f
                    .casts
                    .iter()
                    .map(call_text)
                    .collect::<Vec<_>>()
                    .join(" | "),
                default: f.default.clone(),
            };
            (f.name.clone(), record)
        })
        .collect();
    let fingerprint = canonical::short(&json!({
        "topic": p.topic,
        "format": format_fingerprint,
        "key": p.key,
        "delete": canonical::json(&p.delete),
        "fields": fields.iter()
            .map(|(n, f)| (n.clone(), Value::from(f.fingerprint.clone())))
            .collect::<serde_json::Map<_, _>>(),
    }));
    ProjectionRecord {
        fingerprint,
        topic: p.topic.clone(),
        format: format_text(&p.format),
        format_fingerprint,
        key: p.key.clone(),
        delete: p.delete,
        fields,
        events: p.events.clone(),
    }
}

/// Every node an expression reads (its own `node` and those of its subexpressions).
fn nodes_read(expr: &Expr, out: &mut Vec<usize>) {
    let mut push = |n: usize| {
        if !out.contains(&n) {
            out.push(n);
        }
    };
    match expr {
        Expr::Literal { .. } => {}
        Expr::Field { node, .. } => push(*node),
        Expr::Unary { expr, .. } => nodes_read(expr, out),
        Expr::Binary { left, right, .. } => {
            nodes_read(left, out);
            nodes_read(right, out);
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| nodes_read(a, out)),
        Expr::If {
            branches,
            otherwise,
        } => {
            for b in branches {
                nodes_read(&b.when, out);
                nodes_read(&b.then, out);
            }
            nodes_read(otherwise, out);
        }
        Expr::Object { fields } => fields.iter().for_each(|f| nodes_read(&f.expr, out)),
        Expr::Collect {
            node,
            filter,
            sort,
            element,
            ..
        } => {
            push(*node);
            if let Some(f) = filter {
                nodes_read(f, out);
            }
            sort.iter().for_each(|s| nodes_read(&s.expr, out));
            nodes_read(element, out);
        }
        Expr::Aggregate {
            node,
            filter,
            sort,
            value,
            ..
        } => {
            push(*node);
            if let Some(f) = filter {
                nodes_read(f, out);
            }
            sort.iter().for_each(|s| nodes_read(&s.expr, out));
            if let Some(v) = value {
                nodes_read(v, out);
            }
        }
    }
}

/// A strategy walk as text: `order_items -> orders -> customers`, each hop's conditions in
/// brackets after the projection they test (`assignments [active == true] -> vehicles`).
fn walk_text(hops: &[Hop]) -> String {
    let Some(first) = hops.first() else {
        return "(root)".into();
    };
    let conditions = |list: &[FieldCondition]| -> String {
        if list.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = list
            .iter()
            .map(|c| format!("{} {} {}", c.field, c.op.symbol(), c.value))
            .collect();
        format!(" [{}]", parts.join(" and "))
    };
    // Each projection visited, with the conditions tested on it by the hops on either side.
    let mut visited: Vec<(&str, Vec<FieldCondition>)> = vec![(&first.from, vec![])];
    for h in hops {
        if let Some((_, list)) = visited.last_mut() {
            list.extend(h.from_conditions.iter().cloned());
        }
        visited.push((&h.to, h.to_conditions.clone()));
    }
    visited
        .into_iter()
        .map(|(name, mut list)| {
            list.dedup();
            format!("{name}{}", conditions(&list))
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn view_record(v: &SingleView) -> ViewRecord {
    let root = v
        .nodes
        .first()
        .map(|n| n.projection.clone())
        .unwrap_or_default();
    let key: Vec<String> = v
        .key
        .iter()
        .map(|k| format!("{} = {root}.{}", k.name, k.field))
        .collect();
    let mapping: BTreeMap<String, MappedFieldRecord> = v
        .mapping
        .iter()
        .map(|m| {
            let expr = canonical::expr_with_walks(v, canonical::json(&m.expr));
            let mut nodes = Vec::new();
            nodes_read(&m.expr, &mut nodes);
            // A node read through a one-hop from the scope reads its ancestors' records too.
            let mut reads: Vec<String> = Vec::new();
            for n in nodes {
                let mut at = v.nodes.get(n);
                let mut left = v.nodes.len();
                while let (Some(node), true) = (at, left > 0) {
                    left -= 1;
                    reads.push(node.projection.clone());
                    at = node.parent.and_then(|p| v.nodes.get(p));
                }
            }
            reads.sort();
            reads.dedup();
            let record = MappedFieldRecord {
                fingerprint: canonical::short(&expr),
                reads,
            };
            (m.name.clone(), record)
        })
        .collect();
    let mut reads: Vec<String> = v.nodes.iter().map(|n| n.projection.clone()).collect();
    reads.sort();
    reads.dedup();
    let mut relations = BTreeMap::new();
    for n in &v.nodes {
        if let (Some(name), Some(parent)) = (&n.relation, n.parent.and_then(|p| v.nodes.get(p))) {
            let shape = canonical::relation_shape(n, &parent.projection);
            relations.insert(name.clone(), canonical::short(&shape));
        }
    }
    let strategies: BTreeMap<String, StrategyRecord> = v
        .strategies
        .iter()
        .map(|s| {
            let mut shapes: Vec<String> = s
                .paths
                .iter()
                .map(|p| {
                    let hops: Vec<Value> = p.hops.iter().map(canonical::hop_shape).collect();
                    canonical::canonical(&Value::from(hops))
                })
                .collect();
            shapes.sort();
            shapes.dedup();
            let mut walks: Vec<String> = s.paths.iter().map(|p| walk_text(&p.hops)).collect();
            walks.sort();
            walks.dedup();
            let record = StrategyRecord {
                fingerprint: canonical::short(&Value::from(shapes)),
                walks,
            };
            (s.projection.clone(), record)
        })
        .collect();
    let schema = v.schema.as_ref().map(canonical::short);
    let fingerprint = canonical::short(&json!({
        "root": root,
        "key": key,
        "write": canonical::json(&v.write),
        "on_root_delete": canonical::json(&v.on_root_delete),
        "schema": schema,
        "mapping": mapping.iter()
            .map(|(n, m)| (n.clone(), Value::from(m.fingerprint.clone())))
            .collect::<serde_json::Map<_, _>>(),
        "strategies": strategies.iter()
            .map(|(n, s)| (n.clone(), Value::from(s.fingerprint.clone())))
            .collect::<serde_json::Map<_, _>>(),
    }));
    ViewRecord {
        fingerprint,
        root,
        key,
        write: v.write,
        on_root_delete: v.on_root_delete,
        schema,
        mapping,
        reads,
        relations,
        strategies,
        events: v.events.clone(),
    }
}
