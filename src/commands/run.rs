//! `fdc run PIPELINE --input FILE|DIR|- [--store DIR] [--print views|projections|all]
//! [--export DIR] [--batch-size N] [--max-dead-letters N]`.
//!
//! In: a pipeline (a `.fdl` file or directory, compiled with the same entry point as `fdc
//! check`) and newline-delimited JSON messages. Out: the pipeline run on the embedded store and
//! the file source; a summary of the counts on stderr; with `--print`, the resulting single
//! views and/or projection records as JSON lines on stdout; with `--export`, the same plus
//! events and dead letters as files. Exit code: 0 when the run finished (dead letters are
//! reported, not failures), 1 when the pipeline does not compile or a store fails, 2 usage,
//! 3 when more than `--max-dead-letters N` messages of this run were dead-lettered (the run
//! completed and committed all the same; the option is refused with `--config`).
//!
//! Ctrl-C stops reading, finishes the batch in flight and commits it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fdc_engine::bounded;
use fdc_engine::runtime::{RuntimeConfig, Shutdown, Summary};
use fdc_file::FileInput;
use fdc_topology::export::{export, projection_line, view_line};
use fdc_topology::Deployment;

/// Arguments of `fdc run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline: a `.fdl` file or a directory of them.
    pub pipeline: PathBuf,
    /// Input messages: a `.jsonl` file (or any readable file: a pipe, `<(...)`, `/dev/null`),
    /// a directory of them (name order), or `-` for stdin (required unless `--config` or
    /// `FDC_KAFKA_BROKERS` selects production mode). With `--store`, a rerun resumes each
    /// regular file after the lines already processed.
    #[arg(long, short)]
    pub input: Option<PathBuf>,
    /// Production mode: Kafka in, MongoDB out, from this `fdc.yaml` (docs/configuration.md).
    /// Without `--input`, `FDC_KAFKA_BROKERS` alone selects it too.
    #[arg(long, conflicts_with = "input")]
    pub config: Option<PathBuf>,
    /// Keep the projections and single views in this directory (and resume from it).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Print the resulting single views and/or projection records as JSON lines.
    #[arg(long, value_enum)]
    pub print: Option<Print>,
    /// Write views, projections, events and dead letters as JSON lines under this directory.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Messages per batch.
    #[arg(long, default_value_t = 5000)]
    pub batch_size: usize,
    /// Dead-letter a message whose version is a time (`basic` Kafka timestamp, Debezium
    /// `ts_ms`) more than this many milliseconds ahead of the clock; 0 turns the check off.
    /// Production mode reads `ingest.max_clock_skew_ms` from fdc.yaml instead.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 3_600_000,
        conflicts_with = "config"
    )]
    pub max_clock_skew_ms: u64,
    /// Production mode: serve /metrics, /healthz, /readyz and /status on this address
    /// (`host:port`; overrides `http.listen` and FDC_HTTP_LISTEN; off when none is set).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Initial load: write the projections only, at full speed (no strategies, no single
    /// views); build the views afterwards with `fdc refresh PIPELINE VIEW`.
    #[arg(long)]
    pub initial_load: bool,
    /// Production mode: `all` runs both stages; `ingest` writes projections and publishes
    /// single-view triggers to the trigger topic; `aggregate` consumes them (consumer group
    /// `<group_id>.aggregate`) and rebuilds the single views.
    #[arg(long, value_enum, default_value_t = RoleArg::All)]
    pub role: RoleArg,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
    /// Embedded run (`--input`) only: exit with status 3 when more than N messages of this run
    /// were dead-lettered (the run still completes and commits). Not for a production run,
    /// which is long-lived: alert on its `fdc_messages_dead_lettered_total` metric instead.
    #[arg(long, value_name = "N", conflicts_with = "config")]
    pub max_dead_letters: Option<u64>,
    /// A pipeline that differs from the plan deployed on the store (`--store`, `--config`):
    /// apply it first as `fdc apply` does (without `--prune`), then run. On an embedded store
    /// a change that needs a re-ingest is refused: use `fdc apply --input`.
    #[arg(long)]
    pub apply: bool,
    /// Record the new plan as deployed whatever its actions (you did them by hand, e.g. `fdc
    /// refresh` of the views `fdc plan` names), then run.
    #[arg(long, conflicts_with = "apply")]
    pub mark_applied: bool,
    /// Start with the whole process paused (recorded in the store, so every replica and a
    /// restart stay paused) until `fdc resume --all`. An embedded run then reads nothing.
    #[arg(long)]
    pub paused: bool,
}

/// The pause of the whole process that `fdc run --paused` (or `start_paused: true`) records,
/// by [`super::deployed::applied_by`].
pub fn start_paused(reason: &str) -> fdc_engine::store::PauseItem {
    fdc_engine::store::PauseItem {
        target: fdc_engine::store::PauseTarget::All,
        since_ms: crate::commands::deployed::now_ms(),
        by: super::deployed::applied_by(),
        reason: Some(reason.to_string()),
    }
}

