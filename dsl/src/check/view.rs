//! Checking single views: settings, key, join tree, and path resolution.
//!
//! In: a `single view` declaration. Out: a [`CheckedView`] pushed on the program (when the root
//! resolves), with its join tree built from every relation navigation the mapping uses (the
//! same navigation from the same node is one node), and its strategies derived.
//!
//! Scoping rules (documented in the language reference): inside an array or aggregate body the
//! current element is in scope. A path's first name is, in this order: a field of the current
//! element; the root projection's name; a relation that connects to a record in scope
//! (innermost first); a field of the root. Later names are relations (navigated from the
//! record reached so far) or fields (then object keys).

use std::collections::HashMap;

use fdc_plan::{JoinNode, KeyField, RootDelete, SingleView, WriteMode};

use super::facts::Symbol;
use super::projection::event_output;
use super::{did_you_mean, suggest, CheckError, CheckedView, Checker};
use crate::syntax::ast::{self, Span};

/// The single view being checked: its join tree so far.
pub(super) struct ViewCx {
    pub name: String,
    /// Projection index of each node.
    pub node_projection: Vec<usize>,
    pub nodes: Vec<JoinNode>,
    /// (parent node, relation, forward) -> node.
    index: HashMap<(usize, usize, bool), usize>,
    /// Where each node was first navigated to (for diagnostics).
    pub node_spans: Vec<Span>,
}

impl ViewCx {
    pub fn root_projection(&self) -> usize {
        self.node_projection[0]
    }
}

/// Where a path leads.
pub(super) struct Resolved {
    pub node: usize,
    /// Whether some hop on the way yields many records.
    pub many: bool,
    /// Field, then object keys, read on the node's record (empty: the whole record).
    pub fields: Vec<ast::Ident>,
}

