//! The checker's diagnostics: one variant per problem, each with a stable code.
//!
//! In: raised by the checker passes. Out: rendered by miette or as JSON.
//!
//! Guarantees: codes are stable (`fdl::check::<name>`) and listed in `docs/language.md`; a test
//! asserts every code here appears in a fixture and in the docs. Secondary labels point into the
//! same file as the primary label; a related place in another file is named in the help text.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// Problems found by the checker (errors unless marked as warnings).
#[derive(Debug, Clone, Error, Diagnostic, PartialEq)]
pub enum CheckError {
    // ---- unknown names ----------------------------------------------------------------------
    /// A name that should be a projection is not declared anywhere in the pipeline.
    #[error("unknown projection `{name}`")]
    #[diagnostic(code(fdl::check::unknown_projection))]
    UnknownProjection {
        name: String,
        #[label(primary, "not a projection")]
        span: SourceSpan,
        candidates: Vec<String>,
        #[help]
        help: Option<String>,
    },

    /// A field name that the projection does not declare. Reading it would always give null.
    #[error("projection `{projection}` has no field `{name}`")]
    #[diagnostic(code(fdl::check::unknown_field))]
    UnknownField {
        name: String,
        projection: String,
        #[label(primary, "unknown field")]
        span: SourceSpan,
        candidates: Vec<String>,
        #[help]
        help: Option<String>,
    },

    /// A relation name that is not declared.
    #[error("unknown relation `{name}`")]
    #[diagnostic(code(fdl::check::unknown_relation))]
    UnknownRelation {
        name: String,
        #[label(primary, "not a relation")]
        span: SourceSpan,
        candidates: Vec<String>,
        #[help]
        help: Option<String>,
    },

    /// A function that is not in the built-in library (see the language reference).
    #[error("unknown function `{name}`")]
    #[diagnostic(code(fdl::check::unknown_function))]
    UnknownFunction {
        name: String,
        #[label(primary, "not a built-in function")]
        span: SourceSpan,
        candidates: Vec<String>,
        #[help]
        help: Option<String>,
    },

    /// A projection's `as FORMAT` names neither a built-in format nor a declared one.
    #[error("unknown message format `{name}`")]
    #[diagnostic(code(fdl::check::unknown_format))]
    UnknownFormat {
        name: String,
        #[label(primary, "not a message format")]
        span: SourceSpan,
        candidates: Vec<String>,
        #[help]
        help: Option<String>,
    },

    /// A name in an expression is neither a field of the current element or of the root, nor
    /// the root projection, nor a relation from the current scope.
    #[error("unknown name `{name}`")]
    #[diagnostic(code(fdl::check::unknown_name))]
    UnknownName {
        name: String,
        #[label(primary, "not a field, relation or the root projection here")]
        span: SourceSpan,
        candidates: Vec<String>,
        #[help]
        help: Option<String>,
    },

