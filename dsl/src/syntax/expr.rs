//! Pest pairs to expression AST, with operator precedence from a Pratt parser.
//!
//! In: an `expr` pair. Out: an [`Expr`]. Precedence, loosest first: `or`; `and`; `not`;
//! comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`); `??`; `+` `-`; `*` `/` `%`; unary `-`.
//! All binary operators associate to the left.
//!
//! Guarantees: the built tree is at most [`MAX_DEPTH`] levels deep (a longer operator chain or
//! a longer run of prefix operators is a [`ParseError::TooDeep`]), so later recursive passes
//! cannot overflow the stack.

use std::sync::OnceLock;

use fdc_plan::{AggregateFn, BinaryOp, UnaryOp};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::parse::{literal, malformed, next, Built, Ctx};
use super::scan::MAX_DEPTH;
use super::{ParseError, Rule};

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::prefix(Rule::op_not))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left))
            .op(Op::infix(Rule::op_coalesce, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left)
                | Op::infix(Rule::op_div, Assoc::Left)
                | Op::infix(Rule::op_rem, Assoc::Left))
            .op(Op::prefix(Rule::op_neg))
    })
}

/// An expression and the depth of its tree.
type Deep = (Expr, usize);

/// Builds an `expr` pair.
pub(super) fn expr(ctx: &Ctx, p: Pair<Rule>) -> Built<Expr> {
    expr_deep(ctx, p).map(|(e, _)| e)
}

fn too_deep(span: Span) -> ParseError {
    ParseError::TooDeep {
        limit: MAX_DEPTH,
        span: span.into(),
    }
}

fn expr_deep(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    // A long run of prefix operators would make the Pratt parser recurse once per operator.
    let mut run = 0usize;
    for part in p.clone().into_inner() {
        match part.as_rule() {
            Rule::op_not | Rule::op_neg => {
                run += 1;
                if run > MAX_DEPTH {
                    return Err(too_deep(ctx.span(&part)));
                }
            }
            _ => run = 0,
        }
    }
    pratt()
        .map_primary(|prim| primary(ctx, prim))
        .map_prefix(|op, rhs| {
            let (rhs, depth) = rhs?;
            let op_span = ctx.span(&op);
            let op = match op.as_rule() {
                Rule::op_not => UnaryOp::Not,
                _ => UnaryOp::Neg,
            };
            let span = op_span.to(&rhs.span);
            deeper(
                Expr {
                    kind: ExprKind::Unary {
                        op: Spanned {
                            value: op,
                            span: op_span,
                        },
                        expr: Box::new(rhs),
                    },
                    span,
                },
                depth,
            )
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, ld) = lhs?;
            let (rhs, rd) = rhs?;
            let op_span = ctx.span(&op);
            let op = binary_op(ctx, &op)?;
            let span = lhs.span.to(&rhs.span);
            deeper(
                Expr {
                    kind: ExprKind::Binary {
                        op: Spanned {
                            value: op,
                            span: op_span,
                        },
                        left: Box::new(lhs),
                        right: Box::new(rhs),
                    },
                    span,
                },
                ld.max(rd),
            )
        })
        .parse(p.into_inner())
}

fn deeper(e: Expr, child_depth: usize) -> Built<Deep> {
    let depth = child_depth + 1;
    if depth > MAX_DEPTH {
        return Err(too_deep(e.span));
    }
    Ok((e, depth))
}

fn binary_op(ctx: &Ctx, p: &Pair<Rule>) -> Built<BinaryOp> {
    Ok(match p.as_rule() {
        Rule::op_or => BinaryOp::Or,
        Rule::op_and => BinaryOp::And,
        Rule::op_eq => BinaryOp::Eq,
        Rule::op_ne => BinaryOp::Ne,
        Rule::op_lt => BinaryOp::Lt,
        Rule::op_le => BinaryOp::Le,
        Rule::op_gt => BinaryOp::Gt,
        Rule::op_ge => BinaryOp::Ge,
        Rule::op_coalesce => BinaryOp::Coalesce,
        Rule::op_add => BinaryOp::Add,
        Rule::op_sub => BinaryOp::Sub,
        Rule::op_mul => BinaryOp::Mul,
        Rule::op_div => BinaryOp::Div,
        Rule::op_rem => BinaryOp::Rem,
        _ => return Err(malformed(ctx, p)),
    })
}

