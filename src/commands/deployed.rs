//! The deployed plan's record in the store, as `fdc run` and `fdc plan --store/--config`
//! use it.
//!
//! In: the compiled pipeline (its plan and file texts), the store a run or a plan opens, and
//! whether the run was started with `--apply`. Out: for `fdc run`, whether it may consume
//! input ([`check`]): the same plan runs; an empty store records the plan (first deploy) and
//! runs; a different plan is refused with exit 2 and a message naming the actions (`fdc run
//! --apply` applies it first: `commands/apply.rs`), and so is any plan while an `fdc apply`
//! is unfinished; for `fdc plan`, the stored record, the store's counts and its source drift
//! ([`stored`], [`drift_report`]).
//!
//! Guarantees: the check reads the record before anything is read from the input, and writes
//! nothing but the record; who applied a deployment comes from `FDC_DEPLOYED_BY`, else the
//! user name (`USER`, `USERNAME`): the CLI reads it, no engine crate does.

use fdc_core::store::{DeploymentStore, SourceDrift};
use fdc_plan::deployment::diff::{diff, Action, ActionKind, Changes, Counts, DiffOptions};
use fdc_plan::deployment::Deployment as Record;
use fdc_plan::drift::{ColumnGone, ColumnSeen, ProjectionDrift};

/// What `fdc run` checks against the store before it consumes anything.
#[derive(Debug, Clone)]
pub struct Check {
    /// The record of the plan about to run.
    pub record: Record,
    /// `--apply`: the run applies the new plan first (`apply::before_run`), then checks.
    pub apply: bool,
    /// `--mark-applied`: record the new plan whatever its actions (done by hand).
    pub mark_applied: bool,
    /// How the run was started, for the commands the refusal suggests (`--store DIR`,
    /// `--config FILE`).
    pub store_args: String,
    /// The pipeline as given on the command line.
    pub pipeline: String,
}

/// The deployment record of a compiled pipeline (its plan and the texts of its files).
pub fn record_of(compiled: &fdc_dsl::Compiled) -> Record {
    let texts: Vec<&str> = compiled
        .diagnostics
        .sources
        .files
        .iter()
        .map(|f| f.text.as_str())
        .collect();
    Record::new(&compiled.plan, &texts)
}