    /// A relation used from a record it does not connect to (`customer_orders` from an
    /// `addresses` element): there is no join to walk.
    #[error("relation `{relation}` does not connect to projection `{projection}`")]
    #[diagnostic(code(fdl::check::relation_not_navigable))]
    RelationNotNavigable {
        relation: String,
        projection: String,
        #[label(primary, "used from `{projection}` here")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    // ---- duplicates -------------------------------------------------------------------------
    /// Two projections share a name. Names are global (they are collection names).
    #[error("projection `{name}` is declared twice")]
    #[diagnostic(code(fdl::check::duplicate_projection))]
    DuplicateProjection {
        name: String,
        #[label(primary, "declared again here")]
        span: SourceSpan,
        #[label("first declared here")]
        first: Option<SourceSpan>,
        #[help]
        help: Option<String>,
    },

    /// A projection declares the same field twice.
    #[error("field `{name}` is declared twice")]
    #[diagnostic(code(fdl::check::duplicate_field))]
    DuplicateField {
        name: String,
        #[label(primary, "declared again here")]
        span: SourceSpan,
        #[label("first declared here")]
        first: Option<SourceSpan>,
    },

    /// Two relations share a name.
    #[error("relation `{name}` is declared twice")]
    #[diagnostic(code(fdl::check::duplicate_relation))]
    DuplicateRelation {
        name: String,
        #[label(primary, "declared again here")]
        span: SourceSpan,
        #[label("first declared here")]
        first: Option<SourceSpan>,
        #[help]
        help: Option<String>,
    },

    /// Two single views share a name (it is their collection name).
    #[error("single view `{name}` is declared twice")]
    #[diagnostic(code(fdl::check::duplicate_single_view))]
    DuplicateSingleView {
        name: String,
        #[label(primary, "declared again here")]
        span: SourceSpan,
        #[label("first declared here")]
        first: Option<SourceSpan>,
        #[help]
        help: Option<String>,
    },

    /// A document (or nested object) maps the same field twice; only one could be written.
    #[error("field `{name}` is mapped twice")]
    #[diagnostic(code(fdl::check::duplicate_mapping))]
    DuplicateMapping {
        name: String,
        #[label(primary, "mapped again here")]
        span: SourceSpan,
        #[label("first mapped here")]
        first: Option<SourceSpan>,
    },

    /// Two custom formats share a name.
    #[error("format `{name}` is declared twice")]
    #[diagnostic(code(fdl::check::duplicate_format))]
    DuplicateFormat {
        name: String,
        #[label(primary, "declared again here")]
        span: SourceSpan,
        #[label("first declared here")]
        first: Option<SourceSpan>,
        #[help]
        help: Option<String>,
    },

    /// A setting that may appear once (`key`, `root`, `write`, a format's `after`...) appears
    /// twice.
    #[error("`{setting}` is given twice")]
    #[diagnostic(code(fdl::check::duplicate_setting), help("keep one of them"))]
    DuplicateSetting {
        setting: String,
        #[label(primary, "given again here")]
        span: SourceSpan,
        #[label("first given here")]
        first: Option<SourceSpan>,
    },

    // ---- declarations -----------------------------------------------------------------------
    /// A projection or single view lacks a required line (`key`, `root`).
    #[error("{what} `{name}` has no `{setting}`")]
    #[diagnostic(code(fdl::check::missing_setting))]
    MissingSetting {
        what: String,
        name: String,
        setting: String,
        #[label(primary, "declared here")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// A primary-key field is nullable. Records are stored by key, so a null key cannot be
    /// stored or found.
    #[error("key field `{name}` is nullable")]
    #[diagnostic(
        code(fdl::check::nullable_key),
        help("remove the `?`, or give the field a default")
    )]
    NullableKey {
        name: String,
        #[label(primary, "part of the key")]
        span: SourceSpan,
        #[label("declared nullable here")]
        field: Option<SourceSpan>,
    },

