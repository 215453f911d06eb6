//! `fdc-plan`: the compiled execution plan, as plain serializable data.
//!
//! In: nothing (this crate has no logic beyond small accessors, and pure rules kept here as
//! every crate depends on it: [`discovery`], which directories every file search skips;
//! [`indexes`], which secondary indexes each projection has; [`deployment`], the deployment
//! record of a plan and the diff of two, which `fdc plan` prints; [`preview`], the document
//! diff and report of `fdc preview`). Out: the [`Plan`] that the
//! compiler in `fdc-dsl` produces and the runtime in `fdc-engine` executes.
//!
//! Guarantees:
//! - pure data: no IO, no async runtime, no Kafka or MongoDB types; it serializes to JSON that
//!   validates against `schemas/plan.schema.json` (generated from these types, checked by a test);
//! - a plan produced by the compiler is *checked*: every name it holds resolves (projections,
//!   fields, join nodes, functions), so the engine can index into it without re-validating;
//! - join nodes are numbered in a single view, `nodes[0]` is the root, a node's parent always has
//!   a smaller index, so walking `nodes` in order visits parents before children.
//!
//! Semantics of the values and expressions are documented on each type and in
//! [`functions`], which is the one catalogue both the checker (types) and the engine
//! (implementations) follow.

pub mod deployment;
pub mod discovery;
pub mod drift;
pub mod functions;
pub mod indexes;
pub mod preview;
pub mod spelling;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the plan format. Bumped on any incompatible change.
pub const PLAN_VERSION: u32 = 1;

/// A whole compiled pipeline: every projection and every single view of the input files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Always [`PLAN_VERSION`] for plans written by this build.
    pub version: u32,
    /// Projections in declaration order. Names are unique across all systems.
    pub projections: Vec<Projection>,
    /// Single views in declaration order.
    pub single_views: Vec<SingleView>,
}

impl Plan {
    /// The projection named `name`, if any.
    pub fn projection(&self, name: &str) -> Option<&Projection> {
        self.projections.iter().find(|p| p.name == name)
    }

    /// The single view named `name`, if any.
    pub fn single_view(&self, name: &str) -> Option<&SingleView> {
        self.single_views.iter().find(|v| v.name == name)
    }

    /// The types of `view`'s key, in key order: each key field's root-projection field type
    /// ([`Type::Any`] where the root or the field is unknown, which a compiled plan never has).
    pub fn view_key_types(&self, view: &SingleView) -> Vec<Type> {
        let root = self.projection(&view.root().projection);
        view.key
            .iter()
            .map(|k| field_type(root.and_then(|p| p.field(&k.field))))
            .collect()
    }

