//! Checking relations: endpoints, field types, conditions, cardinality both ways.
//!
//! In: `relation` declarations (after every projection is registered). Out:
//! [`CheckedRelation`]s registered on the [`Checker`].
//!
//! Guarantees: a relation is registered only when both endpoints resolve to fields of one
//! projection each and have the same length, so later passes can index its fields freely.
//! Conditions are attached to the side they name; on a self-relation they apply to the right
//! (target) side.

use fdc_plan::FieldCondition;

use super::types::{comparable, Ty};
use super::{CheckError, CheckedRelation, Checker, Side};
use crate::syntax::ast;

impl Checker<'_> {
    pub(super) fn relation(&mut self, r: &ast::Relation) {
        if let Some(&first) = self.relation_index.get(&r.name.name) {
            let first = self.program.relations[first].name_span;
            let (first, help) = self.other(r.name.span, first);
            self.report(
                r.name.span,
                CheckError::DuplicateRelation {
                    name: r.name.name.clone(),
                    span: r.name.span.into(),
                    first,
                    help,
                },
            );
            return;
        }
        let left = self.endpoint(&r.name.name, &r.left);
        let right = self.endpoint(&r.name.name, &r.right);
        let (Some(mut left), Some(mut right)) = (left, right) else {
            self.broken.insert(r.name.name.clone());
            return;
        };
        if left.fields.len() != right.fields.len() {
            self.report(
                r.right.span,
                CheckError::RelationMismatch {
                    name: r.name.name.clone(),
                    problem: format!(
                        "{} field(s) on the left but {} on the right",
                        left.fields.len(),
                        right.fields.len()
                    ),
                    span: r.right.span.into(),
                    help: Some("both endpoints list the join fields pairwise".into()),
                },
            );
            self.broken.insert(r.name.name.clone());
            return;
        }
        let mut types_ok = true;
        for (i, (lf, rf)) in left.fields.iter().zip(&right.fields).enumerate() {
            let lt = self.program.projections[left.projection].field_type(lf);
            let rt = self.program.projections[right.projection].field_type(rf);
            if let (Some(lt), Some(rt)) = (lt, rt) {
                let joinable = comparable(&lt, &rt)
                    && !matches!(
                        lt.ty,
                        Ty::Of(fdc_plan::Type::Object | fdc_plan::Type::Array { .. })
                    );
                if !joinable {
                    let span = r.right.fields[i].span;
                    self.report(
                        span,
                        CheckError::RelationMismatch {
                            name: r.name.name.clone(),
                            problem: format!("`{lf}` is `{lt}` but `{rf}` is `{rt}`"),
                            span: span.into(),
                            help: Some(
                                "join fields must have the same type (numbers join with numbers); \
                                 cast one of them in its projection"
                                    .into(),
                            ),
                        },
                    );
                    types_ok = false;
                }
            }
        }
        // A type mismatch is reported but the relation is still registered, so that its uses
        // do not cascade into unknown-name errors.
        let _ = types_ok;
        let left_name = self.program.projections[left.projection].plan.name.clone();
        let right_name = self.program.projections[right.projection].plan.name.clone();
        for c in &r.conditions {
            let side = if c.target.projection.name == right_name {
                &mut right
            } else if c.target.projection.name == left_name {
                &mut left
            } else {
                self.report(
                    c.target.projection.span,
                    CheckError::ConditionNotOnEndpoint {
                        projection: c.target.projection.name.clone(),
                        relation: r.name.name.clone(),
                        span: c.target.projection.span.into(),
                        help: format!("conditions apply to `{left_name}` or `{right_name}`"),
                    },
                );
                continue;
            };
            let p = side.projection;
            self.note(
                c.target.projection.span,
                super::facts::Symbol::Projection(c.target.projection.name.clone()),
            );
            let Some(ft) = self.program.projections[p].field_type(&c.target.field.name) else {
                self.unknown_field(p, &c.target.field, &[]);
                continue;
            };
            self.note_field(c.target.field.span, p, &c.target.field.name);
            let Some((value, vt)) = self.literal(&c.value) else {
                continue;
            };
            if !comparable(&ft, &vt) {
                self.report(
                    c.value.span,
                    CheckError::TypeMismatch {
                        expected: format!("a value comparable with `{ft}`"),
                        found: vt.to_string(),
                        span: c.value.span.into(),
                        help: None,
                    },
                );
                continue;
            }
            side.conditions.push(FieldCondition {
                field: c.target.field.name.clone(),
                op: c.op.value,
                value,
            });
        }
        let left_unique = self.program.projections[left.projection].is_unique(&left.fields);
        self.relation_index
            .insert(r.name.name.clone(), self.program.relations.len());
        self.program.relations.push(CheckedRelation {
            name: r.name.name.clone(),
            left,
            right,
            many: r.many.value,
            left_unique,
            span: r.span,
            name_span: r.name.span,
        });
    }

    fn endpoint(&mut self, relation: &str, e: &ast::Endpoint) -> Option<Side> {
        let mut projection: Option<(usize, &ast::Ident)> = None;
        let mut fields = Vec::new();
        let mut ok = true;
        for q in &e.fields {
            let Some(p) = self.lookup_projection(&q.projection) else {
                ok = false;
                continue;
            };
            match projection {
                Some((first, first_name)) if first != p => {
                    self.report(
                        q.projection.span,
                        CheckError::RelationMismatch {
                            name: relation.into(),
                            problem: format!(
                                "one endpoint mixes `{}` and `{}`",
                                first_name.name, q.projection.name
                            ),
                            span: q.projection.span.into(),
                            help: Some(
                                "all fields of one endpoint belong to the same projection".into(),
                            ),
                        },
                    );
                    ok = false;
                    continue;
                }
                Some(_) => {}
                None => projection = Some((p, &q.projection)),
            }
            if self.program.projections[p]
                .plan
                .field(&q.field.name)
                .is_none()
            {
                self.unknown_field(p, &q.field, &[]);
                ok = false;
                continue;
            }
            self.note_field(q.field.span, p, &q.field.name);
            fields.push(q.field.name.clone());
        }
        let (p, _) = projection?;
        ok.then_some(Side {
            projection: p,
            fields,
            conditions: vec![],
            span: e.span,
        })
    }
}