    /// A key field (primary key or single-view key) of type object or array. Keys are compared
    /// and indexed as scalars; a document or list as a key cannot be matched reliably.
    #[error("key field `{name}` is `{ty}`; keys must be scalar values")]
    #[diagnostic(
        code(fdl::check::bad_key_type),
        help("key on a scalar field (string, int, date...), or extract one with a cast")
    )]
    BadKeyType {
        name: String,
        ty: String,
        #[label(primary, "part of the key")]
        span: SourceSpan,
    },

    /// A custom format is incomplete or inconsistent (no `after`, codes without `operation`).
    #[error("format `{name}`: {problem}")]
    #[diagnostic(code(fdl::check::bad_format))]
    BadFormat {
        name: String,
        problem: String,
        #[label(primary, "{problem}")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    /// Two projections read the same topic with different message formats. A topic's messages
    /// have one shape, so one of the two would dead-letter everything.
    #[error("topic `{topic}` is read as `{format}` here but as `{other}` elsewhere")]
    #[diagnostic(code(fdl::check::topic_format_conflict))]
    TopicFormatConflict {
        topic: String,
        format: String,
        other: String,
        #[label(primary, "read as `{format}`")]
        span: SourceSpan,
        #[label("read as `{other}` here")]
        first: Option<SourceSpan>,
        #[help]
        help: Option<String>,
    },

    /// A default value that is not of the field's type (or a `null` default, which changes
    /// nothing).
    #[error("default value does not fit field `{field}` of type `{ty}`")]
    #[diagnostic(code(fdl::check::bad_default))]
    BadDefault {
        field: String,
        ty: String,
        #[label(primary, "{reason}")]
        span: SourceSpan,
        reason: String,
    },

    /// A date, datetime or decimal literal that is not valid.
    #[error("invalid {kind} literal: {reason}")]
    #[diagnostic(code(fdl::check::bad_literal))]
    BadLiteral {
        kind: String,
        reason: String,
        #[label(primary, "invalid")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    // ---- types ------------------------------------------------------------------------------
    /// An expression has a type its context cannot use (`"a" - 1`, a non-boolean `where`, a
    /// function argument of the wrong type).
    #[error("type mismatch: expected {expected}, found `{found}`")]
    #[diagnostic(code(fdl::check::type_mismatch))]
    TypeMismatch {
        expected: String,
        found: String,
        #[label(primary, "this is `{found}`")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    /// The cast chain ends in a type that the engine cannot coerce to the declared field type
    /// (see the coercion table), so every message would be dead-lettered.
    #[error("the casts of `{field}` give `{found}`, which cannot become `{expected}`")]
    #[diagnostic(code(fdl::check::cast_type_mismatch))]
    CastTypeMismatch {
        field: String,
        expected: String,
        found: String,
        #[label(primary, "gives `{found}`")]
        span: SourceSpan,
        #[label("declared `{expected}` here")]
        declared: Option<SourceSpan>,
        #[help]
        help: Option<String>,
    },

    /// A function that cannot be used in a cast chain (it is not a conversion of one value).
    #[error("`{name}` cannot be used as a cast")]
    #[diagnostic(code(fdl::check::not_a_cast))]
    NotACast {
        name: String,
        #[label(primary, "not a cast function")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    /// A function called with too few or too many arguments.
    #[error("`{name}` takes {expected} but is given {found}")]
    #[diagnostic(code(fdl::check::wrong_arity))]
    WrongArity {
        name: String,
        expected: String,
        found: usize,
        #[label(primary, "called here")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// A relation that yields many records is used where one value is expected. Which record
    /// would be taken is undefined, so it must be aggregated or collected.
    #[error("`{path}` yields many records, but one value is expected here")]
    #[diagnostic(code(fdl::check::many_as_value))]
    ManyAsValue {
        path: String,
        #[label(primary, "many records")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// An array or aggregate over a path that yields at most one record.
    #[error("`{path}` yields at most one record; an array or aggregate needs a many-relation")]
    #[diagnostic(code(fdl::check::aggregate_over_one))]
    AggregateOverOne {
        path: String,
        #[label(primary, "one record at most")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// An aggregate whose source or value is missing (`sum(orders)` has nothing to add up;
    /// `count(1 + 2)` has no relation to count).
    #[error("{message}")]
    #[diagnostic(code(fdl::check::bad_aggregate))]
    BadAggregate {
        message: String,
        #[label(primary, "here")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// Relation endpoints that cannot match: a different number of fields, fields of
    /// different projections on one side, or fields of incompatible types.
    #[error("relation `{name}`: {problem}")]
    #[diagnostic(code(fdl::check::relation_mismatch))]
    RelationMismatch {
        name: String,
        problem: String,
        #[label(primary, "{problem}")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },

    /// A relation condition names a projection that is not one of the relation's endpoints.
    #[error("condition on `{projection}`, which is not an endpoint of relation `{relation}`")]
    #[diagnostic(code(fdl::check::condition_not_on_endpoint))]
    ConditionNotOnEndpoint {
        projection: String,
        relation: String,
        #[label(primary, "not an endpoint")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    // ---- single views -----------------------------------------------------------------------
    /// The single-view key does not cover the root's primary key nor a unique index, so two
    /// root records could claim the same document.
    #[error("the key of single view `{view}` is not unique")]
    #[diagnostic(code(fdl::check::key_not_unique))]
    KeyNotUnique {
        view: String,
        #[label(primary, "not unique for `{root}`")]
        span: SourceSpan,
        root: String,
        #[help]
        help: String,
    },

    /// A single-view key part that is not a field of the root projection.
    #[error("single-view key part `{name}` must be a field of the root `{root}`")]
    #[diagnostic(code(fdl::check::key_not_root))]
    KeyNotRoot {
        name: String,
        root: String,
        #[label(primary, "not a root field")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// A collect over `rel.field[]` that also gives an element: the two disagree about what
    /// each element is.
    #[error("an array over `{path}` cannot also have an element expression")]
    #[diagnostic(
        code(fdl::check::collect_field_with_element),
        help("write `relation[] {{ ... }}` or `relation.field[]`, not both")
    )]
    CollectFieldWithElement {
        path: String,
        #[label(primary, "element given here")]
        span: SourceSpan,
    },

    /// The `validate` schema file cannot be read, is not JSON, or is not a valid JSON Schema.
    #[error("cannot use schema `{path}`: {reason}")]
    #[diagnostic(
        code(fdl::check::bad_schema),
        help("the path is relative to the file that declares the single view")
    )]
    BadSchema {
        path: String,
        reason: String,
        #[label(primary, "here")]
        span: SourceSpan,
    },

    // ---- strategies -------------------------------------------------------------------------
    /// An explicit strategy for a projection the single view does not read.
    #[error("single view `{view}` does not depend on `{projection}`")]
    #[diagnostic(code(fdl::check::strategy_not_a_dependency))]
    StrategyNotADependency {
        view: String,
        projection: String,
        #[label(primary, "not used by the mapping")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// A strategy hop names a relation that does not touch the projection reached so far.
    #[error("relation `{relation}` does not connect to `{projection}`")]
    #[diagnostic(code(fdl::check::strategy_disconnected))]
    StrategyDisconnected {
        relation: String,
        projection: String,
        #[label(primary, "the path is at `{projection}` here")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// An explicit strategy visits a projection twice; the walk could loop or fan out without
    /// bound.
    #[error("strategy path visits `{projection}` twice")]
    #[diagnostic(code(fdl::check::strategy_cycle))]
    StrategyCycle {
        projection: String,
        #[label(primary, "back at `{projection}`")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// An explicit strategy that ends somewhere other than the root: changes to the projection
    /// would never find the single views to rebuild.
    #[error("strategy for `{projection}` ends at `{end}`, not at the root `{root}`")]
    #[diagnostic(code(fdl::check::strategy_not_reaching_root))]
    StrategyNotReachingRoot {
        projection: String,
        end: String,
        root: String,
        #[label(primary, "ends at `{end}`")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    // ---- warnings ---------------------------------------------------------------------------
    /// A field that a strategy hop or an aggregation query filters on has no index. Each such
    /// query would scan the whole collection.
    #[error("no index on `{projection}` ({fields}), which {purpose} filters on")]
    #[diagnostic(code(fdl::check::missing_index), severity(Warning))]
    MissingIndex {
        projection: String,
        fields: String,
        purpose: String,
        #[label(primary, "queried through this relation")]
        span: SourceSpan,
        #[help]
        help: String,
    },

    /// A projection that no single view reads and that publishes no events: its data goes
    /// nowhere.
    #[error("projection `{name}` is not used")]
    #[diagnostic(
        code(fdl::check::unused_projection),
        severity(Warning),
        help("use it in a single view, publish its updates, or remove it")
    )]
    UnusedProjection {
        name: String,
        #[label(primary, "declared here")]
        span: SourceSpan,
    },

    /// A relation that no single view navigates and no strategy walks.
    #[error("relation `{name}` is not used")]
    #[diagnostic(
        code(fdl::check::unused_relation),
        severity(Warning),
        help("navigate it in a single view or remove it")
    )]
    UnusedRelation {
        name: String,
        #[label(primary, "declared here")]
        span: SourceSpan,
    },
}
