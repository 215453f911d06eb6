//! The stored documents: projection records and single-view documents.
//!
//! In: [`Record`]s and single-view [`Map`]s. Out: BSON documents, and back.
//!
//! A projection record is stored as
//!
//! ```text
//! { _id: "<hex key>", <fields...>, __STATE__: "PUBLIC" | "DELETED",
//!   __meta: { version: "<39 digits>", topic, partition: int32, offset: int64,
//!             timestamp: int64 | null, created_at: date, updated_at: date,
//!             types: { <field>: <shape> } (only when a field needs one) } }
//! ```
//!
//! and a single-view document as `{ _id: "<hex key>", <key fields>, <mapped fields...>,
//! __STATE__, __types: {...} (only when needed) }`. The key fields are always stored as
//! ordinary fields (the unique key index covers them). See [`super::codec`] for shapes and
//! [`super::ids`] for `_id` and versions.
//!
//! Guarantees: a record reads back equal to the record written (tested); a field named like
//! the reserved ones (`_id`, `__meta`, `__types`) is refused, never silently overwritten.

use mongodb::bson::{Bson, Document};

use fdc_core::store::{Record, RecordMeta, RecordState, STATE_FIELD};
use fdc_core::value::{Map, Value};

use super::codec::{document_to_map, shape_of, shapes_of, value_to_bson};
use super::ids::{key_from_id, parse_version, version_string};

/// Metadata object of stored records.
pub const META: &str = "__meta";
/// Dotted path of the stored version (the version guard filters on it).
pub const VERSION_PATH: &str = "__meta.version";
/// Shapes of a single-view document's fields.
pub const VIEW_TYPES: &str = "__types";
const RESERVED: [&str; 3] = ["_id", META, VIEW_TYPES];

/// Why a document could not be made or read (no values in the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError(pub String);

fn check_names(map: &Map) -> Result<(), DocError> {
    match map.keys().find(|k| RESERVED.contains(&k.as_str())) {
        Some(k) => Err(DocError(format!(
            "the field name `{k}` is reserved by the store"
        ))),
        None => Ok(()),
    }
}

/// The stored document of a record with `_id` `id`.
pub fn record_to_document(id: &str, r: &Record) -> Result<Document, DocError> {
    check_names(&r.fields)?;
    let mut d = Document::new();
    d.insert("_id", id);
    for (k, v) in &r.fields {
        if k != STATE_FIELD {
            d.insert(k.clone(), value_to_bson(v));
        }
    }
    d.insert(STATE_FIELD, r.state.as_str());
    let m = &r.meta;
    let mut meta = Document::new();
    meta.insert("version", version_string(m.version));
    meta.insert("topic", m.topic.clone());
    meta.insert("partition", m.partition);
    meta.insert("offset", m.offset);
    meta.insert("timestamp", m.timestamp.map_or(Bson::Null, Bson::Int64));
    meta.insert(
        "created_at",
        mongodb::bson::DateTime::from_millis(m.created_at),
    );
    meta.insert(
        "updated_at",
        mongodb::bson::DateTime::from_millis(m.updated_at),
    );
    if let Some(types) = shapes_of(&r.fields) {
        meta.insert("types", types);
    }
    d.insert(META, meta);
    Ok(d)
}

fn int(d: &Document, name: &str) -> Option<i64> {
    match d.get(name)? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) => Some(*f as i64),
        _ => None,
    }
}

fn millis(d: &Document, name: &str) -> Option<i64> {
    match d.get(name)? {
        Bson::DateTime(t) => Some(t.timestamp_millis()),
        _ => int(d, name),
    }
}

/// The record stored as `d`. `key_fields`: the projection's key names when known (else the
/// key is decoded from `_id`).
pub fn record_from_document(
    d: &Document,
    key_fields: Option<&[String]>,
) -> Result<Record, DocError> {
    let bad = |what: &str| DocError(format!("a stored record has no valid {what}"));
    let id = d.get_str("_id").map_err(|_| bad("_id"))?;
    let meta = d.get_document(META).map_err(|_| bad(META))?;
    let types = meta.get_document("types").ok();
    let fields = document_to_map(d, types, &["_id", STATE_FIELD, META]);
    let key = match key_fields {
        Some(names) => fdc_core::store::key::tuple(&fields, names),
        None => key_from_id(id).ok_or_else(|| bad("_id"))?,
    };
    let state = match d.get_str(STATE_FIELD) {
        Ok("PUBLIC") => RecordState::Public,
        Ok("DELETED") => RecordState::Deleted,
        _ => return Err(bad(STATE_FIELD)),
    };
    let version = meta
        .get_str("version")
        .ok()
        .and_then(parse_version)
        .ok_or_else(|| bad("version"))?;
    Ok(Record {
        key,
        layout: Default::default(),
        fields,
        state,
        meta: RecordMeta {
            version,
            topic: meta.get_str("topic").unwrap_or_default().to_owned(),
            partition: int(meta, "partition")
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
            offset: int(meta, "offset").unwrap_or(0),
            timestamp: int(meta, "timestamp"),
            created_at: millis(meta, "created_at").unwrap_or(0),
            updated_at: millis(meta, "updated_at").unwrap_or(0),
        },
    })
}

