//! Parsing only what a topic's projections read.
//!
//! In: JSON bytes and a [`Shape`]: which object keys to keep, recursively (built once per topic
//! from the formats' fixed parts and the projections' source paths). Out: the [`Value`] that a
//! full parse would give, minus the object entries no projection reads.
//!
//! Guarantees: the whole text is still syntax-checked (skipped entries are parsed by serde's
//! `IgnoredAny`, without allocating), so invalid JSON is rejected exactly as by a full parse;
//! every kept entry is identical to the full parse's; non-object values at a shaped position
//! (an array, a string where an object was expected) are kept whole so decoders still see and
//! report them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::json::Json;
use crate::value::{Map, Name, Value};

/// FNV-1a: object keys are short, and this map is only ever read with trusted keys (the plan's).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The kept keys of an object and their shapes, and whether the object is a row image (whose
/// skipped keys are recorded: the columns no projection of the topic reads).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(HashMap<Box<str>, Shape, BuildHasherDefault<Fnv>>, bool);

/// Which parts of a JSON document to keep.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Shape {
    /// Everything.
    #[default]
    All,
    /// An object of which only these keys are kept (each with its own shape).
    Only(Fields),
}

impl Shape {
    /// An object of which nothing is kept (its presence still shows, as an empty object).
    pub fn nothing() -> Shape {
        Shape::Only(Fields::default())
    }

    /// A row image of which only the keys added later are kept: [`parse_slice_recording`]
    /// records the names of the others.
    pub fn row() -> Shape {
        Shape::Only(Fields(HashMap::default(), true))
    }

    /// Also keeps `path` (object keys from the root), with `leaf` below it.
    pub fn keep(&mut self, path: &[String], leaf: &Shape) {
        match (self, path.split_first()) {
            (Shape::All, _) => {}
            (this, None) => this.merge(leaf),
            (Shape::Only(fields), Some((first, rest))) => fields
                .0
                .entry(first.as_str().into())
                .or_insert_with(Shape::nothing)
                .keep(rest, leaf),
        }
    }

    /// The union of `self` and `other`.
    pub fn merge(&mut self, other: &Shape) {
        match (&mut *self, other) {
            (Shape::All, _) => {}
            (_, Shape::All) => *self = Shape::All,
            (Shape::Only(mine), Shape::Only(theirs)) => {
                mine.1 |= theirs.1;
                for (k, v) in &theirs.0 {
                    mine.0
                        .entry(k.clone())
                        .or_insert_with(Shape::nothing)
                        .merge(v);
                }
            }
        }
    }

    /// A shape with `key` kept as `shape` (a builder for tests and fixed format parts).
    pub fn with(mut self, key: &str, shape: Shape) -> Shape {
        self.keep(&[key.to_owned()], &shape);
        self
    }
}

/// Parses `bytes`, keeping only what `shape` selects.
pub fn parse_slice_shaped(bytes: &[u8], shape: &Shape) -> Result<Value, serde_json::Error> {
    parse_slice_recording(bytes, shape, &mut Skipped::default())
}

/// Object keys skipped inside row images ([`Shape::row`]): at most [`Skipped::LIMIT`] names,
/// borrowed from the input when they hold no escapes, and whether there were more. The first
/// [`Skipped::INLINE`] are kept in place: a message with a few unread columns allocates
/// nothing for them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Skipped<'de> {
    inline: [Cow<'de, str>; Skipped::INLINE],
    len: usize,
    spill: Vec<Cow<'de, str>>,
    /// More names were skipped than [`Skipped::LIMIT`].
    pub more: bool,
}

impl<'de> Skipped<'de> {
    /// Names kept per message (the sample of a projection keeps fewer anyway).
    pub const LIMIT: usize = 64;
    /// Names kept without an allocation.
    pub const INLINE: usize = 8;

    fn push(&mut self, name: Cow<'de, str>) {
        if self.len < Self::INLINE {
            self.inline[self.len] = name;
        } else if self.len < Self::LIMIT {
            self.spill.push(name);
        } else {
            self.more = true;
            return;
        }
        self.len += 1;
    }

    /// The names, in input order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inline[..self.len.min(Self::INLINE)]
            .iter()
            .chain(&self.spill)
            .map(|n| n.as_ref())
    }

    /// How many names were kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key was skipped.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && !self.more
    }
}

/// [`parse_slice_shaped`], recording in `skipped` the keys skipped inside row images.
pub fn parse_slice_recording<'de>(
    bytes: &'de [u8],
    shape: &Shape,
    skipped: &mut Skipped<'de>,
) -> Result<Value, serde_json::Error> {
    if let Shape::All = shape {
        return super::json::parse_slice(bytes);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Shaped(shape, skipped).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct Shaped<'s, 'r, 'de>(&'s Shape, &'r mut Skipped<'de>);

impl<'de> DeserializeSeed<'de> for Shaped<'_, '_, 'de> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.0 {
            Shape::All => <Json as serde::Deserialize>::deserialize(d).map(|j| j.0),
            Shape::Only(fields) => d.deserialize_any(OnlyVisitor(fields, self.1)),
        }
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct OnlyVisitor<'s, 'r, 'de>(&'s Fields, &'r mut Skipped<'de>);