    /// Every distinct ingestion topic, in first-declared order.
    pub fn topics(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.projections {
            if !out.contains(&p.topic.as_str()) {
                out.push(&p.topic);
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Projections
// ---------------------------------------------------------------------------------------------

/// A typed copy of one source table, fed by one Kafka topic.
///
/// Stored as one collection named [`Projection::name`]; one document per primary key. Every
/// message of [`Projection::topic`] is offered to every projection bound to that topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Projection {
    /// Unique name; also the collection name.
    pub name: String,
    /// The system of record it belongs to (`system crm { ... }`).
    pub system: String,
    /// The ingestion topic.
    pub topic: String,
    /// How messages of the topic are decoded into change records.
    pub format: Format,
    /// Primary-key field names (projection field names, not source columns), in key order.
    pub key: Vec<String>,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
    /// Secondary indexes (the unique primary-key index is implied and not listed).
    pub indexes: Vec<Index>,
    /// What a delete does to the stored record.
    pub delete: DeleteMode,
    /// Projection-update events, when declared.
    pub events: Option<EventOutput>,
}

impl Projection {
    /// The field named `name`, if any.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The types of the primary key, in key order ([`Type::Any`] for a key name that is not a
    /// field, which a compiled plan never has).
    pub fn key_types(&self) -> Vec<Type> {
        self.key.iter().map(|k| field_type(self.field(k))).collect()
    }
}

/// A field's type; [`Type::Any`] for no field.
fn field_type(field: Option<&Field>) -> Type {
    field.map_or(Type::Any, |f| f.ty.clone())
}

/// One typed field of a projection and how it is computed from the source row.
///
/// Cast semantics (the engine's contract):
/// 1. read `source` from the row image (a missing column and JSON `null` are both null);
/// 2. if the value is null and `default` is set, the default is used and the casts are skipped;
/// 3. otherwise apply `casts` in order; each function gets the running value as its first
///    argument followed by `args`. A function given null returns null unless documented otherwise;
/// 4. the result is coerced to `ty`: string as by `to_string` (scalars only); int as by
///    `to_int` except that a float or decimal with a fraction fails (no silent truncation);
///    float, decimal, bool as by `to_float`, `to_decimal`, `to_bool`; date from a string as by
///    `parse_date`; datetime from a string as by `parse_datetime` and from an integer as by
///    `from_unix_millis`; object and array from a string as by `parse_json`, then checked
///    (array elements coerced to `items`); `any` unchanged. A failure is a *cast failure*;
/// 5. a cast failure, or null for a field that is not `nullable`, dead-letters the message with
///    the field name and the reason; a cast failure on a nullable field also dead-letters: bad
///    data is never silently turned into null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Field name in the projection record.
    pub name: String,
    /// Declared type.
    pub ty: Type,
    /// Whether null is an allowed value.
    pub nullable: bool,
    /// Path of the source column in the row image (`["ADDRESS", "CITY"]`); usually one element.
    pub source: Vec<String>,
    /// Cast chain applied to the source value.
    pub casts: Vec<Call>,
    /// Value used when the source is null or missing (already of type `ty`, in the JSON
    /// representation documented on [`Type`]).
    pub default: Option<serde_json::Value>,
}

/// A call of a catalogue function with constant extra arguments: `replace("-", "")`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// A name from [`functions::CATALOGUE`].
    pub function: String,
    /// Constant arguments after the implicit first one.
    pub args: Vec<serde_json::Value>,
}

/// A secondary index on a projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Index name (`ix_<projection>_<field>_<field>` when not declared).
    pub name: String,
    /// Indexed fields in order.
    pub fields: Vec<String>,
    /// Whether the index enforces uniqueness.
    pub unique: bool,
}

/// What deleting a projection record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeleteMode {
    /// Keep the record with `__STATE__ = "DELETED"` and its version (default). A late, older
    /// insert cannot resurrect it.
    Soft,
    /// Remove the record. The version goes with it, so a late older insert *can* resurrect it.
    Hard,
}

/// Field and expression types.
///
/// JSON representation (plans, files, embedded store, events): string, int (i64), float (f64)
/// and bool as JSON; decimal as a JSON string in canonical form (`"12.50"` keeps its scale);
/// date as `"YYYY-MM-DD"`; datetime as RFC 3339 UTC with milliseconds
/// (`"2024-03-02T08:15:03.480Z"`); object and array as JSON. In MongoDB, datetime is a BSON
/// date, decimal a string, the rest their natural BSON types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Type {
    String,
    Int,
    Float,
    Decimal,
    Bool,
    Date,
    Datetime,
    /// Any JSON object.
    Object,
    /// Homogeneous array; `items` may itself be nullable-free only (elements are never null
    /// unless `items` is `Any`).
    Array {
        items: Box<Type>,
    },
    /// Anything (the result of `parse_json`, or an untyped source column).
    Any,
}

// ---------------------------------------------------------------------------------------------
// Message formats
// ---------------------------------------------------------------------------------------------

/// How a Kafka message becomes a change record (operation, key, before/after images, version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Format {
    /// key = JSON object of the primary-key columns, value = full row, null value = delete.
    /// Version: the Kafka message timestamp.
    Basic,
    /// Debezium envelope, with or without `{schema, payload}`. `op` c/r insert, u update,
    /// d delete; null value (tombstone) skipped; `t` (truncate) skipped. Version: `ts_ms`
    /// (falling back to `source.ts_ms`).
    Debezium,
    /// Oracle GoldenGate JSON: `op_type` I/U/D, `before`, `after`, `pos`. Version: `pos`
    /// compared as an unsigned decimal number.
    GoldenGate,
    /// A declared format.
    Custom(Box<CustomFormat>),
}

