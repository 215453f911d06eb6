//! `fdc apply PIPELINE (--store DIR [--input FILE...] | --config FILE) [--dry-run] [--only
//! VIEW]... [--prune] [--format human|json] [--ignore-running] [--page N]`.
//!
//! In: the new pipeline and the store it replaces a deployed plan on. Out: the store brought
//! to the new plan: the actions of `fdc plan` (the same diff, [`super::deployed::actions`])
//! performed in their order, then the new plan recorded as deployed.
//!
//! How each action is performed, every data step through a deployment of
//! `fdc_topology::build` on the opened store:
//! - create index: building the new plan's deployment ensures every projection's indexes;
//! - (re-)ingest: the projection's stored records are removed, then its topic is read again
//!   into it, projections only (no strategies: the views that read it are refreshed after it,
//!   by their own actions), see [`reingest`]; on Kafka, a topic that no longer holds its whole
//!   history gets the warning of `fdc plan` (`plan::warn_lost_history`), printed with the plan
//!   and again before the step;
//! - build, refresh, refresh fields: the full refresh of `fdc refresh` (its progress output,
//!   its cursor saved in the store after every durable batch); a `write merge` view whose
//!   mapping lost fields has them removed from every rebuilt document
//!   ([`retired_fields`]). A field refresh rebuilds whole documents: a `write merge`
//!   document is rewritten field by field, so the untouched fields come out the same and the
//!   reads are those of a field refresh anyway;
//! - strategy changes and removed items left alone need nothing: they take effect when the
//!   new plan runs;
//! - index drops (before the new plan's build, which creates the indexes it needs) and, with
//!   `--prune`, collection drops go to the store (`OpenedStore::drop_*`);
//! - once every action is done, the pause state forgets what the new plan no longer has: the
//!   pause of a removed projection or single view, and a removed view's kept triggers (nothing
//!   would rebuild them), see [`forget_removed`].
//!
//! Resumable: the progress (actions done, the refresh cursor of the one in flight) is kept in
//! the deployment record's `apply` field after every step; the record's plan stays the old one
//! until every action is done, so `fdc run` keeps refusing. Running `fdc apply` again with the
//! same pipeline resumes; with a pipeline of another plan it is refused, naming both. With
//! `--only VIEW` only those views' actions (and the ingest and index actions they follow) are
//! done: the record stays unfinished, listing what was done, until an `fdc apply` without
//! `--only` finishes it.
//!
//! A running `fdc run` writes a heartbeat into the record ([`super::heartbeat`]); apply refuses
//! while one is recent, unless `--ignore-running`.
//!
//! Exit status: 0 applied (or nothing to do), 1 an error (nothing deployed on the store, a
//! re-ingest without input, a store failure), 2 refused (a run of the store looks alive, an
//! unfinished apply toward another plan; usage errors), 130 interrupted (Ctrl-C: the next
//! `fdc apply` resumes). `--dry-run` prints and exits as `fdc
//! plan` does (0 nothing to do, 2 actions, 1 errors) and changes nothing.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use clap::Args;
use fdc_engine::runtime::refresh::{RefreshCursor, RefreshOptions};
use fdc_engine::runtime::{RuntimeConfig, Shutdown};
use fdc_engine::store::{DeadLetter, DeadLetterSink, ProjectionStore, RecordWrite, StoreError};
use fdc_file::FileInput;
use fdc_plan::deployment::diff::{Action, ActionKind, Changes};
use fdc_plan::deployment::report::{AgainstKind, Report, Side};
use fdc_plan::deployment::{ApplyProgress, Deployment as Record};
use fdc_plan::Plan;
use fdc_topology::{DeadLettersSpec, Deployment, Input, OpenedStore, StoreSpec};

use super::plan::PlanFormat;

/// Arguments of `fdc apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The new pipeline: a `.fdl` file or a directory.
    pub pipeline: PathBuf,
    /// The embedded store directory the plan is deployed on.
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    pub store: Option<PathBuf>,
    /// The messages a re-ingest reads on an embedded store (the files the store was fed
    /// with; each read from its start, in order). Needed only when a projection is
    /// re-ingested.
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "store")]
    pub input: Vec<PathBuf>,
    /// MongoDB (and Kafka, for re-ingests and events) from this `fdc.yaml`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print what `fdc plan` prints and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only the actions of this single view (and the ingest and index actions it needs);
    /// repeatable. The deployment stays unfinished until an apply without `--only`.
    #[arg(long, value_name = "VIEW")]
    pub only: Vec<String>,
    /// Drop the collections of removed single views and projections.
    #[arg(long)]
    pub prune: bool,
    /// How to print the plan.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    /// Apply even though a run of this store wrote a heartbeat recently (it may be a run
    /// that died without a trace, or one you are about to stop).
    #[arg(long)]
    pub ignore_running: bool,
    /// Root records read, and single views rebuilt, per refresh batch.
    #[arg(long, default_value_t = 5000)]
    pub page: usize,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// Where a re-ingest reads a projection's history.
