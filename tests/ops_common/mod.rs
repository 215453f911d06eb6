//! Helpers of the operations tests (`tests/ops_*.rs`): the real `fdc` binary run in production
//! mode with its operations endpoint, scraping that endpoint, synthetic streams, and private
//! service instances (`scripts/services` with a state directory and ports of their own).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port free right now on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET path` on `addr`: the status code and the body (`None` when nothing answers).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// The value of one series (`name{labels}` exactly as exposed) in a Prometheus text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().ok())?
    })
}

/// The sum of every series of family `name` (all label sets).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(s, _)| *s == name || s.starts_with(&format!("{name}{{")))
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

/// Polls `probe` every 200 ms until it returns `Some`, failing after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running `fdc run --config` process; killed (SIGKILL) when dropped.
pub struct Fdc {
    child: Option<Child>,
    /// Where its operations endpoint listens.
    pub addr: String,
    /// Its stderr, in a file (a pipe could fill up and block it).
    pub log: PathBuf,
}

impl Fdc {
    /// Starts `fdc run PIPELINE --config CONFIG --http 127.0.0.1:<free>` with `extra` flags.
    pub fn start(pipeline: &str, config: &Path, extra: &[&str], log: &Path) -> Fdc {
        let addr = format!("127.0.0.1:{}", free_port());
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_fdc"))
            .arg("run")
            .arg(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("pipelines")
                    .join(pipeline),
            )
            .arg("--config")
            .arg(config)
            .arg("--http")
            .arg(&addr)
            .args(extra)
            // The file decides; the test's environment must not.
            .env_remove("FDC_KAFKA_BROKERS")
            .env_remove("FDC_MONGO_URI")
            .env_remove("FDC_HTTP_LISTEN")
            .env("FDC_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start fdc");
        let fdc = Fdc {
            child: Some(child),
            addr,
            log: log.to_path_buf(),
        };
        wait_for("the operations endpoint", Duration::from_secs(60), || {
            fdc.get("/healthz")
        });
        fdc
    }

    /// `GET path` on its endpoint.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(&self.addr, path)
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        match self.get("/metrics") {
            Some((200, text)) => text,
            other => panic!("/metrics answered {other:?}; log:\n{}", self.stderr()),
        }
    }

    /// Whether `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        matches!(self.get("/readyz"), Some((200, _)))
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "fdc did not stop within 60 s of SIGTERM:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL (`kill -9`): no chance to finish anything.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Fdc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The text of an `fdc.yaml` for the given services, group, database and topic renames.
pub fn config_text(
    brokers: &str,
    group: &str,
    uri: &str,
    database: &str,
    renames: &std::collections::BTreeMap<String, String>,
    dead_letter_topic: &str,
) -> String {
    let renames: String = renames
        .iter()
        .map(|(p, b)| format!("    {p}: {b}\n"))
        .collect();
    format!(
        "kafka:\n  brokers: \"{brokers}\"\n  group_id: {group}\n  topics:\n{renames}\
         mongodb:\n  uri: \"{uri}\"\n  database: {database}\n  write_concern: \"1\"\n  \
         server_selection_timeout_ms: 2000\n  connect_timeout_ms: 2000\n\
         batch:\n  max_messages: 20\n  linger_ms: 50\ndead_letter:\n  topic: {dead_letter_topic}\n"
    )
}