/// A declarative format: where each part of the change record lives in the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFormat {
    /// Format name as declared.
    pub name: String,
    /// Where the operation code is. `None`: a null/absent `after` image means delete,
    /// anything else is an upsert.
    pub operation: Option<MessagePath>,
    /// Operation codes meaning insert (compared as strings after JSON scalars are stringified).
    pub inserts: Vec<String>,
    /// Operation codes meaning update.
    pub updates: Vec<String>,
    /// Operation codes meaning delete.
    pub deletes: Vec<String>,
    /// Operation codes that are skipped (counted, not dead-lettered). Any other code is
    /// dead-lettered.
    pub skips: Vec<String>,
    /// The row image before the change (optional; enables primary-key-change detection).
    pub before: Option<MessagePath>,
    /// The row image after the change (required for insert/update).
    pub after: MessagePath,
    /// Where the ordering position is (an integer, or a string of digits). `None`: the Kafka
    /// message timestamp.
    pub position: Option<MessagePath>,
}

/// A path into a Kafka message: its key, its value, one header, or its timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagePath {
    pub part: MessagePart,
    /// Object keys to follow inside the part (empty: the part itself).
    pub path: Vec<String>,
}

/// The part of a Kafka message a [`MessagePath`] starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum MessagePart {
    /// The key, parsed as JSON (a non-JSON key is a JSON string).
    Key,
    /// The value, parsed as JSON.
    Value,
    /// A header value, parsed as JSON, or taken as a string when it is not JSON.
    Header(String),
    /// The message timestamp (epoch milliseconds).
    Timestamp,
}

// ---------------------------------------------------------------------------------------------
// Single views
// ---------------------------------------------------------------------------------------------

/// A denormalized document per key of the root projection, rebuilt whenever a record it
/// depends on changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SingleView {
    /// Unique name; also the collection name.
    pub name: String,
    /// The single-view key: document fields taken from root fields. Unique per root record
    /// (the checker proves it covers the root's primary key or a unique index).
    pub key: Vec<KeyField>,
    /// The join tree; `nodes[0]` is the root.
    pub nodes: Vec<JoinNode>,
    /// The document's fields, in output order (the key fields are included here too when
    /// mapped).
    pub mapping: Vec<MappedField>,
    /// What happens to the document when the root record is gone.
    pub on_root_delete: RootDelete,
    /// How the document is written.
    pub write: WriteMode,
    /// Single-view-update events, when declared.
    pub events: Option<EventOutput>,
    /// A JSON Schema every document must satisfy before it is written; a failing document is
    /// not written and is recorded as a single-view error with the reason.
    pub schema: Option<serde_json::Value>,
    /// For every projection the view depends on, the paths back to the root.
    pub strategies: Vec<Strategy>,
}

impl SingleView {
    /// The root node.
    pub fn root(&self) -> &JoinNode {
        &self.nodes[0]
    }

    /// The strategy of projection `name`, if the view depends on it.
    pub fn strategy(&self, projection: &str) -> Option<&Strategy> {
        self.strategies.iter().find(|s| s.projection == projection)
    }
}

/// One field of the single-view key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyField {
    /// Field name in the single-view document.
    pub name: String,
    /// Root projection field it is taken from.
    pub field: String,
}

/// A node of a single view's join tree: the records of `projection` related to the parent
/// node's record through one relation.
///
/// A child record `c` belongs to parent record `p` when, for every `i`,
/// `c[fields[i]] == p[parent_fields[i]]` (null never matches), every `conditions` holds on `c`,
/// every `parent_conditions` holds on `p`, and `c.__STATE__ == "PUBLIC"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinNode {
    /// Index of this node in [`SingleView::nodes`].
    pub id: usize,
    /// Projection whose records this node holds.
    pub projection: String,
    /// Parent node (`None` only for the root).
    pub parent: Option<usize>,
    /// The relation walked from the parent (for explain and diagnostics).
    pub relation: Option<String>,
    /// Join fields on the parent's projection.
    pub parent_fields: Vec<String>,
    /// Join fields on this node's projection (same length as `parent_fields`).
    pub fields: Vec<String>,
    /// Conditions on this node's records.
    pub conditions: Vec<FieldCondition>,
    /// Conditions on the parent's records.
    pub parent_conditions: Vec<FieldCondition>,
    /// Whether a parent record may have many related records here (an array or aggregate
    /// source) or at most one.
    pub many: bool,
}

