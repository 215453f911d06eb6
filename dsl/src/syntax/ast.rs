//! The spanned abstract syntax tree of one `.fdl` file.
//!
//! In: built by [`super::parse`] from pest pairs. Out: read by the checker and the formatter.
//!
//! Guarantees: every node carries the [`Span`] of the source text it was built from, and a
//! child's span lies inside its parent's span. Comments are not part of the tree; they are kept
//! next to it in [`File::comments`] with their spans, so a formatter can re-attach them. The tree
//! keeps the author's order and spelling (no desugaring): `if` and `match` stay distinct, and a
//! path such as `customer_orders.total` is kept as written until the checker resolves it.

use fdc_plan::Type;
use serde::Serialize;

/// Index of a source file in a [`crate::Sources`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
pub struct Span {
    pub file: FileId,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
}

impl Span {
    /// A span in `file` from `start` to `end`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }

    /// Whether `other` lies within this span (same file, inclusive bounds).
    pub fn contains(&self, other: &Span) -> bool {
        self.file == other.file && self.start <= other.start && other.end <= self.end
    }

    /// The smallest span covering both.
    pub fn to(&self, other: &Span) -> Span {
        Span::new(
            self.file,
            self.start.min(other.start),
            self.end.max(other.end),
        )
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        miette::SourceSpan::new(s.start.into(), s.end.saturating_sub(s.start))
    }
}

/// A name as written (`customers`, `first_name`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal with escapes resolved (`"crm.customers"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// A value of some kind with the span it was written at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct File {
    pub id: FileId,
    pub items: Vec<Item>,
    /// Every comment of the file, in source order.
    pub comments: Vec<Comment>,
    /// The whole file.
    pub span: Span,
}

/// A `// line` or `/* block */` comment, text included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    pub text: String,
    pub span: Span,
}

/// A top-level declaration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Item {
    Import(Import),
    Format(FormatDecl),
    System(System),
    Relation(Relation),
    SingleView(SingleView),
}

impl Item {
    /// The item's span.
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::Format(f) => f.span,
            Item::System(s) => s.span,
            Item::Relation(r) => r.span,
            Item::SingleView(v) => v.span,
        }
    }
}

/// `import "other.fdl"` (a path relative to the importing file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Import {
    pub path: StrLit,
    pub span: Span,
}

// ---- custom formats --------------------------------------------------------------------------

/// `format NAME { ... }`: a declarative message format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatDecl {
    pub name: Ident,
    pub items: Vec<FormatItem>,
    pub span: Span,
}

/// One line of a format declaration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum FormatItem {
    /// `operation = value.op` (also `before`, `after`, `position`).
    Path {
        slot: Spanned<FormatSlot>,
        path: MessagePath,
        span: Span,
    },
    /// `insert "I", "C"` (also `update`, `delete`, `skip`).
    Codes {
        kind: Spanned<CodeKind>,
        codes: Vec<StrLit>,
        span: Span,
    },
}

/// Which part of the change record a format path locates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FormatSlot {
    Operation,
    Before,
    After,
    Position,
}

/// Which operation a list of codes stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CodeKind {
    Insert,
    Update,
    Delete,
    Skip,
}

impl FormatSlot {
    /// Every slot, in the order a format block lists them.
    pub const ALL: [FormatSlot; 4] = [
        FormatSlot::Operation,
        FormatSlot::Before,
        FormatSlot::After,
        FormatSlot::Position,
    ];

    /// The keyword (parser, formatter and diagnostics all read it here).
    pub fn keyword(self) -> &'static str {
        match self {
            FormatSlot::Operation => "operation",
            FormatSlot::Before => "before",
            FormatSlot::After => "after",
            FormatSlot::Position => "position",
        }
    }

    /// The slot written `keyword`, if it is one.
    pub fn from_keyword(keyword: &str) -> Option<FormatSlot> {
        FormatSlot::ALL.into_iter().find(|s| s.keyword() == keyword)
    }
}

impl CodeKind {
    /// Every kind of code list, in the order a format block lists them.
    pub const ALL: [CodeKind; 4] = [
        CodeKind::Insert,
        CodeKind::Update,
        CodeKind::Delete,
        CodeKind::Skip,
    ];