/// The stored single-view document (replace mode): `_id`, the key fields the mapping does not
/// hold, then the document's fields in its order (read back, the document is the one written,
/// so a rebuild that changes nothing finds it identical), a mapped key field holding the key
/// value (the key index needs it).
pub fn view_to_document(
    id: &str,
    key_fields: &[String],
    key_values: &[Value],
    document: &Map,
) -> Result<Document, DocError> {
    check_names(document)?;
    let mut d = Document::new();
    d.insert("_id", id);
    let mut shapes = Document::new();
    let key_of = |name: &str| {
        key_fields
            .iter()
            .position(|f| f == name)
            .and_then(|i| key_values.get(i))
    };
    let unmapped = key_fields
        .iter()
        .map(String::as_str)
        .zip(key_values)
        .filter(|(k, _)| !document.contains_key(k));
    let fields = unmapped.chain(
        document
            .iter()
            .map(|(k, v)| (k.as_str(), key_of(k.as_str()).unwrap_or(v))),
    );
    for (name, v) in fields {
        d.insert(name, value_to_bson(v));
        if let Some(s) = shape_of(v) {
            shapes.insert(name, s);
        }
    }
    if !shapes.is_empty() {
        d.insert(VIEW_TYPES, shapes);
    }
    Ok(d)
}

/// The `$set` / `$unset` update of a single-view document in merge mode: the key fields and
/// the mapped fields, and their shapes; other fields are left alone.
pub fn view_merge_update(
    key_fields: &[String],
    key_values: &[Value],
    document: &Map,
) -> Result<Document, DocError> {
    check_names(document)?;
    let mut set = Document::new();
    let mut unset = Document::new();
    let fields = key_fields.iter().map(String::as_str).zip(key_values).chain(
        document
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .filter(|(k, _)| !key_fields.iter().any(|f| f == k)),
    );
    for (name, v) in fields {
        set.insert(name, value_to_bson(v));
        let tag = format!("{VIEW_TYPES}.{name}");
        match shape_of(v) {
            Some(s) => {
                set.insert(tag, s);
            }
            None => {
                unset.insert(tag, "");
            }
        }
    }
    let mut u = Document::new();
    u.insert("$set", set);
    if !unset.is_empty() {
        u.insert("$unset", unset);
    }
    Ok(u)
}

/// A stored single-view document read back: its key and its fields (without `_id` and the
/// shapes).
pub fn view_from_document(
    d: &Document,
    key_fields: Option<&[String]>,
) -> Result<(Vec<Value>, Map), DocError> {
    let id = d
        .get_str("_id")
        .map_err(|_| DocError("a stored single view has no valid _id".into()))?;
    let types = d.get_document(VIEW_TYPES).ok();
    let doc = document_to_map(d, types, &["_id", VIEW_TYPES]);
    let key = match key_fields {
        Some(names) => fdc_core::store::key::tuple(&doc, names),
        None => key_from_id(id)
            .ok_or_else(|| DocError("a stored single view has no valid _id".into()))?,
    };
    Ok((key, doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::id_of;

    fn record() -> Record {
        let mut fields = Map::default();
        fields.insert("id".into(), Value::Int(7));
        fields.insert("total".into(), Value::Decimal("10.50".parse().unwrap()));
        fields.insert("note".into(), Value::Null);
        Record {
            key: vec![Value::Int(7)],
            layout: Default::default(),
            fields,
            state: RecordState::Deleted,
            meta: RecordMeta {
                version: u128::MAX - 3,
                topic: "t".into(),
                partition: 2,
                offset: 99,
                timestamp: None,
                created_at: 1_000,
                updated_at: 2_000,
            },
        }
    }

    #[test]
    fn records_read_back_equal() {
        let r = record();
        let id = id_of(&r.key).unwrap();
        let d = record_to_document(&id, &r).unwrap();
        assert_eq!(d.get_str("total").unwrap(), "10.50");
        let names = vec!["id".to_owned()];
        assert_eq!(record_from_document(&d, Some(&names)).unwrap(), r);
        assert_eq!(record_from_document(&d, None).unwrap(), r);
    }

    #[test]
    fn reserved_names_are_refused() {
        let mut r = record();
        r.fields.insert("_id".into(), Value::Int(1));
        assert!(record_to_document("00", &r).is_err());
    }

    #[test]
    fn views_keep_key_fields_and_merge_sets_only_mapped_fields() {
        let mut doc = Map::default();
        doc.insert("total".into(), Value::Decimal("1.0".parse().unwrap()));
        doc.insert(STATE_FIELD.into(), Value::String("PUBLIC".into()));
        let keys = vec!["cid".to_owned()];
        let kv = vec![Value::Int(3)];
        let id = id_of(&kv).unwrap();
        let d = view_to_document(&id, &keys, &kv, &doc).unwrap();
        let (k, back) = view_from_document(&d, Some(&keys)).unwrap();
        assert_eq!(k, kv);
        assert_eq!(back["total"], doc["total"]);
        assert_eq!(back["cid"], Value::Int(3));
        let u = view_merge_update(&keys, &kv, &doc).unwrap();
        let set = u.get_document("$set").unwrap();
        assert_eq!(set.get_str("__types.total").unwrap(), "decimal");
        assert!(u
            .get_document("$unset")
            .unwrap()
            .contains_key("__types.cid"));
    }
}
