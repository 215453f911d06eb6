//! Pest pairs to AST declarations: one builder function per grammar rule, named after it.
//!
//! In: the text of a file. Out: an [`ast::File`] or parse errors. Expressions are built in
//! [`super::expr`]. Builders rely on the grammar's shape; where that shape is not what they
//! expect they return [`Malformed`] (an internal error reported as a syntax error) rather than
//! panicking.

use pest::iterators::Pair;
use pest::Parser;

use super::ast::*;
use super::{FdlParser, ParseError, Rule};

/// Result of a builder.
pub(super) type Built<T> = Result<T, ParseError>;

/// Context shared by the builders of one file.
pub(super) struct Ctx {
    pub file: FileId,
}

impl Ctx {
    pub fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    pub fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }
}

/// The grammar did not have the shape a builder expected (a bug, reported without panicking).
pub(super) fn malformed(ctx: &Ctx, p: &Pair<Rule>) -> ParseError {
    ParseError::Syntax {
        expected: "valid input".into(),
        span: ctx.span(p).into(),
        found: format!("unexpected {}", super::phrases::rule_phrase(p.as_rule())),
        help: Some("this is a bug in fdc's parser; please report it with this file".into()),
    }
}

/// The next inner pair, or a malformed-input error.
pub(super) fn next<'a>(
    ctx: &Ctx,
    parent: &Pair<'a, Rule>,
    it: &mut pest::iterators::Pairs<'a, Rule>,
) -> Built<Pair<'a, Rule>> {
    it.next().ok_or_else(|| malformed(ctx, parent))
}

pub(super) fn file(
    file: FileId,
    text: &str,
    comments: Vec<Comment>,
) -> Result<File, Vec<ParseError>> {
    let ctx = Ctx { file };
    let mut pairs = match FdlParser::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(e) => return Err(syntax_errors(file, text, e)),
    };
    let Some(root) = pairs.next() else {
        return Err(vec![ParseError::Syntax {
            expected: "a declaration".into(),
            span: Span::new(file, 0, 0).into(),
            found: "nothing".into(),
            help: None,
        }]);
    };
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for p in root.into_inner() {
        let built = match p.as_rule() {
            Rule::import => import(&ctx, p).map(Item::Import),
            Rule::format_decl => format_decl(&ctx, p).map(Item::Format),
            Rule::system => system(&ctx, p).map(Item::System),
            Rule::relation => relation(&ctx, p).map(Item::Relation),
            Rule::single_view => single_view(&ctx, p).map(Item::SingleView),
            Rule::EOI => continue,
            _ => Err(malformed(&ctx, &p)),
        };
        match built {
            Ok(item) => items.push(item),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(File {
        id: file,
        items,
        comments,
        span: Span::new(file, 0, text.len()),
    })
}

/// The first syntax error, then one more per later top-level declaration that fails: after an
/// error, parsing resumes at the next line that starts a declaration (`system`, `relation`,
/// `single view`, `format`, `import` at the start of a line).
fn syntax_errors(file: FileId, text: &str, first: pest::error::Error<Rule>) -> Vec<ParseError> {
    let mut errors = Vec::new();
    let mut offset = 0;
    let mut error = first;
    loop {
        let pos = offset
            + match error.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((s, _)) => s,
            };
        errors.push(super::phrases::syntax_error(file, text, offset, error));
        let Some(next) = next_declaration(text, pos).filter(|n| *n > offset) else {
            return errors;
        };
        offset = next;
        match FdlParser::parse(Rule::file, &text[offset..]) {
            Ok(_) => return errors,
            Err(e) => error = e,
        }
    }
}

/// The byte offset of the first line after `pos` that starts with a top-level keyword.
fn next_declaration(text: &str, pos: usize) -> Option<usize> {
    const STARTS: [&str; 5] = ["system ", "relation ", "single view ", "format ", "import "];
    let mut at = pos.min(text.len());
    while let Some(nl) = text.get(at..).and_then(|rest| rest.find('\n')) {
        let line = at + nl + 1;
        let rest = text.get(line..).unwrap_or("");
        if STARTS.iter().any(|s| rest.starts_with(s)) {
            return Some(line);
        }
        at = line;
    }
    None
}

// ---- literals --------------------------------------------------------------------------------

