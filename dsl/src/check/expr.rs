//! Checking mapping expressions: names resolved to join nodes, types inferred with
//! nullability, lowered to typed [`fdc_plan::Expr`].
//!
//! In: an AST expression, the single view's join tree so far, and the scope (bound nodes, root
//! first). Out: the plan expression and its [`Typed`] type, or `None` after reporting.
//!
//! Guarantees: recursion follows the AST, whose depth the parser bounds; every error is
//! reported once, at the smallest span that explains it; a sub-expression with an error does
//! not cause follow-up errors in its parents (they get `None` and stop).

use std::collections::HashMap;

use fdc_plan::functions::{self, Returns};
use fdc_plan::{AggregateFn, BinaryOp, Branch, Expr, MappedField, SortKey, Type, UnaryOp};

use super::projection::arity_phrase;
use super::types::{accepts, class_name, class_type, comparable, orderable, unify, Ty, Typed};
use super::view::{Resolved, ViewCx};
use super::{did_you_mean, suggest, CheckError, Checker};
use crate::syntax::ast::{self, Span};

/// A checked expression and its type, or `None` after reporting.
pub(super) type Checked = Option<(Expr, Typed)>;

pub(super) fn path_text(segs: &[ast::Ident]) -> String {
    segs.iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

impl Checker<'_> {
    /// Checks an expression used as one value (and records its type and scope for editors).
    pub(super) fn value(&mut self, cx: &mut ViewCx, scope: &[usize], e: &ast::Expr) -> Checked {
        let checked = self.value_of(cx, scope, e);
        if let Some(facts) = self.facts.as_mut() {
            let projections = scope
                .iter()
                .filter_map(|n| cx.node_projection.get(*n).copied())
                .collect();
            facts.scopes.push((e.span, projections));
            if let Some((_, t)) = &checked {
                facts.types.push((e.span, t.clone()));
            }
        }
        checked
    }

    fn value_of(&mut self, cx: &mut ViewCx, scope: &[usize], e: &ast::Expr) -> Checked {
        match &e.kind {
            ast::ExprKind::Literal(v) => {
                let (value, t) = self.lit_value(v, e.span)?;
                Some((
                    Expr::Literal {
                        value,
                        ty: t.plan_type(),
                    },
                    t,
                ))
            }
            ast::ExprKind::Path(segs) => {
                let r = self.resolve(cx, scope, segs)?;
                self.read(cx, scope, r, segs, e.span)
            }
            ast::ExprKind::Unary { op, expr } => {
                let (inner, t) = self.value(cx, scope, expr)?;
                let ty = match op.value {
                    UnaryOp::Not => {
                        self.expect(&t, "a bool", expr.span, |t| {
                            accepts(functions::TypeClass::Bool, t)
                        })?;
                        Typed::of(Type::Bool)
                    }
                    UnaryOp::Neg => {
                        self.expect(&t, "a number", expr.span, |t| {
                            accepts(functions::TypeClass::Numeric, t)
                        })?;
                        t.clone().or_null(matches!(t.ty, Ty::Of(Type::Int)))
                    }
                };
                Some((
                    Expr::Unary {
                        op: op.value,
                        expr: Box::new(inner),
                    },
                    ty,
                ))
            }
            ast::ExprKind::Binary { op, left, right } => {
                let l = self.value(cx, scope, left);
                let r = self.value(cx, scope, right);
                let ((le, lt), (re, rt)) = (l?, r?);
                let ty = self.binary(op.value, &lt, &rt, left.span, right.span, op.span)?;
                Some((
                    Expr::Binary {
                        op: op.value,
                        left: Box::new(le),
                        right: Box::new(re),
                    },
                    ty,
                ))
            }
            ast::ExprKind::Call { name, args } => self.call(cx, scope, name, args, e.span),
            ast::ExprKind::If {
                branches,
                otherwise,
            } => {
                let mut arms = Vec::new();
                for (c, v) in branches {
                    let cond = self.condition(cx, scope, c);
                    let val = self.value(cx, scope, v);
                    arms.push((cond, val, v.span));
                }
                let other = self.value(cx, scope, otherwise);
                self.branches(arms, other, otherwise.span)
            }
            ast::ExprKind::Match {
                subject,
                arms,
                otherwise,
            } => {
                let subject = match subject {
                    Some(s) => Some((self.value(cx, scope, s)?, s.span)),
                    None => None,
                };
                let mut out = Vec::new();
                for arm in arms {
                    let mut when: Option<Expr> = None;
                    let mut ok = true;
                    for p in &arm.patterns {
                        let test = match &subject {
                            Some(((se, st), _)) => {
                                let Some((pe, pt)) = self.value(cx, scope, p) else {
                                    ok = false;
                                    continue;
                                };
                                if !comparable(st, &pt) {
                                    self.mismatch(
                                        &format!("a value comparable with `{st}`"),
                                        &pt,
                                        p.span,
                                        None,
                                    );
                                    ok = false;
                                    continue;
                                }
                                Expr::Binary {
                                    op: BinaryOp::Eq,
                                    left: Box::new(se.clone()),
                                    right: Box::new(pe),
                                }
                            }
                            None => match self.condition(cx, scope, p) {
                                Some(c) => c,
                                None => {
                                    ok = false;
                                    continue;
                                }
                            },
                        };
                        when = Some(match when {
                            None => test,
                            Some(prev) => Expr::Binary {
                                op: BinaryOp::Or,
                                left: Box::new(prev),
                                right: Box::new(test),
                            },
                        });
                    }
                    let val = self.value(cx, scope, &arm.value);
                    out.push((if ok { when } else { None }, val, arm.value.span));
                }
                let other = self.value(cx, scope, otherwise);
                self.branches(out, other, otherwise.span)
            }
            ast::ExprKind::Object(entries) => {
                let fields = self.object(cx, scope, entries)?;
                Some((Expr::Object { fields }, Typed::of(Type::Object)))
            }
            ast::ExprKind::Collect {
                source,
                element,
                filter,
                sort,
                limit,
            } => {
                let r = self.resolve(cx, scope, &source.segments)?;
                let text = path_text(&source.segments);
                if !r.many {
                    self.over_one(&text, source.span);
                    return None;
                }
                let mut inner: Vec<usize> = scope.to_vec();
                inner.push(r.node);
                let (element, ety) = match (element, r.fields.is_empty()) {
                    (Some(el), true) => self.value(cx, &inner, el)?,
                    (None, true) => (
                        Expr::Field {
                            node: r.node,
                            path: vec![],
                        },
                        Typed::of(Type::Object),
                    ),
                    (None, false) => {
                        let node = r.node;
                        self.read(
                            cx,
                            &inner,
                            Resolved {
                                node,
                                many: false,
                                fields: r.fields.clone(),
                            },
                            &source.segments,
                            source.span,
                        )?
                    }
                    (Some(el), false) => {
                        self.report(
                            el.span,
                            CheckError::CollectFieldWithElement {
                                path: text,
                                span: el.span.into(),
                            },
                        );
                        return None;
                    }
                };
                let filter = self.filter(cx, &inner, filter.as_deref())?;
                let sort = self.sort(cx, &inner, sort)?;
                Some((
                    Expr::Collect {
                        node: r.node,
                        filter,
                        sort,
                        limit: limit.as_ref().map(|l| l.value),
                        element: Box::new(element),
                    },
                    Typed::of(Type::Array {
                        items: Box::new(ety.plan_type()),
                    }),
                ))
            }
            ast::ExprKind::Aggregate {
                function,
                value,
                of,
                filter,
                sort,
            } => self.aggregate(
                cx,
                scope,
                function,
                value,
                of.as_ref(),
                filter.as_deref(),
                sort,
                e.span,
            ),
        }
    }

    /// Reads a resolved path as one value.
    pub(super) fn read(
        &mut self,
        cx: &ViewCx,
        scope: &[usize],
        r: Resolved,
        segs: &[ast::Ident],
        span: Span,
    ) -> Checked {
        if r.many {
            self.report(
                span,
                CheckError::ManyAsValue {
                    path: path_text(segs),
                    span: span.into(),
                    help: format!(
                        "aggregate it (`first({0})`, `count({0})`, `sum({0})`) or build an array \
                         (`{0}[]`)",
                        path_text(segs)
                    ),
                },
            );
            return None;
        }
        let bound = scope.contains(&r.node);
        let p = cx.node_projection[r.node];
        let ty = match r.fields.first() {
            None => Typed::of(Type::Object),
            Some(f) => {
                let ft = self.program.projections[p].field_type(&f.name)?;
                if r.fields.len() > 1 {
                    if !matches!(ft.ty, Ty::Of(Type::Object | Type::Any)) {
                        let next = &r.fields[1];
                        self.report(
                            next.span,
                            CheckError::TypeMismatch {
                                expected: "an object".into(),
                                found: ft.to_string(),
                                span: next.span.into(),
                                help: Some(format!("`{}` has no keys to read", f.name)),
                            },
                        );
                        return None;
                    }
                    Typed::nullable(Type::Any)
                } else {
                    ft
                }
            }
        };
        Some((
            Expr::Field {
                node: r.node,
                path: r.fields.iter().map(|f| f.name.clone()).collect(),
            },
            ty.or_null(!bound),
        ))
    }

    pub(super) fn over_one(&mut self, path: &str, span: Span) {
        self.report(
            span,
            CheckError::AggregateOverOne {
                path: path.into(),
                span: span.into(),
                help: format!("read the value directly: `{path}.field`"),
            },
        );
    }

    pub(super) fn mismatch(
        &mut self,
        expected: &str,
        found: &Typed,
        span: Span,
        help: Option<String>,
    ) {
        self.report(
            span,
            CheckError::TypeMismatch {
                expected: expected.into(),
                found: found.to_string(),
                span: span.into(),
                help,
            },
        );
    }

    fn expect(
        &mut self,
        t: &Typed,
        expected: &str,
        span: Span,
        ok: impl Fn(&Typed) -> bool,
    ) -> Option<()> {
        if ok(t) {
            Some(())
        } else {
            self.mismatch(expected, t, span, None);
            None
        }
    }

    fn condition(&mut self, cx: &mut ViewCx, scope: &[usize], e: &ast::Expr) -> Option<Expr> {
        let (expr, t) = self.value(cx, scope, e)?;
        self.expect(&t, "a bool condition", e.span, |t| {
            accepts(functions::TypeClass::Bool, t)
        })?;
        Some(expr)
    }

    pub(super) fn filter(
        &mut self,
        cx: &mut ViewCx,
        scope: &[usize],
        f: Option<&ast::Expr>,
    ) -> Option<Option<Box<Expr>>> {
        match f {
            None => Some(None),
            Some(f) => Some(Some(Box::new(self.condition(cx, scope, f)?))),
        }
    }

    pub(super) fn sort(
        &mut self,
        cx: &mut ViewCx,
        scope: &[usize],
        keys: &[ast::SortKey],
    ) -> Option<Vec<SortKey>> {
        let mut out = Vec::new();
        let mut ok = true;
        for k in keys {
            match self.value(cx, scope, &k.expr) {
                Some((e, t)) if orderable(&t) => out.push(SortKey {
                    expr: e,
                    descending: k.descending,
                }),
                Some((_, t)) => {
                    self.mismatch("a value that can be ordered", &t, k.expr.span, None);
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn branches(
        &mut self,
        arms: Vec<(Option<Expr>, Checked, Span)>,
        otherwise: Checked,
        otherwise_span: Span,
    ) -> Checked {
        let mut ok = true;
        let mut ty: Option<Typed> = None;
        let mut out = Vec::new();
        let mut values = Vec::new();
        for (c, v, span) in arms {
            match (c, v) {
                (Some(c), Some((e, t))) => {
                    values.push((t, span));
                    out.push((c, e));
                }
                _ => ok = false,
            }
        }
        let (other, ot) = otherwise?;
        values.push((ot, otherwise_span));
        for (t, span) in values {
            ty = match ty {
                None => Some(t),
                Some(prev) => match unify(&prev, &t) {
                    Some(u) => Some(u),
                    None => {
                        self.mismatch(
                            &format!("`{prev}` like the branches before"),
                            &t,
                            span,
                            Some("every branch gives the same type (numbers widen)".into()),
                        );
                        ok = false;
                        Some(prev)
                    }
                },
            };
        }
        if !ok {
            return None;
        }
        Some((
            Expr::If {
                branches: out
                    .into_iter()
                    .map(|(when, then)| Branch { when, then })
                    .collect(),
                otherwise: Box::new(other),
            },
            ty.unwrap_or_else(|| Typed::nullable(Type::Any)),
        ))
    }

    fn object(
        &mut self,
        cx: &mut ViewCx,
        scope: &[usize],
        entries: &[ast::ObjectEntry],
    ) -> Option<Vec<MappedField>> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = Vec::new();
        let mut ok = true;
        for entry in entries {
            if let Some(first) = seen.get(entry.name.name.as_str()).copied() {
                let (first, _) = self.other(entry.name.span, first);
                self.report(
                    entry.name.span,
                    CheckError::DuplicateMapping {
                        name: entry.name.name.clone(),
                        span: entry.name.span.into(),
                        first,
                    },
                );
                ok = false;
                continue;
            }
            seen.insert(&entry.name.name, entry.name.span);
            let checked = match &entry.value {
                Some(v) => self.value(cx, scope, v),
                None => {
                    let segs = std::slice::from_ref(&entry.name);
                    self.resolve(cx, scope, segs)
                        .and_then(|r| self.read(cx, scope, r, segs, entry.name.span))
                }
            };
            match checked {
                Some((expr, _)) => out.push(MappedField {
                    name: entry.name.name.clone(),
                    expr,
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        l: &Typed,
        r: &Typed,
        lspan: Span,
        rspan: Span,
        op_span: Span,
    ) -> Option<Typed> {
        use BinaryOp as B;
        let bool_class = |t: &Typed| accepts(functions::TypeClass::Bool, t);
        match op {
            B::And | B::Or => {
                let a = self.expect(l, "a bool", lspan, bool_class);
                let b = self.expect(r, "a bool", rspan, bool_class);
                a.and(b)?;
                Some(Typed::of(Type::Bool))
            }
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => {
                let ordered = !matches!(op, B::Eq | B::Ne);
                if !comparable(l, r) {
                    self.mismatch(
                        &format!("a value comparable with `{l}`"),
                        r,
                        rspan,
                        Some(
                            "numbers compare with numbers; other values with the same type".into(),
                        ),
                    );
                    return None;
                }
                if ordered && !(orderable(l) && orderable(r)) {
                    self.mismatch("a value that can be ordered", l, lspan, None);
                    return None;
                }
                Some(Typed::of(Type::Bool).or_null(ordered && (l.nullable || r.nullable)))
            }
            B::Coalesce => match unify(l, r) {
                Some(u) => Some(Typed {
                    ty: u.ty,
                    nullable: r.nullable,
                }),
                None => {
                    self.mismatch(&format!("`{l}` like the left side"), r, rspan, None);
                    None
                }
            },
            B::Add
                if matches!(l.ty, Ty::Of(Type::String)) || matches!(r.ty, Ty::Of(Type::String)) =>
            {
                let s = |t: &Typed| t.is_unknown() || matches!(t.ty, Ty::Of(Type::String));
                let a = self.expect(l, "a string", lspan, s);
                let b = self.expect(r, "a string", rspan, s);
                a.and(b)?;
                Some(Typed::of(Type::String).or_null(l.nullable || r.nullable))
            }
            B::Add | B::Sub | B::Mul | B::Div | B::Rem => {
                let num = |t: &Typed| accepts(functions::TypeClass::Numeric, t);
                let a = self.expect(l, "a number", lspan, num);
                let b = self.expect(r, "a number", rspan, num);
                a.and(b)?;
                let Some(u) = unify(l, r) else {
                    self.mismatch("a number", r, op_span, None);
                    return None;
                };
                let can_fail = matches!(op, B::Div | B::Rem)
                    || matches!(u.ty, Ty::Of(Type::Int | Type::Decimal));
                Some(u.or_null(can_fail))
            }
        }
    }

    fn call(
        &mut self,
        cx: &mut ViewCx,
        scope: &[usize],
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Checked {
        let checked: Vec<Checked> = args.iter().map(|a| self.value(cx, scope, a)).collect();
        let Some(f) = functions::lookup(&name.name) else {
            let candidates = suggest(
                &name.name,
                functions::names().chain(AggregateFn::ALL.map(AggregateFn::name)),
            );
            self.report(
                name.span,
                CheckError::UnknownFunction {
                    name: name.name.clone(),
                    span: name.span.into(),
                    help: did_you_mean(&candidates),
                    candidates,
                },
            );
            return None;
        };
        if args.len() < f.min_args() || f.max_args().is_some_and(|m| args.len() > m) {
            self.report(
                span,
                CheckError::WrongArity {
                    name: f.name.into(),
                    expected: arity_phrase(f),
                    found: args.len(),
                    span: span.into(),
                    help: format!("signature: {}", f.signature),
                },
            );
            return None;
        }
        let mut exprs = Vec::new();
        let mut types = Vec::new();
        let mut ok = true;
        for (i, (c, a)) in checked.into_iter().zip(args).enumerate() {
            let Some((e, t)) = c else {
                ok = false;
                continue;
            };
            let class = f
                .params
                .get(i)
                .or(f.params.last())
                .copied()
                .unwrap_or(functions::TypeClass::Any);
            if !accepts(class, &t) {
                self.mismatch(
                    class_name(class),
                    &t,
                    a.span,
                    Some(format!("signature: {}", f.signature)),
                );
                ok = false;
            }
            exprs.push(e);
            types.push((t, a.span));
        }
        if !ok {
            return None;
        }
        let any_null = types.iter().any(|(t, _)| t.nullable);
        let can_fail = !f.on_bad_input.starts_with("none");
        let ty = match f.returns {
            Returns::Fixed(class) => {
                let never_null = matches!(f.name, "concat" | "is_null");
                Typed::of(class_type(class)).or_null(!never_null && (any_null || can_fail))
            }
            Returns::SameAsFirst => {
                let first = types.first().map(|(t, _)| t.clone())?;
                first.or_null(any_null || can_fail)
            }
            Returns::Common => {
                let mut acc: Option<Typed> = None;
                for (t, s) in &types {
                    acc = match acc {
                        None => Some(t.clone()),
                        Some(prev) => match unify(&prev, t) {
                            Some(u) => Some(u),
                            None => {
                                self.mismatch(
                                    &format!("`{prev}` like the other arguments"),
                                    t,
                                    *s,
                                    None,
                                );
                                return None;
                            }
                        },
                    };
                }
                let all_null = types.iter().all(|(t, _)| t.nullable);
                acc.map(|t| Typed {
                    ty: t.ty,
                    nullable: all_null,
                })?
            }
        };
        Some((
            Expr::Call {
                function: f.name.into(),
                args: exprs,
            },
            ty,
        ))
    }
}