/// Writes a synthetic customer360 stream of `customers` customers, each with an order that
/// is placed and then paid, as `.jsonl` at `path`; message timestamps start at `now_ms`.
/// Returns how many lines it wrote.
pub fn synthetic_stream(path: &Path, customers: usize, now_ms: i64) -> usize {
    let mut lines = Vec::new();
    let mut ts = now_ms;
    let mut next = || {
        ts += 1;
        ts
    };
    for c in 1..=customers {
        let t = next();
        lines.push(format!(
            r#"{{"topic": "crm.public.customers", "key": {{"CUSTOMER_ID": {c}}}, "value": {{"before": null, "after": {{"CUSTOMER_ID": {c}, "FIRST_NAME": "N{c}", "LAST_NAME": "L{c}", "EMAIL": "c{c}@example.org", "TIER": "gold", "SIGNUP_TS": 1577836800000}}, "op": "c", "ts_ms": {t}, "source": {{"connector": "postgresql", "db": "crm", "table": "customers", "ts_ms": {t}}}}}, "timestamp": {t}}}"#
        ));
        for status in ["placed", "paid"] {
            let t = next();
            lines.push(format!(
                r#"{{"topic": "shop.orders", "key": {{"id": "o-{c}"}}, "value": {{"id": "o-{c}", "CUSTOMER": {c}, "STATUS": "{status}", "TOTAL": "{c}.50", "PLACED_AT": "2024-03-01T09:15:00Z", "COUPON": null}}, "timestamp": {t}}}"#
            ));
        }
    }
    std::fs::write(path, lines.join("\n") + "\n").expect("write stream");
    lines.len()
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Services of this test alone: `scripts/services` with a state directory and free ports of
/// its own, so they can be stopped and started without touching the shared ones. Stopped
/// (and their state removed) when dropped, also when the test panics.
pub struct PrivateServices {
    state: PathBuf,
    pub kafka_port: u16,
    pub controller_port: u16,
    pub mongo_port: u16,
}

impl PrivateServices {
    /// Starts Kafka and FerretDB (binaries from the shared cache: seconds).
    pub fn up() -> PrivateServices {
        let state = std::env::temp_dir().join(format!(
            "fdc-private-services-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&state).expect("state dir");
        let services = PrivateServices {
            state,
            kafka_port: free_port(),
            controller_port: free_port(),
            mongo_port: free_port(),
        };
        services.script(&["up"]);
        services
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    pub fn mongo_uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}", self.mongo_port)
    }

    /// Stops one service (`kafka` or `mongo`).
    pub fn stop(&self, service: &str) {
        self.script(&["down", service]);
    }

    /// Starts one service again with the data it had.
    pub fn start(&self, service: &str) {
        self.script(&["up", service]);
    }

    fn script(&self, args: &[&str]) {
        let out = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/services"))
            .args(args)
            .env("FDC_STATE", &self.state)
            .env("FDC_KAFKA_PORT", self.kafka_port.to_string())
            .env(
                "FDC_KAFKA_CONTROLLER_PORT",
                self.controller_port.to_string(),
            )
            .env("FDC_MONGO_PORT", self.mongo_port.to_string())
            // The first `up` formats fresh storage; restarts keep topics, offsets and data.
            .env("FDC_SERVICES_KEEP_DATA", "1")
            .output()
            .expect("scripts/services");
        assert!(
            out.status.success(),
            "scripts/services {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateServices {
    fn drop(&mut self) {
        let _ = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/services"))
            .arg("down")
            .env("FDC_STATE", &self.state)
            .env("FDC_KAFKA_PORT", self.kafka_port.to_string())
            .env(
                "FDC_KAFKA_CONTROLLER_PORT",
                self.controller_port.to_string(),
            )
            .env("FDC_MONGO_PORT", self.mongo_port.to_string())
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Every single view of `plan` in the MongoDB database, as sorted JSON lines.
pub async fn mongo_view_lines(uri: &str, database: &str, plan: &fdc_plan::Plan) -> Vec<String> {
    use fdc_engine::store::SingleViewStore;
    use fdc_mongo::{MongoStore, MongoStoreConfig};
    let store = MongoStore::connect(MongoStoreConfig {
        uri: uri.to_string(),
        database: database.to_string(),
        ..MongoStoreConfig::default()
    })
    .await
    .expect("connect");
    let mut lines = Vec::new();
    for v in &plan.single_views {
        let mut after = None;
        loop {
            let page = store
                .scan(&v.name, after.as_deref(), 100)
                .await
                .expect("scan");
            for (k, d) in &page.items {
                lines.push(fdc_topology::export::view_line(plan, &v.name, k, d));
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    lines.sort();
    lines
}

/// SIGTERM to every member; each must exit successfully.
pub fn stop_all(members: impl IntoIterator<Item = Fdc>) {
    for member in members {
        let status = member.terminate();
        assert!(status.success(), "{status:?}");
    }
}

/// Asserts that the single views in `database` equal those of the embedded run of the
/// stream at `stream`; returns that run's views and dead-letter count.
pub async fn assert_views_of_reference(
    uri: &str,
    database: &str,
    plan: &fdc_plan::Plan,
    stream: &Path,
) -> (Vec<String>, u64) {
    let got = mongo_view_lines(uri, database, plan).await;
    let (expected, dead) = crate::kafka_common::reference_run(plan, stream).await;
    crate::kafka_common::assert_same_views(&got, &expected);
    (expected, dead)
}

/// Runs `fdc ARGS` in the repository (relative pipeline paths resolve there) with the
/// configuration file's settings only (no service variables of the test's environment) and
/// `env`, failing after `limit`: its output.
pub fn fdc_within<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    env: &[(&str, &str)],
    limit: Duration,
) -> std::process::Output {
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .env_remove("FDC_HTTP_LISTEN")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fdc");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "`fdc {}` did not end within {limit:?}:\n{}",
                shown.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}
