//! `fdc-dsl`: the `.fdl` pipeline language.
//!
//! In: `.fdl` text, read through a [`loader::Loader`]. Out: a checked, compiled
//! [`fdc_plan::Plan`], or diagnostics with spans into the sources.
//!
//! Stages, each with its own type: [`syntax`] (pest pairs to a spanned AST, comments kept),
//! `check` (names resolved, types inferred, every problem collected), `compile` (the `Plan`).

pub mod syntax;
