//! `fdc plan PIPELINE (--against OLD_PIPELINE | --deployed FILE.json | --store DIR | --config
//! FILE) [--write-record FILE] [--format human|json] [--prune]`.
//!
//! In: the new pipeline, and what it replaces: another pipeline (the base branch of a pull
//! request), a deployment record saved earlier with `--write-record`, or the record deployed on
//! a store (`--store DIR`, the MongoDB of `--config FILE`: `commands/deployed.rs`), whose
//! counts then give the cost estimates. Out: the actions that
//! applying the new pipeline would take (`fdc_plan::deployment::diff`), in order, with reasons
//! and costs, as text or as JSON (`schemas/plan-report.schema.json`); `--write-record` also
//! saves the new pipeline's deployment record. With `--config` naming Kafka, every (re-)ingest
//! whose topic no longer holds its whole history carries a warning ([`warn_lost_history`],
//! from `fdc_kafka::history`; `fdc apply` adds the same). With a store, the report also lists
//! its source drift (`deployed::drift_report`): per projection the columns its messages carry
//! that the new pipeline does not map (candidates for new fields) and the mapped columns that
//! no longer arrive; informational, it never changes the exit status.
//!
//! Exit status (a pull-request gate): 0 nothing to do, 2 actions, 1 errors (a pipeline that
//! does not compile, with the diagnostics `fdc check` prints; an unreadable record; a path
//! that does not exist; a store without a record; a usage error, which other commands report
//! with 2). Nothing is written to a store; without one, cost estimates are "unknown".

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use fdc_plan::deployment::diff::DiffOptions;
use fdc_plan::deployment::report::{AgainstKind, Report, Side};
use fdc_plan::deployment::Deployment;

use super::check::{CheckReport, PipelineResult};

/// Arguments of `fdc plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The new pipeline: a `.fdl` file or a directory.
    pub pipeline: PathBuf,
    /// Compare with the pipeline at this path (e.g. a checkout of the base branch).
    #[arg(long, value_name = "OLD_PIPELINE", conflicts_with = "deployed")]
    pub against: Option<PathBuf>,
    /// Compare with a deployment record saved by `fdc plan --write-record`.
    #[arg(long, value_name = "FILE.json")]
    pub deployed: Option<PathBuf>,
    /// Compare with the plan deployed on this embedded store directory, with its counts.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["against", "deployed", "config"])]
    pub store: Option<PathBuf>,
    /// Compare with the plan deployed on the MongoDB of this `fdc.yaml`, with its counts.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["against", "deployed"])]
    pub config: Option<PathBuf>,
    /// Save the new pipeline's deployment record (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub write_record: Option<PathBuf>,
    /// How to print the plan (and the diagnostics of a pipeline that does not compile).
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
    /// Drop the collections of removed single views and projections (default: leave them).
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub imports: super::imports::ImportArgs,
}

/// Output formats of `fdc plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// A readable list of actions with their reasons, on stdout.
    Human,
    /// The JSON of `schemas/plan-report.schema.json`, on stdout.
    Json,
}

/// Runs the command.
pub fn run(args: &PlanArgs) -> ExitCode {
    match plan(args) {
        Ok(code) => code,
        Err(code) => code,
    }
}

/// Whether the command line `args` (without the program name) invokes `fdc plan`: its first
/// word that is not a global option (`--log-format FORMAT`, `--log-keys`) is `plan`. Used to
/// give `plan`'s usage errors the status 1 (its 2 means "there are actions").
pub fn invoked(args: &[std::ffi::OsString]) -> bool {
    first_command(args) == Some("plan")
}

/// The command a command line `args` (without the program name) names: its first word that
/// is not a global option (`--log-format FORMAT`, `--log-keys`).
pub fn first_command(args: &[std::ffi::OsString]) -> Option<&str> {
    let mut words = args.iter().map(|a| a.to_str().unwrap_or_default());
    while let Some(word) = words.next() {
        match word {
            "--log-format" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            w => return Some(w),
        }
    }
    None
}

/// The exit status of a failure (1: every error of `plan` is an error, not a change).
fn failed() -> ExitCode {
    ExitCode::from(1)
}

