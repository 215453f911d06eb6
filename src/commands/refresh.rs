//! `fdc refresh PIPELINE VIEW [--store DIR | --config FILE] [--filter 'FIELD OP VALUE']...
//! [--page N] [--cursor FILE] [--restart]`.
//!
//! In: a pipeline (compiled as `fdc check` does), the single view to rebuild, and where the
//! projections are: an embedded store directory, or MongoDB from `fdc.yaml` / the environment.
//! Out: the view's documents rebuilt from the projections in pages of `--page` roots (see
//! `fdc_engine::runtime::refresh`), single-view events published to Kafka when the
//! configuration has Kafka and events on; progress on stderr (on a terminal one line with
//! count, rate and ETA, redrawn after every batch; otherwise a log line every 10 seconds); a
//! summary.
//!
//! Resumable: the cursor is saved after each durable batch (default
//! `<store>/refresh-<view>.cursor.json`, or `fdc-refresh-<database>.<view>.cursor.json` in the
//! working directory on MongoDB: two deployments refreshed from one directory never resume
//! each other's cursor) and removed when the refresh completes; the next run resumes from it
//! (`--restart` starts over). Ctrl-C stops after the batch in flight.
//!
//! Exit code: 0 done, 1 the pipeline does not compile or a store failed, 2 usage (unknown
//! view, bad filter, a cursor of another filter), 130 interrupted (resumable).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use fdc_engine::runtime::refresh::{
    refresh, roots_to_scan, validate, Flow, RefreshCursor, RefreshOptions, RefreshTotals,
};
use fdc_engine::runtime::{Engine, RuntimeConfig};
#[cfg(feature = "production")]
use fdc_kafka::KafkaProducerConfig;
use fdc_plan::{CompareOp, FieldCondition};
#[cfg(feature = "production")]
use fdc_topology::EventsSpec;
use fdc_topology::{DeadLettersSpec, Deployment, StoreSpec};

#[cfg(feature = "production")]
use crate::config::ProcessEnv;

/// Arguments of `fdc refresh`.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The pipeline: a `.fdl` file or a directory of them.
    pub pipeline: PathBuf,
    /// The single view to rebuild.
    pub view: String,
    /// The embedded store directory holding the projections (MongoDB settings in the
    /// environment are then ignored).
    #[arg(long, conflicts_with = "config")]
    pub store: Option<PathBuf>,
    /// MongoDB (and Kafka, for events) from this `fdc.yaml` (docs/configuration.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Only roots whose field satisfies this, as `FIELD OP VALUE` with OP one of `==`, `!=`,
    /// `<`, `<=`, `>`, `>=` and VALUE JSON (a bare word is a string). Repeat: all must hold.
    #[arg(long = "filter", value_name = "CONDITION")]
    pub filters: Vec<String>,
    /// Root records read, and single views rebuilt, per batch.
    #[arg(long, default_value_t = 5000)]
    pub page: usize,
    /// Where the resume cursor is kept.
    #[arg(long)]
    pub cursor: Option<PathBuf>,
    /// Ignore a saved cursor and start over.
    #[arg(long)]
    pub restart: bool,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// Parses `FIELD OP VALUE` (see [`RefreshArgs::filters`]).
pub fn parse_filter(text: &str) -> Result<FieldCondition, String> {
    // The first operator in the text, the longest where two start there (`<=` before `<`).
    let Some((at, token, op)) = CompareOp::ALL
        .into_iter()
        .filter_map(|op| text.find(op.symbol()).map(|at| (at, op.symbol(), op)))
        .min_by_key(|(at, token, _)| (*at, std::cmp::Reverse(token.len())))
    else {
        let ops: Vec<&str> = CompareOp::ALL.map(CompareOp::symbol).to_vec();
        return Err(format!(
            "filter `{text}`: expected FIELD OP VALUE with OP one of {}",
            ops.join(", ")
        ));
    };
    let field = text[..at].trim();
    let value = text[at + token.len()..].trim();
    let is_name = !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_name {
        return Err(format!("filter `{text}`: `{field}` is not a field name"));
    }
    if value.is_empty() {
        return Err(format!(
            "filter `{text}`: a value is missing after `{token}`"
        ));
    }
    let value = serde_json::from_str(value)
        .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok(FieldCondition {
        field: field.to_string(),
        op,
        value,
    })
}