/// `field <op> value` with a constant value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    pub field: String,
    pub op: CompareOp,
    pub value: serde_json::Value,
}

/// Comparison operators of conditions and expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A named output field and its expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappedField {
    pub name: String,
    pub expr: Expr,
}

/// What a single view becomes when its root record is deleted or gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RootDelete {
    /// Remove the document (default).
    Delete,
    /// Keep a document with `__STATE__ = "DELETED"`. The document is a function of the stored
    /// projections only, never of how the changes were batched:
    /// - root record stored soft-deleted (`DeleteMode::Soft` keeps its fields): the mapping
    ///   evaluated on that last image with the current `PUBLIC` related records, written with
    ///   `__STATE__ = "DELETED"` even if no document was written while the root was live; later
    ///   changes of related records rebuild it, still marked (strategies reach such roots);
    /// - root record gone entirely (`DeleteMode::Hard` on the root projection, or never stored):
    ///   the stored document, if any, is kept and marked; none is written otherwise. With hard
    ///   delete on the root this depends on history (the root's image is lost): a root inserted
    ///   and deleted before any rebuild leaves no document.
    MarkDeleted,
}

/// How a single-view document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Replace the whole document (default).
    Replace,
    /// Set only the mapped fields; fields written by other pipelines are kept.
    Merge,
}

/// Where and what to publish on Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventOutput {
    pub topic: String,
    /// Include the document before the write.
    pub before: bool,
    /// Include the document after the write.
    pub after: bool,
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// How a change to `projection` finds the single-view keys it affects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub projection: String,
    /// One path per place the projection occupies in the join tree (de-duplicated). An empty
    /// `hops` list means the projection is the root: the key is read from the record itself.
    pub paths: Vec<StrategyPath>,
}

/// A walk from a changed record to root records, hop by hop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyPath {
    /// The join node this path starts from (for explain).
    pub node: usize,
    /// Hops in walking order; the last hop's `to` is the root projection.
    pub hops: Vec<Hop>,
    /// Declared by an explicit `strategy` override rather than derived.
    pub explicit: bool,
}

/// One hop: from records of `from`, query `to` where `to_fields` are `$in` the values of
/// `from_fields` (tuple-wise for composite joins). Conditions prune on both sides; records of
/// `to` must be `PUBLIC`, except on the last hop (onto the root) of a view whose root delete is
/// `mark_deleted`, where soft-deleted roots are reached too (their marked document is rebuilt).
/// The starting (changed) record is used whatever its state, so deletes trigger their views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hop {
    pub relation: String,
    pub from: String,
    pub from_fields: Vec<String>,
    pub from_conditions: Vec<FieldCondition>,
    pub to: String,
    pub to_fields: Vec<String>,
    pub to_conditions: Vec<FieldCondition>,
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

/// A checked, typed mapping expression.
///
/// Evaluation happens in a *scope*: a stack of bound join nodes, each with one record. The root
/// node is always bound; [`Expr::Collect`] and [`Expr::Aggregate`] bind their node for each
/// element. A [`Expr::Field`] on a node that is not bound is a one-node reached from a bound
/// ancestor through single-valued hops: it reads the (first, by primary key) related record, or
/// null when there is none.
///
/// Null and errors: see [`functions`]. Operators propagate null (`1 + null` is null) except
/// `==`/`!=` (null equals only null), `and`/`or`/`not` (null is false) and `??` (coalesce).
/// Division or remainder by zero and overflow give null. No expression fails a rebuild.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expr {
    /// A constant, in the JSON representation of `ty`.
    Literal {
        value: serde_json::Value,
        ty: Type,
    },
    /// A field of the record bound to (or reached from the scope to) `node`; `path` goes into
    /// object fields after the first element (`["address", "city"]`). Empty path: the whole
    /// record without metadata.
    Field {
        node: usize,
        path: Vec<String>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// A catalogue function ([`functions::CATALOGUE`]).
    Call {
        function: String,
        args: Vec<Expr>,
    },
    /// First branch whose `when` is true gives the value, else `otherwise`.
    If {
        branches: Vec<Branch>,
        otherwise: Box<Expr>,
    },
    /// A nested object.
    Object {
        fields: Vec<MappedField>,
    },
    /// An array with one element per related record of `node` (a many-node below the scope;
    /// intermediate many-hops are flattened), filtered, sorted (stable; ties by primary key;
    /// nulls first ascending), limited, each element evaluated with the record bound.
    Collect {
        node: usize,
        filter: Option<Box<Expr>>,
        sort: Vec<SortKey>,
        limit: Option<u64>,
        element: Box<Expr>,
    },
    /// An aggregate over the related records of `node` (as for `Collect`). `value` is evaluated
    /// per record (required for all but `count`). Nulls are skipped. Empty input: `count` 0,
    /// `sum` 0 (of the value's type), others null. `first`/`last` follow `sort` (else primary
    /// key order).
    Aggregate {
        function: AggregateFn,
        node: usize,
        filter: Option<Box<Expr>>,
        sort: Vec<SortKey>,
        value: Option<Box<Expr>>,
    },
}