impl<'de> Visitor<'de> for OnlyVisitor<'_, '_, 'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Json(v)) = seq.next_element::<Json>()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(Name, Value)> = Vec::with_capacity(self.0 .0.len().min(64));
        while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
            match self.0 .0.get(key.as_ref()) {
                Some(shape) => {
                    let v = access.next_value_seed(Shaped(shape, &mut *self.1))?;
                    entries.push((Name::from(key.as_ref()), v));
                }
                None => {
                    if self.0 .1 {
                        self.1.push(key);
                    }
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        let map: Map = entries.into_iter().collect();
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::json::parse_slice;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn keeps_selected_paths_and_skips_the_rest() {
        let mut shape = Shape::nothing();
        shape.keep(&path(&["after", "ID"]), &Shape::All);
        shape.keep(&path(&["op"]), &Shape::All);
        let text = br#"{"op": "u", "schema": {"big": [1, 2, {"x": "y"}]},
                        "after": {"ID": {"n": [1]}, "NAME": "skip\u00e9"}, "\u006fp": "c"}"#;
        let v = parse_slice_shaped(text, &shape).expect("parses");
        assert_eq!(
            v.to_json(),
            serde_json::json!({"op": "c", "after": {"ID": {"n": [1]}}})
        );
    }

    #[test]
    fn keys_skipped_inside_row_images_are_recorded_and_nowhere_else() {
        let row = Shape::row().with("ID", Shape::All);
        let shape = Shape::nothing()
            .with("op", Shape::All)
            .with("after", row.clone())
            .with("before", row);
        let text = br#"{"op": "u", "source": {"db": "x"}, "after": {"ID": 1, "NEW": 2,
                        "W\u0049DE": {"a": 1}}, "before": {"ID": 1, "OLD": null}}"#;
        let mut skipped = Skipped::default();
        let v = parse_slice_recording(text, &shape, &mut skipped).expect("parses");
        assert_eq!(
            v.to_json(),
            serde_json::json!({"op": "u", "after": {"ID": 1}, "before": {"ID": 1}})
        );
        assert_eq!(
            skipped.names().collect::<Vec<_>>(),
            vec!["NEW", "WIDE", "OLD"]
        );
        assert!(matches!(skipped.inline[0], Cow::Borrowed(_)), "no copy");
        assert!(
            matches!(skipped.inline[1], Cow::Owned(_)),
            "an escaped key is decoded"
        );
        assert!(!skipped.more && skipped.spill.capacity() == 0);
        // A merged shape stays a row where either side was one.
        let mut merged = Shape::nothing().with("ID", Shape::All);
        merged.merge(&Shape::row().with("NAME", Shape::All));
        let mut skipped = Skipped::default();
        parse_slice_recording(br#"{"ID": 1, "NAME": 2, "X": 3}"#, &merged, &mut skipped)
            .expect("parses");
        assert_eq!(skipped.names().collect::<Vec<_>>(), vec!["X"]);
        // Bounded per message.
        let wide: String = (0..100)
            .map(|i| format!("\"C{i}\": {i}"))
            .collect::<Vec<_>>()
            .join(",");
        let wide = format!("{{{wide}}}");
        let mut skipped = Skipped::default();
        parse_slice_recording(wide.as_bytes(), &Shape::row(), &mut skipped).expect("parses");
        assert_eq!(skipped.len(), Skipped::LIMIT);
        assert_eq!(skipped.names().count(), Skipped::LIMIT);
        assert_eq!(skipped.names().nth(9), Some("C9"));
        assert!(skipped.more);
    }

    #[test]
    fn non_objects_at_shaped_positions_are_kept_whole() {
        let shape = Shape::nothing().with("after", Shape::nothing().with("ID", Shape::All));
        let v = parse_slice_shaped(br#"{"after": [1, {"a": 2}]}"#, &shape).expect("parses");
        assert_eq!(v.to_json(), serde_json::json!({"after": [1, {"a": 2}]}));
        let v = parse_slice_shaped(br#""text""#, &shape).expect("parses");
        assert_eq!(v, Value::String("text".into()));
        let v = parse_slice_shaped(br#"{"after": 18446744073709551615}"#, &shape).expect("parses");
        assert_eq!(v.get("after"), &Value::Float(18_446_744_073_709_551_615.0));
    }

    #[test]
    fn invalid_json_in_skipped_parts_is_still_an_error() {
        let shape = Shape::nothing().with("a", Shape::All);
        for bad in [
            &br#"{"a": 1, "b": [1,}"#[..],
            br#"{"a": 1, "b": tru}"#,
            br#"{"a": 1} x"#,
            b"{",
        ] {
            assert!(parse_slice_shaped(bad, &shape).is_err());
            assert!(parse_slice(bad).is_err());
        }
    }

    #[test]
    fn merge_is_a_union_and_all_absorbs() {
        let mut a = Shape::nothing().with("x", Shape::nothing().with("p", Shape::All));
        a.merge(
            &Shape::nothing()
                .with("x", Shape::nothing().with("q", Shape::All))
                .with("y", Shape::All),
        );
        let want = Shape::nothing()
            .with(
                "x",
                Shape::nothing().with("p", Shape::All).with("q", Shape::All),
            )
            .with("y", Shape::All);
        assert_eq!(a, want);
        a.merge(&Shape::All);
        assert_eq!(a, Shape::All);
        a.keep(&path(&["z"]), &Shape::nothing());
        assert_eq!(a, Shape::All);
    }
}
