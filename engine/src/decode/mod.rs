//! Decoders: from a raw [`crate::change::Message`] to a format-neutral decoded change.
//!
//! In: a message and the projection's [`fdc_plan::Format`]. Out: the operation, the optional
//! key object, the before/after row images as untyped [`crate::value::Value`]s and the
//! ordering position, or a reason to skip or dead-letter it.

pub mod json;
