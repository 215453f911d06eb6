//! The `tracing` subscriber of the CLI.
//!
//! In: the log format (`--log-format text|json`), whether keys may be logged (`--log-keys`),
//! the command's default level and the environment (`FDC_LOG`, else `RUST_LOG`, in the
//! `tracing_subscriber::EnvFilter` syntax: `info`, `warn,fdc_engine=debug`, ...). Out: one
//! global subscriber writing to stderr (stdout stays for command output), also receiving the
//! `log` records of librdkafka and the MongoDB driver.
//!
//! Guarantees: a bad filter is an error naming the variable, not a silent default; keys appear
//! only with `--log-keys`, and only in debug events (the engine never logs record contents or
//! keys at info level or above).

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// The log targets of the engine: the runtime and its adapters, one crate each.
pub const ENGINE_TARGETS: [&str; 7] = [
    "fdc_engine",
    "fdc_core",
    "fdc_embedded",
    "fdc_file",
    "fdc_kafka",
    "fdc_mongo",
    "fdc_topology",
];

/// The filter: `FDC_LOG`, else `RUST_LOG`, else `default` (plus debug events of the engine,
/// [`ENGINE_TARGETS`], when `log_keys` asks for keys and no variable decides).
pub fn filter(
    var: impl Fn(&str) -> Option<String>,
    default: &str,
    log_keys: bool,
) -> Result<EnvFilter, String> {
    for name in ["FDC_LOG", "RUST_LOG"] {
        if let Some(v) = var(name).filter(|v| !v.trim().is_empty()) {
            return EnvFilter::try_new(v.trim())
                .map_err(|e| format!("{name} is not a valid log filter: {e}"));
        }
    }
    let spec = if log_keys {
        ENGINE_TARGETS
            .iter()
            .fold(default.to_string(), |spec, t| format!("{spec},{t}=debug"))
    } else {
        default.to_string()
    };
    EnvFilter::try_new(&spec).map_err(|e| format!("bad default log filter `{spec}`: {e}"))
}

/// Installs the subscriber (once per process).
pub fn init(format: LogFormat, log_keys: bool, default: &str) -> Result<(), String> {
    let filter = filter(|n| std::env::var(n).ok(), default, log_keys)?;
    fdc_engine::runtime::set_log_keys(log_keys);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_win_in_order_and_a_bad_one_is_named() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        let f = filter(
            env(&[("RUST_LOG", "debug"), ("FDC_LOG", "warn")]),
            "info",
            false,
        );
        assert_eq!(f.map(|f| f.to_string()).as_deref(), Ok("warn"));
        let f = filter(env(&[("RUST_LOG", "debug")]), "info", false);
        assert_eq!(f.map(|f| f.to_string()).as_deref(), Ok("debug"));
        let f = filter(env(&[]), "info", true).map(|f| f.to_string());
        for target in ["fdc_engine=debug", "fdc_mongo=debug", "fdc_kafka=debug"] {
            assert!(f.as_deref().is_ok_and(|f| f.contains(target)), "{f:?}");
        }
        let e = filter(env(&[("FDC_LOG", "info,[=")]), "info", false).unwrap_err();
        assert!(e.starts_with("FDC_LOG is not a valid log filter"), "{e}");
    }
}
