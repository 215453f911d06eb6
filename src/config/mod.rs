//! The runtime configuration of `fdc run`: `fdc.yaml` plus environment-variable overrides.
//!
//! In: the text of `fdc.yaml` (optional) and the environment. Out: a [`Config`]: Kafka client,
//! source and producer settings, MongoDB store settings, batching, the dead-letter topic and
//! whether events are published; credentials resolved from the environment or files.
//!
//! Order: YAML (bounded in size and nesting, duplicate keys refused: [`yaml`]) -> JSON value -> environment overrides ([`env::OVERRIDES`]) -> validation against
//! `schemas/fdc-config.schema.json` -> typed settings -> credentials read. Every problem of the
//! validation is reported with the JSON pointer of the bad setting (and the variable that set
//! it); no message shows a setting's value, so a credential put in the wrong place is not
//! printed either. `Debug` of every type here redacts passwords.

pub mod env;
mod settings;
pub mod yaml;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use settings::{Config, KafkaSettings, TriggerTransportSetting};

/// The JSON Schema every configuration is validated against.
pub const SCHEMA: &str = include_str!("../../schemas/fdc-config.schema.json");

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration `{path}`: {message}")]
    Read { path: PathBuf, message: String },
    /// The file is not YAML, or gives a key twice.
    #[error("the configuration is not valid YAML: {0}")]
    Yaml(String),
    /// A mapping gives a key twice (a later value would silently replace the earlier one).
    #[error("the setting `{path}` is given twice (line {line}); give each setting once")]
    DuplicateKey { path: String, line: usize },
    /// The file is larger than [`yaml::MAX_BYTES`].
    #[error(
        "the configuration is too large: more than {limit} bytes (a configuration is a few KiB)"
    )]
    TooLarge { limit: usize },
    /// The file nests deeper than [`yaml::MAX_DEPTH`].
    #[error("the configuration nests more than {limit} levels deep (at line {line})")]
    TooDeep { line: usize, limit: usize },
    /// Settings break the schema; one line per problem, `at <pointer>: <problem>`.
    #[error("invalid configuration:\n{}", problems.join("\n"))]
    Invalid { problems: Vec<String> },
    /// A credential named by the configuration cannot be read.
    #[error("setting `{setting}`: {message}")]
    Secret { setting: String, message: String },
}

/// Where the environment comes from (the process environment, or a map in tests).
pub trait Environment {
    /// The value of `name`, if set and valid Unicode.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: std::hash::BuildHasher> Environment for std::collections::HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Loads `path` (when given) with the overrides of `environment`.
pub fn load(path: Option<&Path>, environment: &dyn Environment) -> Result<Config, ConfigError> {
    let text = match path {
        Some(p) => read_bounded(p)?,
        None => String::new(),
    };
    parse(&text, environment)
}

/// Reads at most one byte more than [`yaml::MAX_BYTES`] of `path` (enough to refuse it).
fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let problem = |e: std::io::Error| ConfigError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(problem)?;
    let mut bytes = Vec::new();
    file.take(yaml::MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(problem)?;
    if bytes.len() > yaml::MAX_BYTES {
        return Err(ConfigError::TooLarge {
            limit: yaml::MAX_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|_| {
        problem(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// Parses the text of `fdc.yaml` (empty: every setting from the environment or defaults).
pub fn parse(text: &str, environment: &dyn Environment) -> Result<Config, ConfigError> {
    let mut value: Value = if text.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        yaml::parse(text)?
    };
    if value.is_null() {
        value = Value::Object(Default::default());
    }
    let applied = env::apply(&mut value, environment)?;
    validate(&value, &applied)?;
    settings::build(&value, environment)
}

/// Validates `value` against [`SCHEMA`]; `applied` names the variables that set a pointer.
fn validate(value: &Value, applied: &[(String, &'static str)]) -> Result<(), ConfigError> {
    let schema: Value = serde_json::from_str(SCHEMA).map_err(|e| ConfigError::Invalid {
        problems: vec![format!("the configuration schema is not JSON: {e}")],
    })?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| ConfigError::Invalid {
        problems: vec![format!("the configuration schema does not compile: {e}")],
    })?;
    let mut problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let shown = if pointer.is_empty() { "/" } else { &pointer };
            let from = applied
                .iter()
                .find(|(p, _)| pointer.starts_with(p.as_str()))
                .map(|(_, var)| format!(" (set by {var})"))
                .unwrap_or_default();
            format!("  at {shown}{from}: {}", e.masked())
        })
        .collect();
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid { problems })
    }
}

#[cfg(test)]
mod tests;
