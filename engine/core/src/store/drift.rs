//! Where a store keeps the source drift of each projection: the columns its messages carry
//! that no field maps, and the mapped columns that stopped arriving.
//!
//! In: [`SourceDrift`] deltas, one per projection, that a run counted since its last flush
//! (`fdc_engine::runtime` merges them off the batch path, every few seconds and when the run
//! ends). Out: per projection the merged drift since the store first counted it, read by
//! `fdc plan --store/--config` (another process) and by the next run's process.
//!
//! Guarantees asked of every implementation (embedded in memory and on disk, MongoDB, the
//! preview's overlay in memory):
//! - one stored drift per projection; [`SourceDriftStore::merge_source_drift`] merges each
//!   delta into the stored one with [`SourceDrift::merge`] ([`merged`]); durable when the
//!   call returns;
//! - [`SourceDriftStore::load_source_drift`] returns them ordered by projection;
//! - what is stored holds projection and column names (each cut to [`MAX_COLUMN_CHARS`]
//!   characters), counts and times: never a value of a record or a key.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// Unmapped column names kept per projection (a sample: further names set
/// [`SourceDrift::unmapped_overflow`]).
pub const SAMPLE_LIMIT: usize = 20;

/// Characters of a column name that are kept; a longer name is cut with a marker.
pub const MAX_COLUMN_CHARS: usize = 64;

/// `name` cut to [`MAX_COLUMN_CHARS`] characters, with `…[N more bytes]` when longer.
pub fn column_name(name: &str) -> std::borrow::Cow<'_, str> {
    match name.char_indices().nth(MAX_COLUMN_CHARS) {
        None => std::borrow::Cow::Borrowed(name),
        Some((cut, _)) => std::borrow::Cow::Owned(format!(
            "{}…[{} more bytes]",
            &name[..cut],
            name.len() - cut
        )),
    }
}

/// The source drift of one projection: a delta counted by a run, or the merged total a
/// store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SourceDrift {
    pub projection: String,
    /// Messages decoded into a change of the projection.
    pub messages: u64,
    /// Of those, messages that carried at least one column no field maps.
    pub unmapped_messages: u64,
    /// Of those, upserts whose after image lacked at least one mapped column.
    pub missing_messages: u64,
    /// A sample of the unmapped columns, by name (at most [`SAMPLE_LIMIT`]).
    #[serde(default)]
    pub unmapped: Vec<UnmappedColumn>,
    /// More unmapped names were seen than the sample keeps.
    #[serde(default)]
    pub unmapped_overflow: bool,
    /// Mapped columns an after image was checked for, by name (at most the projection's
    /// fields: names from the plan, not from input), with when each last arrived.
    #[serde(default)]
    pub mapped: Vec<MappedColumn>,
    /// When drift was first counted, and last (epoch milliseconds).
    pub first_ms: i64,
    pub updated_ms: i64,
}

/// An unmapped column of the sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmappedColumn {
    pub name: String,
    /// Messages that carried it.
    pub messages: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// A mapped column as the after images showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedColumn {
    pub name: String,
    /// Upserts whose after image lacked it.
    pub missing_messages: u64,
    /// When an after image last carried it.
    pub last_seen_ms: Option<i64>,
    /// Set while it no longer arrives: since when the after images lack it (the first that
    /// lacked it after the last that carried it).
    pub missing_since_ms: Option<i64>,
}

impl MappedColumn {
    /// Whether the column no longer arrives.
    pub fn gone(&self) -> bool {
        self.missing_since_ms.is_some()
    }
}

impl SourceDrift {
    /// An empty drift of `projection`.
    pub fn new(projection: &str) -> SourceDrift {
        SourceDrift {
            projection: projection.to_owned(),
            ..SourceDrift::default()
        }
    }

    /// Whether it says anything (a column unmapped, or mapped and missing).
    pub fn drifted(&self) -> bool {
        self.unmapped_messages > 0 || self.missing_messages > 0
    }

    /// The mapped columns that no longer arrive.
    pub fn gone(&self) -> impl Iterator<Item = &MappedColumn> {
        self.mapped.iter().filter(|c| c.gone())
    }

