//! Test-case messages to source items.
//!
//! In: one entry of a case's `when` list and its 1-based index. Out: the
//! [`SourceItem`] the file source would have produced.
//!
//! Three shapes (see `schemas/test.schema.json`):
//! - a raw message, the file-source line shape (`{topic, key, value, headers?, timestamp?,
//!   partition?, offset?}`), parsed by the file source itself;
//! - `{raw: "<text>"}`, an input line taken as is (a poison pill);
//! - a compact change `{projection, op: insert|update|delete, key?, after|value?, before?,
//!   version?}` whose rows use the source column names; it is encoded in the projection's
//!   declared format, exactly as a producer of that format would send it:
//!   - `basic`: key = object of the primary-key columns, value = the after row (null for a
//!     delete), timestamp = version;
//!   - `debezium`: value `{op: c|u|d, before, after, ts_ms, source: {ts_ms}}`;
//!   - `golden-gate`: value `{table, op_type: I|U|D, op_ts, pos (20 digits), before, after}`,
//!     key = the key values joined by `_`;
//!   - a custom format: the operation code (first declared insert/update/delete code), the
//!     images and the position are written at the format's declared paths.
//!
//!   The version defaults to the message's index in the case, so later messages are newer.

use fdc_plan::{CustomFormat, Format, MessagePart, MessagePath, Plan, Projection};
use serde_json::{json, Map, Value};

use fdc_engine::source::SourceItem;
use fdc_file::parse_line;

/// Encodes `message` (entry `index`, 1-based, of a case's input).
pub(crate) fn item(plan: &Plan, message: &Value, index: i64) -> Result<SourceItem, String> {
    let Some(obj) = message.as_object() else {
        return Err(format!("message {index}: not an object"));
    };
    if let Some(raw) = obj.get("raw") {
        let raw = raw.as_str().unwrap_or_default();
        return Ok(parse_line(raw, index));
    }
    if obj.contains_key("topic") {
        return Ok(parse_line(&message.to_string(), index));
    }
    let line = compact(plan, obj, index).map_err(|e| format!("message {index}: {e}"))?;
    Ok(parse_line(&Value::Object(line).to_string(), index))
}

