//! The stored shape of a projection record and its JSON form.
//!
//! In: cast fields from a [`crate::change::Change`], the change's version and origin.
//! Out: a [`Record`] as every store keeps it, and its documented JSON form (used for printing,
//! export, inspect and events):
//!
//! ```json
//! { "<field>": ..., "__STATE__": "PUBLIC" | "DELETED",
//!   "__meta": { "version": "<decimal digits>", "topic": "...", "partition": 0, "offset": 12,
//!               "timestamp": 1700000000000 | null,
//!               "created_at": "<RFC 3339>", "updated_at": "<RFC 3339>" } }
//! ```
//!
//! `version` is a string because positions (GoldenGate `pos`) can exceed 64 bits.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::change::{Origin, Version};
use crate::value::{Map, Value};

/// Name of the state field in stored records and single-view documents.
pub const STATE_FIELD: &str = "__STATE__";
/// Name of the metadata object in the JSON form of projection records.
pub const META_FIELD: &str = "__meta";

/// `__STATE__` of a record or a single view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordState {
    /// Live.
    Public,
    /// Soft-deleted: kept with its version so an older insert cannot resurrect it.
    Deleted,
}

impl RecordState {
    /// `"PUBLIC"` or `"DELETED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Public => "PUBLIC",
            RecordState::Deleted => "DELETED",
        }
    }
}

/// Where the last applied change of a record came from, and when it was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// The format's ordering position of the last applied change.
    pub version: u128,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The source message timestamp (epoch ms), when known.
    pub timestamp: Option<i64>,
    /// When the record was first written (epoch ms, engine clock).
    pub created_at: i64,
    /// When the record was last written (epoch ms, engine clock).
    pub updated_at: i64,
}

impl RecordMeta {
    /// Metadata for a change applied at `now` (epoch ms).
    pub fn new(version: Version, origin: &Origin, created_at: i64, now: i64) -> RecordMeta {
        RecordMeta {
            version: version.0,
            topic: origin.topic.clone(),
            partition: origin.partition,
            offset: origin.offset,
            timestamp: origin.timestamp,
            created_at,
            updated_at: now,
        }
    }
}

/// One stored projection record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Primary-key values in the projection's key order.
    pub key: Vec<Value>,
    /// The cast fields (key fields included).
    pub fields: Map,
    pub state: RecordState,
    pub meta: RecordMeta,
    /// The memo of [`Record::holds_exactly`]. Records are not changed once built (stores
    /// share them as `Arc<Record>`); code that changes `fields` of a record that may have
    /// been read must reset it (a clone starts with an empty memo).
    #[serde(skip)]
    pub layout: LayoutMemo,
}

/// A list of field names reduced to 64 bits (bit 0 clear), for [`Record::holds_exactly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout(u64);

impl Layout {
    /// The layout of `names`, in order.
    pub fn of<'n>(names: impl IntoIterator<Item = &'n str>) -> Layout {
        let mut h = foldhash::fast::FixedState::with_seed(0x6664_635f_6c61_796f).build_hasher();
        for n in names {
            n.hash(&mut h);
        }
        // 0 is the memo's "not yet known".
        Layout((h.finish() & !1).max(2))
    }
}

/// What [`Record::holds_exactly`] found, for which layout (0: nothing yet). Checking field
/// names costs a cache miss per name (each lives in an allocation of its own), and a record is
/// read by many batches: the answer is kept with the record.
#[derive(Default)]
pub struct LayoutMemo(AtomicU64);

impl Clone for LayoutMemo {
    /// Empty: the clone's fields may be changed.
    fn clone(&self) -> LayoutMemo {
        LayoutMemo::default()
    }
}

impl PartialEq for LayoutMemo {
    /// A memo is not part of a record's value.
    fn eq(&self, _: &LayoutMemo) -> bool {
        true
    }
}

impl fmt::Debug for LayoutMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LayoutMemo")
    }
}

impl Record {
    /// Whether the record is live.
    pub fn is_public(&self) -> bool {
        self.state == RecordState::Public
    }

    /// Whether `fields` are exactly `names` in order, where `layout` is [`Layout::of`]
    /// `names`; remembered per record for the last layout asked about.
    pub fn holds_exactly(&self, layout: Layout, names: &[fdc_plan::Field]) -> bool {
        let memo = self.layout.0.load(Ordering::Relaxed);
        if memo & !1 == layout.0 {
            return memo & 1 == 1;
        }
        let holds = self.fields.len() == names.len()
            && self.fields.keys().zip(names).all(|(k, f)| *k == f.name);
        self.layout
            .0
            .store(layout.0 | u64::from(holds), Ordering::Relaxed);
        holds
    }