pub enum History {
    /// These files, each from its start (`fdc apply --store DIR --input FILE...`).
    Files(Vec<FileInput>),
    /// Nowhere: a re-ingest is refused with this reason.
    Nowhere(String),
    /// The topics of the configuration's Kafka, from the earliest retained offset.
    #[cfg(feature = "production")]
    Kafka(Box<crate::config::Config>),
}

/// What an apply is asked to do (`fdc apply`, `fdc run --apply`).
pub struct Request<'a> {
    /// The compiled new plan and its record.
    pub plan: &'a Plan,
    pub record: &'a Record,
    /// `--only`: the views whose actions are done (empty: all).
    pub only: &'a [String],
    pub prune: bool,
    pub page: usize,
    pub history: History,
    pub ignore_running: bool,
    /// How the plan is printed before the actions (`None`: not printed).
    pub show: Option<PlanFormat>,
    /// How the store was named (`--store DIR`, `--config FILE`), and the pipeline, for hints.
    pub store_args: String,
    /// The store's directory or configuration file as shown in the plan (as `fdc plan`).
    pub store_shown: String,
    pub pipeline: String,
    /// Set by Ctrl-C: stop after the step in flight.
    pub interrupted: Arc<AtomicBool>,
}

/// How an apply ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The store had the new plan already.
    NothingToDo,
    /// Every action done; the new plan is recorded.
    Applied,
    /// `--only`: these actions done, the others left; the record stays unfinished.
    Partial { left: usize },
    /// Stopped by Ctrl-C; the next apply resumes.
    Interrupted,
}

/// Runs `fdc apply`.
pub fn run(args: &ApplyArgs) -> ExitCode {
    if args.store.is_none() && args.config.is_none() {
        eprintln!("error: name the store to apply on: `--store DIR` or `--config FILE`");
        return ExitCode::from(2);
    }
    if args.dry_run {
        return super::plan::run(&super::plan::PlanArgs {
            pipeline: args.pipeline.clone(),
            against: None,
            deployed: None,
            store: args.store.clone(),
            config: args.config.clone(),
            write_record: None,
            format: args.format,
            prune: args.prune,
            imports: args.imports.clone(),
        });
    }
    let Some(compiled) = super::load_or_report(&args.pipeline, &args.imports) else {
        return ExitCode::from(1);
    };
    let record = super::deployed::record_of(&compiled);
    let (spec, history, store_args, store_shown) = match target(args) {
        Ok(t) => t,
        Err((code, message)) => {
            eprintln!("error: {message}");
            return ExitCode::from(code);
        }
    };
    let runtime = match super::start_runtime(true, 1) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let request = Request {
        plan: &compiled.plan,
        record: &record,
        only: &args.only,
        prune: args.prune,
        page: args.page.max(1),
        history,
        ignore_running: args.ignore_running,
        show: Some(args.format),
        store_args,
        store_shown,
        pipeline: super::paths::shown(&args.pipeline),
        interrupted: interrupted.clone(),
    };
    let result = runtime.block_on(async {
        let flag = interrupted.clone();
        let watcher = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping after the step in flight");
                flag.store(true, Ordering::SeqCst);
            }
        });
        let opened = fdc_topology::open_store(&spec).await.map_err(|e| {
            // The embedded store is locked by the process that has it open: say which kind.
            let busy =
                matches!(spec, StoreSpec::ExistingDirectory { .. }) && e.message.contains("lock");
            let hint = if busy {
                " (another fdc process, e.g. a running `fdc run`, has this store open: stop \
                 it first)"
            } else {
                ""
            };
            (e.code, format!("{}{hint}", e.message))
        })?;
        let outcome = apply(&opened, &request).await;
        watcher.abort();
        outcome
    });
    match result {
        Ok(Outcome::NothingToDo | Outcome::Applied | Outcome::Partial { .. }) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted) => {
            eprintln!("interrupted: run the same `fdc apply` again to resume");
            ExitCode::from(130)
        }
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// The store of `args`, where a re-ingest reads, and how the store is named: in hints (with
/// its flag) and in the plan (as `fdc plan` shows it).
type Target = (StoreSpec, History, String, String);