/// The file-source line of a compact change.
fn compact(
    plan: &Plan,
    obj: &Map<String, Value>,
    index: i64,
) -> Result<Map<String, Value>, String> {
    let name = obj
        .get("projection")
        .and_then(Value::as_str)
        .ok_or("`projection` must be a string")?;
    let projection = plan
        .projection(name)
        .ok_or_else(|| format!("no projection `{name}` in the pipeline"))?;
    let op = obj.get("op").and_then(Value::as_str).unwrap_or_default();
    let after = obj.get("after").or_else(|| obj.get("value")).cloned();
    let before = obj.get("before").cloned();
    let version = match obj.get("version") {
        None => index.max(0) as u64,
        Some(v) => v
            .as_u64()
            .ok_or("`version` must be a non-negative integer")?,
    };
    if op != "delete" && after.is_none() {
        return Err(format!("an {op} needs `after` (or `value`)"));
    }
    let row = match op {
        "delete" => before.clone(),
        _ => after.clone(),
    };
    let key = match obj.get("key") {
        Some(k) => k.clone(),
        None => match &row {
            Some(row) => Value::Object(key_object(projection, row)),
            None => return Err("a delete needs `before` or `key`".into()),
        },
    };
    let mut line = Map::new();
    line.insert("topic".into(), Value::String(projection.topic.clone()));
    line.insert("offset".into(), json!(index));
    let ts = i64::try_from(version).map_err(|_| "`version` too large")?;
    line.insert("timestamp".into(), json!(ts));
    let op_code = |i: &str, u: &str, d: &str| -> String {
        match op {
            "insert" => i,
            "update" => u,
            _ => d,
        }
        .to_owned()
    };
    match &projection.format {
        Format::Basic => {
            line.insert("key".into(), key);
            line.insert(
                "value".into(),
                if op == "delete" {
                    Value::Null
                } else {
                    after.unwrap_or(Value::Null)
                },
            );
        }
        Format::Debezium => {
            line.insert("key".into(), key);
            line.insert(
                "value".into(),
                json!({
                    "op": op_code("c", "u", "d"),
                    "before": before.unwrap_or(Value::Null),
                    "after": if op == "delete" { Value::Null } else { after.unwrap_or(Value::Null) },
                    "source": { "ts_ms": version },
                    "ts_ms": version,
                }),
            );
        }
        Format::GoldenGate => {
            let joined = match &key {
                Value::Object(m) => m
                    .values()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join("_"),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            line.insert("key".into(), Value::String(joined));
            let mut value = json!({
                "table": format!("{}.{}", projection.system.to_uppercase(), projection.name.to_uppercase()),
                "op_type": op_code("I", "U", "D"),
                "op_ts": fdc_engine::store::record::millis_to_rfc3339(ts),
                "pos": format!("{version:020}"),
            });
            if let Some(b) = before {
                value["before"] = b;
            }
            if op != "delete" {
                value["after"] = after.unwrap_or(Value::Null);
            }
            line.insert("value".into(), value);
        }
        Format::Custom(format) => {
            custom(format, op, key, before, after, version, &mut line)?;
        }
    }
    Ok(line)
}

/// Writes a custom-format message's parts into `line`.
fn custom(
    format: &CustomFormat,
    op: &str,
    key: Value,
    before: Option<Value>,
    after: Option<Value>,
    version: u64,
    line: &mut Map<String, Value>,
) -> Result<(), String> {
    let mut value = Value::Object(Map::new());
    let mut key_part = key;
    let mut headers = Map::new();
    let mut put =
        |path: &MessagePath, v: Value, line: &mut Map<String, Value>| -> Result<(), String> {
            match &path.part {
                MessagePart::Value => set_path(&mut value, &path.path, v),
                MessagePart::Key => set_path(&mut key_part, &path.path, v),
                MessagePart::Header(name) => {
                    let slot = headers.entry(name.clone()).or_insert(Value::Null);
                    set_path(slot, &path.path, v);
                }
                MessagePart::Timestamp => match v.as_i64() {
                    Some(t) => {
                        line.insert("timestamp".into(), json!(t));
                    }
                    None => return Err("the format reads an image from the timestamp".into()),
                },
            }
            Ok(())
        };
    if let Some(path) = &format.operation {
        let codes = match op {
            "insert" => &format.inserts,
            "update" if !format.updates.is_empty() => &format.updates,
            "update" => &format.inserts,
            _ => &format.deletes,
        };
        let code = codes
            .first()
            .ok_or_else(|| format!("format `{}` declares no code for {op}", format.name))?;
        put(path, Value::String(code.clone()), line)?;
    }
    if let (Some(path), Some(b)) = (&format.before, before) {
        put(path, b, line)?;
    }
    if op != "delete" {
        put(&format.after, after.unwrap_or(Value::Null), line)?;
    }
    if let Some(path) = &format.position {
        put(path, json!(version), line)?;
    }
    line.insert("key".into(), key_part);
    line.insert("value".into(), value);
    if !headers.is_empty() {
        line.insert("headers".into(), Value::Object(headers));
    }
    Ok(())
}

/// Sets `path` inside `target`, creating objects on the way (a non-object is replaced).
fn set_path(target: &mut Value, path: &[String], v: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = v;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(m) = target {
        let slot = m.entry(first.clone()).or_insert(Value::Null);
        set_path(slot, rest, v);
    }
}

/// The object of the primary-key source columns of `row`.
fn key_object(projection: &Projection, row: &Value) -> Map<String, Value> {
    let mut out = Value::Object(Map::new());
    for k in &projection.key {
        let Some(field) = projection.field(k) else {
            continue;
        };
        let mut v = row;
        for p in &field.source {
            v = v.get(p).unwrap_or(&Value::Null);
        }
        set_path(&mut out, &field.source, v.clone());
    }
    match out {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
