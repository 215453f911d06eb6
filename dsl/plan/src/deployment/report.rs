//! The report of `fdc plan`: the diff with what was compared, as JSON and as text.
//!
//! In: the two records, the actions of [`super::diff::diff`], the names shown for the
//! pipeline and what it was compared with. Out: a [`Report`] (its JSON shape is
//! `schemas/plan-report.schema.json`, generated from these types) and its human rendering.
//!
//! Guarantees: the JSON is stable (versioned by [`REPORT_FORMAT`]; fields only added within a
//! version); the human text names every action with its reason, changes, warning, order and
//! cost.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::diff::{Action, ActionKind, Changes, Unchanged, Unit};
use super::Deployment;
use crate::drift::ProjectionDrift;

/// Version of the report's JSON shape.
pub const REPORT_FORMAT: u32 = 1;

/// What a pipeline was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgainstKind {
    /// Another pipeline's sources (`--against DIR`: e.g. the base branch of a pull request).
    Pipeline,
    /// A deployment record: saved (`--deployed FILE`) or deployed on a store (`--store DIR`,
    /// `--config FILE`; then `path` is the store directory or the configuration file).
    Record,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// The path as given on the command line.
    pub path: String,
    pub text_hash: String,
    pub plan_fingerprint: String,
    pub applied_at: Option<String>,
    pub applied_by: Option<String>,
}

impl Side {
    /// The side of `record`, shown as `path`.
    pub fn of(path: &str, record: &Deployment) -> Side {
        Side {
            path: path.to_string(),
            text_hash: record.text_hash.clone(),
            plan_fingerprint: record.plan_fingerprint.clone(),
            applied_at: record.applied_at.clone(),
            applied_by: record.applied_by.clone(),
        }
    }
}

/// The output of `fdc plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always [`REPORT_FORMAT`].
    pub format: u32,
    /// What the new pipeline is compared with.
    pub against: AgainstKind,
    /// The deployed (old) side.
    pub deployed: Side,
    /// The new pipeline.
    pub planned: Side,
    /// Whether applying the new pipeline needs no action (exit status 0).
    pub nothing_to_do: bool,
    /// Actions in the order they must run.
    pub actions: Vec<Action>,
    /// Changes that need nothing, and why.
    pub unchanged: Vec<Unchanged>,
    /// Informational, from the store (`--store`, `--config`; empty otherwise): per projection,
    /// the columns its messages carry that no field maps (candidates for new fields) and the
    /// mapped columns that no longer arrive. Never an action: the exit status ignores it.
    #[serde(default)]
    pub source_drift: Vec<ProjectionDrift>,
}

impl Report {
    /// The report of `changes` between `deployed` and `planned`.
    pub fn new(against: AgainstKind, deployed: Side, planned: Side, changes: Changes) -> Report {
        Report {
            format: REPORT_FORMAT,
            against,
            deployed,
            planned,
            nothing_to_do: changes.actions.is_empty(),
            actions: changes.actions,
            unchanged: changes.unchanged,
            source_drift: Vec::new(),
        }
    }

    /// The same report with the source drift read from the store.
    pub fn with_source_drift(mut self, drift: Vec<ProjectionDrift>) -> Report {
        self.source_drift = drift;
        self
    }