    /// The documented JSON form (fields, `__STATE__`, `__meta`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::with_capacity(self.fields.len() + 2);
        for (k, v) in &self.fields {
            out.insert(k.to_string(), v.to_json());
        }
        out.insert(STATE_FIELD.into(), self.state.as_str().into());
        out.insert(
            META_FIELD.into(),
            serde_json::json!({
                "version": self.meta.version.to_string(),
                "topic": self.meta.topic,
                "partition": self.meta.partition,
                "offset": self.meta.offset,
                "timestamp": self.meta.timestamp,
                "created_at": millis_to_rfc3339(self.meta.created_at),
                "updated_at": millis_to_rfc3339(self.meta.updated_at),
            }),
        );
        serde_json::Value::Object(out)
    }
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds (`null`-free: out of range gives the
/// epoch).
pub fn millis_to_rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The key tuple as a JSON object `{field: value}` (for events and inspect output).
pub fn key_json(names: &[String], key: &[Value]) -> serde_json::Value {
    serde_json::Value::Object(
        names
            .iter()
            .zip(key)
            .map(|(n, v)| (n.clone(), v.to_json()))
            .collect(),
    )
}

/// Serializes a [`Value`] in its documented JSON representation, keeping object field order
/// (a `serde_json::Value` sorts keys; documents keep the mapping's order).
pub struct Ordered<'a>(pub &'a Value);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, &Ordered(v))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Ordered(v))?;
                }
                seq.end()
            }
            other => other.to_json().serialize(s),
        }
    }
}

/// Serializes a [`Record`] in its documented JSON form (see the module docs), fields in
/// declaration order.
pub struct OrderedRecord<'a>(pub &'a Record);

impl serde::Serialize for OrderedRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let mut map = s.serialize_map(Some(r.fields.len() + 2))?;
        for (k, v) in &r.fields {
            map.serialize_entry(k, &Ordered(v))?;
        }
        map.serialize_entry(STATE_FIELD, r.state.as_str())?;
        let json = r.to_json();
        map.serialize_entry(META_FIELD, &json[META_FIELD])?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Name;

    fn field(name: &str) -> fdc_plan::Field {
        fdc_plan::Field {
            name: name.into(),
            ty: fdc_plan::Type::Int,
            nullable: true,
            source: Vec::new(),
            casts: Vec::new(),
            default: None,
        }
    }

    fn record(names: &[&str]) -> Record {
        Record {
            key: vec![Value::Int(1)],
            fields: names
                .iter()
                .map(|n| (Name::from(*n), Value::Int(1)))
                .collect(),
            state: RecordState::Public,
            meta: RecordMeta::new(
                Version(1),
                &Origin {
                    topic: "t".into(),
                    partition: 0,
                    offset: 0,
                    timestamp: None,
                    source_ms: None,
                },
                0,
                0,
            ),
            layout: LayoutMemo::default(),
        }
    }

    #[test]
    fn the_layout_memo_answers_per_layout_and_a_clone_starts_empty() {
        let ab = [field("a"), field("b")];
        let ba = [field("b"), field("a")];
        let (lab, lba) = (
            Layout::of(ab.iter().map(|f| f.name.as_str())),
            Layout::of(ba.iter().map(|f| f.name.as_str())),
        );
        assert_ne!(lab, lba);
        let r = record(&["a", "b"]);
        assert!(r.holds_exactly(lab, &ab));
        // Asked again (from the memo) and for another layout (checked again).
        assert!(r.holds_exactly(lab, &ab));
        assert!(!r.holds_exactly(lba, &ba));
        assert!(!r.holds_exactly(lba, &ba));
        assert!(r.holds_exactly(lab, &ab));
        // A clone's fields may change: its memo is empty, and it is still equal.
        let mut c = r.clone();
        assert_eq!(c, r);
        c.fields.shift_remove("b");
        assert!(!c.holds_exactly(lab, &ab));
        assert!(!record(&["a"]).holds_exactly(lab, &ab));
        assert!(!record(&["a", "b", "c"]).holds_exactly(lab, &ab));
    }
}