    /// The keyword (parser, formatter and diagnostics all read it here).
    pub fn keyword(self) -> &'static str {
        match self {
            CodeKind::Insert => "insert",
            CodeKind::Update => "update",
            CodeKind::Delete => "delete",
            CodeKind::Skip => "skip",
        }
    }

    /// The kind written `keyword`, if it is one.
    pub fn from_keyword(keyword: &str) -> Option<CodeKind> {
        CodeKind::ALL.into_iter().find(|k| k.keyword() == keyword)
    }
}

/// `value.payload.op`, `key`, `header "seq"`, `timestamp`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessagePath {
    pub part: Spanned<MessagePart>,
    /// Object keys after the part (idents or quoted strings).
    pub segments: Vec<StrLit>,
    pub span: Span,
}

/// Where a message path starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MessagePart {
    Key,
    Value,
    Header(String),
    Timestamp,
}

// ---- systems and projections -----------------------------------------------------------------

/// `system NAME { projection ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct System {
    pub name: Ident,
    pub projections: Vec<Projection>,
    pub span: Span,
}

/// `projection NAME from "topic" as FORMAT { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    pub name: Ident,
    pub topic: StrLit,
    /// `basic`, `debezium`, `golden-gate` or a declared format's name.
    pub format: Ident,
    pub items: Vec<ProjectionItem>,
    pub span: Span,
}

/// One line of a projection body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ProjectionItem {
    Field(FieldDecl),
    /// `key id` or `key (tenant, id)`.
    Key(NameList),
    /// `[unique] index a` or `index (a, b)`.
    Index {
        unique: bool,
        fields: NameList,
        span: Span,
    },
    /// `delete hard` / `delete soft`.
    Delete {
        hard: bool,
        span: Span,
    },
    Publish(Publish),
}

/// `a` or `(a, b)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NameList {
    pub names: Vec<Ident>,
    /// Whether it was written in parentheses.
    pub parenthesized: bool,
    pub span: Span,
}

/// `publish updates to "topic" [with before, after]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Publish {
    pub topic: StrLit,
    pub before: bool,
    pub after: bool,
    pub span: Span,
}

/// `name type[?] [<- COLUMN[.sub]] [| cast ...] [= default]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeRef,
    /// The source column; `None` means the column has the field's name.
    pub source: Option<ColumnPath>,
    pub casts: Vec<CastCall>,
    pub default: Option<Literal>,
    pub span: Span,
}

/// A field type as written: `string`, `decimal?`, `[string]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeRef {
    pub kind: TypeKind,
    pub nullable: bool,
    pub span: Span,
}

/// The shape of a [`TypeRef`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TypeKind {
    Scalar(ScalarType),
    /// `[T]`; the inner type is never nullable.
    Array(Box<TypeRef>),
}

/// The scalar type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScalarType {
    String,
    Int,
    Float,
    Decimal,
    Bool,
    Date,
    Datetime,
    Object,
    Any,
}

impl ScalarType {
    /// The plan type it names (its keyword is [`Type::keyword`]).
    pub fn plan_type(self) -> Type {
        match self {
            ScalarType::String => Type::String,
            ScalarType::Int => Type::Int,
            ScalarType::Float => Type::Float,
            ScalarType::Decimal => Type::Decimal,
            ScalarType::Bool => Type::Bool,
            ScalarType::Date => Type::Date,
            ScalarType::Datetime => Type::Datetime,
            ScalarType::Object => Type::Object,
            ScalarType::Any => Type::Any,
        }
    }
}

impl TypeRef {
    /// The plan type of the written type (nullability aside).
    pub fn plan_type(&self) -> Type {
        match &self.kind {
            TypeKind::Scalar(s) => s.plan_type(),
            TypeKind::Array(inner) => Type::Array {
                items: Box::new(inner.plan_type()),
            },
        }
    }
}

impl std::fmt::Display for TypeRef {
    /// As written: the plan type's spelling (`[string]`), then `?` when nullable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nullable = if self.nullable { "?" } else { "" };
        write!(f, "{}{nullable}", self.plan_type())
    }
}

/// `ADDRESS.CITY`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnPath {
    pub segments: Vec<Ident>,
    pub span: Span,
}

/// `| trim` or `| replace("-", "")`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CastCall {
    pub name: Ident,
    pub args: Vec<Literal>,
    pub span: Span,
}

/// A constant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Literal {
    pub value: LitValue,
    pub span: Span,
}

