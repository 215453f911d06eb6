//! Shared helpers for the integration tests in `tests/` (compiled with `--features integration`).
//!
//! Where the services are: `FDC_KAFKA_BROKERS` (default `127.0.0.1:9092`) and `FDC_MONGO_URI`
//! (default `mongodb://127.0.0.1:27017`), the addresses `scripts/services up` listens on.
//! With the `integration` feature on, a service that does not answer is a test failure with a
//! message saying how to start it — never a skip, in CI or elsewhere.
//!
//! Each test crate uses only part of this module.
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default Kafka bootstrap servers: the broker of `scripts/services`.
pub const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:9092";
/// Default MongoDB connection string: the MongoDB-wire server of `scripts/services`.
pub const DEFAULT_MONGO_URI: &str = "mongodb://127.0.0.1:27017";

/// How long to wait for a TCP connection to a service before declaring it missing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The Kafka bootstrap servers (`FDC_KAFKA_BROKERS`, comma-separated `host:port`).
pub fn kafka_brokers() -> String {
    env_or("FDC_KAFKA_BROKERS", DEFAULT_KAFKA_BROKERS)
}

/// The MongoDB connection string (`FDC_MONGO_URI`).
pub fn mongo_uri() -> String {
    env_or("FDC_MONGO_URI", DEFAULT_MONGO_URI)
}

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

/// A name no other test run uses (topics, groups, databases): `prefix_<pid>_<time>_<n>`.
/// Only ASCII letters, digits and `_`, so it is valid as a topic, group and database name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{nanos}_{n}", std::process::id())
}

/// Panics with a clear message unless some Kafka bootstrap server accepts a TCP connection.
pub fn require_kafka() -> String {
    let brokers = kafka_brokers();
    let reachable = brokers.split(',').any(|b| reachable(b.trim()));
    assert!(
        reachable,
        "Kafka is not reachable at {brokers} (FDC_KAFKA_BROKERS). Start the services with \
         `scripts/services up` (see docs/services.md); the integration tests never skip."
    );
    brokers
}

/// Panics with a clear message unless the MongoDB-wire server accepts a TCP connection.
pub fn require_mongo() -> String {
    let uri = mongo_uri();
    let hosts = mongo_hosts(&uri);
    let reachable = hosts.iter().any(|h| reachable(h));
    assert!(
        reachable,
        "MongoDB is not reachable at {uri} (FDC_MONGO_URI, hosts {hosts:?}). Start the services \
         with `scripts/services up` (see docs/services.md); the integration tests never skip."
    );
    uri
}

/// The `host:port` list of a `mongodb://` URI (credentials, database and options stripped).
pub fn mongo_hosts(uri: &str) -> Vec<String> {
    let rest = uri
        .strip_prefix("mongodb://")
        .or_else(|| uri.strip_prefix("mongodb+srv://"))
        .unwrap_or(uri);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority.rsplit('@').next().unwrap_or_default();
    hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(':') {
                h.to_owned()
            } else {
                format!("{h}:27017")
            }
        })
        .collect()
}

fn reachable(host_port: &str) -> bool {
    host_port
        .to_socket_addrs()
        .map(|addrs| {
            addrs
                .into_iter()
                .any(|a| TcpStream::connect_timeout(&a, CONNECT_TIMEOUT).is_ok())
        })
        .unwrap_or(false)
}

fn env_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        _ => default.to_owned(),
    }
}

/// Whether golden files are (re)written (`FDC_BLESS` set) instead of only compared.
pub fn bless() -> bool {
    std::env::var_os("FDC_BLESS").is_some()
}

/// Compares `actual` with the committed golden file `path` (under `FDC_BLESS`: writes it
/// first, so the comparison holds and the diff is there to review).
pub fn golden(path: &Path, actual: &str) {
    if bless() {
        if let Err(e) = std::fs::write(path, actual) {
            panic!("cannot write {}: {e}", path.display());
        }
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} differs (FDC_BLESS=1 to regenerate, then review):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// The repository root (the `fdc` package's directory).
pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The plan cases of `tests/plans/` (the folders with a `new/` pipeline), sorted.
pub fn plan_cases() -> Vec<String> {
    let dir = repository().join("tests/plans");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("new").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// A plan case of `tests/plans/<name>/`: the new pipeline, the base (its `base/` folder, or
/// the path the file `base` names: a frozen example under `tests/plans/bases/`) and the extra
/// arguments of the file `args`, as paths relative to the repository root.
#[derive(Debug, Clone)]
pub struct PlanCase {
    pub name: String,
    pub new: String,
    pub base: String,
    pub args: Vec<String>,
}

impl PlanCase {
    /// Reads the case `name`.
    pub fn read(name: &str) -> PlanCase {
        let dir = format!("tests/plans/{name}");
        let base = if repository().join(&dir).join("base").is_dir() {
            format!("{dir}/base")
        } else {
            match std::fs::read_to_string(repository().join(&dir).join("base")) {
                Ok(t) => t.trim().to_string(),
                Err(e) => panic!("{dir}: no base/ folder and no base file: {e}"),
            }
        };
        let args = std::fs::read_to_string(repository().join(&dir).join("args"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        PlanCase {
            name: name.to_string(),
            new: format!("{dir}/new"),
            base,
            args,
        }
    }

    /// The case's folder (absolute).
    pub fn dir(&self) -> PathBuf {
        repository().join("tests/plans").join(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mongo_hosts_strips_credentials_database_and_options() {
        assert_eq!(
            mongo_hosts("mongodb://127.0.0.1:27017"),
            vec!["127.0.0.1:27017"]
        );
        assert_eq!(
            mongo_hosts("mongodb://u:p@a:1,b/db?replicaSet=rs"),
            vec!["a:1", "b:27017"]
        );
    }

    #[test]
    fn unique_names_differ_and_are_plain() {
        let a = unique_name("t");
        let b = unique_name("t");
        assert_ne!(a, b);
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{a}"
        );
    }
}