pub(super) fn string(ctx: &Ctx, p: Pair<Rule>) -> Built<StrLit> {
    let span = ctx.span(&p);
    let raw = p.as_str();
    let body = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    let value = unescape(body, span.start + 1, ctx)?;
    Ok(StrLit { value, span })
}

fn unescape(body: &str, offset: usize, ctx: &Ctx) -> Built<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = |len: usize| ParseError::BadEscape {
            escape: body[i..(i + len).min(body.len())].to_string(),
            span: Span::new(ctx.file, offset + i, offset + (i + len).min(body.len())).into(),
        };
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'u')) => {
                let rest = &body[i + 2..];
                let close = rest.find('}');
                let parsed = match (rest.strip_prefix('{'), close) {
                    (Some(_), Some(close)) => u32::from_str_radix(&rest[1..close], 16)
                        .ok()
                        .and_then(char::from_u32)
                        .map(|c| (c, close)),
                    _ => None,
                };
                match parsed {
                    Some((c, close)) => {
                        out.push(c);
                        for _ in 0..=close {
                            chars.next();
                        }
                    }
                    None => return Err(bad(2)),
                }
            }
            Some((_, c)) => return Err(bad(1 + c.len_utf8())),
            None => return Err(bad(1)),
        }
    }
    Ok(out)
}

pub(super) fn literal(ctx: &Ctx, p: Pair<Rule>) -> Built<Literal> {
    let span = ctx.span(&p);
    let inner = next(ctx, &p, &mut p.clone().into_inner())?;
    let value = lit_value(ctx, inner, false)?;
    Ok(Literal { value, span })
}

fn lit_value(ctx: &Ctx, p: Pair<Rule>, negative: bool) -> Built<LitValue> {
    let sign = if negative { "-" } else { "" };
    let text = p.as_str();
    Ok(match p.as_rule() {
        Rule::string => LitValue::String(string(ctx, p)?.value),
        Rule::int_lit => match format!("{sign}{text}").parse::<i64>() {
            Ok(n) => LitValue::Int(n),
            Err(_) => {
                return Err(ParseError::NumberOutOfRange {
                    text: text.to_string(),
                    span: ctx.span(&p).into(),
                })
            }
        },
        Rule::float_lit => match format!("{sign}{text}").parse::<f64>() {
            Ok(f) if f.is_finite() => LitValue::Float(f),
            _ => {
                return Err(ParseError::NumberOutOfRange {
                    text: text.to_string(),
                    span: ctx.span(&p).into(),
                })
            }
        },
        Rule::decimal_lit => {
            let digits = text.strip_suffix('d').unwrap_or(text);
            LitValue::Decimal(format!("{sign}{digits}"))
        }
        Rule::true_lit => LitValue::Bool(true),
        Rule::false_lit => LitValue::Bool(false),
        Rule::null_lit => LitValue::Null,
        Rule::date_lit | Rule::datetime_lit => {
            let is_date = p.as_rule() == Rule::date_lit;
            let s = next(ctx, &p, &mut p.clone().into_inner())?;
            let v = string(ctx, s)?.value;
            if is_date {
                LitValue::Date(v)
            } else {
                LitValue::Datetime(v)
            }
        }
        Rule::neg_number => {
            let inner = next(ctx, &p, &mut p.clone().into_inner())?;
            return lit_value(ctx, inner, true);
        }
        _ => return Err(malformed(ctx, &p)),
    })
}

// ---- declarations ----------------------------------------------------------------------------

fn import(ctx: &Ctx, p: Pair<Rule>) -> Built<Import> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    next(ctx, &p, &mut it)?; // kw_import
    let path = string(ctx, next(ctx, &p, &mut it)?)?;
    Ok(Import { path, span })
}

fn format_decl(ctx: &Ctx, p: Pair<Rule>) -> Built<FormatDecl> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    next(ctx, &p, &mut it)?; // kw_format
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    let mut items = Vec::new();
    for item in it {
        items.push(match item.as_rule() {
            Rule::format_path => format_path(ctx, item)?,
            Rule::format_codes => format_codes(ctx, item)?,
            _ => return Err(malformed(ctx, &item)),
        });
    }
    Ok(FormatDecl { name, items, span })
}

