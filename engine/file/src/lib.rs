//! File adapters: the newline-delimited JSON source and the JSON-lines sinks.
//!
//! In: files, directories or stdin holding one message per line; events and dead letters to
//! write. Out: [`fdc_core::store::Source`] batches; `.jsonl` files of events and dead letters.

mod sink;
mod source;

pub use sink::{JsonlDeadLetters, JsonlEvents, MemoryEvents};
pub use source::{parse_line, read_once, FileInput, FileSource, Resumed};