/// The value of a [`Literal`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum LitValue {
    String(String),
    Int(i64),
    Float(f64),
    /// `12.50d`, kept as written (scale preserved).
    Decimal(String),
    Bool(bool),
    Null,
    /// `date "2024-01-31"`.
    Date(String),
    /// `datetime "2024-01-31T08:00:00Z"`.
    Datetime(String),
}

// ---- relations -------------------------------------------------------------------------------

/// `relation NAME: a.x -> many b.y [where cond and ...]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Relation {
    pub name: Ident,
    pub left: Endpoint,
    /// `many` (true) or `one`.
    pub many: Spanned<bool>,
    pub right: Endpoint,
    pub conditions: Vec<Condition>,
    pub span: Span,
}

/// `a.x` or `(a.x, a.z)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    pub fields: Vec<Qualified>,
    pub span: Span,
}

/// `projection.field`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qualified {
    pub projection: Ident,
    pub field: Ident,
    pub span: Span,
}

/// `addresses.kind == "billing"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub target: Qualified,
    pub op: Spanned<fdc_plan::CompareOp>,
    pub value: Literal,
    pub span: Span,
}

// ---- single views ----------------------------------------------------------------------------

/// `single view NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleView {
    pub name: Ident,
    pub items: Vec<ViewItem>,
    pub span: Span,
}

/// One line of a single-view body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ViewItem {
    /// `root customers`.
    Root {
        projection: Ident,
        span: Span,
    },
    /// `key id = customers.id` or `key (a = p.x, b = p.y)`.
    Key {
        parts: Vec<KeyPart>,
        span: Span,
    },
    /// `name = expr`.
    Mapping(Mapping),
    /// `on root delete: delete | mark deleted`.
    OnRootDelete {
        mark: bool,
        span: Span,
    },
    /// `write replace | merge`.
    Write {
        merge: bool,
        span: Span,
    },
    Publish(Publish),
    /// `validate "schema.json"`.
    Validate {
        path: StrLit,
        span: Span,
    },
    /// `strategy P via rel1, rel2`.
    Strategy {
        projection: Ident,
        via: Vec<Ident>,
        span: Span,
    },
}

/// `name = projection.field` inside `key`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyPart {
    pub name: Ident,
    pub value: Qualified,
    pub span: Span,
}

/// `name = expr`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mapping {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

// ---- expressions -----------------------------------------------------------------------------

/// A mapping expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// The shape of an [`Expr`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ExprKind {
    Literal(LitValue),
    /// `customers.first_name`, `customer_orders.order_items`, `status`.
    Path(Vec<Ident>),
    Unary {
        op: Spanned<fdc_plan::UnaryOp>,
        expr: Box<Expr>,
    },
    Binary {
        op: Spanned<fdc_plan::BinaryOp>,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `trim(x)`.
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `if c then a [else if c2 then b]* else d`.
    If {
        branches: Vec<(Expr, Expr)>,
        otherwise: Box<Expr>,
    },
    /// `match [subject] { v1, v2 => a ... else => d }`. Without a subject each arm's patterns
    /// are conditions.
    Match {
        subject: Option<Box<Expr>>,
        arms: Vec<MatchArm>,
        otherwise: Box<Expr>,
    },
    /// `{ a = x, b }` (an entry without `= expr` means `b = b`).
    Object(Vec<ObjectEntry>),
    /// `rel[] [element] [where f] [sort by k [asc|desc], ...] [limit n]`.
    Collect {
        source: PathRef,
        element: Option<Box<Expr>>,
        filter: Option<Box<Expr>>,
        sort: Vec<SortKey>,
        limit: Option<Spanned<u64>>,
    },
    /// `sum(value [of source] [where f] [sort by ...])`.
    Aggregate {
        function: Spanned<fdc_plan::AggregateFn>,
        value: Box<Expr>,
        of: Option<PathRef>,
        filter: Option<Box<Expr>>,
        sort: Vec<SortKey>,
    },
}

/// A dotted path with its own span (the source of a collect or aggregate).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathRef {
    pub segments: Vec<Ident>,
    pub span: Span,
}

/// `"A", "B" => value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchArm {
    pub patterns: Vec<Expr>,
    pub value: Expr,
    pub span: Span,
}

/// `name = expr` or `name` inside an object literal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectEntry {
    pub name: Ident,
    pub value: Option<Expr>,
    pub span: Span,
}

/// `expr [asc|desc]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
    pub span: Span,
}