fn format_path(ctx: &Ctx, p: Pair<Rule>) -> Built<FormatItem> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let slot_pair = next(ctx, &p, &mut it)?;
    let slot =
        FormatSlot::from_keyword(slot_pair.as_str()).ok_or_else(|| malformed(ctx, &slot_pair))?;
    let slot = Spanned {
        value: slot,
        span: ctx.span(&slot_pair),
    };
    let path = message_path(ctx, next(ctx, &p, &mut it)?)?;
    Ok(FormatItem::Path { slot, path, span })
}

fn format_codes(ctx: &Ctx, p: Pair<Rule>) -> Built<FormatItem> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let kind_pair = next(ctx, &p, &mut it)?;
    let kind =
        CodeKind::from_keyword(kind_pair.as_str()).ok_or_else(|| malformed(ctx, &kind_pair))?;
    let kind = Spanned {
        value: kind,
        span: ctx.span(&kind_pair),
    };
    let codes = it.map(|s| string(ctx, s)).collect::<Built<Vec<_>>>()?;
    Ok(FormatItem::Codes { kind, codes, span })
}

fn message_path(ctx: &Ctx, p: Pair<Rule>) -> Built<MessagePath> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let part_pair = next(ctx, &p, &mut it)?;
    let part_span = ctx.span(&part_pair);
    let inner = next(ctx, &part_pair, &mut part_pair.clone().into_inner())?;
    let part = match inner.as_rule() {
        Rule::kw_key => MessagePart::Key,
        Rule::value_part => MessagePart::Value,
        Rule::timestamp_part => MessagePart::Timestamp,
        Rule::header_part => {
            let mut h = inner.clone().into_inner();
            next(ctx, &inner, &mut h)?; // kw_header
            MessagePart::Header(string(ctx, next(ctx, &inner, &mut h)?)?.value)
        }
        _ => return Err(malformed(ctx, &inner)),
    };
    let mut segments = Vec::new();
    for seg in it {
        let inner = next(ctx, &seg, &mut seg.clone().into_inner())?;
        segments.push(match inner.as_rule() {
            Rule::string => string(ctx, inner)?,
            _ => StrLit {
                value: inner.as_str().to_string(),
                span: ctx.span(&inner),
            },
        });
    }
    Ok(MessagePath {
        part: Spanned {
            value: part,
            span: part_span,
        },
        segments,
        span,
    })
}

fn system(ctx: &Ctx, p: Pair<Rule>) -> Built<System> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    next(ctx, &p, &mut it)?; // kw_system
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    let projections = it.map(|q| projection(ctx, q)).collect::<Built<Vec<_>>>()?;
    Ok(System {
        name,
        projections,
        span,
    })
}

fn projection(ctx: &Ctx, p: Pair<Rule>) -> Built<Projection> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    next(ctx, &p, &mut it)?; // kw_projection
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    next(ctx, &p, &mut it)?; // kw_from
    let topic = string(ctx, next(ctx, &p, &mut it)?)?;
    next(ctx, &p, &mut it)?; // kw_as
    let format = ctx.ident(next(ctx, &p, &mut it)?);
    let mut items = Vec::new();
    for item in it {
        items.push(match item.as_rule() {
            Rule::field_decl => ProjectionItem::Field(field_decl(ctx, item)?),
            Rule::key_decl => {
                let mut k = item.clone().into_inner();
                next(ctx, &item, &mut k)?;
                ProjectionItem::Key(name_list(ctx, next(ctx, &item, &mut k)?))
            }
            Rule::index_decl => index_decl(ctx, item)?,
            Rule::delete_decl => {
                let span = ctx.span(&item);
                let mut k = item.clone().into_inner();
                next(ctx, &item, &mut k)?;
                let hard = next(ctx, &item, &mut k)?.as_str() == "hard";
                ProjectionItem::Delete { hard, span }
            }
            Rule::publish_decl => ProjectionItem::Publish(publish_decl(ctx, item)?),
            _ => return Err(malformed(ctx, &item)),
        });
    }
    Ok(Projection {
        name,
        topic,
        format,
        items,
        span,
    })
}

fn name_list(ctx: &Ctx, p: Pair<Rule>) -> NameList {
    let span = ctx.span(&p);
    let parenthesized = p.as_str().starts_with('(');
    let names = p.into_inner().map(|i| ctx.ident(i)).collect();
    NameList {
        names,
        parenthesized,
        span,
    }
}