/// Progress on stderr: a redrawn line on a terminal, a log line every 10 s otherwise.
struct Progress {
    view: String,
    started: Instant,
    /// Records (roots and stored documents) read before this run (a resumed refresh).
    resumed_at: u64,
    total: Option<u64>,
    terminal: bool,
    last_line: Instant,
}

impl Progress {
    const LOG_EVERY: Duration = Duration::from_secs(10);

    /// The progress line. The roots pass is measured against the roots to scan (with an ETA);
    /// the orphans pass (stored documents whose root may be gone) is a phase of its own with
    /// its own count, so the roots count never exceeds its total.
    fn line(&self, t: &RefreshTotals) -> String {
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let read = t.scanned + t.orphans_scanned;
        let rate = read.saturating_sub(self.resumed_at) as f64 / elapsed;
        let mut out = format!("refresh {}: {} records", self.view, t.scanned);
        if let Some(total) = self.total.filter(|n| *n > 0) {
            let done = t.scanned.min(total);
            out += &format!(" of {total} ({:.0} %)", 100.0 * done as f64 / total as f64);
            if rate > 0.0 && t.orphans_scanned == 0 {
                let eta = (total - done) as f64 / rate;
                out += &format!(", ETA {}", clock(eta));
            }
        }
        if t.orphans_scanned > 0 {
            out += &format!(
                ", then {} stored document(s) checked for a gone root",
                t.orphans_scanned
            );
        }
        out += &format!(
            ", {rate:.0} records/s; views {} inserted, {} updated, {} unchanged, {} deleted",
            t.views.inserted, t.views.updated, t.views.unchanged, t.views.deleted
        );
        out
    }

    fn batch(&mut self, t: &RefreshTotals) {
        if self.terminal {
            eprint!("\r{}\x1b[K", self.line(t));
        } else if self.last_line.elapsed() >= Self::LOG_EVERY {
            eprintln!("{}", self.line(t));
            self.last_line = Instant::now();
        }
    }

    fn finish(&self, t: &RefreshTotals) {
        if self.terminal {
            eprintln!();
        }
        eprintln!("{}", self.line(t));
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn load_cursor(path: &Path) -> Result<Option<RefreshCursor>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("the cursor {} cannot be read: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the cursor {}: {e}", path.display())),
    }
}

/// Writes the cursor atomically (a temporary file renamed over it).
fn save_cursor(path: &Path, cursor: &RefreshCursor) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_string(cursor).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot save the cursor {}: {e}", path.display()))
}

/// What a refresh has instead of dead letters: it reads no messages, so a dead letter would
/// be a bug.
const NO_DEAD_LETTERS: &str = "a refresh reads no messages and has no dead letters";

/// The deployment to refresh on: the embedded store of `--store` (whatever the environment
/// says: the flag is explicit), or MongoDB from `--config` / the environment; and the
/// configured `batch.rebuild_parallelism`.
fn deployment(
    args: &RefreshArgs,
    plan: fdc_plan::Plan,
) -> Result<(Deployment, Option<usize>), (u8, String)> {
    let mut deployment = Deployment::new(plan);
    deployment.dead_letters = DeadLettersSpec::Refused(NO_DEAD_LETTERS);
    if let Some(dir) = &args.store {
        deployment.store = StoreSpec::ExistingDirectory {
            path: dir.clone(),
            disk: super::store_dir::options(),
        };
        return Ok((deployment, None));
    }
    production_deployment(args, deployment)
}

