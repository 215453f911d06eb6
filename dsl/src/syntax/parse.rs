//! Pest pairs to AST declarations: one builder function per grammar rule, named after it.
//!
//! In: the text of a file. Out: an [`ast::File`] or parse errors. Expressions are built in
//! [`super::expr`]. Builders rely on the grammar's shape; where that shape is not what they
//! expect they return [`Malformed`] (an internal error reported as a syntax error) rather than
//! panicking.

use pest::error::{ErrorVariant, InputLocation};
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
        found: format!("unexpected {}", rule_phrase(p.as_rule())),
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
    let mut pairs =
        FdlParser::parse(Rule::file, text).map_err(|e| vec![syntax_error(&ctx, text, e)])?;
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

fn syntax_error(ctx: &Ctx, text: &str, e: pest::error::Error<Rule>) -> ParseError {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (expected, help) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut phrases: Vec<&str> = positives.iter().map(|r| rule_phrase(*r)).collect();
            // Inside a projection body the alternatives read better as one phrase.
            if positives.contains(&Rule::index_decl) || positives.contains(&Rule::kw_index) {
                phrases.retain(|p| {
                    *p != "a name"
                        && *p != "`key`"
                        && *p != "`index`"
                        && *p != "`delete`"
                        && *p != "`publish`"
                        && *p != "`unique`"
                });
                phrases.push("a field, `key`, `index`, `delete` or `publish` line");
            }
            phrases.sort_unstable();
            phrases.dedup();
            let help = positives
                .iter()
                .find_map(|r| rule_help(*r))
                .map(String::from);
            (join_or(&phrases), help)
        }
        ErrorVariant::CustomError { message } => (message.clone(), None),
    };
    let rest = &text[pos.min(text.len())..];
    let (found, len) = match rest.chars().next() {
        None if pos > 0 => {
            // Point at the last character so the label has something to underline.
            let last = text[..pos].chars().next_back().map_or(1, char::len_utf8);
            return ParseError::Syntax {
                expected: if expected.is_empty() {
                    "something else".into()
                } else {
                    expected
                },
                span: Span::new(ctx.file, pos - last, pos).into(),
                found: "the file ends here".into(),
                help,
            };
        }
        None => ("the file ends here".to_string(), 0),
        Some(c) if c.is_whitespace() => ("found white space".to_string(), c.len_utf8()),
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (format!("found `{word}`"), word.len())
        }
        Some(c) => (format!("found `{c}`"), c.len_utf8()),
    };
    ParseError::Syntax {
        expected: if expected.is_empty() {
            "something else".into()
        } else {
            expected
        },
        span: Span::new(ctx.file, pos, pos + len).into(),
        found,
        help,
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// What a user reads instead of a pest rule name.
pub(crate) fn rule_phrase(rule: Rule) -> &'static str {
    use Rule as R;
    match rule {
        R::EOI => "the end of the file",
        R::file | R::item => "a declaration",
        R::ident | R::keyword => "a name",
        R::format_name => {
            "a message format (`basic`, `debezium`, `golden-gate` or a declared format)"
        }
        R::kw_import => "`import`",
        R::kw_format => "`format`",
        R::kw_system => "`system`",
        R::kw_projection => "`projection`",
        R::kw_from => "`from`",
        R::kw_as => "`as`",
        R::kw_key => "`key`",
        R::kw_index => "`index`",
        R::kw_unique => "`unique`",
        R::kw_delete => "`delete`",
        R::kw_publish => "`publish`",
        R::kw_updates => "`updates`",
        R::kw_to => "`to`",
        R::kw_with => "`with`",
        R::kw_relation => "`relation`",
        R::kw_where => "`where`",
        R::kw_and => "`and`",
        R::kw_single => "`single view`",
        R::kw_view => "`view`",
        R::kw_root => "`root`",
        R::kw_on => "`on`",
        R::kw_write => "`write`",
        R::kw_validate => "`validate`",
        R::kw_strategy => "`strategy`",
        R::kw_via => "`via`",
        R::kw_sort => "`sort by`",
        R::kw_by => "`by`",
        R::kw_limit => "`limit`",
        R::kw_of => "`of`",
        R::kw_if => "`if`",
        R::kw_then => "`then`",
        R::kw_else => "`else`",
        R::kw_match => "`match`",
        R::kw_header => "`header`",
        R::string | R::string_body => "a string in double quotes",
        R::decimal_lit => "a decimal such as `12.50d`",
        R::float_lit => "a number",
        R::int_lit => "an integer",
        R::true_lit | R::false_lit => "`true` or `false`",
        R::null_lit => "`null`",
        R::date_lit => "a date such as `date \"2024-01-31\"`",
        R::datetime_lit => "a datetime such as `datetime \"2024-01-31T08:00:00Z\"`",
        R::neg_number | R::literal => "a constant (string, number, `true`, `false`, `null`, date)",
        R::import => "`import \"file.fdl\"`",
        R::format_decl => "a format declaration",
        R::format_item | R::format_path | R::format_slot => {
            "`operation`, `before`, `after` or `position` followed by `=`"
        }
        R::format_codes | R::code_kind => {
            "`insert`, `update`, `delete` or `skip` followed by codes"
        }
        R::message_path | R::message_part => {
            "a message part (`key`, `value`, `header \"name\"` or `timestamp`)"
        }
        R::header_part => "`header \"name\"`",
        R::value_part => "`value`",
        R::timestamp_part => "`timestamp`",
        R::path_segment => "a name or a quoted key",
        R::system => "`system NAME { ... }`",
        R::projection => "`projection NAME from \"topic\" as FORMAT { ... }`",
        R::projection_item => "a field, `key`, `index`, `delete` or `publish` line",
        R::name_list => "a field name or a parenthesized list of field names",
        R::key_decl => "`key`",
        R::index_decl => "`index`",
        R::unique => "`unique`",
        R::delete_decl => "`delete hard` or `delete soft`",
        R::delete_mode => "`hard` or `soft`",
        R::publish_decl => "`publish updates to \"topic\"`",
        R::image => "`before` or `after`",
        R::field_decl => "a field declaration such as `id int`",
        R::type_ref | R::array_type | R::scalar_type => "a field type such as `string` or `int`",
        R::nullable => "`?`",
        R::column_path => "a source column name",
        R::cast_call => "a cast such as `| trim`",
        R::relation => "`relation NAME: a.x -> many b.y`",
        R::endpoint => "a relation endpoint such as `orders.customer_id`",
        R::qualified => "a qualified field such as `orders.customer_id`",
        R::cardinality => "`many` or `one`",
        R::condition => "a condition such as `addresses.kind == \"billing\"`",
        R::compare_op => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
        R::single_view => "`single view NAME { ... }`",
        R::view_item => "a mapped field (`name = expression`) or a single-view setting",
        R::mapping => "a mapped field such as `name = customers.name`",
        R::root_decl => "`root PROJECTION`",
        R::view_key | R::key_part => "a single-view key such as `key id = customers.id`",
        R::on_delete => "`on root delete: delete` or `on root delete: mark deleted`",
        R::root_delete => "`delete` or `mark deleted`",
        R::write_decl => "`write replace` or `write merge`",
        R::write_mode => "`replace` or `merge`",
        R::validate_decl => "`validate \"schema.json\"`",
        R::strategy_decl => "`strategy PROJECTION via relation, ...`",
        R::expr | R::primary | R::prefix => "an expression",
        R::op_not => "`not`",
        R::op_neg => "`-`",
        R::infix
        | R::op_or
        | R::op_and
        | R::op_eq
        | R::op_ne
        | R::op_le
        | R::op_ge
        | R::op_lt
        | R::op_gt
        | R::op_add
        | R::op_sub
        | R::op_mul
        | R::op_div
        | R::op_rem
        | R::op_coalesce => "an operator",
        R::path => "a field or relation name",
        R::call => "a function call",
        R::aggregate | R::agg_fn => "an aggregate such as `count(orders)`",
        R::collect => "an array such as `orders[] { id, total }`",
        R::filter => "`where`",
        R::sort | R::sort_key => "`sort by`",
        R::direction => "`asc` or `desc`",
        R::limit => "`limit`",
        R::object_lit => "an object such as `{ a = x, b }`",
        R::object_entry => "an object field such as `city = customers.city`",
        R::if_expr => "`if ... then ... else ...`",
        R::match_expr => "`match`",
        R::match_arm => "a match arm such as `\"A\" => 1`",
        R::match_else => "`else => value`",
        R::WHITESPACE | R::COMMENT | R::ident_char | R::exponent => "more input",
    }
}

