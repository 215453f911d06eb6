//! Full refresh: rebuilds the single views of one view from the projections, in large
//! batches, resumable from a cursor.
//!
//! In: a built [`Engine`], the view, optional conditions on root-record fields, and the
//! cursor of an interrupted refresh. Out: every document rebuilt and written as the steady
//! state would write it (unchanged documents are not rewritten; events and failures as
//! declared), a [`RefreshCursor`] handed to the caller after each durable batch, and the
//! [`RefreshTotals`].
//!
//! Two passes, each in primary-key order, page by page (`scan`):
//! 1. roots: the root projection's records that the view documents (`PUBLIC` ones, and with
//!    `on root delete: mark deleted` the soft-deleted ones too) and that satisfy the filter;
//!    one aggregation per page for their keys;
//! 2. orphans (only without a filter: a filter reads root fields, and an orphan has no root):
//!    the view's stored documents whose root record is gone, rebuilt so that they are deleted
//!    or marked deleted as the steady state would have done.
//!
//! Guarantees: a cursor is handed out only after the effects of every batch before it are
//! durable, so resuming from it redoes at most the batch in flight (rebuilds are idempotent);
//! a cursor records the view and the filter, and resuming with others is refused; after a
//! complete unfiltered refresh the view holds exactly what a full recomputation from the
//! projections gives.

use std::collections::HashSet;
use std::time::Instant;

use fdc_plan::{FieldCondition, RootDelete};
use serde::{Deserialize, Serialize};

use super::{BatchOutcome, Engine, EngineError};
use crate::store::{condition, key, FindIn, StoreError};
use crate::strategy::{view_key, KeySet};
use crate::value::Value;
use crate::view::ViewCounts;

/// Which pass a cursor is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    Roots,
    Orphans,
    /// Finished.
    Done,
}

/// Where a refresh stands: enough to resume it. Serializable, so the caller can persist it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshCursor {
    pub view: String,
    pub filter: Vec<FieldCondition>,
    pub pass: Pass,
    /// The last primary key (roots) or single-view key (orphans) done; `None`: from the start
    /// of the pass.
    pub after: Option<Vec<Value>>,
    /// Counts so far (a resumed refresh goes on counting).
    pub totals: RefreshTotals,
}

/// What a refresh did so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshTotals {
    /// Root records read (pass 1): compare with [`roots_to_scan`] for progress.
    pub scanned: u64,
    /// Stored documents read by the orphans pass (pass 2), counted apart so that `scanned`
    /// never exceeds the roots to scan. Absent from cursors of older versions: 0.
    #[serde(default)]
    pub orphans_scanned: u64,
    /// Keys rebuilt.
    pub rebuilt: u64,
    /// What rebuilding them did (in a cursor: the fields `inserted` … `mapping_errors`).
    #[serde(flatten)]
    pub views: ViewCounts,
}

/// Settings of one refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshOptions {
    /// The single view's name.
    pub view: String,
    /// Conditions on root-record fields (all must hold); empty: every root.
    pub filter: Vec<FieldCondition>,
    /// Records read per page, which is also the number of keys rebuilt per batch.
    pub page: usize,
}

/// Whether the refresh goes on after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop now (the cursor just handed out resumes the refresh).
    Stop,
}

/// How a refresh ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshOutcome {
    pub totals: RefreshTotals,
    /// Every page was done.
    pub complete: bool,
}

/// Why a filter or a cursor cannot be used. Names fields, never values.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RefreshError {
    #[error("no single view named `{0}`")]
    UnknownView(String),
    #[error("the filter names `{field}`, which is not a field of the root projection `{root}`")]
    UnknownField { field: String, root: String },
    #[error("the saved cursor belongs to a refresh of `{view}` with another filter; start over (--restart) or give the same filter")]
    CursorMismatch { view: String },
}

impl From<RefreshError> for EngineError {
    fn from(e: RefreshError) -> EngineError {
        EngineError::Plan(e.to_string())
    }
}

/// Checks the options against the plan: the view exists, the filter names root fields, and a
/// cursor to resume from belongs to this view and filter.
pub fn validate(
    engine: &Engine,
    options: &RefreshOptions,
    resume: Option<&RefreshCursor>,
) -> Result<usize, RefreshError> {
    let plan = engine.plan();
    let vi = plan
        .single_views
        .iter()
        .position(|v| v.name == options.view)
        .ok_or_else(|| RefreshError::UnknownView(options.view.clone()))?;
    let root = &plan.single_views[vi].root().projection;
    let fields = plan.projection(root).map(|p| &p.fields);
    for c in &options.filter {
        if !fields.is_some_and(|f| f.iter().any(|f| f.name == c.field)) {
            return Err(RefreshError::UnknownField {
                field: c.field.clone(),
                root: root.clone(),
            });
        }
    }
    if let Some(c) = resume {
        if c.view != options.view || c.filter != options.filter {
            return Err(RefreshError::CursorMismatch {
                view: c.view.clone(),
            });
        }
    }
    Ok(vi)
}