/// What an embedded run left unread because of a pause, and how to go on.
fn print_paused(state: &fdc_engine::runtime::PauseSnapshot, store: Option<&std::path::Path>) {
    if state.items.is_empty() {
        return;
    }
    let what: Vec<String> = state
        .items
        .iter()
        .map(|i| match &i.target {
            fdc_engine::store::PauseTarget::All => "the whole process".to_string(),
            t => format!("{} `{}`", t.kind(), fdc_core::bounded::name(t.name())),
        })
        .collect();
    let kept: u64 = state.pending.values().sum();
    let store = store.map_or_else(|| "DIR".to_string(), |d| super::paths::shown(d).to_string());
    eprintln!(
        "note: paused: {}; the input stops at the first message a pause holds (kept for the \
         next run{}); resume with `fdc resume --store {store} ...`, then run again",
        what.join(", "),
        if kept > 0 {
            format!("; {kept} trigger(s) of paused views kept")
        } else {
            String::new()
        }
    );
}

/// The exit code of an embedded run that dead-lettered more than `--max-dead-letters`.
pub const TOO_MANY_DEAD_LETTERS: u8 = 3;

/// What `--role` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    All,
    Ingest,
    Aggregate,
}

#[cfg(feature = "production")]
impl RoleArg {
    /// The engine's role.
    pub fn role(self) -> fdc_engine::runtime::Role {
        use fdc_engine::runtime::Role;
        match self {
            RoleArg::All => Role::All,
            RoleArg::Ingest => Role::Ingest,
            RoleArg::Aggregate => Role::Aggregate,
        }
    }
}

/// What `--print` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Print {
    Views,
    Projections,
    All,
}