/// Who applies a deployment: `FDC_DEPLOYED_BY`, else the user name, else `unknown`.
pub fn applied_by() -> String {
    ["FDC_DEPLOYED_BY", "USER", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `record` stamped with the current time and [`applied_by`].
pub fn stamped(record: &Record) -> Record {
    let now = now_ms();
    let mut r = record.clone();
    r.applied_at = Some(fdc_core::store::record::millis_to_rfc3339(now));
    r.applied_by = Some(applied_by());
    r
}

/// Whether `fdc run` does an action by itself: a new index is created when the run ensures
/// its projections, a strategy change takes effect when the run starts, and a removed view or
/// projection is left alone. Everything else changes stored data or drops something.
fn run_does(kind: ActionKind) -> bool {
    matches!(
        kind,
        ActionKind::CreateIndex
            | ActionKind::UpdateStrategies
            | ActionKind::KeepView
            | ActionKind::KeepProjection
    )
}

/// One line per action: what it does (its target and kind).
fn action_lines(actions: &[Action]) -> String {
    actions
        .iter()
        .map(|a| format!("  - {}: {}\n", kind_name(a.kind), a.target))
        .collect()
}

/// How an action is named in one line.
pub fn kind_name(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::DropIndex => "drop index",
        ActionKind::CreateIndex => "create index",
        ActionKind::Ingest => "ingest projection",
        ActionKind::Reingest => "re-ingest projection",
        ActionKind::Build => "build single view",
        ActionKind::Refresh => "refresh single view",
        ActionKind::RefreshFields => "refresh fields of single view",
        ActionKind::UpdateStrategies => "change what triggers single view",
        ActionKind::KeepView => "leave removed single view's collection",
        ActionKind::DropView => "drop removed single view's collection",
        ActionKind::KeepProjection => "leave removed projection's collection",
        ActionKind::DropProjection => "drop removed projection's collection",
    }
}

/// Compares the plan about to run with the store's record (see the module docs). `Err`
/// holds the exit code and the message (without the `error: ` prefix).
pub async fn check(store: &dyn DeploymentStore, check: &Check) -> Result<(), (u8, String)> {
    if check.mark_applied {
        return mark_applied(store, check).await;
    }
    let stored = store
        .load_deployment()
        .await
        .map_err(|e| (1, e.to_string()))?;
    let Some(deployed) = stored else {
        store
            .save_deployment(&stamped(&check.record))
            .await
            .map_err(|e| (1, e.to_string()))?;
        eprintln!("deployed: first run on this store: its plan is recorded");
        return Ok(());
    };
    if let Some(p) = &deployed.apply {
        let whose = if p.target == check.record.plan_fingerprint {
            "to this pipeline's plan"
        } else {
            "to another plan"
        };
        return Err((
            2,
            format!(
                "an `fdc apply` {whose} started {} by {} is not finished on this store ({}                  action(s) done): the store holds a mix of two plans, so nothing was read.                  Finish it with `fdc apply PIPELINE {}`.",
                p.started_at,
                p.started_by,
                p.done.len(),
                check.store_args
            ),
        ));
    }
    if deployed.plan_fingerprint == check.record.plan_fingerprint {
        return Ok(());
    }
    let changes = diff(&deployed, &check.record, &DiffOptions::default());
    let when = match (&deployed.applied_at, &deployed.applied_by) {
        (Some(at), Some(by)) => format!(" (applied {at} by {by})"),
        (Some(at), None) => format!(" (applied {at})"),
        _ => String::new(),
    };
    let plan_cmd = format!("fdc plan {} {}", check.pipeline, check.store_args);
    let work: Vec<&Action> = changes
        .actions
        .iter()
        .filter(|a| !run_does(a.kind))
        .collect();
    // A run with `--apply` applied the new plan before this check (`apply::before_run`), so
    // a difference left here is refused whatever the flag.
    Err((
        2,
        format!(
            "the pipeline differs from the plan deployed on this store{when}; applying it \
             takes {} action(s):\n{}nothing was read. See why and what each costs with \
             `{plan_cmd}`.{}",
            changes.actions.len(),
            action_lines(&changes.actions),
            if work.is_empty() {
                " None of these needs data work: rerun with `--apply` to record the new \
                 plan and run it."
                    .to_owned()
            } else {
                manual_hint(&work, check)
            }
        ),
    ))
}

/// What to do about actions that need data work: `fdc apply` (or `fdc run --apply`), or by
/// hand and then `--mark-applied`.
fn manual_hint(work: &[&Action], check: &Check) -> String {
    let reingest = work
        .iter()
        .any(|a| matches!(a.kind, ActionKind::Ingest | ActionKind::Reingest));
    let input = if reingest && check.store_args.starts_with("--store") {
        " --input FILE..."
    } else {
        ""
    };
    format!(
        "\nApply them with `fdc apply {} {}{input}` (resumable; `--dry-run` shows them), then \
         run. Or do them by hand and record the new plan with `--mark-applied` (you vouch that \
         the store holds its data).",
        check.pipeline, check.store_args
    )
}

/// `--mark-applied`: records the new plan whatever its actions (the operator did them by
/// hand), saying what it recorded over.
async fn mark_applied(store: &dyn DeploymentStore, check: &Check) -> Result<(), (u8, String)> {
    let before = store
        .load_deployment()
        .await
        .map_err(|e| (1, e.to_string()))?;
    if before.as_ref().map(|d| &d.plan_fingerprint) != Some(&check.record.plan_fingerprint) {
        store
            .save_deployment(&stamped(&check.record))
            .await
            .map_err(|e| (1, e.to_string()))?;
        eprintln!("marked applied: the new plan is recorded as deployed on this store");
    }
    Ok(())
}

/// The actions that bring a store from `deployed` to `new`, with the store's `counts` for the
/// estimates: what `fdc plan` prints and `fdc apply` performs (one diff for both).
pub fn actions(deployed: &Record, new: &Record, prune: bool, counts: Counts) -> Changes {
    diff(deployed, new, &DiffOptions { prune, counts })
}

/// The counts of `fdc plan`'s estimates: records per projection and documents per view of
/// the deployed and the new plan, as the store tells them (a name it cannot count is left
/// out: "unknown").
pub async fn counts(
    store: &fdc_topology::OpenedStore,
    old: &Record,
    new: &Record,
) -> Result<Counts, String> {
    let mut counts = Counts::default();
    for name in old.projections.keys().chain(new.projections.keys()) {
        if let Some(n) = store.count_records(name).await.map_err(|e| e.to_string())? {
            counts.projections.insert(name.clone(), n);
        }
    }
    for name in old.views.keys().chain(new.views.keys()) {
        if let Some(n) = store
            .count_documents(name)
            .await
            .map_err(|e| e.to_string())?
        {
            counts.views.insert(name.clone(), n);
        }
    }
    Ok(counts)
}

/// For `fdc plan --store/--config`: the record deployed on the store of `spec`, the store's
/// counts for the names of both plans, and the source drift the store's runs counted. `Err`:
/// the message (a store that cannot be opened or read, or that has no record).
pub fn stored(
    spec: &fdc_topology::StoreSpec,
    new: &Record,
) -> Result<(Record, Counts, Vec<SourceDrift>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let opened = fdc_topology::open_store(spec)
            .await
            .map_err(|e| e.message)?;
        let Some(old) = opened
            .deployments()
            .load_deployment()
            .await
            .map_err(|e| e.to_string())?
        else {
            return Err(
                "no plan is deployed on this store yet (the first `fdc run` on it \
                        records one)"
                    .to_owned(),
            );
        };
        let counts = counts(&opened, &old, new).await?;
        let drift = opened
            .source_drift()
            .load_source_drift()
            .await
            .map_err(|e| e.to_string())?;
        Ok((old, counts, drift))
    })
}

