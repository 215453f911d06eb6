//! Checking aggregates: `count`, `sum`, `min`, `max`, `avg`, `first`, `last`.
//!
//! In: an aggregate expression and the scope. Out: [`Expr::Aggregate`] and its type: `count` is
//! a non-null int; `sum` has the value's number type and is never null (0 on no records); `avg`
//! of ints is a float; the others have the value's type and may be null.
//!
//! Guarantees: the source path crosses a many-hop (else `aggregate_over_one`); the value is
//! evaluated with the aggregated record in scope; only `count` works without a value, and
//! `first`/`last` without one give the whole record.

use fdc_plan::functions;
use fdc_plan::{AggregateFn, Expr, Type};

use super::expr::{path_text, Checked};
use super::types::{accepts, is_numeric, orderable, Ty, Typed};
use super::view::{Resolved, ViewCx};
use super::{CheckError, Checker};
use crate::syntax::ast::{self, Span};

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn aggregate(
        &mut self,
        cx: &mut ViewCx,
        scope: &[usize],
        function: &ast::Spanned<AggregateFn>,
        value: &ast::Expr,
        of: Option<&ast::PathRef>,
        filter: Option<&ast::Expr>,
        sort: &[ast::SortKey],
        span: Span,
    ) -> Checked {
        let f = function.value;
        let name = f.name().to_string();
        let (node, value_expr, path, path_span) = match of {
            Some(of) => {
                let r = self.resolve(cx, scope, &of.segments)?;
                if !r.fields.is_empty() {
                    self.report(
                        of.span,
                        CheckError::BadAggregate {
                            message: "`of` takes a relation, not a field".into(),
                            span: of.span.into(),
                            help: format!("write `{name}(field of relation)`"),
                        },
                    );
                    return None;
                }
                (r, Some(value), path_text(&of.segments), of.span)
            }
            None => {
                let ast::ExprKind::Path(segs) = &value.kind else {
                    self.report(
                        value.span,
                        CheckError::BadAggregate {
                            message: format!("`{name}` needs a relation to aggregate over"),
                            span: value.span.into(),
                            help: format!(
                                "write `{name}(relation.field)` or `{name}(expression of relation)`"
                            ),
                        },
                    );
                    return None;
                };
                let r = self.resolve(cx, scope, segs)?;
                (r, None, path_text(segs), value.span)
            }
        };
        if !node.many {
            self.over_one(&path, path_span);
            return None;
        }
        let mut inner = scope.to_vec();
        inner.push(node.node);
        let checked_value: Option<(Expr, Typed)> = match value_expr {
            Some(v) => Some(self.value(cx, &inner, v)?),
            None if node.fields.is_empty() => None,
            None => {
                let target = Resolved {
                    node: node.node,
                    many: false,
                    fields: node.fields.clone(),
                };
                let segs = node.fields.clone();
                Some(self.read(cx, &inner, target, &segs, path_span)?)
            }
        };
        let filter = self.filter(cx, &inner, filter)?;
        let sort = self.sort(cx, &inner, sort)?;
        let checked_value = match (f, checked_value) {
            (AggregateFn::First | AggregateFn::Last, None) => Some((
                Expr::Field {
                    node: node.node,
                    path: vec![],
                },
                Typed::of(Type::Object),
            )),
            (AggregateFn::Count, v) => v,
            (_, None) => {
                self.report(
                    path_span,
                    CheckError::BadAggregate {
                        message: format!("`{name}` needs a value to aggregate"),
                        span: path_span.into(),
                        help: format!("name a field: `{name}({path}.field)`"),
                    },
                );
                return None;
            }
            (_, v) => v,
        };
        let vt = checked_value.as_ref().map(|(_, t)| t.clone());
        let ty = match (f, &vt) {
            (AggregateFn::Count, _) => Typed::of(Type::Int),
            (AggregateFn::Sum | AggregateFn::Avg, Some(t)) => {
                let numeric = accepts(functions::TypeClass::Numeric, t);
                if !numeric {
                    self.mismatch("a number", t, path_span, None);
                    return None;
                }
                let base = match &t.ty {
                    Ty::Of(b) if is_numeric(b) => b.clone(),
                    _ => Type::Any,
                };
                if f == AggregateFn::Sum {
                    Typed::of(base)
                } else if base == Type::Int {
                    Typed::nullable(Type::Float)
                } else {
                    Typed::nullable(base)
                }
            }
            (AggregateFn::Min | AggregateFn::Max, Some(t)) => {
                if !orderable(t) {
                    self.mismatch("a value that can be ordered", t, path_span, None);
                    return None;
                }
                t.clone().or_null(true)
            }
            (_, Some(t)) => t.clone().or_null(true),
            (_, None) => Typed::nullable(Type::Any),
        };
        let _ = span;
        Some((
            Expr::Aggregate {
                function: f,
                node: node.node,
                filter,
                sort,
                value: checked_value.map(|(e, _)| Box::new(e)),
            },
            ty,
        ))
    }
}
