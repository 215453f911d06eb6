//! Layout of expressions and literals.
//!
//! In: expression trees. Out: their text, on one line when it fits in [`WIDTH`] columns,
//! otherwise broken at the outermost construct: objects and match arms one per line (commas
//! between them), `else` branches under their `if`, call arguments one per line, operator
//! chains with one operand per line. A `match` is always broken, and so is an object with a
//! comment inside.
//!
//! Guarantees: the text parses back to the same tree. Parentheses are added where precedence
//! needs them and around constructs that end in an open clause (`if ... else x`,
//! `rel[] where ...`) wherever something could follow and be taken into that clause.

use fdc_plan::{BinaryOp, UnaryOp};

use crate::syntax::ast::*;

use super::items::align;
use super::{Line, Printer, WIDTH};

/// Where a sub-expression sits, which decides whether it needs parentheses.
#[derive(Debug, Clone, Copy)]
enum Ctx {
    /// Followed by `)`, `}` or the end of the item: nothing can extend it.
    Closed,
    /// Followed by `,`: a trailing `sort by` list would take what comes after the comma.
    Comma,
    /// The `else` branch of an `if`: an `if` there would read as `else if`.
    Else,
    /// Followed by a word that an open clause could take (`then`, `sort`, `limit`, `{`).
    Open,
    /// A match subject (followed by `{`).
    Subject,
    /// Left or right operand of a binary operator of this precedence.
    Left(u8),
    Right(u8),
    /// Operand of `not` / of unary `-`.
    Not,
    Neg,
}

fn binary_prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            4
        }
        BinaryOp::Coalesce => 5,
        BinaryOp::Add | BinaryOp::Sub => 6,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 7,
    }
}

/// Binding strength: `not` sits between `and` and the comparisons, unary `-` above all.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => binary_prec(op.value),
        ExprKind::Unary { op, .. } => match op.value {
            UnaryOp::Not => 3,
            UnaryOp::Neg => 8,
        },
        _ => 9,
    }
}

/// An `if` or an array: both end in a clause that would take what follows.
fn open_ended(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::If { .. } | ExprKind::Collect { .. })
}

/// Whether `e` ends in a `sort by` list that a following `, x` would extend.
fn ends_in_sort(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Collect { sort, limit, .. } => !sort.is_empty() && limit.is_none(),
        ExprKind::If { otherwise, .. } => ends_in_sort(otherwise),
        _ => false,
    }
}

fn wrap(e: &Expr, ctx: Ctx) -> bool {
    match ctx {
        Ctx::Closed => false,
        Ctx::Comma => ends_in_sort(e),
        Ctx::Else => matches!(e.kind, ExprKind::If { .. }),
        Ctx::Open => open_ended(e),
        Ctx::Subject => open_ended(e) || matches!(e.kind, ExprKind::Object(_)),
        Ctx::Left(p) => open_ended(e) || prec(e) < p,
        Ctx::Right(p) => open_ended(e) || prec(e) <= p,
        Ctx::Not => open_ended(e) || prec(e) < 3,
        Ctx::Neg => open_ended(e) || prec(e) < 8,
    }
}

