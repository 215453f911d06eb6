//! Strategies (for each projection a view depends on, the paths back to the root) and the
//! missing-index warnings of the queries they and the aggregation run.
//!
//! In: a single view's join tree and its explicit `strategy P via ...` lines. Out: the
//! [`Strategy`] list in plan form (root first, then projections in join-tree order).
//!
//! Guarantees: a derived path is the reverse of a node's parent chain; identical paths of one
//! projection are kept once; an explicit strategy replaces the derived paths of its projection
//! and is accepted only when each hop connects, no projection is visited twice, and the last
//! hop reaches the root. Every query field set (each hop's `to_fields`, each join node's
//! `fields`) without an index that starts with it gets one warning per projection and fields.

use std::collections::HashSet;

use fdc_plan::{Hop, Strategy, StrategyPath};

use super::view::ViewCx;
use super::{CheckError, Checker};
use crate::syntax::ast::{self, Span};

impl Checker<'_> {
    pub(super) fn strategies(
        &mut self,
        cx: &ViewCx,
        explicit: &[(&ast::Ident, &[ast::Ident], Span)],
    ) -> Vec<Strategy> {
        let mut out: Vec<Strategy> = Vec::new();
        for (id, node) in cx.nodes.iter().enumerate() {
            let mut hops = Vec::new();
            let mut at = id;
            while let Some(parent) = cx.nodes[at].parent {
                let n = &cx.nodes[at];
                hops.push(Hop {
                    relation: n.relation.clone().unwrap_or_default(),
                    from: n.projection.clone(),
                    from_fields: n.fields.clone(),
                    from_conditions: n.conditions.clone(),
                    to: cx.nodes[parent].projection.clone(),
                    to_fields: n.parent_fields.clone(),
                    to_conditions: n.parent_conditions.clone(),
                });
                at = parent;
            }
            let path = StrategyPath {
                node: id,
                hops,
                explicit: false,
            };
            match out.iter_mut().find(|s| s.projection == node.projection) {
                Some(s) => {
                    if !s.paths.iter().any(|p| p.hops == path.hops) {
                        s.paths.push(path);
                    }
                }
                None => out.push(Strategy {
                    projection: node.projection.clone(),
                    paths: vec![path],
                }),
            }
        }

        let mut overridden: HashSet<String> = HashSet::new();
        for (projection, via, span) in explicit {
            let Some(p) = self.lookup_projection(projection) else {
                continue;
            };
            let name = self.program.projections[p].plan.name.clone();
            let Some(node) = cx.nodes.iter().position(|n| n.projection == name) else {
                // With a relation in error, the view's dependencies are incomplete: this would
                // only repeat that error.
                if !self.broken.is_empty() {
                    continue;
                }
                self.report(
                    projection.span,
                    CheckError::StrategyNotADependency {
                        view: cx.name.clone(),
                        projection: name.clone(),
                        span: projection.span.into(),
                        help: "strategies are for projections the mapping reads through relations"
                            .into(),
                    },
                );
                continue;
            };
            if !overridden.insert(name.clone()) {
                let _ = span;
                self.report(
                    projection.span,
                    CheckError::DuplicateSetting {
                        setting: format!("strategy {name}"),
                        span: projection.span.into(),
                        first: None,
                    },
                );
                continue;
            }
            if let Some(hops) = self.explicit_path(cx, p, via) {
                if let Some(s) = out.iter_mut().find(|s| s.projection == name) {
                    s.paths = vec![StrategyPath {
                        node,
                        hops,
                        explicit: true,
                    }];
                }
            }
        }

        self.missing_indexes(cx, &out);
        out
    }

    fn explicit_path(&mut self, cx: &ViewCx, start: usize, via: &[ast::Ident]) -> Option<Vec<Hop>> {
        let root = cx.root_projection();
        let mut at = start;
        let mut visited = vec![start];
        let mut hops = Vec::new();
        let mut last_span = via.first().map(|v| v.span)?;
        for rel_name in via {
            last_span = rel_name.span;
            let rel = self.lookup_relation(rel_name)?;
            self.used_relations.insert(rel);
            let r = &self.program.relations[rel];
            let (from, to) = if r.right.projection == at {
                (&r.right, &r.left)
            } else if r.left.projection == at {
                (&r.left, &r.right)
            } else {
                let projection = self.program.projections[at].plan.name.clone();
                let help = format!(
                    "`{}` connects `{}` and `{}`",
                    r.name,
                    self.program.projections[r.left.projection].plan.name,
                    self.program.projections[r.right.projection].plan.name
                );
                self.report(
                    rel_name.span,
                    CheckError::StrategyDisconnected {
                        relation: rel_name.name.clone(),
                        projection,
                        span: rel_name.span.into(),
                        help,
                    },
                );
                return None;
            };
            hops.push(Hop {
                relation: r.name.clone(),
                from: self.program.projections[from.projection].plan.name.clone(),
                from_fields: from.fields.clone(),
                from_conditions: from.conditions.clone(),
                to: self.program.projections[to.projection].plan.name.clone(),
                to_fields: to.fields.clone(),
                to_conditions: to.conditions.clone(),
            });
            let next = to.projection;
            if visited.contains(&next) {
                let projection = self.program.projections[next].plan.name.clone();
                self.report(
                    rel_name.span,
                    CheckError::StrategyCycle {
                        projection,
                        span: rel_name.span.into(),
                        help: "a strategy walks from the changed record straight to the root"
                            .into(),
                    },
                );
                return None;
            }
            visited.push(next);
            at = next;
        }
        if at != root {
            let names = |c: &Self, i: usize| c.program.projections[i].plan.name.clone();
            self.report(
                last_span,
                CheckError::StrategyNotReachingRoot {
                    projection: names(self, start),
                    end: names(self, at),
                    root: names(self, root),
                    span: last_span.into(),
                    help: format!(
                        "add relations until the path reaches `{}`",
                        names(self, root)
                    ),
                },
            );
            return None;
        }
        Some(hops)
    }

    fn missing_indexes(&mut self, cx: &ViewCx, strategies: &[Strategy]) {
        // (projection, fields, relation, purpose)
        let mut queries: Vec<(String, Vec<String>, String, String)> = Vec::new();
        for n in cx.nodes.iter().skip(1) {
            queries.push((
                n.projection.clone(),
                n.fields.clone(),
                n.relation.clone().unwrap_or_default(),
                format!("single view `{}` (aggregation)", cx.name),
            ));
        }
        for s in strategies {
            for p in &s.paths {
                for h in &p.hops {
                    queries.push((
                        h.to.clone(),
                        h.to_fields.clone(),
                        h.relation.clone(),
                        format!("the strategy of `{}` for `{}`", s.projection, cx.name),
                    ));
                }
            }
        }
        let mut seen: HashSet<(String, Vec<String>)> = HashSet::new();
        for (projection, fields, relation, purpose) in queries {
            let mut sorted = fields.clone();
            sorted.sort();
            if !seen.insert((projection.clone(), sorted)) {
                continue;
            }
            let Some(&p) = self.projection_index.get(&projection) else {
                continue;
            };
            if self.program.projections[p].has_index_on(&fields) {
                continue;
            }
            let Some(&r) = self.relation_index.get(&relation) else {
                continue;
            };
            let rel = &self.program.relations[r];
            let span = if rel.right.projection == p && rel.right.fields == fields {
                rel.right.span
            } else {
                rel.left.span
            };
            let index = if fields.len() == 1 {
                format!("index {}", fields[0])
            } else {
                format!("index ({})", fields.join(", "))
            };
            self.report(
                span,
                CheckError::MissingIndex {
                    projection: projection.clone(),
                    fields: fields.join(", "),
                    purpose,
                    span: span.into(),
                    help: format!("add `{index}` to projection `{projection}`"),
                },
            );
        }
    }
}
