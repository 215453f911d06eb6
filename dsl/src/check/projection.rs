//! Checking custom formats and projections (fields, cast chains, defaults, keys, indexes),
//! and literals.
//!
//! In: `format` and `projection` declarations. Out: [`CheckedProjection`]s and custom formats
//! registered on the [`Checker`]; problems reported.
//!
//! Guarantees: a projection is registered (so later passes can resolve it) even when some of
//! its lines have errors; only its first declaration is registered when the name is taken.

use std::collections::HashMap;

use fdc_plan::functions::{self, Returns};
use fdc_plan::{
    Call, CustomFormat, DeleteMode, EventOutput, Field, Format, Index, MessagePart as PlanPart,
    MessagePath as PlanPath, Projection, Type,
};

use super::types::{accepts, class_name, class_type, coercible, Typed};
use super::{did_you_mean, suggest, CheckError, CheckedProjection, Checker};
use crate::syntax::ast::{self, Span};

impl Checker<'_> {
    pub(super) fn format_decl(&mut self, f: &ast::FormatDecl) {
        if let Some((_, first)) = self.formats.get(&f.name.name) {
            let first = *first;
            let (first, help) = self.other(f.name.span, first);
            self.report(
                f.name.span,
                CheckError::DuplicateFormat {
                    name: f.name.name.clone(),
                    span: f.name.span.into(),
                    first,
                    help,
                },
            );
            return;
        }
        if Format::builtin(&f.name.name).is_some() {
            self.report(
                f.name.span,
                CheckError::DuplicateFormat {
                    name: f.name.name.clone(),
                    span: f.name.span.into(),
                    first: None,
                    help: Some("this name is a built-in format; choose another".into()),
                },
            );
            return;
        }
        let mut out = CustomFormat {
            name: f.name.name.clone(),
            operation: None,
            inserts: vec![],
            updates: vec![],
            deletes: vec![],
            skips: vec![],
            before: None,
            after: PlanPath {
                part: PlanPart::Value,
                path: vec![],
            },
            position: None,
        };
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut has_after = false;
        let mut has_codes = false;
        for item in &f.items {
            let (setting, span) = match item {
                ast::FormatItem::Path { slot, span, .. } => (slot.value.keyword(), *span),
                ast::FormatItem::Codes { kind, span, .. } => (kind.value.keyword(), *span),
            };
            let setting = setting.to_string();
            if let Some(first) = seen.get(&setting).copied() {
                let (first, _) = self.other(span, first);
                self.report(
                    span,
                    CheckError::DuplicateSetting {
                        setting,
                        span: span.into(),
                        first,
                    },
                );
                continue;
            }
            seen.insert(setting, span);
            match item {
                ast::FormatItem::Path { slot, path, .. } => {
                    let p = message_path(path);
                    match slot.value {
                        ast::FormatSlot::Operation => out.operation = Some(p),
                        ast::FormatSlot::Before => out.before = Some(p),
                        ast::FormatSlot::After => {
                            out.after = p;
                            has_after = true;
                        }
                        ast::FormatSlot::Position => out.position = Some(p),
                    }
                }
                ast::FormatItem::Codes { kind, codes, .. } => {
                    has_codes = true;
                    let codes: Vec<String> = codes.iter().map(|c| c.value.clone()).collect();
                    match kind.value {
                        ast::CodeKind::Insert => out.inserts = codes,
                        ast::CodeKind::Update => out.updates = codes,
                        ast::CodeKind::Delete => out.deletes = codes,
                        ast::CodeKind::Skip => out.skips = codes,
                    }
                }
            }
        }
        if !has_after {
            self.report(
                f.name.span,
                CheckError::BadFormat {
                    name: f.name.name.clone(),
                    problem: "no `after` image".into(),
                    span: f.name.span.into(),
                    help: Some(
                        "say where the row after the change is: `after = value.after`".into(),
                    ),
                },
            );
        }
        if has_codes && out.operation.is_none() {
            self.report(
                f.name.span,
                CheckError::BadFormat {
                    name: f.name.name.clone(),
                    problem: "operation codes without an `operation`".into(),
                    span: f.name.span.into(),
                    help: Some("say where the code is: `operation = value.op`".into()),
                },
            );
        }
        if out.operation.is_some()
            && out.inserts.is_empty()
            && out.updates.is_empty()
            && out.deletes.is_empty()
        {
            self.report(
                f.name.span,
                CheckError::BadFormat {
                    name: f.name.name.clone(),
                    problem: "an `operation` without insert, update or delete codes".into(),
                    span: f.name.span.into(),
                    help: Some(
                        "list the codes: `insert \"I\"`, `update \"U\"`, `delete \"D\"`".into(),
                    ),
                },
            );
        }
        self.formats.insert(f.name.name.clone(), (out, f.name.span));
    }

    pub(super) fn projection(
        &mut self,
        system: &str,
        p: &ast::Projection,
        first_topic: &mut HashMap<String, (String, Span)>,
    ) {
        if let Some(&first) = self.projection_index.get(&p.name.name) {
            let first = self.program.projections[first].name_span;
            let (first, help) = self.other(p.name.span, first);
            self.report(
                p.name.span,
                CheckError::DuplicateProjection {
                    name: p.name.name.clone(),
                    span: p.name.span.into(),
                    first,
                    help,
                },
            );
            return;
        }
        let format = self.format_ref(&p.format);
        if let Some(fname) = format.as_ref().map(Format::to_string) {
            match first_topic.get(&p.topic.value) {
                Some((other, at)) if *other != fname => {
                    let (first, help) = self.other(p.topic.span, *at);
                    self.report(
                        p.topic.span,
                        CheckError::TopicFormatConflict {
                            topic: p.topic.value.clone(),
                            format: fname,
                            other: other.clone(),
                            span: p.topic.span.into(),
                            first,
                            help,
                        },
                    );
                }
                Some(_) => {}
                None => {
                    first_topic.insert(p.topic.value.clone(), (fname, p.topic.span));
                }
            }
        }

        let mut fields = Vec::new();
        let mut field_spans = Vec::new();
        let mut field_at: HashMap<String, Span> = HashMap::new();
        for item in &p.items {
            if let ast::ProjectionItem::Field(f) = item {
                if let Some(first) = field_at.get(&f.name.name).copied() {
                    let (first, _) = self.other(f.name.span, first);
                    self.report(
                        f.name.span,
                        CheckError::DuplicateField {
                            name: f.name.name.clone(),
                            span: f.name.span.into(),
                            first,
                        },
                    );
                    continue;
                }
                field_at.insert(f.name.name.clone(), f.name.span);
                fields.push(self.field(f));
                field_spans.push(f.span);
            }
        }
        let mut plan = Projection {
            name: p.name.name.clone(),
            system: system.to_string(),
            topic: p.topic.value.clone(),
            format: format.unwrap_or(Format::Basic),
            key: vec![],
            fields,
            indexes: vec![],
            delete: DeleteMode::Soft,
            events: None,
        };
        let mut key_at: Option<Span> = None;
        let mut delete_at: Option<Span> = None;
        let mut publish_at: Option<Span> = None;
        for item in &p.items {
            match item {
                ast::ProjectionItem::Field(_) => {}
                ast::ProjectionItem::Key(names) => {
                    if self.once("key", names.span, &mut key_at) {
                        plan.key = self.field_list(&plan, &field_at, names);
                        for n in &names.names {
                            if let Some(f) = plan.field(&n.name) {
                                if matches!(f.ty, Type::Object | Type::Array { .. }) {
                                    self.report(
                                        n.span,
                                        CheckError::BadKeyType {
                                            name: n.name.clone(),
                                            ty: f.ty.to_string(),
                                            span: n.span.into(),
                                        },
                                    );
                                }
                                if f.nullable {
                                    let field = field_at.get(&n.name).map(|s| (*s).into());
                                    self.report(
                                        n.span,
                                        CheckError::NullableKey {
                                            name: n.name.clone(),
                                            span: n.span.into(),
                                            field,
                                        },
                                    );
                                }
                            }
                        }
                    }
                }
                ast::ProjectionItem::Index { unique, fields, .. } => {
                    let names = self.field_list(&plan, &field_at, fields);
                    if names.len() == fields.names.len() {
                        plan.indexes.push(Index {
                            name: format!("ix_{}_{}", plan.name, names.join("_")),
                            fields: names,
                            unique: *unique,
                        });
                    }
                }
                ast::ProjectionItem::Delete { hard, span } => {
                    if self.once("delete", *span, &mut delete_at) {
                        plan.delete = if *hard {
                            DeleteMode::Hard
                        } else {
                            DeleteMode::Soft
                        };
                    }
                }
                ast::ProjectionItem::Publish(pb) => {
                    if self.once("publish", pb.span, &mut publish_at) {
                        plan.events = Some(event_output(pb));
                    }
                }
            }
        }
        if key_at.is_none() {
            self.report(
                p.name.span,
                CheckError::MissingSetting {
                    what: "projection".into(),
                    name: p.name.name.clone(),
                    setting: "key".into(),
                    span: p.name.span.into(),
                    help: "declare the primary key: `key id` or `key (tenant, id)`".into(),
                },
            );
        }
        self.projection_index
            .insert(plan.name.clone(), self.program.projections.len());
        self.program.projections.push(CheckedProjection {
            plan,
            span: p.span,
            name_span: p.name.span,
            field_spans,
        });
    }

    /// Accepts the first occurrence of a once-only setting, reporting later ones.
    pub(super) fn once(&mut self, setting: &str, span: Span, first: &mut Option<Span>) -> bool {
        if let Some(at) = *first {
            let (at, _) = self.other(span, at);
            self.report(
                span,
                CheckError::DuplicateSetting {
                    setting: setting.into(),
                    span: span.into(),
                    first: at,
                },
            );
            return false;
        }
        *first = Some(span);
        true
    }

    fn field_list(
        &mut self,
        plan: &Projection,
        fields: &HashMap<String, Span>,
        names: &ast::NameList,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for n in &names.names {
            if fields.contains_key(&n.name) {
                self.note(
                    n.span,
                    super::facts::Symbol::Field {
                        projection: plan.name.clone(),
                        field: n.name.clone(),
                    },
                );
                out.push(n.name.clone());
            } else {
                let candidates = suggest(&n.name, plan.fields.iter().map(|f| f.name.as_str()));
                self.report(
                    n.span,
                    CheckError::UnknownField {
                        name: n.name.clone(),
                        projection: plan.name.clone(),
                        span: n.span.into(),
                        help: did_you_mean(&candidates),
                        candidates,
                    },
                );
            }
        }
        out
    }

    fn format_ref(&mut self, name: &ast::Ident) -> Option<Format> {
        if let Some(builtin) = Format::builtin(&name.name) {
            return Some(builtin);
        }
        if let Some((f, _)) = self.formats.get(&name.name) {
            let format = Format::Custom(Box::new(f.clone()));
            self.note(name.span, super::facts::Symbol::Format(name.name.clone()));
            return Some(format);
        }
        let candidates = suggest(
            &name.name,
            [Format::BASIC, Format::DEBEZIUM, Format::GOLDEN_GATE]
                .into_iter()
                .chain(self.formats.keys().map(String::as_str)),
        );
        self.report(
            name.span,
            CheckError::UnknownFormat {
                name: name.name.clone(),
                span: name.span.into(),
                help: did_you_mean(&candidates).or_else(|| {
                    Some(
                        "formats are `basic`, `debezium`, `golden-gate` or a declared `format`"
                            .into(),
                    )
                }),
                candidates,
            },
        );
        None
    }

    fn field(&mut self, f: &ast::FieldDecl) -> Field {
        let ty = f.ty.plan_type();
        let source = match &f.source {
            Some(c) => c.segments.iter().map(|s| s.name.clone()).collect(),
            None => vec![f.name.name.clone()],
        };
        let mut running = Typed::nullable(Type::Any);
        let mut casts = Vec::new();
        let mut chain_ok = true;
        for c in &f.casts {
            match self.cast(c, &running) {
                Some((call, t)) => {
                    casts.push(call);
                    running = t;
                }
                None => chain_ok = false,
            }
        }
        if chain_ok && !f.casts.is_empty() && !coercible(&running.plan_type(), &ty) {
            let last = f.casts.last().map(|c| c.span).unwrap_or(f.span);
            self.report(
                last,
                CheckError::CastTypeMismatch {
                    field: f.name.name.clone(),
                    expected: ty.to_string(),
                    found: running.plan_type().to_string(),
                    span: last.into(),
                    declared: Some(f.ty.span.into()),
                    help: Some(format!(
                        "end the chain with a cast that gives `{ty}`, or change the field type"
                    )),
                },
            );
        }
        let default = f.default.as_ref().and_then(|d| self.default(f, &ty, d));
        Field {
            name: f.name.name.clone(),
            ty,
            nullable: f.ty.nullable,
            source,
            casts,
            default,
        }
    }

    /// Checks one cast of a chain given the running type; returns the call and its result.
    fn cast(&mut self, c: &ast::CastCall, running: &Typed) -> Option<(Call, Typed)> {
        let Some(f) = functions::lookup(&c.name.name) else {
            let candidates = suggest(
                &c.name.name,
                functions::CATALOGUE
                    .iter()
                    .filter(|f| f.cast)
                    .map(|f| f.name),
            );
            self.report(
                c.name.span,
                CheckError::UnknownFunction {
                    name: c.name.name.clone(),
                    span: c.name.span.into(),
                    help: did_you_mean(&candidates),
                    candidates,
                },
            );
            return None;
        };
        if !f.cast {
            self.report(
                c.name.span,
                CheckError::NotACast {
                    name: f.name.into(),
                    span: c.name.span.into(),
                    help: Some(format!(
                        "`{}` can be used in single-view mappings; casts are: {}",
                        f.name,
                        functions::CATALOGUE
                            .iter()
                            .filter(|f| f.cast)
                            .map(|f| f.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                },
            );
            return None;
        }
        let given = c.args.len() + 1;
        if given < f.min_args() || f.max_args().is_some_and(|m| given > m) {
            self.report(
                c.span,
                CheckError::WrongArity {
                    name: f.name.into(),
                    expected: arity_phrase(f),
                    found: given,
                    span: c.span.into(),
                    help: format!(
                        "in a cast chain the running value is the first argument: {}",
                        f.signature
                    ),
                },
            );
            return None;
        }
        let mut ok = true;
        let &first = f.params.first()?;
        if !accepts(first, running) {
            self.report(
                c.name.span,
                CheckError::TypeMismatch {
                    expected: class_name(first).into(),
                    found: running.to_string(),
                    span: c.name.span.into(),
                    help: Some(format!("`{}` expects {}", f.signature, class_name(first))),
                },
            );
            ok = false;
        }
        let mut args = Vec::new();
        for (i, a) in c.args.iter().enumerate() {
            let class = f
                .params
                .get(i + 1)
                .or(f.params.last())
                .copied()
                .unwrap_or(fdc_plan::functions::TypeClass::Any);
            let Some((json, t)) = self.literal(a) else {
                ok = false;
                continue;
            };
            if !accepts(class, &t) {
                self.report(
                    a.span,
                    CheckError::TypeMismatch {
                        expected: class_name(class).into(),
                        found: t.to_string(),
                        span: a.span.into(),
                        help: Some(format!("signature: {}", f.signature)),
                    },
                );
                ok = false;
            }
            args.push(json);
        }
        if !ok {
            return None;
        }
        let result = match f.returns {
            Returns::Fixed(class) => Typed::nullable(class_type(class)),
            Returns::SameAsFirst | Returns::Common => running.clone(),
        };
        Some((
            Call {
                function: f.name.into(),
                args,
            },
            result,
        ))
    }
}

/// "1 argument", "1 to 2 arguments", "at least 2 arguments".
pub(crate) fn arity_phrase(f: &functions::Function) -> String {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    match f.max_args() {
        None => format!("at least {} {}", f.min_args(), plural(f.min_args())),
        Some(max) if max == f.min_args() => format!("{max} {}", plural(max)),
        Some(max) => format!("{} to {max} arguments", f.min_args()),
    }
}

fn message_path(p: &ast::MessagePath) -> PlanPath {
    PlanPath {
        part: match &p.part.value {
            ast::MessagePart::Key => PlanPart::Key,
            ast::MessagePart::Value => PlanPart::Value,
            ast::MessagePart::Header(h) => PlanPart::Header(h.clone()),
            ast::MessagePart::Timestamp => PlanPart::Timestamp,
        },
        path: p.segments.iter().map(|s| s.value.clone()).collect(),
    }
}

pub(crate) fn event_output(p: &ast::Publish) -> EventOutput {
    EventOutput {
        topic: p.topic.value.clone(),
        before: p.before,
        after: p.after,
    }
}