/// Runs `fdc run`.
pub fn run(args: &RunArgs) -> ExitCode {
    let Some(compiled) = super::load_or_report(&args.pipeline, &args.imports) else {
        return ExitCode::from(1);
    };
    if args.initial_load && args.role == RoleArg::Aggregate {
        eprintln!("error: --initial-load writes projections: it is not for --role aggregate");
        return ExitCode::from(2);
    }
    if production_wanted(args) {
        if args.max_dead_letters.is_some() {
            eprintln!(
                "error: --max-dead-letters is for an embedded run (--input); a production run is \
                 long-lived: alert on its fdc_messages_dead_lettered_total metric instead"
            );
            return ExitCode::from(2);
        }
        let check = deploy_check(args, &compiled, config_shown(args));
        return run_production(args, compiled.plan, check);
    }
    if args.http.is_some() || args.role != RoleArg::All {
        eprintln!(
            "error: --http and --role are for a production run (--config or FDC_KAFKA_BROKERS)"
        );
        #[cfg(not(feature = "production"))]
        eprintln!("note: {}", super::WITHOUT_PRODUCTION);
        return ExitCode::from(2);
    }
    let Some(input) = &args.input else {
        eprintln!("error: give --input FILE|DIR|- (or --config FILE for Kafka and MongoDB)");
        return ExitCode::from(2);
    };
    let input = if input.as_os_str() == "-" {
        FileInput::Stdin
    } else if input.is_dir() {
        FileInput::Directory(input.clone())
    } else if let Err(e) = std::fs::metadata(input) {
        // Anything else that exists is read as a file: a regular file, a FIFO, `<(...)`,
        // `/dev/null`. (Not opened here: opening a FIFO to test it would unblock its writer
        // and then close on it.)
        let shown = input.display().to_string();
        eprintln!("error: cannot read input `{}`: {e}", bounded::name(&shown));
        return ExitCode::from(2);
    } else {
        FileInput::File(input.clone())
    };
    if args.store.is_some() {
        let once = match &input {
            FileInput::Stdin => Some("standard input".to_owned()),
            FileInput::File(p) if fdc_file::read_once(p) => Some(format!(
                "`{}` (a pipe or a device)",
                bounded::name(&p.display().to_string())
            )),
            _ => None,
        };
        if let Some(what) = once {
            eprintln!(
                "note: {what} has no position to resume from: it is read from its start, \
                 and a rerun with this --store does not skip what this run processed \
                 (only regular files are resumed)"
            );
        }
    }
    // An in-memory run has nothing deployed: only a store directory is compared.
    let check = args.store.as_ref().map(|dir| {
        deploy_check(
            args,
            &compiled,
            format!("--store {}", super::paths::shown(dir)),
        )
    });
    if check.is_none() && (args.apply || args.mark_applied) {
        eprintln!(
            "note: --apply and --mark-applied concern a store: this in-memory run keeps none"
        );
    }
    let mut deployment = Deployment::embedded(
        compiled.plan,
        input,
        args.store.clone(),
        super::store_dir::options(),
        args.export.as_deref(),
    );
    deployment.pause.start_paused = args.paused.then(|| start_paused("fdc run --paused"));
    deployment.runtime = RuntimeConfig {
        batch_size: args.batch_size.max(1),
        strategies: !args.initial_load,
        max_clock_skew: (args.max_clock_skew_ms > 0)
            .then(|| std::time::Duration::from_millis(args.max_clock_skew_ms)),
        ..RuntimeConfig::default()
    };
    let plan = deployment.plan.clone();
    let runtime = match super::start_runtime(true, 1) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        let mut heartbeat = None;
        if let Some(check) = &check {
            // Before the build: a refused run reads nothing and creates no index.
            let opened = fdc_topology::open_store(&deployment.store)
                .await
                .map_err(|e| (e.code, e.message))?;
            if check.apply {
                let history = super::apply::History::Nowhere(format!(
                    "a run's --input holds the messages to run, not the history a re-ingest \
                     needs: use `fdc apply {} {} --input FILE...`",
                    check.pipeline, check.store_args
                ));
                super::apply::before_run(&opened, &deployment.plan, check, history).await?;
            }
            super::deployed::check(opened.deployments().as_ref(), check).await?;
            heartbeat = Some((
                opened.deployments(),
                super::heartbeat::spawn(
                    opened.deployments(),
                    check.record.plan_fingerprint.clone(),
                ),
            ));
            deployment.store = fdc_topology::StoreSpec::Opened(opened);
        }
        let built = fdc_topology::build(deployment)
            .await
            .map_err(|e| (e.code, e.message));
        let mut built = match built {
            Ok(b) => b,
            Err(e) => {
                if let Some((store, task)) = heartbeat {
                    super::heartbeat::stop(store.as_ref(), task).await;
                }
                return Err(e);
            }
        };
        let shutdown = Shutdown::new();
        let summary = {
            let run = built.run(&shutdown);
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r,
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: finishing the batch in flight");
                    shutdown.trigger();
                    run.await
                }
            }
        }
        .map_err(|e| (1, e.to_string()));
        if let Some((store, task)) = heartbeat {
            super::heartbeat::stop(store.as_ref(), task).await;
        }
        let summary = summary?;
        let Some(store) = built.store.embedded().cloned() else {
            return Err((1, "the embedded run opened another store".to_string()));
        };
        if let Some(dir) = &args.export {
            export(&plan, &store, dir).map_err(|e| (1, e.to_string()))?;
        }
        if let Some(p) = &built.pause {
            // The exact counts of kept triggers are the store's.
            p.refresh().await.map_err(|e| (1, e.to_string()))?;
            print_paused(&p.snapshot(), args.store.as_deref());
        }
        Ok((summary, store, built.resumed()))
    });
    let (summary, store, resumed) = match result {
        Ok(done) => done,
        Err((code, message)) => {
            eprintln!("error: {message}");
            return ExitCode::from(code);
        }
    };
    print_resumed(&resumed);
    print_summary(&summary);
    print_initial_load_hint(args.initial_load);
    print_dead_letters(&store);
    if let Some(what) = args.print {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut lines = Vec::new();
        if matches!(what, Print::Views | Print::All) {
            for v in &plan.single_views {
                for (k, d) in store.all_documents(&v.name).unwrap_or_default() {
                    lines.push(view_line(&plan, &v.name, &k, &d));
                }
            }
        }
        if matches!(what, Print::Projections | Print::All) {
            for p in &plan.projections {
                for r in store.all_records(&p.name).unwrap_or_default() {
                    lines.push(projection_line(&p.name, &r));
                }
            }
        }
        for l in lines {
            if writeln!(out, "{l}").is_err() {
                break;
            }
        }
    }
    match args.max_dead_letters {
        Some(max) if summary.dead_lettered > max => {
            eprintln!(
                "error: {} message(s) dead-lettered, more than --max-dead-letters {max}",
                summary.dead_lettered
            );
            ExitCode::from(TOO_MANY_DEAD_LETTERS)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// What `fdc run` compares with the store's deployed plan (`commands/deployed.rs`).
fn deploy_check(
    args: &RunArgs,
    compiled: &fdc_dsl::Compiled,
    store_args: String,
) -> super::deployed::Check {
    super::deployed::Check {
        record: super::deployed::record_of(compiled),
        apply: args.apply,
        mark_applied: args.mark_applied,
        store_args,
        pipeline: super::paths::shown(&args.pipeline),
    }
}

/// How the refusal of a production run names its configuration.
fn config_shown(args: &RunArgs) -> String {
    match &args.config {
        Some(c) => format!("--config {}", super::paths::shown(c)),
        None => "--config fdc.yaml".into(),
    }
}

/// Whether this is a production run: `--config`, or `FDC_KAFKA_BROKERS` without `--input`.
#[cfg(feature = "production")]
fn production_wanted(args: &RunArgs) -> bool {
    super::production::wanted(
        args.config.as_deref(),
        args.input.is_some(),
        &crate::config::ProcessEnv,
    )
}

/// The rule of `production::wanted` (not compiled without the production adapters), so
/// that a production run asked of this build fails saying why instead of asking for `--input`.
#[cfg(not(feature = "production"))]
fn production_wanted(args: &RunArgs) -> bool {
    args.config.is_some()
        || (args.input.is_none() && std::env::var_os("FDC_KAFKA_BROKERS").is_some())
}

/// Kafka in, MongoDB out, until SIGINT or SIGTERM (`commands/production.rs`).
#[cfg(feature = "production")]
fn run_production(args: &RunArgs, plan: fdc_plan::Plan, check: super::deployed::Check) -> ExitCode {
    let options = super::production::Options {
        check: Some(check),
        store_dir: args.store.clone(),
        http: args.http.clone(),
        initial_load: args.initial_load,
        role: args.role.role(),
        paused: args.paused,
    };
    match super::production::run_production(plan, args.config.as_deref(), &options) {
        Ok(summary) => {
            print_summary(&summary);
            print_initial_load_hint(args.initial_load);
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// A build without the production adapters: the run is refused, saying how to get them.
#[cfg(not(feature = "production"))]
fn run_production(
    _args: &RunArgs,
    _plan: fdc_plan::Plan,
    _check: super::deployed::Check,
) -> ExitCode {
    eprintln!(
        "error: a production run (--config or FDC_KAFKA_BROKERS): {}",
        super::WITHOUT_PRODUCTION
    );
    ExitCode::from(2)
}

fn print_initial_load_hint(initial_load: bool) {
    if initial_load {
        eprintln!(
            "initial load: projections written, single views not built; \
             build them with `fdc refresh PIPELINE VIEW`"
        );
    }
}

/// The first dead letters' positions and reasons (reasons never hold values; the letters
/// themselves, with the original messages, are in the store and in `--export`).
fn print_dead_letters(store: &fdc_embedded::EmbeddedStore) {
    const SHOWN: usize = 10;
    let letters = store.dead_letters().unwrap_or_default();
    for d in letters.iter().take(SHOWN) {
        let topic = d["topic"].as_str().unwrap_or("");
        let reason = d["reason"].as_str().unwrap_or("");
        if is_input_name(topic) {
            // A line that was not a message: the file source named its input instead of a
            // topic, and the reason starts with the line number.
            eprintln!(
                "dead letter in the store: {}: {reason}",
                bounded::name(topic)
            );
        } else {
            eprintln!(
                "dead letter in the store: {}[{}]@{}: {reason}",
                bounded::name(topic),
                d["partition"],
                d["offset"],
            );
        }
    }
    if letters.len() > SHOWN {
        eprintln!("... and {} more (see --export)", letters.len() - SHOWN);
    }
}

/// Whether a dead letter's topic is the name the file source gives an input (`file:<path>`,
/// `stream:<path>`, `stdin`) for a line that was not a message. Kafka topic names never hold
/// `:`.
fn is_input_name(topic: &str) -> bool {
    topic == "stdin" || topic.starts_with("file:") || topic.starts_with("stream:")
}

/// Says which files the run resumed from the store's positions, so that "consumed 0
/// message(s)" on a rerun reads as "already done", not as "nothing there".
fn print_resumed(resumed: &[fdc_file::Resumed]) {
    for r in resumed {
        let file = bounded::name(r.stream.strip_prefix("file:").unwrap_or(&r.stream));
        if r.skipped < r.stored {
            eprintln!(
                "resumed `{file}`: the store's position is line {} but the file has only {} \
                 line(s) (was it replaced?): nothing of it was read",
                r.stored, r.skipped
            );
        } else {
            eprintln!(
                "resumed `{file}` at line {}: {} line(s) already processed by an earlier run \
                 with this --store were skipped",
                r.skipped + 1,
                r.skipped
            );
        }
    }
}

fn print_summary(s: &Summary) {
    eprintln!(
        "consumed {} message(s): {} change(s) applied, {} stale, {} skipped, {} dead-lettered",
        s.consumed, s.applied, s.stale, s.skipped, s.dead_lettered
    );
    eprintln!(
        "single views: {} inserted, {} updated, {} unchanged, {} deleted, {} failed \
         ({} triggered, {} mapping error(s)); {} event(s) in {} batch(es)",
        s.views.inserted,
        s.views.updated,
        s.views.unchanged,
        s.views.deleted,
        s.views.failed,
        s.triggered,
        s.views.mapping_errors,
        s.events,
        s.batches
    );
}
