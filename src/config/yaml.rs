//! Reading the YAML text of `fdc.yaml` into a JSON value, defensively.
//!
//! In: the file's text. Out: its value, or a [`ConfigError`].
//!
//! Guarantees: the text is bounded before the YAML parser sees it ([`MAX_BYTES`], and at most
//! [`MAX_DEPTH`] levels of nesting found by a linear pre-scan: the parser's time grows with
//! the square of the nesting, so a small file of nested brackets took a minute to reject); a
//! key given twice in one mapping is an error naming the key's path and line (a later value
//! silently replacing an earlier one hides mistakes, in credentials too). No message quotes a
//! value.

use std::cell::RefCell;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::ConfigError;

/// The largest configuration accepted, in bytes (real ones are a few KiB).
pub const MAX_BYTES: usize = 1024 * 1024;
/// The deepest nesting accepted: block mappings and sequences, and flow brackets, together
/// (the deepest setting is 4 levels down).
pub const MAX_DEPTH: usize = 32;

/// Parses `text` (not empty) into a value, refusing oversized or too deep text and duplicate
/// keys.
pub fn parse(text: &str) -> Result<Value, ConfigError> {
    prescan(text)?;
    let repeated = RefCell::new(None);
    let de = serde_yaml::Deserializer::from_str(text);
    let seed = Strict {
        path: String::new(),
        repeated: &repeated,
    };
    seed.deserialize(de).map_err(|e| match repeated.take() {
        Some((path, key)) => {
            // The parser places the error at the mapping that holds the key; the key's own
            // line is found from there.
            let at = e.location();
            let mapping = at.as_ref().map_or(1, |l| l.line());
            let column = at.as_ref().map_or(1, |l| l.column());
            ConfigError::DuplicateKey {
                line: repeated_line(text, mapping, column, &key).unwrap_or(mapping),
                path,
            }
        }
        None => ConfigError::Yaml(e.to_string()),
    })
}

/// The line (1-based) of the second `key:` of the block mapping whose first key is at
/// `line`:`column` (1-based), if it can be found.
fn repeated_line(text: &str, line: usize, column: usize, key: &str) -> Option<usize> {
    let indent = column.checked_sub(1)?;
    let mut seen = 0;
    for (n, l) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let body = l.trim_start_matches(' ');
        let at = l.len() - body.len();
        if n + 1 > line && at < indent && !body.is_empty() && !body.starts_with('#') {
            return None;
        }
        let body = if n + 1 == line {
            l.get(indent..)?
        } else if at == indent {
            body
        } else {
            continue;
        };
        let body = body.strip_prefix("- ").unwrap_or(body);
        let named = [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ];
        if named.iter().any(|k| body.starts_with(k.as_str())) {
            seen += 1;
            if seen == 2 {
                return Some(n + 1);
            }
        }
    }
    None
}

/// Refuses text over [`MAX_BYTES`] or nested deeper than [`MAX_DEPTH`], in one pass.
///
/// The depth is an upper bound, conservative rather than exact: block levels come from
/// indentation (and `- `/`? ` indicators that open a node on the same line), flow levels from
/// `[`/`{` outside quoted text and comments.
fn prescan(text: &str) -> Result<(), ConfigError> {
    if text.len() > MAX_BYTES {
        return Err(ConfigError::TooLarge { limit: MAX_BYTES });
    }
    let mut flow = 0usize;
    let mut block: Vec<usize> = Vec::new();
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start_matches([' ', '\t']);
        let indent = line.len() - body.len();
        if flow == 0 && quote.is_none() && !body.is_empty() && !body.starts_with('#') {
            while block.last().is_some_and(|&c| c >= indent) {
                block.pop();
            }
            block.push(indent);
            let mut rest = body;
            let mut col = indent;
            while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("? ")) {
                let next = r.trim_start_matches(' ');
                col += rest.len() - next.len();
                block.push(col);
                rest = next;
            }
        }
        let mut prev = None;
        let mut escaped = false;
        for c in line.chars() {
            match quote {
                Some('"') if escaped => escaped = false,
                Some('"') if c == '\\' => escaped = true,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => {
                    let at_start = prev.is_none_or(|p: char| p.is_whitespace());
                    match c {
                        '#' if at_start => break,
                        '"' => quote = Some('"'),
                        '\'' if at_start || prev.is_some_and(|p| "[{,:".contains(p)) => {
                            quote = Some('\'')
                        }
                        '[' | '{' if flow > 0 || at_start => flow += 1,
                        ']' | '}' if flow > 0 => flow -= 1,
                        _ => {}
                    }
                }
            }
            if block.len() + flow > MAX_DEPTH {
                return Err(ConfigError::TooDeep {
                    line: n + 1,
                    limit: MAX_DEPTH,
                });
            }
            prev = Some(c);
        }
    }
    Ok(())
}

/// Deserializes any YAML value into a JSON value, refusing a key repeated in a mapping;
/// `path` is the dotted path of the value (for messages).
struct Strict<'r> {
    path: String,
    /// Set to (path, key) when a key is found given twice.
    repeated: &'r RefCell<Option<(String, String)>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // Not finite (`.inf`, `.nan`): JSON has no such number; the schema reports the type.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, out.len()),
            repeated: self.repeated,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            let path = if self.path.is_empty() {
                key.0.clone()
            } else {
                format!("{}.{}", self.path, key.0)
            };
            if out.contains_key(&key.0) {
                *self.repeated.borrow_mut() = Some((path, key.0));
                return Err(de::Error::custom("a key is given twice"));
            }
            let value = map.next_value_seed(Strict {
                path,
                repeated: self.repeated,
            })?;
            out.insert(key.0, value);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key as text (`1: x` has the key `"1"`, as JSON would have it).
struct KeyText(String);

impl<'de> de::Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyText;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a text, number or boolean key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