/// Extra advice for some expected rules.
fn rule_help(rule: Rule) -> Option<&'static str> {
    match rule {
        Rule::match_else => Some("a `match` ends with an `else => value` arm"),
        Rule::kw_else => Some("an `if` needs an `else` branch: `if c then a else b`"),
        Rule::type_ref | Rule::scalar_type => Some(
            "types are string, int, float, decimal, bool, date, datetime, object, any, [T]; add `?` for nullable",
        ),
        _ => None,
    }
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
    let slot = match slot_pair.as_str() {
        "operation" => FormatSlot::Operation,
        "before" => FormatSlot::Before,
        "after" => FormatSlot::After,
        "position" => FormatSlot::Position,
        _ => return Err(malformed(ctx, &slot_pair)),
    };
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
    let kind = match kind_pair.as_str() {
        "insert" => CodeKind::Insert,
        "update" => CodeKind::Update,
        "delete" => CodeKind::Delete,
        "skip" => CodeKind::Skip,
        _ => return Err(malformed(ctx, &kind_pair)),
    };
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
    use fdc_plan::CompareOp as C;
    Ok(match p.as_str() {
        "==" => C::Eq,
        "!=" => C::Ne,
        "<" => C::Lt,
        "<=" => C::Le,
        ">" => C::Gt,
        ">=" => C::Ge,
        _ => return Err(malformed(ctx, p)),
    })
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