fn target(args: &ApplyArgs) -> Result<Target, (u8, String)> {
    if let Some(dir) = &args.store {
        let spec = StoreSpec::ExistingDirectory {
            path: dir.clone(),
            disk: super::store_dir::options(),
        };
        let history = if args.input.is_empty() {
            History::Nowhere(format!(
                "give the messages the store was fed with: `fdc apply {} --store {} --input \
                 FILE...`",
                super::paths::shown(&args.pipeline),
                super::paths::shown(dir)
            ))
        } else {
            let mut files = Vec::new();
            for f in &args.input {
                if f.is_dir() {
                    files.push(FileInput::Directory(f.clone()));
                } else if f.is_file() {
                    files.push(FileInput::File(f.clone()));
                } else {
                    return Err((
                        2,
                        format!("input `{}` is not a file or a directory", f.display()),
                    ));
                }
            }
            History::Files(files)
        };
        let shown = super::paths::shown(dir);
        return Ok((spec, history, format!("--store {shown}"), shown));
    }
    production_target(args)
}

#[cfg(feature = "production")]
fn production_target(args: &ApplyArgs) -> Result<Target, (u8, String)> {
    let config = crate::config::load(args.config.as_deref(), &crate::config::ProcessEnv)
        .map_err(|e| (2, e.to_string()))?;
    let Some(mongodb) = &config.mongodb else {
        return Err((
            2,
            "the configuration names no MongoDB: apply on an embedded store with `--store DIR`"
                .into(),
        ));
    };
    let spec = StoreSpec::Mongo(Box::new(mongodb.clone()));
    let shown = args
        .config
        .as_deref()
        .map_or_else(|| "fdc.yaml".into(), super::paths::shown);
    Ok((
        spec,
        History::Kafka(Box::new(config)),
        format!("--config {shown}"),
        shown,
    ))
}

#[cfg(not(feature = "production"))]
fn production_target(_args: &ApplyArgs) -> Result<Target, (u8, String)> {
    Err((2, format!("--config: {}", super::WITHOUT_PRODUCTION)))
}

/// The key of an action in the progress record: `kind target`.
fn action_key(a: &Action) -> String {
    let kind = serde_json::to_value(a.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{kind} {}", a.target)
}

/// Whether an action is about a single view (what `--only` selects).
fn is_view_action(kind: ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::Build
            | ActionKind::Refresh
            | ActionKind::RefreshFields
            | ActionKind::UpdateStrategies
            | ActionKind::KeepView
            | ActionKind::DropView
    )
}