fn index_decl(ctx: &Ctx, p: Pair<Rule>) -> Built<ProjectionItem> {
    let span = ctx.span(&p);
    let mut unique = false;
    let mut fields = None;
    for part in p.clone().into_inner() {
        match part.as_rule() {
            Rule::unique => unique = true,
            Rule::kw_index => {}
            Rule::name_list => fields = Some(name_list(ctx, part)),
            _ => return Err(malformed(ctx, &part)),
        }
    }
    let fields = fields.ok_or_else(|| malformed(ctx, &p))?;
    Ok(ProjectionItem::Index {
        unique,
        fields,
        span,
    })
}

pub(super) fn publish_decl(ctx: &Ctx, p: Pair<Rule>) -> Built<Publish> {
    let span = ctx.span(&p);
    let mut topic = None;
    let (mut before, mut after) = (false, false);
    for part in p.clone().into_inner() {
        match part.as_rule() {
            Rule::string => topic = Some(string(ctx, part)?),
            Rule::image if part.as_str() == "before" => before = true,
            Rule::image => after = true,
            _ => {}
        }
    }
    let topic = topic.ok_or_else(|| malformed(ctx, &p))?;
    Ok(Publish {
        topic,
        before,
        after,
        span,
    })
}

fn field_decl(ctx: &Ctx, p: Pair<Rule>) -> Built<FieldDecl> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    let ty = type_ref(ctx, next(ctx, &p, &mut it)?)?;
    let mut source = None;
    let mut casts = Vec::new();
    let mut default = None;
    for part in it {
        match part.as_rule() {
            Rule::column_path => {
                source = Some(ColumnPath {
                    span: ctx.span(&part),
                    segments: part.into_inner().map(|i| ctx.ident(i)).collect(),
                })
            }
            Rule::cast_call => casts.push(cast_call(ctx, part)?),
            Rule::literal => default = Some(literal(ctx, part)?),
            _ => return Err(malformed(ctx, &part)),
        }
    }
    Ok(FieldDecl {
        name,
        ty,
        source,
        casts,
        default,
        span,
    })
}

fn type_ref(ctx: &Ctx, p: Pair<Rule>) -> Built<TypeRef> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let shape = next(ctx, &p, &mut it)?;
    let nullable = it.next().is_some();
    Ok(TypeRef {
        kind: type_kind(ctx, shape)?,
        nullable,
        span,
    })
}

fn type_kind(ctx: &Ctx, p: Pair<Rule>) -> Built<TypeKind> {
    match p.as_rule() {
        Rule::scalar_type => Ok(TypeKind::Scalar(scalar_type(ctx, &p)?)),
        Rule::array_type => {
            let inner = next(ctx, &p, &mut p.clone().into_inner())?;
            let span = ctx.span(&inner);
            Ok(TypeKind::Array(Box::new(TypeRef {
                kind: type_kind(ctx, inner)?,
                nullable: false,
                span,
            })))
        }
        _ => Err(malformed(ctx, &p)),
    }
}

fn scalar_type(ctx: &Ctx, p: &Pair<Rule>) -> Built<ScalarType> {
    Ok(match p.as_str() {
        "string" => ScalarType::String,
        "int" => ScalarType::Int,
        "float" => ScalarType::Float,
        "decimal" => ScalarType::Decimal,
        "bool" => ScalarType::Bool,
        "date" => ScalarType::Date,
        "datetime" => ScalarType::Datetime,
        "object" => ScalarType::Object,
        "any" => ScalarType::Any,
        _ => return Err(malformed(ctx, p)),
    })
}

fn cast_call(ctx: &Ctx, p: Pair<Rule>) -> Built<CastCall> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    let args = it.map(|a| literal(ctx, a)).collect::<Built<Vec<_>>>()?;
    Ok(CastCall { name, args, span })
}

fn relation(ctx: &Ctx, p: Pair<Rule>) -> Built<Relation> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    next(ctx, &p, &mut it)?; // kw_relation
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    let left = endpoint(ctx, next(ctx, &p, &mut it)?)?;
    let card = next(ctx, &p, &mut it)?;
    let many = Spanned {
        value: card.as_str() == "many",
        span: ctx.span(&card),
    };
    let right = endpoint(ctx, next(ctx, &p, &mut it)?)?;
    let mut conditions = Vec::new();
    for part in it {
        if part.as_rule() == Rule::condition {
            conditions.push(condition(ctx, part)?);
        }
    }
    Ok(Relation {
        name,
        left,
        many,
        right,
        conditions,
        span,
    })
}