    /// Adds `later` (counted after everything in `self`): counts add up, the sample is the
    /// union (the most recently seen names kept when it is full), a mapped column is gone
    /// when `later` last saw it missing or, seeing it neither way, `self` did.
    pub fn merge(&mut self, later: &SourceDrift) {
        self.messages += later.messages;
        self.unmapped_messages += later.unmapped_messages;
        self.missing_messages += later.missing_messages;
        self.unmapped_overflow |= later.unmapped_overflow;
        self.first_ms = match (self.first_ms, later.first_ms) {
            (0, b) => b,
            (a, 0) => a,
            (a, b) => a.min(b),
        };
        self.updated_ms = self.updated_ms.max(later.updated_ms);
        for u in &later.unmapped {
            match self.unmapped.iter_mut().find(|c| c.name == u.name) {
                Some(c) => {
                    c.messages += u.messages;
                    c.first_seen_ms = c.first_seen_ms.min(u.first_seen_ms);
                    c.last_seen_ms = c.last_seen_ms.max(u.last_seen_ms);
                }
                None => self.unmapped.push(u.clone()),
            }
        }
        if self.unmapped.len() > SAMPLE_LIMIT {
            // Keep the names seen last (ties: by name), so a column that stopped long ago
            // makes room for a new one.
            self.unmapped.sort_by(|a, b| {
                b.last_seen_ms
                    .cmp(&a.last_seen_ms)
                    .then_with(|| a.name.cmp(&b.name))
            });
            self.unmapped.truncate(SAMPLE_LIMIT);
            self.unmapped_overflow = true;
        }
        self.unmapped.sort_by(|a, b| a.name.cmp(&b.name));
        for m in &later.mapped {
            match self.mapped.iter_mut().find(|c| c.name == m.name) {
                Some(c) => {
                    c.missing_messages += m.missing_messages;
                    c.last_seen_ms = c.last_seen_ms.max(m.last_seen_ms);
                    c.missing_since_ms = match (m.missing_since_ms, m.last_seen_ms) {
                        // Missing, and not seen in `later` before that: missing since the
                        // earlier time.
                        (Some(since), None) => Some(c.missing_since_ms.unwrap_or(since)),
                        (since, _) => since,
                    };
                }
                None => self.mapped.push(m.clone()),
            }
        }
        self.mapped.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Drops the mapped columns that were never missing (what `/status` shows).
    pub fn compact(&mut self) {
        self.mapped.retain(|c| c.missing_messages > 0 || c.gone());
    }

    /// The JSON text every store keeps.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored drift's JSON text: an unreadable one is a fatal error.
    pub fn from_json(text: &str) -> Result<SourceDrift, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::fatal("load source drift", e))
    }
}

/// The source drift of a deployment's projections (see the module docs).
#[async_trait]
pub trait SourceDriftStore: Send + Sync {
    /// Every projection's stored drift, ordered by projection.
    async fn load_source_drift(&self) -> Result<Vec<SourceDrift>, StoreError>;

    /// Merges each of `deltas` into the stored drift of its projection.
    async fn merge_source_drift(&self, deltas: &[SourceDrift]) -> Result<(), StoreError>;
}

/// Merges `delta` into `stored` (`None`: nothing stored yet): the rule every implementation
/// of [`SourceDriftStore::merge_source_drift`] applies. Mapped columns that were never
/// missing are kept with their last arrival, so a column that stops later is shown with when
/// it last came.
pub fn merged(stored: Option<SourceDrift>, delta: &SourceDrift) -> SourceDrift {
    let mut out = stored.unwrap_or_else(|| SourceDrift::new(&delta.projection));
    out.merge(delta);
    out
}