fn plan(args: &PlanArgs) -> Result<ExitCode, ExitCode> {
    let (new_path, new, new_plan) = record_of(&args.pipeline, args)?;
    if let Some(file) = &args.write_record {
        if let Err(e) = std::fs::write(file, new.to_json()) {
            eprintln!("error: cannot write `{}`: {e}", file.display());
            return Err(failed());
        }
    }
    let mut options = DiffOptions {
        prune: args.prune,
        ..DiffOptions::default()
    };
    let from_store = match (&args.store, &args.config) {
        (Some(dir), _) => Some((
            super::paths::shown(dir),
            fdc_topology::StoreSpec::ExistingDirectory {
                path: dir.clone(),
                disk: super::store_dir::options(),
            },
        )),
        (None, Some(file)) => Some((super::paths::shown(file), config_store(file)?)),
        (None, None) => None,
    };
    // The source drift the store's runs counted (`--store`, `--config`): informational.
    let mut drift = Vec::new();
    let (against, old_path, old) = match (&args.against, &args.deployed) {
        _ if from_store.is_some() => {
            let Some((shown, spec)) = from_store else {
                return Err(failed());
            };
            let (record, counts, stored_drift) =
                super::deployed::stored(&spec, &new).map_err(|e| {
                    eprintln!("error: `{shown}`: {e}");
                    failed()
                })?;
            options.counts = counts;
            drift = super::deployed::drift_report(&new_plan, &stored_drift);
            (AgainstKind::Record, shown, record)
        }
        (Some(dir), _) => {
            let (shown, record, _) = record_of(dir, args)?;
            (AgainstKind::Pipeline, shown, record)
        }
        (None, Some(file)) => {
            let shown = super::paths::shown(file);
            let text = std::fs::read_to_string(file).map_err(|e| {
                eprintln!("error: cannot read `{shown}`: {e}");
                failed()
            })?;
            let record = Deployment::from_json(&text).map_err(|e| {
                eprintln!("error: `{shown}`: {e}");
                failed()
            })?;
            (AgainstKind::Record, shown, record)
        }
        (None, None) if args.write_record.is_some() => return Ok(ExitCode::SUCCESS),
        (None, None) => {
            eprintln!(
                "error: nothing to compare `{new_path}` with: name the deployed pipeline \
                 (`--against OLD_PIPELINE`), a saved record (`--deployed FILE.json`) or a store \
                 (`--store DIR`, `--config FILE`)"
            );
            return Err(failed());
        }
    };
    let changes = super::deployed::actions(&old, &new, options.prune, options.counts);
    #[cfg(feature = "production")]
    let changes = match (&args.store, &args.config) {
        (None, Some(file)) => warned_from_config(file, changes)?,
        _ => changes,
    };
    let report = Report::new(
        against,
        Side::of(&old_path, &old),
        Side::of(&new_path, &new),
        changes,
    )
    .with_source_drift(drift);
    crate::output::print(&render(&report, args.format))?;
    Ok(if report.nothing_to_do {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The report as `fdc plan` prints it (also `fdc apply`'s first output).
pub fn render(report: &Report, format: PlanFormat) -> String {
    match format {
        PlanFormat::Human => report.human(),
        PlanFormat::Json => {
            let mut t = serde_json::to_string_pretty(report).unwrap_or_default();
            t.push('\n');
            t
        }
    }
}

/// The store an `fdc.yaml` names (its MongoDB), for `--config`.
#[cfg(feature = "production")]
fn config_store(file: &Path) -> Result<fdc_topology::StoreSpec, ExitCode> {
    let shown = super::paths::shown(file);
    let config = crate::config::load(Some(file), &crate::config::ProcessEnv).map_err(|e| {
        eprintln!("error: `{shown}`: {e}");
        failed()
    })?;
    match config.mongodb {
        Some(m) => Ok(fdc_topology::StoreSpec::Mongo(Box::new(m))),
        None => {
            eprintln!(
                "error: `{shown}` configures no MongoDB: compare with an embedded store with                  `--store DIR`"
            );
            Err(failed())
        }
    }
}

/// `--config`: the warnings of the (re-)ingests whose Kafka topic no longer holds its whole
/// history ([`warn_lost_history`]), when the configuration names Kafka.
#[cfg(feature = "production")]
fn warned_from_config(
    file: &Path,
    mut changes: fdc_plan::deployment::diff::Changes,
) -> Result<fdc_plan::deployment::diff::Changes, ExitCode> {
    let shown = super::paths::shown(file);
    let config = crate::config::load(Some(file), &crate::config::ProcessEnv).map_err(|e| {
        eprintln!("error: `{shown}`: {e}");
        failed()
    })?;
    let Some(kafka) = &config.kafka else {
        return Ok(changes);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            failed()
        })?;
    runtime.block_on(warn_lost_history(&mut changes, kafka));
    Ok(changes)
}

/// Adds to every ingest and re-ingest action of `changes` a warning when its topic no longer
/// holds its whole history (messages below a partition's earliest retained offset were
/// deleted: `fdc_kafka::history`), or when that cannot be asked (the reason). A topic that
/// holds everything, compacted or not, gets no warning.
#[cfg(feature = "production")]
pub async fn warn_lost_history(
    changes: &mut fdc_plan::deployment::diff::Changes,
    kafka: &crate::config::KafkaSettings,
) {
    use fdc_plan::deployment::diff::ActionKind;
    let ingests = |a: &&mut fdc_plan::deployment::diff::Action| {
        matches!(a.kind, ActionKind::Ingest | ActionKind::Reingest)
    };
    let topics: Vec<String> = changes
        .actions
        .iter_mut()
        .filter(ingests)
        .filter_map(|a| a.topic.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if topics.is_empty() {
        return;
    }
    // One ask for every topic; each topic's answer (or why it has none) on its own.
    let answers: Vec<Result<fdc_kafka::history::TopicHistory, String>> =
        match fdc_kafka::history::topic_histories(
            &kafka.client,
            &kafka.topics,
            &kafka.group_id,
            &topics,
        )
        .await
        {
            Ok(answers) => answers,
            Err(e) => topics.iter().map(|_| Err(e.clone())).collect(),
        };
    let asked: std::collections::BTreeMap<&String, _> = topics.iter().zip(answers).collect();
    for action in changes.actions.iter_mut().filter(ingests) {
        if let Some(answer) = action.topic.as_ref().and_then(|t| asked.get(t)) {
            let topic = action.topic.clone().unwrap_or_default();
            action.warning = history_warning(&topic, answer, action.kind, &kafka.group_id);
        }
    }
}

/// The warning of a (re-)ingest of `topic` (`kind`) given what the broker answered about
/// the topic (`None`: nothing to say).
#[cfg(feature = "production")]
fn history_warning(
    topic: &str,
    answer: &Result<fdc_kafka::history::TopicHistory, String>,
    kind: fdc_plan::deployment::diff::ActionKind,
    group: &str,
) -> Option<String> {
    use fdc_plan::deployment::diff::ActionKind;
    let reingest = kind == ActionKind::Reingest;
    match answer {
        Ok(history) => lost_history(history, group).map(|w| {
            if reingest {
                format!(
                    "{w}. The re-ingest cannot read them, and it removes the projection's \
                     stored records first: a record whose messages were all among them will be \
                     missing afterwards"
                )
            } else {
                format!(
                    "{w}. The ingest cannot read them: a record whose messages were all among \
                     them will not be in the projection"
                )
            }
        }),
        Err(e) => Some(format!(
            "could not check what topic `{topic}` still holds of its history: {e}. The {} \
             reads only what the topic retains{}",
            if reingest { "re-ingest" } else { "ingest" },
            if reingest {
                ", after it removes the projection's stored records"
            } else {
                ""
            }
        )),
    }
}

/// What a topic lost of its history, as the first sentence of a warning (`None`: it lost
/// nothing). A compacted topic keeps the latest message of every key, so compaction alone
/// loses nothing a re-ingest needs; messages below the earliest retained offset are lost
/// whatever the policy.
#[cfg(feature = "production")]
fn lost_history(h: &fdc_kafka::history::TopicHistory, group: &str) -> Option<String> {
    let deleted = h.deleted();
    if deleted == 0 {
        return None;
    }
    let topic = if h.broker_topic == h.topic {
        format!("`{}`", h.topic)
    } else {
        format!("`{}` (on the broker `{}`)", h.topic, h.broker_topic)
    };
    let read = match h.deleted_after_read() {
        0 => "none of them".to_owned(),
        n if n == deleted => "all of them".to_owned(),
        n => format!("{n} of them"),
    };
    let settings = h.settings();
    let settings = if settings.is_empty() {
        String::new()
    } else {
        format!("; the topic has {settings}")
    };
    Some(format!(
        "topic {topic} no longer holds its whole history: {} ({deleted} message(s) deleted by \
         retention or a records deletion; the pipeline's consumer group `{group}` had read \
         {read}){settings}",
        h.starts()
    ))
}

/// A build without the production adapters cannot reach MongoDB.
#[cfg(not(feature = "production"))]
fn config_store(_file: &Path) -> Result<fdc_topology::StoreSpec, ExitCode> {
    eprintln!("error: --config: {}", super::WITHOUT_PRODUCTION);
    Err(failed())
}

/// Compiles the pipeline at `path` and returns how it is shown, its deployment record and its
/// plan; a pipeline that does not compile gets the diagnostics `fdc check` prints.
fn record_of(
    path: &Path,
    args: &PlanArgs,
) -> Result<(String, Deployment, fdc_plan::Plan), ExitCode> {
    let paths = super::paths::one_pipeline(std::slice::from_ref(&path.to_path_buf()), "plan")
        .map_err(|_| failed())?;
    let [path] = paths.as_slice() else {
        return Err(failed());
    };
    let shown = super::paths::shown(path);
    match args.imports.compile(path) {
        Ok(compiled) => {
            let texts: Vec<&str> = compiled
                .diagnostics
                .sources
                .files
                .iter()
                .map(|f| f.text.as_str())
                .collect();
            let record = Deployment::new(&compiled.plan, &texts);
            Ok((shown, record, compiled.plan))
        }
        Err(diagnostics) => {
            let report = CheckReport {
                pipelines: vec![PipelineResult {
                    path: path.clone(),
                    diagnostics,
                }],
            };
            let written = match args.format {
                PlanFormat::Human => super::check::render_human(&report, &mut std::io::stderr()),
                PlanFormat::Json => super::check::render_json(&report, &mut std::io::stdout()),
            };
            crate::output::written(written)?;
            let (errors, _) = report.counts();
            eprintln!("error: `{shown}` does not compile ({errors} error(s))");
            Err(failed())
        }
    }
}

#[cfg(all(test, feature = "production"))]
mod tests {
    use super::*;
    use fdc_kafka::history::{PartitionHistory, TopicHistory};

    fn history(earliest: &[(i64, Option<i64>)], policy: &str, renamed: bool) -> TopicHistory {
        TopicHistory {
            topic: "shop.orders".into(),
            broker_topic: if renamed {
                "prod.shop.orders"
            } else {
                "shop.orders"
            }
            .into(),
            partitions: earliest
                .iter()
                .enumerate()
                .map(|(i, (earliest, committed))| PartitionHistory {
                    partition: i as i32,
                    earliest: *earliest,
                    end: 50,
                    committed: *committed,
                })
                .collect(),
            cleanup_policy: Some(policy.into()),
            retention_ms: Some(86_400_000),
        }
    }

    #[test]
    fn a_topic_that_cannot_be_asked_says_why_and_what_the_reingest_does() {
        let kind = fdc_plan::deployment::diff::ActionKind::Reingest;
        let w = history_warning("t", &Err("topic `x.t` does not exist".into()), kind, "g");
        assert_eq!(
            w.as_deref(),
            Some(
                "could not check what topic `t` still holds of its history: topic `x.t` does \
                 not exist. The re-ingest reads only what the topic retains, after it removes \
                 the projection's stored records"
            )
        );
        let whole = history(&[(0, Some(50))], "delete", false);
        assert_eq!(history_warning("t", &Ok(whole), kind, "g"), None);
        let lost = history(&[(2, Some(50))], "delete", false);
        let w = history_warning("t", &Ok(lost), kind, "g").unwrap_or_default();
        assert!(w.ends_with("will be missing afterwards"), "{w}");
    }

    #[test]
    fn a_topic_that_holds_everything_gets_no_warning_compacted_or_not() {
        for policy in ["delete", "compact", "compact,delete"] {
            let h = history(&[(0, Some(50)), (0, None)], policy, false);
            assert_eq!(lost_history(&h, "g"), None, "{policy}");
        }
    }

    #[test]
    fn deleted_messages_are_counted_with_what_the_group_had_read() {
        let h = history(
            &[(12, Some(50)), (0, Some(3)), (3, Some(1))],
            "delete",
            true,
        );
        assert_eq!(
            lost_history(&h, "g").as_deref(),
            Some(
                "topic `shop.orders` (on the broker `prod.shop.orders`) no longer holds its \
                 whole history: partition 0 starts at offset 12, partition 2 at offset 3 (15 \
                 message(s) deleted by retention or a records deletion; the pipeline's consumer \
                 group `g` had read 13 of them); the topic has cleanup.policy=delete, \
                 retention.ms=86400000"
            )
        );
        let never = history(&[(4, None)], "compact", false);
        let w = lost_history(&never, "g").unwrap_or_default();
        assert!(
            w.starts_with("topic `shop.orders` no longer holds")
                && w.contains("had read none of them")
                && w.contains("cleanup.policy=compact"),
            "{w}"
        );
    }
}