fn primary(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let span = ctx.span(&p);
    match p.as_rule() {
        Rule::expr => expr_deep(ctx, p),
        Rule::literal => {
            let lit = literal(ctx, p)?;
            Ok((
                Expr {
                    kind: ExprKind::Literal(lit.value),
                    span,
                },
                1,
            ))
        }
        Rule::path => {
            let segs = path(ctx, p);
            Ok((
                Expr {
                    kind: ExprKind::Path(segs.segments),
                    span,
                },
                1,
            ))
        }
        Rule::call => call(ctx, p),
        Rule::aggregate => aggregate(ctx, p),
        Rule::collect => collect(ctx, p),
        Rule::object_lit => object_lit(ctx, p),
        Rule::if_expr => if_expr(ctx, p),
        Rule::match_expr => match_expr(ctx, p),
        _ => Err(malformed(ctx, &p)),
    }
}

fn path(ctx: &Ctx, p: Pair<Rule>) -> PathRef {
    PathRef {
        span: ctx.span(&p),
        segments: p.into_inner().map(|i| ctx.ident(i)).collect(),
    }
}

/// Max child depth of a list.
fn max_depth(items: &[usize]) -> usize {
    items.iter().copied().max().unwrap_or(0)
}

fn call(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    let mut args = Vec::new();
    let mut depths = Vec::new();
    for a in it {
        let (e, d) = expr_deep(ctx, a)?;
        args.push(e);
        depths.push(d);
    }
    deeper(
        Expr {
            kind: ExprKind::Call { name, args },
            span,
        },
        max_depth(&depths),
    )
}

fn aggregate(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let fn_pair = next(ctx, &p, &mut it)?;
    let function = Spanned {
        value: match AggregateFn::from_name(fn_pair.as_str()) {
            Some(function) => function,
            None => return Err(malformed(ctx, &fn_pair)),
        },
        span: ctx.span(&fn_pair),
    };
    let (value, mut depth) = expr_deep(ctx, next(ctx, &p, &mut it)?)?;
    let mut of = None;
    let mut filter = None;
    let mut sort = Vec::new();
    for part in it {
        match part.as_rule() {
            Rule::kw_of => {}
            Rule::path => of = Some(path(ctx, part)),
            Rule::filter => {
                let (f, d) = filter_clause(ctx, part)?;
                depth = depth.max(d);
                filter = Some(Box::new(f));
            }
            Rule::sort => {
                let (s, d) = sort_clause(ctx, part)?;
                depth = depth.max(d);
                sort = s;
            }
            _ => return Err(malformed(ctx, &part)),
        }
    }
    deeper(
        Expr {
            kind: ExprKind::Aggregate {
                function,
                value: Box::new(value),
                of,
                filter,
                sort,
            },
            span,
        },
        depth,
    )
}

fn filter_clause(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let mut it = p.clone().into_inner();
    next(ctx, &p, &mut it)?; // kw_where
    expr_deep(ctx, next(ctx, &p, &mut it)?)
}

fn sort_clause(ctx: &Ctx, p: Pair<Rule>) -> Built<(Vec<SortKey>, usize)> {
    let mut keys = Vec::new();
    let mut depth = 0;
    for part in p.into_inner() {
        if part.as_rule() != Rule::sort_key {
            continue;
        }
        let span = ctx.span(&part);
        let mut it = part.clone().into_inner();
        let (e, d) = expr_deep(ctx, next(ctx, &part, &mut it)?)?;
        depth = depth.max(d);
        let descending = it.next().is_some_and(|d| d.as_str() == "desc");
        keys.push(SortKey {
            expr: e,
            descending,
            span,
        });
    }
    Ok((keys, depth))
}