/// The behaviour every [`SourceDriftStore`] must show, on an empty store: what each adapter's
/// tests run (embedded in memory and on disk, MongoDB, the overlay). `Err` says what differed.
pub async fn conformance(store: &dyn SourceDriftStore) -> Result<(), String> {
    fn check(ok: bool, what: &str) -> Result<(), String> {
        ok.then_some(()).ok_or_else(|| what.to_string())
    }
    let e = |e: StoreError| e.to_string();
    check(
        store.load_source_drift().await.map_err(e)?.is_empty(),
        "a new store holds no source drift",
    )?;
    let unmapped = |name: &str, messages, at| UnmappedColumn {
        name: name.into(),
        messages,
        first_seen_ms: at,
        last_seen_ms: at,
    };
    let first = SourceDrift {
        projection: "orders".into(),
        messages: 5,
        unmapped_messages: 3,
        missing_messages: 2,
        unmapped: vec![unmapped("COUPON", 3, 100)],
        unmapped_overflow: false,
        mapped: vec![
            MappedColumn {
                name: "FAX".into(),
                missing_messages: 2,
                last_seen_ms: Some(90),
                missing_since_ms: Some(100),
            },
            MappedColumn {
                name: "ID".into(),
                missing_messages: 0,
                last_seen_ms: Some(100),
                missing_since_ms: None,
            },
        ],
        first_ms: 90,
        updated_ms: 100,
    };
    let other = SourceDrift {
        projection: "customers".into(),
        messages: 1,
        ..SourceDrift::default()
    };
    store
        .merge_source_drift(&[first.clone(), other.clone()])
        .await
        .map_err(e)?;
    let loaded = store.load_source_drift().await.map_err(e)?;
    check(
        loaded == vec![merged(None, &other), merged(None, &first)],
        "the drift is stored as given, by projection",
    )?;
    // A second flush: a new unmapped name, the missing column seen again.
    let second = SourceDrift {
        projection: "orders".into(),
        messages: 2,
        unmapped_messages: 1,
        missing_messages: 0,
        unmapped: vec![unmapped("COUPON", 1, 200), unmapped("TIER", 1, 200)],
        unmapped_overflow: false,
        mapped: vec![MappedColumn {
            name: "FAX".into(),
            missing_messages: 0,
            last_seen_ms: Some(200),
            missing_since_ms: None,
        }],
        first_ms: 200,
        updated_ms: 200,
    };
    store
        .merge_source_drift(std::slice::from_ref(&second))
        .await
        .map_err(e)?;
    let loaded = store.load_source_drift().await.map_err(e)?;
    let orders = loaded
        .iter()
        .find(|d| d.projection == "orders")
        .ok_or("the merged drift is kept")?;
    check(
        orders.messages == 7 && orders.unmapped_messages == 4 && orders.missing_messages == 2,
        "counts add up across flushes",
    )?;
    check(
        orders.unmapped
            == vec![
                UnmappedColumn {
                    name: "COUPON".into(),
                    messages: 4,
                    first_seen_ms: 100,
                    last_seen_ms: 200,
                },
                unmapped("TIER", 1, 200),
            ],
        "the sample is merged by name",
    )?;
    check(
        orders.mapped.len() == 2 && orders.gone().next().is_none(),
        "a mapped column seen again arrives again",
    )?;
    check(
        orders
            .mapped
            .iter()
            .any(|c| c.name == "ID" && c.last_seen_ms == Some(100)),
        "a mapped column never missing keeps its last arrival",
    )?;
    check(
        orders.first_ms == 90 && orders.updated_ms == 200,
        "first and last times are kept",
    )?;
    check(loaded.len() == 2, "one drift per projection")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(names: &[&str], at: i64) -> SourceDrift {
        SourceDrift {
            projection: "p".into(),
            messages: 1,
            unmapped_messages: 1,
            unmapped: names
                .iter()
                .map(|n| UnmappedColumn {
                    name: (*n).into(),
                    messages: 1,
                    first_seen_ms: at,
                    last_seen_ms: at,
                })
                .collect(),
            first_ms: at,
            updated_ms: at,
            ..SourceDrift::default()
        }
    }

    #[test]
    fn the_sample_stays_bounded_keeping_the_names_seen_last() {
        let mut total = SourceDrift::new("p");
        let old: Vec<String> = (0..SAMPLE_LIMIT).map(|i| format!("OLD{i:02}")).collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        total.merge(&delta(&old, 10));
        assert!(!total.unmapped_overflow);
        total.merge(&delta(&["NEW"], 20));
        assert_eq!(total.unmapped.len(), SAMPLE_LIMIT);
        assert!(total.unmapped_overflow);
        assert!(total.unmapped.iter().any(|c| c.name == "NEW"));
        assert!(!total.unmapped.iter().any(|c| c.name == "OLD19"));
        let names: Vec<&str> = total.unmapped.iter().map(|c| c.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "kept by name");
    }

    #[test]
    fn a_column_missing_across_flushes_keeps_its_first_missing_time() {
        let column = |seen: Option<i64>, since: Option<i64>, missing| MappedColumn {
            name: "FAX".into(),
            missing_messages: missing,
            last_seen_ms: seen,
            missing_since_ms: since,
        };
        let mut total = SourceDrift::new("p");
        total.mapped.push(column(Some(5), Some(10), 1));
        let mut later = SourceDrift::new("p");
        later.mapped.push(column(None, Some(20), 3));
        total.merge(&later);
        assert_eq!(total.mapped, vec![column(Some(5), Some(10), 4)]);
        // Seen, then missing again within one delta: missing since the delta's time.
        let mut again = SourceDrift::new("p");
        again.mapped.push(column(Some(30), Some(30), 1));
        total.merge(&again);
        assert_eq!(total.mapped, vec![column(Some(30), Some(30), 5)]);
        // Seen last: arriving.
        let mut back = SourceDrift::new("p");
        back.mapped.push(column(Some(40), None, 0));
        total.merge(&back);
        assert!(!total.mapped[0].gone());
        total.compact();
        assert_eq!(total.mapped.len(), 1, "it was missing once: kept");
    }

    #[test]
    fn long_column_names_are_cut() {
        assert_eq!(column_name("EMAIL"), "EMAIL");
        let long = "x".repeat(1000);
        let cut = column_name(&long);
        assert!(cut.starts_with(&"x".repeat(MAX_COLUMN_CHARS)));
        assert!(cut.ends_with(&format!("…[{} more bytes]", 1000 - MAX_COLUMN_CHARS)));
    }
}
