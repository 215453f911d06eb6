//! JSON-lines sinks for events and dead letters, and an in-memory event sink.
//!
//! In: batches of [`Event`]s or [`DeadLetter`]s. Out: one JSON object per line, appended to a
//! file (events validate against `schemas/events/*.schema.json`), or kept in memory.
//!
//! Guarantees: a call returns only after its lines are written and synced to disk (so the
//! runtime may commit input positions behind it); a replayed batch appends its lines again
//! (at-least-once, like a Kafka topic).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;

use fdc_core::store::{DeadLetter, DeadLetterSink, Event, EventSink, StoreError};

struct JsonlFile {
    file: Mutex<File>,
}

impl JsonlFile {
    fn open(path: &Path) -> Result<JsonlFile, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::fatal("create directory", e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StoreError::fatal("open output file", e))?;
        Ok(JsonlFile {
            file: Mutex::new(file),
        })
    }

    fn append<T: serde::Serialize>(&self, items: &[T]) -> Result<(), StoreError> {
        let op = "append output file";
        if items.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for i in items {
            serde_json::to_writer(&mut buf, i).map_err(|e| StoreError::fatal(op, e))?;
            buf.push(b'\n');
        }
        let mut f = self
            .file
            .lock()
            .map_err(|_| StoreError::fatal(op, "lock poisoned"))?;
        f.write_all(&buf).map_err(|e| StoreError::fatal(op, e))?;
        f.sync_data().map_err(|e| StoreError::fatal(op, e))
    }
}

/// Appends events to a `.jsonl` file.
pub struct JsonlEvents(JsonlFile);

impl JsonlEvents {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> Result<JsonlEvents, StoreError> {
        JsonlFile::open(path).map(JsonlEvents)
    }
}

#[async_trait]
impl EventSink for JsonlEvents {
    async fn publish(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.0.append(&events)
    }
}

/// Appends dead letters to a `.jsonl` file.
pub struct JsonlDeadLetters(JsonlFile);

impl JsonlDeadLetters {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> Result<JsonlDeadLetters, StoreError> {
        JsonlFile::open(path).map(JsonlDeadLetters)
    }
}

#[async_trait]
impl DeadLetterSink for JsonlDeadLetters {
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        self.0.append(&letters)
    }
}

/// Keeps events in memory (for `fdc test` and tests), or drops them when `keep` is false.
#[derive(Default)]
pub struct MemoryEvents {
    events: Mutex<Vec<Event>>,
}

impl MemoryEvents {
    /// Every event published so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl EventSink for MemoryEvents {
    async fn publish(&self, events: Vec<Event>) -> Result<(), StoreError> {
        self.events
            .lock()
            .map_err(|_| StoreError::fatal("publish events", "lock poisoned"))?
            .extend(events);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_core::store::EventOp;

    #[tokio::test]
    async fn events_and_dead_letters_are_appended_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("fdc-file-sink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let events = JsonlEvents::open(&dir.join("events.jsonl")).unwrap();
        let e = Event::SingleViewUpdate {
            topic: "sv".into(),
            view: "v".into(),
            key: serde_json::json!({"id": 1}),
            op: EventOp::Insert,
            before: None,
            after: Some(serde_json::json!({"id": 1})),
        };
        events.publish(vec![e.clone(), e]).await.unwrap();
        let text = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            serde_json::json!({"kind": "single_view_update", "topic": "sv", "view": "v",
                "key": {"id": 1}, "op": "insert", "after": {"id": 1}})
        );
        let dl = JsonlDeadLetters::open(&dir.join("dead.jsonl")).unwrap();
        dl.dead_letter(vec![DeadLetter {
            topic: "t".into(),
            partition: 1,
            offset: 2,
            key: serde_json::Value::Null,
            value: serde_json::json!("raw"),
            reason: "why".into(),
            projection: None,
            original: None,
        }])
        .await
        .unwrap();
        let text = std::fs::read_to_string(dir.join("dead.jsonl")).unwrap();
        assert!(text.contains("\"reason\":\"why\""));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