/// Without the production adapters only `--store` is possible.
#[cfg(not(feature = "production"))]
fn production_deployment(
    args: &RefreshArgs,
    _deployment: Deployment,
) -> Result<(Deployment, Option<usize>), (u8, String)> {
    let message = if args.config.is_some() {
        format!("--config (MongoDB): {}", super::WITHOUT_PRODUCTION)
    } else {
        format!(
            "give --store DIR (embedded store); MongoDB (--config FILE or FDC_MONGO_URI) needs \
             the production adapters: {}",
            super::WITHOUT_PRODUCTION
        )
    };
    Err((2, message))
}

/// MongoDB (and Kafka for the events) from `--config` / the environment.
#[cfg(feature = "production")]
fn production_deployment(
    args: &RefreshArgs,
    mut deployment: Deployment,
) -> Result<(Deployment, Option<usize>), (u8, String)> {
    let config =
        crate::config::load(args.config.as_deref(), &ProcessEnv).map_err(|e| (2, e.to_string()))?;
    let Some(mongodb) = &config.mongodb else {
        return Err((
            2,
            "give --store DIR (embedded store) or MongoDB settings (--config FILE or \
             FDC_MONGO_URI)"
                .to_string(),
        ));
    };
    if let (Some(k), true) = (&config.kafka, config.events) {
        let mut p = KafkaProducerConfig::new(k.client.clone());
        p.topic_map = k.topics.clone();
        p.delivery_timeout = k.delivery_timeout;
        deployment.producer = Some(p);
        deployment.events = EventsSpec::Kafka;
    }
    deployment.store = StoreSpec::Mongo(Box::new(mongodb.clone()));
    Ok((deployment, config.batch.rebuild_parallelism))
}

/// Runs `fdc refresh`.
pub fn run(args: &RefreshArgs) -> ExitCode {
    let Some(compiled) = super::load_or_report(&args.pipeline, &args.imports) else {
        return ExitCode::from(1);
    };
    let mut filter = Vec::new();
    for f in &args.filters {
        match parse_filter(f) {
            Ok(c) => filter.push(c),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let options = RefreshOptions {
        view: args.view.clone(),
        filter,
        page: args.page.max(1),
    };
    let runtime = match super::start_runtime(true, 1) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(async {
        let (mut deployment, parallelism) = match deployment(args, compiled.plan) {
            Ok(d) => d,
            Err((code, message)) => {
                eprintln!("error: {message}");
                return code;
            }
        };
        let cursor = cursor_path(args, &options.view, &deployment.store);
        let defaults = RuntimeConfig::default();
        deployment.runtime = RuntimeConfig {
            rebuild_chunk: options.page,
            rebuild_parallelism: parallelism.unwrap_or(defaults.rebuild_parallelism),
            ..defaults
        };
        let built = match fdc_topology::build(deployment).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return e.code;
            }
        };
        let Some(engine) = built.engine() else {
            eprintln!("error: the refresh has no engine");
            return 1;
        };
        let code = refresh_with_progress(args, engine, &options, &cursor).await;
        if let Err(e) = built.flush() {
            eprintln!("error: {e}");
            return 1;
        }
        code
    });
    ExitCode::from(code)
}

/// Where the resume cursor of `view` is kept (see the module docs): `--cursor`, else in the
/// embedded store's directory, else in the working directory named after the MongoDB
/// database (a database name holds no `/`, `\\` or `.`).
fn cursor_path(args: &RefreshArgs, view: &str, store: &StoreSpec) -> PathBuf {
    if let Some(path) = &args.cursor {
        return path.clone();
    }
    let name = format!("refresh-{view}.cursor.json");
    if let Some(dir) = &args.store {
        return dir.join(name);
    }
    #[cfg(feature = "production")]
    if let StoreSpec::Mongo(m) = store {
        return PathBuf::from(format!("fdc-refresh-{}.{view}.cursor.json", m.database));
    }
    #[cfg(not(feature = "production"))]
    let _ = store;
    PathBuf::from(format!("fdc-{name}"))
}