/// A string literal with the escapes the parser understands.
pub(crate) fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A constant as written in `.fdl`.
pub(crate) fn literal(v: &LitValue) -> String {
    match v {
        LitValue::String(s) => quote(s),
        LitValue::Int(n) => n.to_string(),
        LitValue::Float(f) => {
            // `{:?}` keeps a `.` or an exponent, so the text reads back as a float.
            let s = format!("{f:?}");
            if s.contains(['.', 'e', 'E']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        LitValue::Decimal(d) => format!("{d}d"),
        LitValue::Bool(b) => b.to_string(),
        LitValue::Null => "null".into(),
        LitValue::Date(d) => format!("date {}", quote(d)),
        LitValue::Datetime(d) => format!("datetime {}", quote(d)),
    }
}

/// Whether `s` can be written as a bare name (an identifier that is not a keyword).
pub(crate) fn is_plain_ident(s: &str) -> bool {
    let mut chars = s.chars();
    let starts = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            s,
            "if" | "then" | "else" | "match" | "not" | "and" | "or" | "true" | "false" | "null"
        )
}

fn path(segs: &[Ident]) -> String {
    let names: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
    names.join(".")
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// The column after `s` when it is written starting at `col`.
fn end_col(col: usize, s: &str) -> usize {
    match s.rfind('\n') {
        Some(i) => width(&s[i + 1..]),
        None => col + width(s),
    }
}

// ---- one-line form ---------------------------------------------------------------------------

/// The one-line form, or `None` when the expression must be broken (it holds a `match` or an
/// object with a comment inside).
fn flat(p: &Printer, e: &Expr) -> Option<String> {
    Some(match &e.kind {
        ExprKind::Literal(v) => literal(v),
        ExprKind::Path(segs) => path(segs),
        ExprKind::Unary { op, expr } => match op.value {
            UnaryOp::Not => format!("not {}", flat_in(p, expr, Ctx::Not)?),
            UnaryOp::Neg => format!("-{}", flat_in(p, expr, Ctx::Neg)?),
        },
        ExprKind::Binary { op, left, right } => {
            let pr = binary_prec(op.value);
            format!(
                "{} {} {}",
                flat_in(p, left, Ctx::Left(pr))?,
                op.value.symbol(),
                flat_in(p, right, Ctx::Right(pr))?
            )
        }
        ExprKind::Call { name, args } => {
            let n = args.len();
            let args = args
                .iter()
                .enumerate()
                .map(|(i, a)| flat_in(p, a, if i + 1 == n { Ctx::Closed } else { Ctx::Comma }))
                .collect::<Option<Vec<_>>>()?;
            format!("{}({})", name.name, args.join(", "))
        }
        ExprKind::If {
            branches,
            otherwise,
        } => {
            let mut s = String::new();
            for (i, (c, v)) in branches.iter().enumerate() {
                if i > 0 {
                    s.push_str(" else ");
                }
                s.push_str(&format!(
                    "if {} then {}",
                    flat_in(p, c, Ctx::Open)?,
                    flat_in(p, v, Ctx::Open)?
                ));
            }
            s.push_str(&format!(" else {}", flat_in(p, otherwise, Ctx::Else)?));
            s
        }
        ExprKind::Match { .. } => return None,
        ExprKind::Object(entries) => {
            if p.has_comment_in(e.span.start, e.span.end) {
                return None;
            }
            if entries.is_empty() {
                return Some("{}".into());
            }
            let n = entries.len();
            let entries = entries
                .iter()
                .enumerate()
                .map(|(i, en)| match &en.value {
                    None => Some(en.name.name.clone()),
                    Some(v) => {
                        let ctx = if i + 1 == n { Ctx::Closed } else { Ctx::Comma };
                        Some(format!("{} = {}", en.name.name, flat_in(p, v, ctx)?))
                    }
                })
                .collect::<Option<Vec<_>>>()?;
            format!("{{ {} }}", entries.join(", "))
        }
        ExprKind::Collect {
            source,
            element,
            filter,
            sort,
            limit,
        } => {
            let mut s = format!("{}[]", path(&source.segments));
            if let Some(el) = element {
                if matches!(el.kind, ExprKind::Object(_)) {
                    s.push(' ');
                    s.push_str(&flat(p, el)?);
                } else {
                    s.push_str(&format!(" ({})", flat_in(p, el, Ctx::Closed)?));
                }
            }
            s.push_str(&flat_clauses(p, filter.as_deref(), sort)?);
            if let Some(l) = limit {
                s.push_str(&format!(" limit {}", l.value));
            }
            s
        }
        ExprKind::Aggregate {
            function,
            value,
            of,
            filter,
            sort,
        } => {
            let mut s = format!(
                "{}({}",
                function.value.name(),
                flat_in(
                    p,
                    value,
                    agg_value_ctx(of.is_some(), filter.is_some(), sort)
                )?
            );
            if let Some(of) = of {
                s.push_str(&format!(" of {}", path(&of.segments)));
            }
            s.push_str(&flat_clauses(p, filter.as_deref(), sort)?);
            s.push(')');
            s
        }
    })
}

/// An aggregate's value is followed by `)` unless `of`, `where` or `sort by` comes next.
fn agg_value_ctx(of: bool, filter: bool, sort: &[SortKey]) -> Ctx {
    if of || filter || !sort.is_empty() {
        Ctx::Open
    } else {
        Ctx::Closed
    }
}

fn flat_in(p: &Printer, e: &Expr, ctx: Ctx) -> Option<String> {
    let s = flat(p, e)?;
    Some(if wrap(e, ctx) { format!("({s})") } else { s })
}

fn flat_clauses(p: &Printer, filter: Option<&Expr>, sort: &[SortKey]) -> Option<String> {
    let mut s = String::new();
    if let Some(f) = filter {
        s.push_str(&format!(" where {}", flat_in(p, f, Ctx::Open)?));
    }
    if !sort.is_empty() {
        let keys = sort
            .iter()
            .map(|k| {
                let dir = if k.descending { " desc" } else { "" };
                Some(format!("{}{dir}", flat_in(p, &k.expr, Ctx::Open)?))
            })
            .collect::<Option<Vec<_>>>()?;
        s.push_str(&format!(" sort by {}", keys.join(", ")));
    }
    Some(s)
}

/// Whether `e`, written from column `col`, takes more than one line (used for alignment
/// groups; the same test [`layout`] starts from).
pub(super) fn breaks(p: &Printer, e: &Expr, _indent: usize, col: usize) -> bool {
    match flat(p, e) {
        Some(s) => col + width(&s) > WIDTH && can_break(e),
        None => true,
    }
}

fn can_break(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Literal(_) | ExprKind::Path(_) => false,
        ExprKind::Call { args, .. } => !args.is_empty(),
        ExprKind::Unary { expr, .. } => can_break(expr),
        ExprKind::Aggregate { value, filter, .. } => {
            can_break(value) || filter.as_deref().is_some_and(can_break)
        }
        ExprKind::Collect {
            element, filter, ..
        } => element.is_some() || filter.as_deref().is_some_and(can_break),
        _ => true,
    }
}

// ---- broken form -----------------------------------------------------------------------------

/// The text of `e` written from column `col` on a line indented by `indent`: its first line
/// carries no indentation, later lines carry their own.
pub(super) fn layout(p: &mut Printer, e: &Expr, indent: usize, col: usize) -> String {
    if let Some(s) = flat(p, e) {
        if col + width(&s) <= WIDTH || !can_break(e) {
            p.hoist(e.span.end);
            return s;
        }
    }
    match &e.kind {
        ExprKind::Literal(v) => literal(v),
        ExprKind::Path(segs) => path(segs),
        ExprKind::Unary { op, expr } => {
            let (text, ctx) = match op.value {
                UnaryOp::Not => ("not ", Ctx::Not),
                UnaryOp::Neg => ("-", Ctx::Neg),
            };
            format!(
                "{text}{}",
                layout_in(p, expr, ctx, indent, col + text.len())
            )
        }
        ExprKind::Binary { op, .. } => binary(p, e, binary_prec(op.value), indent, col),
        ExprKind::Call { name, args } => {
            let inner = " ".repeat(indent + 2);
            let mut s = format!("{}(", name.name);
            for (i, a) in args.iter().enumerate() {
                let last = i + 1 == args.len();
                let ctx = if last { Ctx::Closed } else { Ctx::Comma };
                s.push('\n');
                s.push_str(&inner);
                s.push_str(&layout_in(p, a, ctx, indent + 2, indent + 2));
                if !last {
                    s.push(',');
                }
            }
            s.push('\n');
            s.push_str(&" ".repeat(indent));
            s.push(')');
            p.hoist(e.span.end);
            s
        }
        ExprKind::If {
            branches,
            otherwise,
        } => {
            let mut s = String::new();
            for (i, (c, v)) in branches.iter().enumerate() {
                if i > 0 {
                    s.push('\n');
                    s.push_str(&" ".repeat(col));
                    s.push_str("else ");
                }
                let at = if i == 0 { col } else { col + 5 };
                s.push_str("if ");
                let cond = layout_in(p, c, Ctx::Open, col, at + 3);
                s.push_str(&cond);
                s.push_str(" then ");
                let vcol = end_col(at + 3, &cond) + 6;
                s.push_str(&layout_in(p, v, Ctx::Open, col, vcol));
            }
            s.push('\n');
            s.push_str(&" ".repeat(col));
            s.push_str("else ");
            s.push_str(&layout_in(p, otherwise, Ctx::Else, col, col + 5));
            s
        }
        ExprKind::Match {
            subject,
            arms,
            otherwise,
        } => match_broken(p, e.span, subject.as_deref(), arms, otherwise, indent, col),
        ExprKind::Object(entries) => object_broken(p, e.span, entries, indent),
        ExprKind::Collect {
            source,
            element,
            filter,
            sort,
            limit,
        } => {
            let mut s = format!("{}[]", path(&source.segments));
            if let Some(el) = element {
                if let ExprKind::Object(entries) = &el.kind {
                    // The element is the one place an array breaks: break it even when it
                    // would fit alone, since the whole line does not.
                    s.push(' ');
                    s.push_str(&object_broken(p, el.span, entries, indent));
                } else {
                    s.push_str(" (");
                    let c = end_col(col, &s);
                    s.push_str(&layout_in(p, el, Ctx::Closed, indent, c));
                    s.push(')');
                }
            }
            clauses(p, &mut s, filter.as_deref(), sort, indent, col);
            if let Some(l) = limit {
                s.push_str(&format!(" limit {}", l.value));
            }
            p.hoist(e.span.end);
            s
        }
        ExprKind::Aggregate {
            function,
            value,
            of,
            filter,
            sort,
        } => {
            let mut s = format!("{}(", function.value.name());
            let c = end_col(col, &s);
            let ctx = agg_value_ctx(of.is_some(), filter.is_some(), sort);
            s.push_str(&layout_in(p, value, ctx, indent, c));
            if let Some(of) = of {
                s.push_str(&format!(" of {}", path(&of.segments)));
            }
            clauses(p, &mut s, filter.as_deref(), sort, indent, col);
            s.push(')');
            p.hoist(e.span.end);
            s
        }
    }
}

fn layout_in(p: &mut Printer, e: &Expr, ctx: Ctx, indent: usize, col: usize) -> String {
    if wrap(e, ctx) {
        format!("({})", layout(p, e, indent, col + 1))
    } else {
        layout(p, e, indent, col)
    }
}

fn clauses(
    p: &mut Printer,
    s: &mut String,
    filter: Option<&Expr>,
    sort: &[SortKey],
    indent: usize,
    col: usize,
) {
    if let Some(f) = filter {
        s.push_str(" where ");
        let c = end_col(col, s);
        s.push_str(&layout_in(p, f, Ctx::Open, indent, c));
    }
    for (i, k) in sort.iter().enumerate() {
        s.push_str(if i == 0 { " sort by " } else { ", " });
        let c = end_col(col, s);
        s.push_str(&layout_in(p, &k.expr, Ctx::Open, indent, c));
        if k.descending {
            s.push_str(" desc");
        }
    }
}

/// An operator chain of one precedence, one operand per line after the first.
fn binary(p: &mut Printer, e: &Expr, pr: u8, indent: usize, col: usize) -> String {
    let mut rights: Vec<(BinaryOp, &Expr)> = Vec::new();
    let mut cur = e;
    while let ExprKind::Binary { op, left, right } = &cur.kind {
        if binary_prec(op.value) != pr {
            break;
        }
        rights.push((op.value, right));
        cur = left;
    }
    rights.reverse();
    let mut s = layout_in(p, cur, Ctx::Left(pr), indent, col);
    let inner = indent + 2;
    for (op, r) in rights {
        let op = op.symbol();
        s.push('\n');
        s.push_str(&" ".repeat(inner));
        s.push_str(op);
        s.push(' ');
        s.push_str(&layout_in(
            p,
            r,
            Ctx::Right(pr),
            inner,
            inner + op.len() + 1,
        ));
    }
    s
}

fn object_broken(p: &mut Printer, span: Span, entries: &[ObjectEntry], indent: usize) -> String {
    p.hoist(span.start);
    if entries.is_empty() && !p.has_comment_in(span.start, span.end) {
        return "{}".into();
    }
    let inner = indent + 2;
    let specs: Vec<(Span, Option<usize>, bool)> = entries
        .iter()
        .map(|en| match &en.value {
            None => (en.span, Some(0), false),
            Some(v) => {
                let col = inner + en.name.name.len() + 3;
                (en.span, Some(en.name.name.len()), breaks(p, v, inner, col))
            }
        })
        .collect();
    let pads = align(p, &specs);
    let mut s = String::from("{\n");
    for (i, en) in entries.iter().enumerate() {
        let at = Line {
            indent: inner,
            start: en.span.start,
            end: en.span.end,
            first: i == 0,
            force_blank: false,
        };
        let pad = pads[i];
        // Commas separate entries; the last one has none, so it never needs parentheses.
        let last = i + 1 == entries.len();
        let (sep, ctx) = if last {
            ("", Ctx::Closed)
        } else {
            (",", Ctx::Comma)
        };
        s.push_str(&p.node(at, sep, |p| match &en.value {
            None => {
                p.hoist(en.span.end);
                en.name.name.clone()
            }
            Some(v) => {
                let name = format!("{} = ", super::pad(&en.name.name, pad));
                let col = inner + width(&name);
                format!("{name}{}", layout_in(p, v, ctx, inner, col))
            }
        }));
    }
    s.push_str(&p.comments_until(span.end.saturating_sub(1), inner, entries.is_empty()));
    s.push_str(&" ".repeat(indent));
    s.push('}');
    s
}

fn match_broken(
    p: &mut Printer,
    span: Span,
    subject: Option<&Expr>,
    arms: &[MatchArm],
    otherwise: &Expr,
    indent: usize,
    col: usize,
) -> String {
    let mut s = String::from("match");
    let header_end = match subject {
        Some(subj) => {
            s.push(' ');
            let c = end_col(col, &s);
            s.push_str(&layout_in(p, subj, Ctx::Subject, indent, c));
            subj.span.end
        }
        None => span.start + "match".len(),
    };
    let brace = p.brace_after(header_end);
    p.hoist(brace);
    s.push_str(" {\n");
    let inner = indent + 2;
    let patterns: Vec<Option<String>> = arms
        .iter()
        .map(|a| {
            a.patterns
                .iter()
                .map(|pat| flat_in(p, pat, Ctx::Comma))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.join(", "))
        })
        .collect();
    let pad = patterns
        .iter()
        .map(|pt| pt.as_deref().map_or(0, width))
        .chain(std::iter::once("else".len()))
        .max()
        .unwrap_or(0);
    for (i, arm) in arms.iter().enumerate() {
        let at = Line {
            indent: inner,
            start: arm.span.start,
            end: arm.span.end,
            first: i == 0,
            force_blank: false,
        };
        let flat_pats = patterns[i].clone();
        s.push_str(&p.node(at, ",", |p| {
            let pats = match flat_pats {
                Some(text) => {
                    if let Some(last) = arm.patterns.last() {
                        p.hoist(last.span.end);
                    }
                    text
                }
                None => {
                    let mut parts = Vec::new();
                    for pat in &arm.patterns {
                        parts.push(layout_in(p, pat, Ctx::Comma, inner, inner));
                    }
                    parts.join(", ")
                }
            };
            let head = format!("{} => ", super::pad(&pats, pad));
            let c = end_col(inner, &head);
            format!("{head}{}", layout_in(p, &arm.value, Ctx::Comma, inner, c))
        }));
    }
    // The `else` arm starts at its keyword, which the tree does not record.
    let after_arms = arms.last().map_or(brace, |a| a.span.end);
    let else_at = p.word_in(after_arms, otherwise.span.start, "else");
    let at = Line {
        indent: inner,
        start: else_at,
        end: otherwise.span.end,
        first: arms.is_empty(),
        force_blank: false,
    };
    s.push_str(&p.node(at, "", |p| {
        let head = format!("{} => ", super::pad("else", pad));
        let c = inner + width(&head);
        format!("{head}{}", layout_in(p, otherwise, Ctx::Closed, inner, c))
    }));
    s.push_str(&p.comments_until(span.end.saturating_sub(1), inner, false));
    s.push_str(&" ".repeat(indent));
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_read_back_as_the_same_kind() {
        assert_eq!(literal(&LitValue::Float(1e21)), "1e21");
        assert_eq!(literal(&LitValue::Float(100.0)), "100.0");
        assert_eq!(literal(&LitValue::Decimal("-1.50".into())), "-1.50d");
        assert_eq!(
            literal(&LitValue::String("a\"b\\c\n\u{1}".into())),
            "\"a\\\"b\\\\c\\n\\u{1}\""
        );
        assert_eq!(
            literal(&LitValue::Date("2024-01-31".into())),
            "date \"2024-01-31\""
        );
    }

    #[test]
    fn plain_idents_exclude_keywords() {
        assert!(is_plain_ident("payload"));
        assert!(is_plain_ident("_x1"));
        assert!(!is_plain_ident("if"));
        assert!(!is_plain_ident("a-b"));
        assert!(!is_plain_ident("1a"));
        assert!(!is_plain_ident(""));
    }
}