/// `fdc plan`'s source drift section: for each projection of the new plan (in plan order) the
/// store counted drift of, the unmapped columns the new plan still does not map (candidates
/// for new fields) and the columns it maps that no longer arrive, with the fields reading
/// them. Times are RFC 3339 (UTC, milliseconds).
pub fn drift_report(plan: &fdc_plan::Plan, stored: &[SourceDrift]) -> Vec<ProjectionDrift> {
    let time = fdc_core::store::record::millis_to_rfc3339;
    let mut out = Vec::new();
    for projection in &plan.projections {
        let Some(d) = stored.iter().find(|d| d.projection == projection.name) else {
            continue;
        };
        let mapped = fdc_plan::drift::mapped_columns(projection);
        let own = fdc_plan::drift::format_columns(projection);
        let is_mapped = |c: &str| mapped.iter().any(|m| m == c) || own.iter().any(|m| m == c);
        let candidates = d
            .unmapped
            .iter()
            .filter(|c| !is_mapped(&c.name))
            .map(|c| ColumnSeen {
                column: c.name.clone(),
                messages: c.messages,
                first_seen: time(c.first_seen_ms),
                last_seen: time(c.last_seen_ms),
            })
            .collect();
        let no_longer_arriving = d
            .gone()
            .filter(|c| mapped.contains(&c.name))
            .map(|c| ColumnGone {
                column: c.name.clone(),
                fields: projection
                    .fields
                    .iter()
                    .filter(|f| f.source.first() == Some(&c.name))
                    .map(|f| f.name.clone())
                    .collect(),
                missing_since: c.missing_since_ms.map(time).unwrap_or_default(),
                last_seen: c.last_seen_ms.map(time),
                missing_messages: c.missing_messages,
            })
            .collect();
        out.push(ProjectionDrift {
            projection: projection.name.clone(),
            messages: d.messages,
            unmapped_messages: d.unmapped_messages,
            missing_messages: d.missing_messages,
            candidates,
            more_candidates: d.unmapped_overflow,
            no_longer_arriving,
        });
    }
    out
}