/// The positions of the actions to do: all, or with `only` the actions of those views and,
/// transitively, the actions they must follow.
fn selected(actions: &[Action], only: &[String]) -> Result<BTreeSet<usize>, String> {
    if only.is_empty() {
        return Ok((0..actions.len()).collect());
    }
    let mut chosen = BTreeSet::new();
    let mut stack: Vec<usize> = Vec::new();
    for name in only {
        let found: Vec<usize> = actions
            .iter()
            .enumerate()
            .filter(|(_, a)| is_view_action(a.kind) && &a.target == name)
            .map(|(i, _)| i)
            .collect();
        if found.is_empty() {
            return Err(format!(
                "--only `{name}`: no action of the plan concerns a single view of that name"
            ));
        }
        stack.extend(found);
    }
    while let Some(i) = stack.pop() {
        if chosen.insert(i) {
            if let Some(a) = actions.get(i) {
                stack.extend(a.after.iter().copied());
            }
        }
    }
    Ok(chosen)
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Brings the store to the new plan of `request` (see the module docs). `Err`: the exit code
/// and the message.
pub async fn apply(opened: &OpenedStore, request: &Request<'_>) -> Result<Outcome, (u8, String)> {
    let records = opened.deployments();
    let fail = |e: StoreError| (1, e.to_string());
    let Some(deployed) = records.load_deployment().await.map_err(fail)? else {
        return Err((
            1,
            "no plan is deployed on this store yet: nothing to apply (the first `fdc run` on \
             it records its plan)"
                .into(),
        ));
    };
    super::heartbeat::refuse_if_running(&deployed, request.ignore_running, now_ms())?;
    let new = request.record;
    if let Some(p) = &deployed.apply {
        if p.target != new.plan_fingerprint {
            return Err((
                2,
                format!(
                    "an apply started {} by {} toward another plan (fingerprint {}) is not \
                     finished on this store ({} action(s) done: {}); this pipeline's plan is {}. \
                     Finish that apply first (`fdc apply` with its pipeline), or record what \
                     the store holds with `fdc run --mark-applied` once you have made it right \
                     by hand. Nothing was changed.",
                    p.started_at,
                    p.started_by,
                    short(&p.target),
                    p.done.len(),
                    if p.done.is_empty() {
                        "none".to_owned()
                    } else {
                        p.done.join(", ")
                    },
                    short(&new.plan_fingerprint)
                ),
            ));
        }
    }
    let counts = super::deployed::counts(opened, &deployed, new)
        .await
        .map_err(|e| (1, e))?;
    let changes = super::deployed::actions(&deployed, new, request.prune, counts);
    #[cfg(feature = "production")]
    let changes = {
        let mut changes = changes;
        if let History::Kafka(config) = &request.history {
            if let Some(kafka) = &config.kafka {
                super::plan::warn_lost_history(&mut changes, kafka).await;
            }
        }
        changes
    };
    if let Some(format) = request.show {
        let report = Report::new(
            AgainstKind::Record,
            Side::of(&request.store_shown, &deployed),
            Side::of(&request.pipeline, new),
            changes.clone(),
        );
        let text = super::plan::render(&report, format);
        crate::output::print(&text).map_err(|_| (1, "cannot print the plan".to_owned()))?;
    }
    if deployed.plan_fingerprint == new.plan_fingerprint {
        return Ok(Outcome::NothingToDo);
    }
    let chosen = selected(&changes.actions, request.only).map_err(|e| (2, e))?;
    refuse_without_history(&changes, &chosen, request)?;
    let mut progress = deployed.apply.clone().unwrap_or_else(|| ApplyProgress {
        target: new.plan_fingerprint.clone(),
        target_text_hash: new.text_hash.clone(),
        started_at: fdc_core::store::record::millis_to_rfc3339(now_ms()),
        started_by: super::deployed::applied_by(),
        done: Vec::new(),
        current: None,
        checkpoint: None,
    });
    if !progress.done.is_empty() {
        eprintln!(
            "resuming the apply started {} by {}: {} action(s) done",
            progress.started_at,
            progress.started_by,
            progress.done.len()
        );
    }
    let mut holder = deployed.clone();
    holder.apply = Some(progress.clone());
    records.save_deployment(&holder).await.map_err(fail)?;
    let mut steps = Steps {
        opened,
        request,
        holder,
        built: None,
    };
    for (i, action) in changes.actions.iter().enumerate() {
        let key = action_key(action);
        if !chosen.contains(&i) || progress.done.contains(&key) {
            continue;
        }
        if request.interrupted.load(Ordering::SeqCst) {
            return Ok(Outcome::Interrupted);
        }
        eprintln!("{}. {}", i + 1, describe(action));
        if let Some(warning) = &action.warning {
            eprintln!("  warning: {warning}");
        }
        let done = steps.perform(action, &key, &mut progress).await?;
        if !done {
            return Ok(Outcome::Interrupted);
        }
        progress.done.push(key);
        progress.current = None;
        progress.checkpoint = None;
        steps.save(&progress).await?;
    }
    let left = changes
        .actions
        .iter()
        .filter(|a| !progress.done.contains(&action_key(a)))
        .count();
    if left > 0 {
        eprintln!(
            "partly applied: {} of {} action(s) done; the plan deployed on this store stays the \
             old one and `fdc run` refuses until `fdc apply {} {}` (without --only) does the \
             rest",
            progress.done.len(),
            changes.actions.len(),
            request.pipeline,
            request.store_args
        );
        return Ok(Outcome::Partial { left });
    }
    forget_removed(opened, &deployed, new).await.map_err(fail)?;
    let mut applied = super::deployed::stamped(new);
    applied.heartbeat = None;
    applied.apply = None;
    records.save_deployment(&applied).await.map_err(fail)?;
    eprintln!(
        "applied: {} action(s) done; the new plan is recorded as deployed",
        changes.actions.len()
    );
    Ok(Outcome::Applied)
}

/// Per `write merge` single view of `new` that `old` has too: the top-level fields `old`
/// mapped and `new` does not. A merge write keeps the fields it does not write, so the
/// refresh of such a view must remove them ([`RuntimeConfig::retired_fields`]) for the store
/// to hold what a clean run of the new pipeline holds.
fn retired_fields(old: &Record, new: &Record) -> std::collections::BTreeMap<String, Vec<String>> {
    new.views
        .iter()
        .filter(|(_, v)| v.write == fdc_plan::WriteMode::Merge)
        .filter_map(|(name, v)| {
            let gone: Vec<String> = old
                .views
                .get(name)?
                .mapping
                .keys()
                .filter(|f| !v.mapping.contains_key(*f))
                .cloned()
                .collect();
            (!gone.is_empty()).then(|| (name.clone(), gone))
        })
        .collect()
}

/// Removes from the pause state what `new` no longer has: the pause of each projection and
/// single view of `old` that `new` lacks, and the kept triggers of each such view (the new
/// plan would never rebuild them; they would stay in the store for good). Says what it
/// removed.
async fn forget_removed(
    opened: &OpenedStore,
    old: &Record,
    new: &Record,
) -> Result<(), StoreError> {
    use fdc_core::store::pause::PauseTarget;
    const PAGE: usize = 1000;
    let pauses = opened.pauses();
    for view in old.views.keys().filter(|v| !new.views.contains_key(*v)) {
        // Bounded by the count asked first: a store that would not remove cannot loop.
        let total = pauses.count_pending(view).await?;
        let mut forgotten = 0u64;
        for _ in 0..=total.div_ceil(PAGE as u64) {
            let keys = pauses.pending(view, PAGE).await?;
            if keys.is_empty() {
                break;
            }
            pauses.remove_pending(view, &keys).await?;
            forgotten += keys.len() as u64;
        }
        if forgotten > 0 {
            eprintln!("removed single view {view}: its {forgotten} kept trigger(s) are forgotten");
        }
        if pauses
            .remove_pause(&PauseTarget::View(view.clone()))
            .await?
        {
            eprintln!("removed single view {view}: its pause is lifted");
        }
    }
    for projection in old
        .projections
        .keys()
        .filter(|p| !new.projections.contains_key(*p))
    {
        if pauses
            .remove_pause(&PauseTarget::Projection(projection.clone()))
            .await?
        {
            eprintln!("removed projection {projection}: its pause is lifted");
        }
    }
    Ok(())
}

/// `fdc run --apply`: the full apply of the run's plan on the opened store before the run
/// reads anything (nothing when the store has no record yet, the first run deploys, or holds
/// this plan already). A re-ingest reads `history`; the plan is not printed, the actions and
/// their progress are.
pub async fn before_run(
    opened: &OpenedStore,
    plan: &Plan,
    check: &super::deployed::Check,
    history: History,
) -> Result<(), (u8, String)> {
    let deployed = opened
        .deployments()
        .load_deployment()
        .await
        .map_err(|e| (1, e.to_string()))?;
    let Some(deployed) = deployed else {
        return Ok(());
    };
    if deployed.plan_fingerprint == check.record.plan_fingerprint && deployed.apply.is_none() {
        return Ok(());
    }
    let request = Request {
        plan,
        record: &check.record,
        only: &[],
        prune: false,
        page: 5000,
        history,
        ignore_running: false,
        show: None,
        store_args: check.store_args.clone(),
        store_shown: check.store_args.clone(),
        pipeline: check.pipeline.clone(),
        interrupted: Arc::new(AtomicBool::new(false)),
    };
    match apply(opened, &request).await? {
        Outcome::NothingToDo | Outcome::Applied => Ok(()),
        Outcome::Partial { left } => Err((1, format!("{left} action(s) were left undone"))),
        Outcome::Interrupted => Err((130, "interrupted: `fdc apply` resumes".into())),
    }
}

/// The first 12 characters of a fingerprint.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

/// One line naming an action.
fn describe(a: &Action) -> String {
    format!("{}: {}", super::deployed::kind_name(a.kind), a.target)
}

/// Refuses, before anything is changed, a re-ingest without a place to read from.
fn refuse_without_history(
    changes: &Changes,
    chosen: &BTreeSet<usize>,
    request: &Request<'_>,
) -> Result<(), (u8, String)> {
    let picked = || {
        changes
            .actions
            .iter()
            .enumerate()
            .filter(|(i, _)| chosen.contains(i))
            .map(|(_, a)| a)
    };
    if let History::Nowhere(how) = &request.history {
        let reingested: Vec<String> = picked()
            .filter(|a| matches!(a.kind, ActionKind::Ingest | ActionKind::Reingest))
            .map(|a| format!("`{}`", a.target))
            .collect();
        if !reingested.is_empty() {
            return Err((
                1,
                format!(
                    "the projection(s) {} must be (re-)ingested, and there is nothing to read \
                     them from: {how}. Nothing was changed.",
                    reingested.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The steps of one apply, on one store.
struct Steps<'a, 'r> {
    opened: &'a OpenedStore,
    request: &'a Request<'r>,
    /// The deployed record, carrying the progress.
    holder: Record,
    /// The new plan's deployment (no input), built at the first step that needs it: it
    /// ensures the collections and indexes of the new plan.
    built: Option<fdc_topology::Built>,
}

impl Steps<'_, '_> {
    async fn save(&mut self, progress: &ApplyProgress) -> Result<(), (u8, String)> {
        self.holder.apply = Some(progress.clone());
        self.opened
            .deployments()
            .save_deployment(&self.holder)
            .await
            .map_err(|e| (1, e.to_string()))
    }

    /// The new plan's deployment on the store, without input: building it ensures every
    /// projection (its indexes) and view of the new plan.
    async fn built(&mut self) -> Result<&fdc_topology::Built, (u8, String)> {
        if self.built.is_none() {
            let mut d = self.deployment(self.request.plan.clone());
            d.dead_letters = DeadLettersSpec::Refused(NO_DEAD_LETTERS);
            d.runtime = RuntimeConfig {
                rebuild_chunk: self.request.page,
                retired_fields: retired_fields(&self.holder, self.request.record),
                ..RuntimeConfig::default()
            };
            let built = fdc_topology::build(d)
                .await
                .map_err(|e| (e.code, e.message))?;
            self.built = Some(built);
        }
        self.built
            .as_ref()
            .ok_or_else(|| (1, "the deployment was not built".to_owned()))
    }

    /// A deployment of `plan` on the opened store (events as the configuration says).
    fn deployment(&self, plan: Plan) -> Deployment {
        let mut d = Deployment::new(plan);
        d.store = StoreSpec::Opened(self.opened.clone());
        #[cfg(feature = "production")]
        if let History::Kafka(config) = &self.request.history {
            if let (Some(k), true) = (&config.kafka, config.events) {
                let mut p = fdc_kafka::KafkaProducerConfig::new(k.client.clone());
                p.topic_map = k.topics.clone();
                p.delivery_timeout = k.delivery_timeout;
                d.producer = Some(p);
                d.events = fdc_topology::EventsSpec::Kafka;
            }
        }
        d
    }

    /// Performs one action; `Ok(false)`: interrupted (resumable).
    async fn perform(
        &mut self,
        action: &Action,
        key: &str,
        progress: &mut ApplyProgress,
    ) -> Result<bool, (u8, String)> {
        match action.kind {
            ActionKind::CreateIndex => {
                self.built().await?;
                Ok(true)
            }
            ActionKind::Ingest | ActionKind::Reingest => self.reingest(&action.target).await,
            ActionKind::Build | ActionKind::Refresh | ActionKind::RefreshFields => {
                self.refresh(&action.target, key, progress).await
            }
            ActionKind::UpdateStrategies | ActionKind::KeepView | ActionKind::KeepProjection => {
                Ok(true)
            }
            // Drops go to the store directly: an index drop comes before the new plan's build
            // (which would otherwise create the same fields with the new uniqueness first).
            ActionKind::DropIndex => {
                self.opened
                    .drop_index(&action.collection, &action.fields)
                    .await
                    .map_err(|e| (1, e.to_string()))?;
                Ok(true)
            }
            ActionKind::DropView => {
                self.opened
                    .drop_view(&action.collection)
                    .await
                    .map_err(|e| (1, e.to_string()))?;
                Ok(true)
            }
            ActionKind::DropProjection => {
                self.opened
                    .drop_projection(&action.collection)
                    .await
                    .map_err(|e| (1, e.to_string()))?;
                Ok(true)
            }
        }
    }

    /// A full refresh of `view` with progress, its cursor kept in the progress record.
    async fn refresh(
        &mut self,
        view: &str,
        key: &str,
        progress: &mut ApplyProgress,
    ) -> Result<bool, (u8, String)> {
        let resume: Option<RefreshCursor> = match (&progress.current, &progress.checkpoint) {
            (Some(current), Some(c)) if current == key => serde_json::from_value(c.clone()).ok(),
            _ => None,
        };
        if let Some(c) = &resume {
            eprintln!(
                "resuming the refresh of {view} after {} records",
                c.totals.scanned + c.totals.orphans_scanned
            );
        }
        progress.current = Some(key.to_owned());
        progress.checkpoint = None;
        let options = RefreshOptions {
            view: view.to_owned(),
            filter: Vec::new(),
            page: self.request.page,
        };
        let interrupted = self.request.interrupted.clone();
        let records = self.opened.deployments();
        let mut holder = self.holder.clone();
        let engine = self
            .built()
            .await?
            .engine()
            .cloned()
            .ok_or_else(|| (1, "the refresh has no engine".to_owned()))?;
        let mut saved = progress.clone();
        let handle = tokio::runtime::Handle::current();
        let result =
            super::refresh::with_progress(&engine, &options, resume, &interrupted, |cursor| {
                saved.checkpoint = serde_json::to_value(cursor).ok();
                holder.apply = Some(saved.clone());
                // The refresh hands out its cursor synchronously; the save is one store
                // call per durable batch (thousands of documents), off the rebuild itself.
                let saved_ok = tokio::task::block_in_place(|| {
                    handle.block_on(records.save_deployment(&holder))
                })
                .map_err(|e| e.to_string());
                crash_hook::after_saved_cursor();
                saved_ok
            })
            .await;
        self.holder = holder;
        if let Some(b) = &self.built {
            b.flush().map_err(|e| (1, e.to_string()))?;
        }
        match result {
            Ok(Some(totals)) => {
                if totals.views.failed > 0 {
                    eprintln!(
                        "{} document(s) of {view} failed the view's JSON Schema (see the errors \
                         collection)",
                        totals.views.failed
                    );
                }
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(super::refresh::Failed::Save(e) | super::refresh::Failed::Refresh(e)) => Err((
                1,
                format!("{e}; `fdc apply` again resumes from the last durable batch"),
            )),
        }
    }

    /// Re-ingests `projection`: removes its stored records, then reads its topic again (see
    /// [`reingest`]). `Ok(false)`: interrupted (the next apply starts this step over).
    async fn reingest(&mut self, projection: &str) -> Result<bool, (u8, String)> {
        let Some(p) = self.request.plan.projection(projection) else {
            return Err((1, format!("no projection `{projection}` in the new plan")));
        };
        let mut plan = self.request.plan.clone();
        plan.projections.retain(|q| q.name == projection);
        plan.single_views.clear();
        let store = self.built().await?.stores.projections.clone();
        clear_projection(&store, projection).await?;
        let topic = p.topic.clone();
        reingest(self, plan, &topic).await
    }
}

/// What the new plan's deployment without input has instead of dead letters.
const NO_DEAD_LETTERS: &str = "an apply step without input reads no messages";

/// Removes every stored record of `projection` (hard deletes guarded by the highest version,
/// so each applies), page by page.
///
/// Why a re-ingest starts with this rather than writing over the stored records: those were
/// written under the old casts, fields or key. Re-reading the same messages gives the same
/// versions, so the version guard would keep every stored record that is not older (a write
/// applies only over an older or equal version: equal ones would pass, but a record whose
/// newest message is gone from the topic's retention, or whose key changed, would stay as it
/// was, under the old casts or the old key). Starting from an empty projection, the records
/// are exactly what the new projection makes of the messages read, as in a clean run.
async fn clear_projection(
    store: &Arc<dyn ProjectionStore>,
    projection: &str,
) -> Result<(), (u8, String)> {
    const PAGE: usize = 5000;
    let fail = |e: StoreError| (1, e.to_string());
    loop {
        let page = store.scan(projection, None, PAGE).await.map_err(fail)?;
        if page.items.is_empty() {
            break;
        }
        let writes = page
            .items
            .into_iter()
            .map(|r| RecordWrite::Remove {
                key: r.key,
                version: fdc_core::change::Version(u128::MAX),
            })
            .collect();
        store.write(projection, writes).await.map_err(fail)?;
        store.sync().await.map_err(fail)?;
        if page.next.is_none() {
            break;
        }
    }
    Ok(())
}

/// Keeps the dead letters of the topics re-ingested and drops the others: the re-ingest of
/// one projection reads whole input files, whose other lines are for projections it does not
/// write (they were handled when the store was fed; here they are no one's).
struct TopicsOnly {
    topics: Vec<String>,
    inner: Arc<dyn DeadLetterSink>,
    /// The dead letters kept (the re-ingest's own).
    kept: std::sync::atomic::AtomicU64,
}

#[async_trait]
impl DeadLetterSink for TopicsOnly {
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        let kept: Vec<DeadLetter> = letters
            .into_iter()
            .filter(|d| self.topics.contains(&d.topic))
            .collect();
        if kept.is_empty() {
            return Ok(());
        }
        let n = kept.len() as u64;
        self.inner.dead_letter(kept).await?;
        self.kept.fetch_add(n, Ordering::SeqCst);
        Ok(())
    }
}

/// Reads `topic` again into the (emptied) projection of `plan` (that projection alone, no
/// views), projections only (the views are refreshed by their own actions). Files: each input
/// from its start, without touching the positions a run keeps (the file source resumes
/// nothing and saves nothing). Kafka: see `kafka_reingest`. `Ok(false)`: interrupted.
async fn reingest(steps: &Steps<'_, '_>, plan: Plan, topic: &str) -> Result<bool, (u8, String)> {
    let interrupted = steps.request.interrupted.clone();
    let files = match &steps.request.history {
        History::Files(files) => files.clone(),
        History::Nowhere(how) => {
            return Err((
                1,
                format!("a re-ingest of topic `{topic}` needs input: {how}"),
            ))
        }
        #[cfg(feature = "production")]
        History::Kafka(config) => {
            return kafka_reingest(steps, plan, config, &interrupted).await;
        }
    };
    let Some(embedded) = steps.opened.embedded() else {
        return Err((
            1,
            "input files re-ingest into an embedded store only".into(),
        ));
    };
    for input in files {
        let mut d = steps.deployment(plan.clone());
        d.input = Input::Files {
            input,
            resume: false,
        };
        d.events = fdc_topology::EventsSpec::Drop;
        let letters = Arc::new(TopicsOnly {
            topics: vec![topic.to_owned()],
            inner: embedded.clone(),
            kept: std::sync::atomic::AtomicU64::new(0),
        });
        d.dead_letters = DeadLettersSpec::Sink(letters.clone());
        d.runtime = RuntimeConfig {
            strategies: false,
            ..RuntimeConfig::default()
        };
        let Some(summary) = run_to_end(d, &interrupted).await? else {
            return Ok(false);
        };
        eprintln!(
            "  topic `{topic}`: {} change(s) applied, {} dead-lettered (the lines of other \
             topics are skipped)",
            summary.applied,
            letters.kept.load(Ordering::SeqCst)
        );
    }
    Ok(true)
}

/// Builds and runs `d` until its input ends; `Ok(None)` when interrupted.
async fn run_to_end(
    d: Deployment,
    interrupted: &Arc<AtomicBool>,
) -> Result<Option<fdc_engine::runtime::Summary>, (u8, String)> {
    let mut built = fdc_topology::build(d)
        .await
        .map_err(|e| (e.code, e.message))?;
    let shutdown = Arc::new(Shutdown::new());
    let watch = {
        let flag = interrupted.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            shutdown.trigger();
        })
    };
    let summary = built.run(&shutdown).await;
    watch.abort();
    let summary = summary.map_err(|e| (1, e.to_string()))?;
    Ok((!interrupted.load(Ordering::SeqCst)).then_some(summary))
}

/// Kafka: the projection's topic alone, from its earliest retained offset up to the end of
/// the backlog as of the first read (the high watermarks then), with a consumer group of its
/// own (`<group_id>.apply-<pid>-<millis>`), so the pipeline's group offsets are never read or
/// committed; dead letters to the configured topic; no events (the views' refreshes publish
/// theirs).
#[cfg(feature = "production")]
async fn kafka_reingest(
    steps: &Steps<'_, '_>,
    plan: Plan,
    config: &crate::config::Config,
    interrupted: &Arc<AtomicBool>,
) -> Result<bool, (u8, String)> {
    let options = super::production::Options {
        initial_load: true,
        ..super::production::Options::default()
    };
    let mut d =
        super::production::deployment(plan, config, &options).map_err(|f| (f.code, f.message))?;
    if let Input::Kafka(source) = &mut d.input {
        source.group_id = format!(
            "{}.apply-{}-{}",
            source.group_id,
            std::process::id(),
            now_ms()
        );
        source.auto_offset_reset = "earliest".into();
        source.until_end = true;
    }
    d.store = StoreSpec::Opened(steps.opened.clone());
    d.triggers = fdc_topology::TriggersSpec::InProcess;
    d.role = fdc_engine::runtime::Role::All;
    d.events = fdc_topology::EventsSpec::Drop;
    d.runtime.strategies = false;
    let Some(summary) = run_to_end(d, interrupted).await? else {
        return Ok(false);
    };
    eprintln!(
        "  read {} message(s): {} change(s) applied, {} dead-lettered",
        summary.consumed, summary.applied, summary.dead_lettered
    );
    Ok(true)
}

/// Test-only crash point (feature `integration`, for tests/cli/apply_cli.rs): with
/// `FDC_TEST_APPLY_ABORT_AFTER_CURSORS=N` the process sends itself SIGKILL right after the
/// N-th refresh cursor of this process was saved.
mod crash_hook {
    #[cfg(feature = "integration")]
    pub fn after_saved_cursor() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SAVED: AtomicU64 = AtomicU64::new(0);
        let limit = std::env::var("FDC_TEST_APPLY_ABORT_AFTER_CURSORS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(limit) = limit {
            if SAVED.fetch_add(1, Ordering::SeqCst) + 1 >= limit {
                eprintln!("fdc test hook: aborting after {limit} saved cursor(s)");
                // A real SIGKILL (no unwinding, no destructor, no flush), as a crash.
                let pid = std::process::id().to_string();
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid])
                    .status();
                std::process::abort();
            }
        }
    }

    #[cfg(not(feature = "integration"))]
    pub fn after_saved_cursor() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: ActionKind, target: &str, after: Vec<usize>) -> Action {
        Action {
            kind,
            target: target.into(),
            reason: String::new(),
            changes: vec![],
            collection: target.into(),
            topic: None,
            fields: vec![],
            after,
            estimate: None,
            warning: None,
        }
    }

    #[test]
    fn only_selects_the_views_actions_and_what_they_follow() {
        let actions = vec![
            action(ActionKind::CreateIndex, "a(x)", vec![]),
            action(ActionKind::Reingest, "a", vec![]),
            action(ActionKind::Reingest, "b", vec![]),
            action(ActionKind::Refresh, "v", vec![1]),
            action(ActionKind::Refresh, "w", vec![2]),
            action(ActionKind::UpdateStrategies, "v", vec![]),
        ];
        assert_eq!(selected(&actions, &[]).unwrap().len(), 6);
        let v: Vec<usize> = selected(&actions, &["v".into()])
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(v, vec![1, 3, 5]);
        assert!(selected(&actions, &["a".into()])
            .unwrap_err()
            .contains("no action of the plan concerns a single view"));
        assert_eq!(action_key(&actions[3]), "refresh v");
    }
}