async fn refresh_with_progress(
    args: &RefreshArgs,
    engine: &Engine,
    options: &RefreshOptions,
    cursor_path: &Path,
) -> u8 {
    let resume = if args.restart {
        None
    } else {
        match load_cursor(cursor_path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    };
    if let Err(e) = validate(engine, options, resume.as_ref()) {
        eprintln!("error: {e}");
        return 2;
    }
    if let Some(c) = &resume {
        eprintln!(
            "resuming the refresh of {} after {} records ({})",
            options.view,
            c.totals.scanned + c.totals.orphans_scanned,
            cursor_path.display()
        );
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let result = with_progress(engine, options, resume, &interrupted, |cursor| {
        save_cursor(cursor_path, cursor)
    })
    .await;
    watcher.abort();
    match result {
        Ok(Some(totals)) => {
            if let Err(e) = std::fs::remove_file(cursor_path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!(
                        "warning: cannot remove the cursor {}: {e}",
                        cursor_path.display()
                    );
                }
            }
            if totals.views.failed > 0 {
                eprintln!(
                    "{} document(s) failed the view's JSON Schema (see the errors collection)",
                    totals.views.failed
                );
            }
            0
        }
        Ok(None) => {
            eprintln!(
                "interrupted: run the same command again to resume ({})",
                cursor_path.display()
            );
            130
        }
        Err(Failed::Save(e)) => {
            eprintln!("error: {e}");
            1
        }
        Err(Failed::Refresh(e)) => {
            eprintln!("error: {e}");
            eprintln!(
                "the refresh resumes from its last durable batch ({})",
                cursor_path.display()
            );
            1
        }
    }
}

/// Why [`with_progress`] failed.
#[derive(Debug)]
pub enum Failed {
    /// The cursor could not be saved (the refresh stopped after a durable batch).
    Save(String),
    /// The refresh itself failed (a store error; it resumes from the last saved cursor).
    Refresh(String),
}

/// Runs a refresh of `options.view` from `resume` with the progress output of `fdc refresh`
/// (shared with `fdc apply`): `save` persists the cursor after each durable batch; when
/// `interrupted` is set the refresh stops after the batch in flight. `Ok(Some(totals))`: the
/// refresh completed; `Ok(None)`: it was interrupted (resumable from the last saved cursor).
pub async fn with_progress(
    engine: &Engine,
    options: &RefreshOptions,
    resume: Option<RefreshCursor>,
    interrupted: &AtomicBool,
    mut save: impl FnMut(&RefreshCursor) -> Result<(), String>,
) -> Result<Option<RefreshTotals>, Failed> {
    let total = roots_to_scan(engine, &options.view).await.ok().flatten();
    let mut progress = Progress {
        view: options.view.clone(),
        started: Instant::now(),
        resumed_at: resume
            .as_ref()
            .map_or(0, |c| c.totals.scanned + c.totals.orphans_scanned),
        total,
        terminal: std::io::stderr().is_terminal(),
        last_line: Instant::now(),
    };
    let mut save_error = None;
    let result = refresh(engine, options, resume, |cursor| {
        if let Err(e) = save(cursor) {
            save_error = Some(e);
            return Flow::Stop;
        }
        progress.batch(&cursor.totals);
        if interrupted.load(Ordering::SeqCst) {
            Flow::Stop
        } else {
            Flow::Continue
        }
    })
    .await;
    if let Some(e) = save_error {
        return Err(Failed::Save(e));
    }
    match result {
        Ok(outcome) => {
            progress.finish(&outcome.totals);
            Ok(outcome.complete.then_some(outcome.totals))
        }
        Err(e) => Err(Failed::Refresh(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_engine::view::ViewCounts;
    use serde_json::json;

    fn args(line: &[&str]) -> RefreshArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            refresh: RefreshArgs,
        }
        let mut argv = vec!["fdc-refresh", "p", "customer_360"];
        argv.extend(line);
        Cli::parse_from(argv).refresh
    }

    #[test]
    fn cursors_are_kept_per_store_and_per_mongodb_database() {
        let dir = |d: &str| StoreSpec::ExistingDirectory {
            path: d.into(),
            disk: Default::default(),
        };
        assert_eq!(
            cursor_path(&args(&["--store", "s"]), "customer_360", &dir("s")),
            PathBuf::from("s/refresh-customer_360.cursor.json")
        );
        assert_eq!(
            cursor_path(&args(&["--cursor", "c.json"]), "customer_360", &dir("s")),
            PathBuf::from("c.json")
        );
        #[cfg(feature = "production")]
        for db in ["staging", "prod"] {
            let mongo = StoreSpec::Mongo(Box::new(fdc_mongo::MongoStoreConfig {
                database: db.into(),
                ..Default::default()
            }));
            assert_eq!(
                cursor_path(&args(&["--config", "fdc.yaml"]), "customer_360", &mongo),
                PathBuf::from(format!("fdc-refresh-{db}.customer_360.cursor.json"))
            );
        }
    }

    #[test]
    fn filters_read_field_operator_and_json_or_bare_word() {
        let f = parse_filter("country == \"IT\"").unwrap();
        assert_eq!(
            (f.field.as_str(), f.op, f.value),
            ("country", CompareOp::Eq, json!("IT"))
        );
        let f = parse_filter("id>=10").unwrap();
        assert_eq!((f.op, f.value), (CompareOp::Ge, json!(10)));
        let f = parse_filter("id < 3").unwrap();
        assert_eq!(f.op, CompareOp::Lt);
        let f = parse_filter("kind != billing").unwrap();
        assert_eq!((f.op, f.value), (CompareOp::Ne, json!("billing")));
        let f = parse_filter("code == 007").unwrap();
        assert_eq!(f.value, json!("007"), "not JSON: a string");
        assert!(parse_filter("country")
            .unwrap_err()
            .contains("expected FIELD OP VALUE"));
        assert!(parse_filter("a.b == 1")
            .unwrap_err()
            .contains("is not a field name"));
        assert!(parse_filter("id ==")
            .unwrap_err()
            .contains("value is missing"));
    }

    /// The progress of view `v` with 400 records to scan, started 10 s ago.
    fn progress_of_400_after_10s() -> Progress {
        Progress {
            view: "v".into(),
            started: Instant::now() - Duration::from_secs(10),
            resumed_at: 0,
            total: Some(400),
            terminal: false,
            last_line: Instant::now(),
        }
    }

    #[test]
    fn the_progress_line_has_count_rate_and_eta() {
        let p = progress_of_400_after_10s();
        let t = RefreshTotals {
            scanned: 100,
            views: ViewCounts {
                inserted: 90,
                ..ViewCounts::default()
            },
            ..RefreshTotals::default()
        };
        let line = p.line(&t);
        assert!(
            line.starts_with("refresh v: 100 records of 400 (25 %), ETA 0:00:3"),
            "{line}"
        );
        assert!(line.contains("10 records/s"), "{line}");
        assert!(line.contains("90 inserted"), "{line}");
    }

    #[test]
    fn the_orphans_pass_is_counted_apart_from_the_roots() {
        let p = progress_of_400_after_10s();
        let t = RefreshTotals {
            scanned: 400,
            orphans_scanned: 200,
            ..RefreshTotals::default()
        };
        let line = p.line(&t);
        assert!(
            line.starts_with(
                "refresh v: 400 records of 400 (100 %), then 200 stored document(s) checked \
                 for a gone root, 60 records/s"
            ),
            "{line}"
        );
    }
}
