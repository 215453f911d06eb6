//! Source drift: which source columns a projection maps, and what `fdc plan` reports of the
//! columns the source sends that no field maps, or no longer sends.
//!
//! In: a [`Projection`]. Out: its mapped columns (the first element of every field's source
//! path, sorted, without duplicates), the names its format reads inside a row image (a
//! custom format's operation or position under its after image), and the report types of
//! `fdc plan`'s `source_drift` section (`schemas/plan-report.schema.json`).
//!
//! Guarantees: one rule, read by the engine (which counts the drift of every message) and by
//! `fdc plan` (which leaves out of its candidates the columns the new pipeline maps); pure
//! data, no IO. The report holds column names (cut to a bounded length where they were
//! observed), counts and times, never values.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Format, MessagePart, Projection};

/// The top-level source columns `projection` maps (a field reading `ADDRESS.ZIP` maps
/// `ADDRESS`), sorted and without duplicates. Fields without a source (metadata) map none.
pub fn mapped_columns(projection: &Projection) -> Vec<String> {
    let mut columns: Vec<String> = projection
        .fields
        .iter()
        .filter_map(|f| f.source.first().cloned())
        .collect();
    columns.sort();
    columns.dedup();
    columns
}

/// The names the format of `projection` reads inside its after image, which are therefore
/// not columns of the row (a custom format whose operation or position lies under its after
/// path), sorted and without duplicates. Empty for the built-in formats, whose row images
/// hold columns only.
pub fn format_columns(projection: &Projection) -> Vec<String> {
    let Format::Custom(custom) = &projection.format else {
        return Vec::new();
    };
    let after = &custom.after;
    let mut names: Vec<String> = [custom.operation.as_ref(), custom.position.as_ref()]
        .into_iter()
        .flatten()
        .chain(custom.before.as_ref())
        .filter(|p| {
            p.part == after.part
                && matches!(p.part, MessagePart::Key | MessagePart::Value)
                && p.path.len() > after.path.len()
                && p.path.starts_with(&after.path)
        })
        .filter_map(|p| p.path.get(after.path.len()).cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What `fdc plan --store/--config` read of one projection's source drift on the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectionDrift {
    /// The projection (of the new pipeline; the drift was counted by the deployed one).
    pub projection: String,
    /// Messages of the projection observed since the store first counted its drift.
    pub messages: u64,
    /// Of those, messages that carried at least one column no field mapped.
    pub unmapped_messages: u64,
    /// Of those, inserts and updates whose row image lacked at least one mapped column.
    pub missing_messages: u64,
    /// Candidates for new fields: columns the source sends that no field of the new pipeline
    /// maps, by name (a sample: at most 20 names were kept per projection).
    pub candidates: Vec<ColumnSeen>,
    /// More unmapped names were seen than the sample keeps.
    pub more_candidates: bool,
    /// Mapped columns (still mapped by the new pipeline) that no longer arrive: the last row
    /// image that could carry them did not, by name.
    pub no_longer_arriving: Vec<ColumnGone>,
}

/// An unmapped column the source sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSeen {
    /// The column name (cut to 64 characters with a marker when longer).
    pub column: String,
    /// Messages that carried it.
    pub messages: u64,
    /// When it was first and last seen (RFC 3339, UTC).
    pub first_seen: String,
    pub last_seen: String,
}

/// A mapped column the source stopped sending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnGone {
    /// The source column.
    pub column: String,
    /// The fields of the new pipeline that read it.
    pub fields: Vec<String>,
    /// Since when every row image lacked it (RFC 3339, UTC).
    pub missing_since: String,
    /// When it last arrived, if it ever did while drift was counted.
    pub last_seen: Option<String>,
    /// Inserts and updates that lacked it.
    pub missing_messages: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CustomFormat, MessagePath};

    fn projection(format: Format, sources: &[&[&str]]) -> Projection {
        Projection {
            name: "p".into(),
            system: "s".into(),
            topic: "t".into(),
            format,
            key: vec!["f0".into()],
            fields: sources
                .iter()
                .enumerate()
                .map(|(i, s)| crate::Field {
                    name: format!("f{i}"),
                    ty: crate::Type::String,
                    nullable: true,
                    source: s.iter().map(|c| (*c).to_owned()).collect(),
                    casts: vec![],
                    default: None,
                })
                .collect(),
            indexes: vec![],
            delete: crate::DeleteMode::Soft,
            events: None,
        }
    }

    #[test]
    fn mapped_columns_are_the_first_path_elements_sorted_once() {
        let p = projection(
            Format::Basic,
            &[
                &["NAME"],
                &["ADDRESS", "ZIP"],
                &["ADDRESS", "CITY"],
                &[],
                &["ID"],
            ],
        );
        assert_eq!(mapped_columns(&p), vec!["ADDRESS", "ID", "NAME"]);
        assert!(format_columns(&p).is_empty());
    }

    #[test]
    fn a_custom_format_s_own_names_under_its_after_image_are_not_columns() {
        let path = |part: MessagePart, p: &[&str]| MessagePath {
            part,
            path: p.iter().map(|s| (*s).to_owned()).collect(),
        };
        let custom = CustomFormat {
            name: "flat".into(),
            operation: Some(path(MessagePart::Value, &["op"])),
            inserts: vec![],
            updates: vec![],
            deletes: vec![],
            skips: vec![],
            before: None,
            after: path(MessagePart::Value, &[]),
            position: Some(path(MessagePart::Key, &["seq"])),
        };
        let p = projection(Format::Custom(Box::new(custom.clone())), &[&["id"]]);
        assert_eq!(format_columns(&p), vec!["op"]);
        let nested = CustomFormat {
            after: path(MessagePart::Value, &["data"]),
            ..custom
        };
        let p = projection(Format::Custom(Box::new(nested)), &[&["id"]]);
        assert!(format_columns(&p).is_empty());
    }
}