impl Checker<'_> {
    pub(super) fn single_view(&mut self, v: &ast::SingleView) {
        let mut root_at = None;
        let mut root = None;
        for item in &v.items {
            if let ast::ViewItem::Root { projection, span } = item {
                if self.once("root", *span, &mut root_at) {
                    root = self.lookup_projection(projection);
                }
            }
        }
        let Some(root) = root else {
            if root_at.is_none() {
                self.missing(v, "root", "name the root projection: `root customers`");
            }
            return;
        };
        self.used_projections.insert(root);
        let root_name = self.program.projections[root].plan.name.clone();
        let mut cx = ViewCx {
            name: v.name.name.clone(),
            node_projection: vec![root],
            nodes: vec![JoinNode {
                id: 0,
                projection: root_name.clone(),
                parent: None,
                relation: None,
                parent_fields: vec![],
                fields: vec![],
                conditions: vec![],
                parent_conditions: vec![],
                many: false,
            }],
            index: HashMap::new(),
            node_spans: vec![v.name.span],
        };
        let mut plan = SingleView {
            name: v.name.name.clone(),
            key: vec![],
            nodes: vec![],
            mapping: vec![],
            on_root_delete: RootDelete::Delete,
            write: WriteMode::Replace,
            events: None,
            schema: None,
            strategies: vec![],
        };
        let mut field_types = Vec::new();
        let mut field_spans = Vec::new();
        let mut mapped: HashMap<String, Span> = HashMap::new();
        let (mut key_at, mut delete_at, mut write_at, mut publish_at, mut validate_at) =
            (None, None, None, None, None);
        let mut explicit = Vec::new();
        for item in &v.items {
            match item {
                ast::ViewItem::Root { .. } => {}
                ast::ViewItem::Key { parts, span } => {
                    if self.once("key", *span, &mut key_at) {
                        plan.key = self.view_key(&cx, parts, *span);
                    }
                }
                ast::ViewItem::Mapping(m) => {
                    if let Some(first) = mapped.get(&m.name.name).copied() {
                        let (first, _) = self.other(m.name.span, first);
                        self.report(
                            m.name.span,
                            CheckError::DuplicateMapping {
                                name: m.name.name.clone(),
                                span: m.name.span.into(),
                                first,
                            },
                        );
                        continue;
                    }
                    mapped.insert(m.name.name.clone(), m.name.span);
                    if let Some((expr, ty)) = self.value(&mut cx, &[0], &m.value) {
                        plan.mapping.push(fdc_plan::MappedField {
                            name: m.name.name.clone(),
                            expr,
                        });
                        field_types.push(ty);
                        field_spans.push(m.span);
                    }
                }
                ast::ViewItem::OnRootDelete { mark, span } => {
                    if self.once("on root delete", *span, &mut delete_at) {
                        plan.on_root_delete = if *mark {
                            RootDelete::MarkDeleted
                        } else {
                            RootDelete::Delete
                        };
                    }
                }
                ast::ViewItem::Write { merge, span } => {
                    if self.once("write", *span, &mut write_at) {
                        plan.write = if *merge {
                            WriteMode::Merge
                        } else {
                            WriteMode::Replace
                        };
                    }
                }
                ast::ViewItem::Publish(p) => {
                    if self.once("publish", p.span, &mut publish_at) {
                        plan.events = Some(event_output(p));
                    }
                }
                ast::ViewItem::Validate { path, span } => {
                    if self.once("validate", *span, &mut validate_at) {
                        plan.schema = self.schema(path);
                    }
                }
                ast::ViewItem::Strategy {
                    projection,
                    via,
                    span,
                } => explicit.push((projection, via.as_slice(), *span)),
            }
        }
        if key_at.is_none() {
            self.missing(
                v,
                "key",
                &format!("declare the document key: `key id = {root_name}.id`"),
            );
        }
        plan.strategies = self.strategies(&cx, &explicit);
        plan.nodes = cx.nodes;
        self.program.views.push(CheckedView {
            plan,
            field_types,
            field_spans,
            node_spans: cx.node_spans,
            span: v.span,
        });
    }

    fn missing(&mut self, v: &ast::SingleView, setting: &str, help: &str) {
        self.report(
            v.name.span,
            CheckError::MissingSetting {
                what: "single view".into(),
                name: v.name.name.clone(),
                setting: setting.into(),
                span: v.name.span.into(),
                help: help.into(),
            },
        );
    }

    fn view_key(&mut self, cx: &ViewCx, parts: &[ast::KeyPart], span: Span) -> Vec<KeyField> {
        let root = cx.root_projection();
        let root_name = self.program.projections[root].plan.name.clone();
        let mut out = Vec::new();
        let mut ok = true;
        for part in parts {
            if part.value.projection.name != root_name {
                self.report(
                    part.value.span,
                    CheckError::KeyNotRoot {
                        name: part.name.name.clone(),
                        root: root_name.clone(),
                        span: part.value.span.into(),
                        help: format!(
                            "write `{} = {root_name}.{}`",
                            part.name.name, part.value.field.name
                        ),
                    },
                );
                ok = false;
                continue;
            }
            self.note(
                part.value.projection.span,
                Symbol::Projection(root_name.clone()),
            );
            if self.program.projections[root]
                .plan
                .field(&part.value.field.name)
                .is_some()
            {
                self.note_field(part.value.field.span, root, &part.value.field.name);
            }
            let Some(f) = self.program.projections[root]
                .plan
                .field(&part.value.field.name)
            else {
                self.unknown_field(root, &part.value.field, &[]);
                ok = false;
                continue;
            };
            if matches!(f.ty, fdc_plan::Type::Object | fdc_plan::Type::Array { .. }) {
                let ty = f.ty.to_string();
                self.report(
                    part.value.span,
                    CheckError::BadKeyType {
                        name: f.name.clone(),
                        ty,
                        span: part.value.span.into(),
                    },
                );
                ok = false;
                continue;
            }
            if f.nullable {
                let field = self.program.projections[root]
                    .plan
                    .fields
                    .iter()
                    .position(|x| x.name == f.name)
                    .map(|i| self.program.projections[root].field_spans[i])
                    .filter(|s| s.file == part.span.file)
                    .map(Into::into);
                self.report(
                    part.value.span,
                    CheckError::NullableKey {
                        name: f.name.clone(),
                        span: part.value.span.into(),
                        field,
                    },
                );
                ok = false;
            }
            out.push(KeyField {
                name: part.name.name.clone(),
                field: part.value.field.name.clone(),
            });
        }
        let fields: Vec<String> = out.iter().map(|k| k.field.clone()).collect();
        if ok && !self.program.projections[root].is_unique(&fields) {
            let key = self.program.projections[root].plan.key.join(", ");
            self.report(
                span,
                CheckError::KeyNotUnique {
                    view: cx.name.clone(),
                    span: span.into(),
                    root: root_name.clone(),
                    help: format!(
                        "key on the primary key of `{root_name}` ({key}), or declare \
                         `unique index ({})` in `{root_name}`",
                        fields.join(", ")
                    ),
                },
            );
        }
        out
    }

    fn schema(&mut self, path: &ast::StrLit) -> Option<serde_json::Value> {
        let dir = self
            .sources
            .get(path.span.file)
            .and_then(|f| f.path.parent().map(|p| p.to_path_buf()))
            .unwrap_or_default();
        let full = crate::load::normalize(&dir.join(&path.value));
        let bad = |reason: String| CheckError::BadSchema {
            path: path.value.clone(),
            reason,
            span: path.span.into(),
        };
        match self.loader.read(&full) {
            Err(e) => {
                self.report(path.span, bad(e));
                None
            }
            Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) if v.is_object() || v.is_boolean() => match jsonschema::validator_for(&v) {
                    Ok(_) => Some(v),
                    Err(e) => {
                        self.report(path.span, bad(format!("not a valid JSON Schema: {e}")));
                        None
                    }
                },
                Ok(_) => {
                    self.report(path.span, bad("a JSON Schema is an object".into()));
                    None
                }
                Err(e) => {
                    self.report(path.span, bad(format!("not JSON: {e}")));
                    None
                }
            },
        }
    }

    // ---- join tree ------------------------------------------------------------------------

    /// Whether relation `rel` can be walked from `node`, and in which direction.
    pub(super) fn direction(&self, cx: &ViewCx, rel: usize, node: usize) -> Option<bool> {
        let r = &self.program.relations[rel];
        let p = cx.node_projection[node];
        if r.left.projection == p {
            Some(true)
        } else if r.right.projection == p {
            Some(false)
        } else {
            None
        }
    }

    /// The child of `parent` reached through `rel` (created on first use).
    pub(super) fn navigate(
        &mut self,
        cx: &mut ViewCx,
        parent: usize,
        rel: usize,
        at: Span,
    ) -> Option<usize> {
        let forward = self.direction(cx, rel, parent)?;
        self.used_relations.insert(rel);
        if let Some(n) = cx.index.get(&(parent, rel, forward)) {
            return Some(*n);
        }
        let r = &self.program.relations[rel];
        let (from, to, many) = if forward {
            (&r.left, &r.right, r.many)
        } else {
            (&r.right, &r.left, !r.left_unique)
        };
        let id = cx.nodes.len();
        cx.nodes.push(JoinNode {
            id,
            projection: self.program.projections[to.projection].plan.name.clone(),
            parent: Some(parent),
            relation: Some(r.name.clone()),
            parent_fields: from.fields.clone(),
            fields: to.fields.clone(),
            conditions: to.conditions.clone(),
            parent_conditions: from.conditions.clone(),
            many,
        });
        cx.node_projection.push(to.projection);
        cx.node_spans.push(at);
        cx.index.insert((parent, rel, forward), id);
        self.used_projections.insert(to.projection);
        Some(id)
    }

    /// Resolves a dotted path in `scope` (node ids, root first).
    pub(super) fn resolve(
        &mut self,
        cx: &mut ViewCx,
        scope: &[usize],
        segs: &[ast::Ident],
    ) -> Option<Resolved> {
        let first = segs.first()?;
        let inner = scope.last().copied().unwrap_or(0);
        let root = cx.root_projection();
        let has_field = |c: &Self, node: usize, name: &str| {
            c.program.projections[cx.node_projection[node]]
                .plan
                .field(name)
                .is_some()
        };
        if inner != 0 && has_field(self, inner, &first.name) {
            self.note_field(first.span, cx.node_projection[inner], &first.name);
            return Some(Resolved {
                node: inner,
                many: false,
                fields: segs.to_vec(),
            });
        }
        if first.name == self.program.projections[root].plan.name {
            self.note(first.span, Symbol::Projection(first.name.clone()));
            return self.walk(cx, 0, &segs[1..], false);
        }
        if let Some(&rel) = self.relation_index.get(&first.name) {
            if let Some(&from) = scope
                .iter()
                .rev()
                .find(|n| self.direction(cx, rel, **n).is_some())
            {
                let node = self.navigate(cx, from, rel, first.span)?;
                self.note(first.span, Symbol::Relation(first.name.clone()));
                let many = cx.nodes[node].many;
                return self.walk(cx, node, &segs[1..], many);
            }
            if !has_field(self, 0, &first.name) {
                self.not_navigable(cx, rel, inner, first);
                return None;
            }
        }
        if has_field(self, 0, &first.name) {
            self.note_field(first.span, root, &first.name);
            return Some(Resolved {
                node: 0,
                many: false,
                fields: segs.to_vec(),
            });
        }
        if self.broken.contains(&first.name)
            || !self
                .unknown_names
                .insert((cx.name.clone(), first.name.clone()))
        {
            return None;
        }
        let mut options: Vec<String> = Vec::new();
        for n in [inner, 0] {
            let p = &self.program.projections[cx.node_projection[n]].plan;
            options.extend(p.fields.iter().map(|f| f.name.clone()));
        }
        options.push(self.program.projections[root].plan.name.clone());
        options.extend(self.program.relations.iter().map(|r| r.name.clone()));
        let candidates = suggest(&first.name, options.iter().map(String::as_str));
        self.report(
            first.span,
            CheckError::UnknownName {
                name: first.name.clone(),
                span: first.span.into(),
                help: did_you_mean(&candidates),
                candidates,
            },
        );
        None
    }

    fn walk(
        &mut self,
        cx: &mut ViewCx,
        start: usize,
        rest: &[ast::Ident],
        mut many: bool,
    ) -> Option<Resolved> {
        let mut node = start;
        for (i, seg) in rest.iter().enumerate() {
            let p = cx.node_projection[node];
            if self.program.projections[p].plan.field(&seg.name).is_some() {
                self.note_field(seg.span, p, &seg.name);
                return Some(Resolved {
                    node,
                    many,
                    fields: rest[i..].to_vec(),
                });
            }
            if let Some(&rel) = self.relation_index.get(&seg.name) {
                let Some(next) = self.navigate(cx, node, rel, seg.span) else {
                    self.not_navigable(cx, rel, node, seg);
                    return None;
                };
                self.note(seg.span, Symbol::Relation(seg.name.clone()));
                many |= cx.nodes[next].many;
                node = next;
                continue;
            }
            if self.broken.contains(&seg.name) {
                return None;
            }
            let rels: Vec<String> = (0..self.program.relations.len())
                .filter(|r| self.direction(cx, *r, node).is_some())
                .map(|r| self.program.relations[r].name.clone())
                .collect();
            let rels: Vec<&str> = rels.iter().map(String::as_str).collect();
            self.unknown_field(p, seg, &rels);
            return None;
        }
        Some(Resolved {
            node,
            many,
            fields: vec![],
        })
    }

    fn not_navigable(&mut self, cx: &ViewCx, rel: usize, node: usize, at: &ast::Ident) {
        let projection = cx.nodes[node].projection.clone();
        let r = &self.program.relations[rel];
        let ends = format!(
            "`{}` connects `{}` and `{}`",
            r.name,
            self.program.projections[r.left.projection].plan.name,
            self.program.projections[r.right.projection].plan.name
        );
        self.report(
            at.span,
            CheckError::RelationNotNavigable {
                relation: at.name.clone(),
                projection,
                span: at.span.into(),
                help: Some(ends),
            },
        );
    }
}