/// Runs a refresh (see the module docs). `on_batch` gets the cursor after each durable batch
/// (persist it to make the refresh resumable) and says whether to go on.
pub async fn refresh(
    engine: &Engine,
    options: &RefreshOptions,
    resume: Option<RefreshCursor>,
    mut on_batch: impl FnMut(&RefreshCursor) -> Flow,
) -> Result<RefreshOutcome, EngineError> {
    let vi = validate(engine, options, resume.as_ref())?;
    let plan = engine.plan();
    let view = &plan.single_views[vi];
    let root = view.root().projection.clone();
    let page_size = options.page.max(1);
    let documents_deleted_roots = view.on_root_delete == RootDelete::MarkDeleted;
    let mut cursor = resume.unwrap_or_else(|| RefreshCursor {
        view: options.view.clone(),
        filter: options.filter.clone(),
        pass: Pass::Roots,
        after: None,
        totals: RefreshTotals::default(),
    });
    let stores = engine.stores().clone();

    while cursor.pass == Pass::Roots {
        let page = stores
            .projections
            .scan(&root, cursor.after.as_deref(), page_size)
            .await?;
        let mut keys = KeySet::default();
        for r in &page.items {
            if (r.is_public() || documents_deleted_roots)
                && condition::all_hold(&r.fields, &options.filter)
            {
                keys.add(view_key(view, &r.fields));
            }
        }
        rebuild(engine, vi, &keys.into_keys(), &mut cursor.totals).await?;
        cursor.totals.scanned += page.items.len() as u64;
        cursor.after = page.items.last().map(|r| r.key.clone());
        if page.next.is_none() {
            cursor.after = None;
            cursor.pass = if options.filter.is_empty() {
                Pass::Orphans
            } else {
                Pass::Done
            };
        }
        if on_batch(&cursor) == Flow::Stop && cursor.pass != Pass::Done {
            return Ok(RefreshOutcome {
                totals: cursor.totals,
                complete: false,
            });
        }
    }

    let key_fields: Vec<String> = view.key.iter().map(|k| k.field.clone()).collect();
    while cursor.pass == Pass::Orphans {
        let page = stores
            .views
            .scan_keys(&view.name, cursor.after.as_deref(), page_size)
            .await?;
        let keys: Vec<Vec<Value>> = page.items;
        // Keys whose root is still there were rebuilt by the first pass.
        let roots = stores
            .projections
            .find_in_shared(
                &root,
                FindIn {
                    fields: &key_fields,
                    values: &keys,
                    conditions: &[],
                    public_only: !documents_deleted_roots,
                },
            )
            .await?;
        let alive: HashSet<Vec<u8>> = roots
            .iter()
            .filter_map(|r| key::encode(&view_key(view, &r.fields)))
            .collect();
        let orphans: Vec<Vec<Value>> = keys
            .iter()
            .filter(|k| key::encode(k).is_some_and(|e| !alive.contains(&e)))
            .cloned()
            .collect();
        rebuild(engine, vi, &orphans, &mut cursor.totals).await?;
        cursor.totals.orphans_scanned += keys.len() as u64;
        cursor.after = keys.last().cloned();
        if page.next.is_none() {
            cursor.after = None;
            cursor.pass = Pass::Done;
        }
        if on_batch(&cursor) == Flow::Stop && cursor.pass != Pass::Done {
            return Ok(RefreshOutcome {
                totals: cursor.totals,
                complete: false,
            });
        }
    }
    Ok(RefreshOutcome {
        totals: cursor.totals,
        complete: true,
    })
}

/// Rebuilds `keys` as the steady state rebuilds triggered keys (in chunks, spread over tasks),
/// publishes their events, and counts them (in `totals` and in the engine's counters, as one
/// durable batch).
async fn rebuild(
    engine: &Engine,
    vi: usize,
    keys: &[Vec<Value>],
    totals: &mut RefreshTotals,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let mut out = BatchOutcome::default();
    let mut events = Vec::new();
    engine
        .rebuild_triggered(vi, keys, &mut out, &mut events)
        .await?;
    let out = engine.finish(out, events).await?;
    totals.rebuilt += keys.len() as u64;
    totals.views += out.counts.views;
    engine.commit(&out, start.elapsed().as_millis());
    Ok(())
}

/// The number of root records a refresh of `view` scans, when the store can tell (for
/// progress: the roots pass is the long one).
pub async fn roots_to_scan(engine: &Engine, view: &str) -> Result<Option<u64>, StoreError> {
    let plan = engine.plan();
    match plan.single_view(view) {
        Some(v) => {
            engine
                .stores()
                .projections
                .count(&v.root().projection)
                .await
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