/// `when <cond> then <value>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    pub when: Expr,
    pub then: Expr,
}

/// One sort key of a collect or aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOp {
    Not,
    Neg,
}

/// Binary operators. `Add` on two strings concatenates; arithmetic on int and float gives
/// float, on decimal and int/float gives decimal; int overflow gives null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    /// `a ?? b`: `a` unless it is null.
    Coalesce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFn {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    First,
    Last,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_round_trips_through_json() {
        let plan = Plan {
            version: PLAN_VERSION,
            projections: vec![Projection {
                name: "customers".into(),
                system: "crm".into(),
                topic: "crm.customers".into(),
                format: Format::Custom(Box::new(CustomFormat {
                    name: "mine".into(),
                    operation: Some(MessagePath {
                        part: MessagePart::Value,
                        path: vec!["op".into()],
                    }),
                    inserts: vec!["I".into()],
                    updates: vec!["U".into()],
                    deletes: vec!["D".into()],
                    skips: vec![],
                    before: None,
                    after: MessagePath {
                        part: MessagePart::Header("row".into()),
                        path: vec![],
                    },
                    position: None,
                })),
                key: vec!["id".into()],
                fields: vec![Field {
                    name: "id".into(),
                    ty: Type::Array {
                        items: Box::new(Type::Int),
                    },
                    nullable: false,
                    source: vec!["ID".into()],
                    casts: vec![Call {
                        function: "to_int".into(),
                        args: vec![],
                    }],
                    default: None,
                }],
                indexes: vec![],
                delete: DeleteMode::Soft,
                events: None,
            }],
            single_views: vec![],
        };
        let text = serde_json::to_string(&plan).expect("serializes");
        let back: Plan = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(plan, back);
        assert_eq!(plan.topics(), vec!["crm.customers"]);
    }

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
            nullable: false,
            source: vec![name.into()],
            casts: vec![],
            default: None,
        }
    }

    #[test]
    fn key_types_follow_key_order_for_projections_and_views() {
        let mut plan: Plan = serde_json::from_value(serde_json::json!({
            "version": PLAN_VERSION,
            "projections": [{"name": "orders", "system": "shop", "topic": "t",
                "format": {"kind": "basic"}, "key": ["region", "id"], "fields": [],
                "indexes": [], "delete": "hard", "events": null}],
            "single_views": [{"name": "v",
                "key": [{"name": "order", "field": "id"}, {"name": "at", "field": "region"},
                        {"name": "gone", "field": "nothing"}],
                "nodes": [{"id": 0, "projection": "orders", "parent": null, "relation": null,
                    "parent_fields": [], "fields": [], "conditions": [],
                    "parent_conditions": [], "many": false}],
                "mapping": [], "on_root_delete": "delete", "write": "replace", "events": null,
                "schema": null, "strategies": []}]
        }))
        .expect("a plan");
        plan.projections[0].fields = vec![
            field("id", Type::Int),
            field("region", Type::String),
            field(
                "tags",
                Type::Array {
                    items: Box::new(Type::Int),
                },
            ),
        ];
        let orders = &plan.projections[0];
        assert_eq!(orders.key_types(), vec![Type::String, Type::Int]);
        let view = &plan.single_views[0];
        assert_eq!(
            plan.view_key_types(view),
            vec![Type::Int, Type::String, Type::Any]
        );
    }
}
