//! Environment-variable overrides of `fdc.yaml` settings.
//!
//! In: the configuration as a JSON value and the environment. Out: the value with every set
//! variable of [`OVERRIDES`] written at its setting's place (intermediate sections created),
//! and the list of pointers set, so validation errors can name the variable.
//!
//! Guarantees: a variable overrides the file; numbers and booleans are converted when they
//! parse as such (when not, the text is kept and the schema reports the setting); a password
//! variable is never copied into the configuration: the setting `password_env` is pointed at
//! the variable instead, and a `password_file` of the same section is removed.

use serde_json::{Map, Value};

use super::{ConfigError, Environment};

/// How a variable's text becomes a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
    /// A password: the setting `<section>/password_env` is set to the variable's name.
    Password,
}

/// Every override: variable, JSON pointer of the setting, kind.
pub const OVERRIDES: &[(&str, &str, Kind)] = &[
    ("FDC_KAFKA_BROKERS", "/kafka/brokers", Kind::Text),
    ("FDC_KAFKA_GROUP_ID", "/kafka/group_id", Kind::Text),
    ("FDC_KAFKA_CLIENT_ID", "/kafka/client_id", Kind::Text),
    (
        "FDC_KAFKA_AUTO_OFFSET_RESET",
        "/kafka/auto_offset_reset",
        Kind::Text,
    ),
    (
        "FDC_KAFKA_SECURITY_PROTOCOL",
        "/kafka/security/protocol",
        Kind::Text,
    ),
    (
        "FDC_KAFKA_SASL_MECHANISM",
        "/kafka/security/sasl/mechanism",
        Kind::Text,
    ),
    (
        "FDC_KAFKA_SASL_USERNAME",
        "/kafka/security/sasl/username",
        Kind::Text,
    ),
    (
        "FDC_KAFKA_SASL_PASSWORD",
        "/kafka/security/sasl/password_env",
        Kind::Password,
    ),
    (
        "FDC_KAFKA_TLS_CA_LOCATION",
        "/kafka/security/tls/ca_location",
        Kind::Text,
    ),
    ("FDC_MONGO_URI", "/mongodb/uri", Kind::Text),
    ("FDC_MONGO_DATABASE", "/mongodb/database", Kind::Text),
    ("FDC_MONGO_USERNAME", "/mongodb/username", Kind::Text),
    (
        "FDC_MONGO_PASSWORD",
        "/mongodb/password_env",
        Kind::Password,
    ),
    ("FDC_MONGO_TLS_CA_FILE", "/mongodb/tls/ca_file", Kind::Text),
    (
        "FDC_BATCH_MAX_MESSAGES",
        "/batch/max_messages",
        Kind::Integer,
    ),
    ("FDC_BATCH_LINGER_MS", "/batch/linger_ms", Kind::Integer),
    ("FDC_DEAD_LETTER_TOPIC", "/dead_letter/topic", Kind::Text),
    ("FDC_EVENTS_ENABLED", "/events/enabled", Kind::Boolean),
    ("FDC_HTTP_LISTEN", "/http/listen", Kind::Text),
    (
        "FDC_BATCH_REBUILD_PARALLELISM",
        "/batch/rebuild_parallelism",
        Kind::Integer,
    ),
    ("FDC_TRIGGERS_TOPIC", "/triggers/topic", Kind::Text),
    ("FDC_TRIGGERS_TRANSPORT", "/triggers/transport", Kind::Text),
    (
        "FDC_TRIGGERS_IN_PROCESS",
        "/triggers/in_process",
        Kind::Boolean,
    ),
    (
        "FDC_INGEST_MAX_CLOCK_SKEW_MS",
        "/ingest/max_clock_skew_ms",
        Kind::Integer,
    ),
];

/// Applies the overrides; returns `(pointer, variable)` of every setting written.
pub fn apply(
    config: &mut Value,
    environment: &dyn Environment,
) -> Result<Vec<(String, &'static str)>, ConfigError> {
    let mut applied = Vec::new();
    for &(var, pointer, kind) in OVERRIDES {
        let Some(text) = environment.var(var) else {
            continue;
        };
        let value = match kind {
            Kind::Text => Value::String(text),
            Kind::Integer => text
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(text)),
            Kind::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Value::Bool(true),
                "false" | "0" | "no" | "off" => Value::Bool(false),
                _ => Value::String(text),
            },
            Kind::Password => Value::String(var.to_string()),
        };
        let section = set(config, pointer, value).ok_or_else(|| ConfigError::Invalid {
            problems: vec![format!(
                "  at {pointer} (set by {var}): a parent setting is not a section"
            )],
        })?;
        if kind == Kind::Password {
            section.remove("password_file");
        }
        applied.push((pointer.to_string(), var));
    }
    Ok(applied)
}

/// Writes `value` at `pointer`, creating sections; returns the section written into.
fn set<'a>(root: &'a mut Value, pointer: &str, value: Value) -> Option<&'a mut Map<String, Value>> {
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let (last, parents) = parts.split_last()?;
    let mut node = root;
    for p in parents {
        let map = node.as_object_mut()?;
        node = map
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let map = node.as_object_mut()?;
    map.insert(last.to_string(), value);
    Some(map)
}
