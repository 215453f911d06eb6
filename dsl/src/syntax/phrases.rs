//! Pest errors to [`ParseError::Syntax`], in words users know.
//!
//! In: a pest error and the text. Out: a diagnostic saying what was expected (grammar rules
//! renamed into phrases such as "a field type such as `string` or `int`") and what was found.
//!
//! Guarantees: no pest rule name reaches users; every rule has a phrase (the `match` is
//! exhaustive, so a new rule does not compile without one).

use pest::error::{ErrorVariant, InputLocation};

use super::ast::{FileId, Span};
use super::{ParseError, Rule};

/// The diagnostic for a pest error raised while parsing `text[offset..]`.
pub(super) fn syntax_error(
    file: FileId,
    text: &str,
    offset: usize,
    e: pest::error::Error<Rule>,
) -> ParseError {
    let pos = offset
        + match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let (expected, help) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut phrases: Vec<&str> = positives.iter().map(|r| rule_phrase(*r)).collect();
            // Where an expression may start, list it as one thing rather than its ten openings.
            let expression_starts = [Rule::literal, Rule::if_expr, Rule::op_not, Rule::agg_fn];
            if expression_starts
                .iter()
                .filter(|r| positives.contains(r))
                .count()
                >= 2
            {
                phrases.retain(|p| {
                    !(p.starts_with("a constant")
                        || p.starts_with("an aggregate")
                        || p.starts_with("an object")
                        || ["`-`", "`if`", "`match`", "`not`", "a name"].contains(p))
                });
                phrases.push("an expression");
            }
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
            // After `|` only a cast function can come: say so, and name the close ones.
            if positives.contains(&Rule::ident)
                && text[..pos.min(text.len())].trim_end().ends_with('|')
            {
                let word: String = text[pos.min(text.len())..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                ("a cast function".to_string(), Some(cast_help(&word)))
            } else {
                (join_or(&phrases), help)
            }
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
                span: Span::new(file, pos - last, pos).into(),
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
        span: Span::new(file, pos, pos + len).into(),
        found,
        help,
    }
}

/// The cast functions close to `word` (what was typed after `|`), or all of them.
fn cast_help(word: &str) -> String {
    let casts = || {
        fdc_plan::functions::CATALOGUE
            .iter()
            .filter(|f| f.cast)
            .map(|f| f.name)
    };
    let lower = word.to_lowercase();
    let mut close = crate::check::suggest(&lower, casts());
    if !lower.is_empty() {
        for name in casts().filter(|n| n.starts_with(lower.as_str())) {
            if close.len() < 5 && !close.iter().any(|c| c == name) {
                close.push(name.to_string());
            }
        }
    }
    match crate::check::did_you_mean(&close) {
        Some(d) => format!("{d} (`|` is followed by a cast function, such as `| trim`)"),
        None => {
            let all: Vec<&str> = casts().collect();
            format!("`|` is followed by a cast function: {}", all.join(", "))
        }
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