    /// The report as text for a terminal or a pull-request comment.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let against = match self.against {
            AgainstKind::Pipeline => "pipeline",
            AgainstKind::Record => "deployment record",
        };
        out.push_str(&format!(
            "plan: `{}` against {against} `{}`\n",
            self.planned.path, self.deployed.path
        ));
        if self.actions.is_empty() {
            out.push_str("nothing to do\n");
        } else {
            out.push_str(&format!(
                "{} action(s), in this order:\n",
                self.actions.len()
            ));
        }
        for (i, a) in self.actions.iter().enumerate() {
            out.push_str(&format!("{:>3}. {}\n", i + 1, title(a)));
            out.push_str(&format!("     why: {}\n", a.reason));
            for c in &a.changes {
                out.push_str(&format!("       - {c}\n"));
            }
            if let Some(w) = &a.warning {
                out.push_str(&format!("     warning: {w}\n"));
            }
            if !a.after.is_empty() {
                let steps: Vec<String> = a.after.iter().map(|s| (s + 1).to_string()).collect();
                out.push_str(&format!("     after: {}\n", steps.join(", ")));
            }
            if let Some(e) = &a.estimate {
                let unit = match e.unit {
                    Unit::Records => "records",
                    Unit::Documents => "documents",
                };
                match e.count {
                    Some(n) => out.push_str(&format!("     cost: {n} {unit}\n")),
                    None => out.push_str(&format!("     cost: unknown number of {unit}\n")),
                }
            }
        }
        if !self.unchanged.is_empty() {
            out.push_str("needs nothing:\n");
            for u in &self.unchanged {
                out.push_str(&format!("  - {}: {}\n", u.subject, u.reason));
            }
        }
        drift_text(&self.source_drift, &mut out);
        out
    }
}

/// The source drift section of the text: only projections with something to say.
fn drift_text(drift: &[ProjectionDrift], out: &mut String) {
    let shown: Vec<&ProjectionDrift> = drift
        .iter()
        .filter(|d| !d.candidates.is_empty() || !d.no_longer_arriving.is_empty())
        .collect();
    if shown.is_empty() {
        return;
    }
    out.push_str("source drift (informational, from the messages the store's runs read):\n");
    for d in shown {
        out.push_str(&format!(
            "  projection `{}` ({} message(s) seen):\n",
            d.projection, d.messages
        ));
        if !d.candidates.is_empty() {
            out.push_str(&format!(
                "    candidates for new fields (columns no field maps, in {} message(s)):\n",
                d.unmapped_messages
            ));
            for c in &d.candidates {
                out.push_str(&format!(
                    "      - `{}`: in {} message(s), first seen {}, last seen {}\n",
                    c.column, c.messages, c.first_seen, c.last_seen
                ));
            }
            if d.more_candidates {
                out.push_str("      - and more (only the first 20 names are kept)\n");
            }
        }
        if !d.no_longer_arriving.is_empty() {
            out.push_str("    no longer arriving (mapped columns the source stopped sending):\n");
            for g in &d.no_longer_arriving {
                let fields: Vec<String> = g.fields.iter().map(|f| format!("`{f}`")).collect();
                let last = match &g.last_seen {
                    Some(t) => format!("last seen {t}"),
                    None => "not seen since drift is counted".to_owned(),
                };
                out.push_str(&format!(
                    "      - `{}` (field {}): missing since {} in {} message(s), {last}\n",
                    g.column,
                    fields.join(", "),
                    g.missing_since,
                    g.missing_messages
                ));
            }
        }
    }
}

/// One line naming an action.
fn title(a: &Action) -> String {
    let t = &a.target;
    match a.kind {
        ActionKind::DropIndex => format!("drop index {t}"),
        ActionKind::CreateIndex => format!("create index {t}"),
        ActionKind::Ingest => format!(
            "ingest projection `{t}` from topic `{}`",
            a.topic.as_deref().unwrap_or_default()
        ),
        ActionKind::Reingest => format!(
            "re-ingest projection `{t}` from topic `{}`",
            a.topic.as_deref().unwrap_or_default()
        ),
        ActionKind::Build => format!("build single view `{t}`"),
        ActionKind::Refresh => format!("refresh single view `{t}` (every document)"),
        ActionKind::RefreshFields => format!(
            "refresh fields {} of single view `{t}`",
            a.fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ActionKind::UpdateStrategies => format!("change what triggers single view `{t}`"),
        ActionKind::KeepView => format!("leave collection `{t}` of removed single view alone"),
        ActionKind::DropView => format!("drop collection `{t}` of removed single view"),
        ActionKind::KeepProjection => {
            format!("leave collection `{t}` of removed projection alone")
        }
        ActionKind::DropProjection => format!("drop collection `{t}` of removed projection"),
    }
}