fn endpoint(ctx: &Ctx, p: Pair<Rule>) -> Built<Endpoint> {
    let span = ctx.span(&p);
    let fields = p
        .clone()
        .into_inner()
        .map(|q| qualified(ctx, q))
        .collect::<Built<Vec<_>>>()?;
    Ok(Endpoint { fields, span })
}

fn qualified(ctx: &Ctx, p: Pair<Rule>) -> Built<Qualified> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let projection = ctx.ident(next(ctx, &p, &mut it)?);
    let field = ctx.ident(next(ctx, &p, &mut it)?);
    Ok(Qualified {
        projection,
        field,
        span,
    })
}

fn condition(ctx: &Ctx, p: Pair<Rule>) -> Built<Condition> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    let target = qualified(ctx, next(ctx, &p, &mut it)?)?;
    let op_pair = next(ctx, &p, &mut it)?;
    let op = Spanned {
        value: compare_op(ctx, &op_pair)?,
        span: ctx.span(&op_pair),
    };
    let value = literal(ctx, next(ctx, &p, &mut it)?)?;
    Ok(Condition {
        target,
        op,
        value,
        span,
    })
}

fn compare_op(ctx: &Ctx, p: &Pair<Rule>) -> Built<fdc_plan::CompareOp> {
    fdc_plan::CompareOp::from_symbol(p.as_str()).ok_or_else(|| malformed(ctx, p))
}

fn single_view(ctx: &Ctx, p: Pair<Rule>) -> Built<SingleView> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    next(ctx, &p, &mut it)?; // kw_single
    next(ctx, &p, &mut it)?; // kw_view
    let name = ctx.ident(next(ctx, &p, &mut it)?);
    let mut items = Vec::new();
    for item in it {
        items.push(view_item(ctx, item)?);
    }
    Ok(SingleView { name, items, span })
}

fn view_item(ctx: &Ctx, p: Pair<Rule>) -> Built<ViewItem> {
    let span = ctx.span(&p);
    let mut it = p.clone().into_inner();
    Ok(match p.as_rule() {
        Rule::mapping => {
            let name = ctx.ident(next(ctx, &p, &mut it)?);
            let value = super::expr::expr(ctx, next(ctx, &p, &mut it)?)?;
            ViewItem::Mapping(Mapping { name, value, span })
        }
        Rule::root_decl => {
            next(ctx, &p, &mut it)?;
            ViewItem::Root {
                projection: ctx.ident(next(ctx, &p, &mut it)?),
                span,
            }
        }
        Rule::view_key => {
            next(ctx, &p, &mut it)?;
            let mut parts = Vec::new();
            for kp in it {
                let kspan = ctx.span(&kp);
                let mut k = kp.clone().into_inner();
                let name = ctx.ident(next(ctx, &kp, &mut k)?);
                let value = qualified(ctx, next(ctx, &kp, &mut k)?)?;
                parts.push(KeyPart {
                    name,
                    value,
                    span: kspan,
                });
            }
            ViewItem::Key { parts, span }
        }
        Rule::on_delete => {
            let mode = it.last().ok_or_else(|| malformed(ctx, &p))?;
            ViewItem::OnRootDelete {
                mark: mode.as_str().starts_with("mark"),
                span,
            }
        }
        Rule::write_decl => {
            let mode = it.last().ok_or_else(|| malformed(ctx, &p))?;
            ViewItem::Write {
                merge: mode.as_str() == "merge",
                span,
            }
        }
        Rule::publish_decl => ViewItem::Publish(publish_decl(ctx, p)?),
        Rule::validate_decl => {
            next(ctx, &p, &mut it)?;
            ViewItem::Validate {
                path: string(ctx, next(ctx, &p, &mut it)?)?,
                span,
            }
        }
        Rule::strategy_decl => {
            next(ctx, &p, &mut it)?;
            let projection = ctx.ident(next(ctx, &p, &mut it)?);
            next(ctx, &p, &mut it)?; // kw_via
            let via = it.map(|i| ctx.ident(i)).collect();
            ViewItem::Strategy {
                projection,
                via,
                span,
            }
        }
        _ => return Err(malformed(ctx, &p)),
    })
}