fn collect(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let source = path(ctx, next(ctx, &p, &mut it)?);
    let mut element = None;
    let mut filter = None;
    let mut sort = Vec::new();
    let mut limit = None;
    let mut depth = 0;
    for part in it {
        match part.as_rule() {
            Rule::object_lit => {
                let (e, d) = object_lit(ctx, part)?;
                depth = depth.max(d);
                element = Some(Box::new(e));
            }
            Rule::expr => {
                let (e, d) = expr_deep(ctx, part)?;
                depth = depth.max(d);
                element = Some(Box::new(e));
            }
            Rule::filter => {
                let (f, d) = filter_clause(ctx, part)?;
                depth = depth.max(d);
                filter = Some(Box::new(f));
            }
            Rule::sort => {
                let (s, d) = sort_clause(ctx, part)?;
                depth = depth.max(d);
                sort = s;
            }
            Rule::limit => {
                let n = part
                    .clone()
                    .into_inner()
                    .find(|i| i.as_rule() == Rule::int_lit)
                    .ok_or_else(|| malformed(ctx, &part))?;
                let value =
                    n.as_str()
                        .parse::<u64>()
                        .map_err(|_| ParseError::NumberOutOfRange {
                            text: n.as_str().to_string(),
                            span: ctx.span(&n).into(),
                        })?;
                limit = Some(Spanned {
                    value,
                    span: ctx.span(&part),
                });
            }
            _ => return Err(malformed(ctx, &part)),
        }
    }
    deeper(
        Expr {
            kind: ExprKind::Collect {
                source,
                element,
                filter,
                sort,
                limit,
            },
            span,
        },
        depth,
    )
}

fn object_lit(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let span = ctx.span(&p);
    let mut entries = Vec::new();
    let mut depth = 0;
    for entry in p.into_inner() {
        let espan = ctx.span(&entry);
        let mut it = entry.clone().into_inner();
        let name = ctx.ident(next(ctx, &entry, &mut it)?);
        let value = match it.next() {
            Some(v) => {
                let (e, d) = expr_deep(ctx, v)?;
                depth = depth.max(d);
                Some(e)
            }
            None => None,
        };
        entries.push(ObjectEntry {
            name,
            value,
            span: espan,
        });
    }
    deeper(
        Expr {
            kind: ExprKind::Object(entries),
            span,
        },
        depth,
    )
}

fn if_expr(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let span = ctx.span(&p);
    let mut exprs = Vec::new();
    let mut depth = 0;
    for part in p.into_inner() {
        if part.as_rule() == Rule::expr {
            let (e, d) = expr_deep(ctx, part)?;
            depth = depth.max(d);
            exprs.push(e);
        }
    }
    // exprs = c1, v1, c2, v2, ..., otherwise
    let Some(otherwise) = exprs.pop() else {
        return Err(malformed_span(span));
    };
    let mut branches = Vec::new();
    let mut it = exprs.into_iter();
    while let (Some(c), Some(v)) = (it.next(), it.next()) {
        branches.push((c, v));
    }
    deeper(
        Expr {
            kind: ExprKind::If {
                branches,
                otherwise: Box::new(otherwise),
            },
            span,
        },
        depth,
    )
}

fn malformed_span(span: Span) -> ParseError {
    ParseError::Syntax {
        expected: "valid input".into(),
        span: span.into(),
        found: "unexpected input".into(),
        help: Some("this is a bug in fdc's parser; please report it with this file".into()),
    }
}

fn match_expr(ctx: &Ctx, p: Pair<Rule>) -> Built<Deep> {
    let span = ctx.span(&p);
    let mut subject = None;
    let mut arms = Vec::new();
    let mut otherwise = None;
    let mut depth = 0;
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::kw_match => {}
            Rule::expr => {
                let (e, d) = expr_deep(ctx, part)?;
                depth = depth.max(d);
                subject = Some(Box::new(e));
            }
            Rule::match_arm => {
                let aspan = ctx.span(&part);
                let mut exprs = Vec::new();
                for e in part.into_inner() {
                    let (e, d) = expr_deep(ctx, e)?;
                    depth = depth.max(d);
                    exprs.push(e);
                }
                let Some(value) = exprs.pop() else {
                    return Err(malformed_span(aspan));
                };
                arms.push(MatchArm {
                    patterns: exprs,
                    value,
                    span: aspan,
                });
            }
            Rule::match_else => {
                let e = part
                    .clone()
                    .into_inner()
                    .find(|i| i.as_rule() == Rule::expr)
                    .ok_or_else(|| malformed(ctx, &part))?;
                let (e, d) = expr_deep(ctx, e)?;
                depth = depth.max(d);
                otherwise = Some(Box::new(e));
            }
            _ => return Err(malformed(ctx, &part)),
        }
    }
    let otherwise = otherwise.ok_or_else(|| malformed_span(span))?;
    deeper(
        Expr {
            kind: ExprKind::Match {
                subject,
                arms,
                otherwise,
            },
            span,
        },
        depth,
    )
}
