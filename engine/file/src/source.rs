//! The file source: newline-delimited JSON messages from a file, a directory (files in name
//! order) or stdin.
//!
//! In: lines `{"topic": "...", "key": <json>, "value": <json>, "headers"?: {name: <json>},
//! "timestamp"?: <epoch ms | RFC 3339>, "partition"?: <int>, "offset"?: <int>}` (schema:
//! `schemas/events/input-line.schema.json`). Out: [`Message`]s in file order: key and value are
//! encoded as JSON text (a JSON `null` or missing value is a Kafka null value, i.e. a
//! tombstone); a header that is a JSON string is passed as its raw text, others as JSON text;
//! partition defaults to 0 and offset to the 1-based line number. A line that is not a message
//! (not JSON, not an object, no string `topic`, not UTF-8) is a dead letter whose topic names
//! the input instead, `file:<absolute path>` or `stdin`, and whose offset is the line number.
//!
//! Guarantees: a malformed line becomes a dead letter (with the raw line and the reason), never
//! an error; a line that is not UTF-8 too (its bytes kept as base64: [`not_utf8`]); blank lines
//! are ignored. With a [`CheckpointStore`], the number of lines consumed
//! per file is stored on commit and skipped on the next open, so a restarted run continues
//! where it stopped; the files resumed so are listed ([`FileSource::resumed`]). Only regular
//! files resume: stdin, a pipe (a FIFO, `<(...)`) or a device (`/dev/null`) is read from its
//! start every time and its position is never stored ([`read_once`]).

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use fdc_core::bounded;
use fdc_core::change::Message;
use fdc_core::source::{Ack, Held, Source, SourceBatch, SourceItem};
use fdc_core::store::{CheckpointStore, DeadLetter, StoreError};

/// Where the lines come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FileInput {
    /// One file.
    File(PathBuf),
    /// Every regular file of a directory, in name order.
    Directory(PathBuf),
    /// Standard input.
    Stdin,
}

struct Open {
    stream: String,
    reader: Box<dyn BufRead + Send>,
    /// Lines consumed so far (the next line's 1-based number minus one).
    line: i64,
}

/// A file whose stored position was found when it was opened: the lines before it were
/// processed by an earlier run and are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The input's name: `file:<absolute path>`.
    pub stream: String,
    /// The position stored by the earlier run: lines already processed.
    pub stored: i64,
    /// Lines skipped: `stored`, or fewer when the file is now shorter (it was replaced).
    pub skipped: i64,
}

/// Reads [`FileInput`] as a [`Source`].
pub struct FileSource {
    pending: VecDeque<(String, Option<PathBuf>)>,
    current: Option<Open>,
    checkpoints: Option<Arc<dyn CheckpointStore>>,
    resumed: Arc<Mutex<Vec<Resumed>>>,
    /// What a pause holds ([`Source::hold`]).
    held: Held,
    /// A message read but held: its line is not counted as consumed until it is delivered.
    parked: Option<Message>,
}

/// The name of a stream read only once: stdin, a pipe (`<(...)`, a FIFO) or a device
/// (`/dev/null`). Its position is never stored (only `file:` streams are), since the same name
/// gives other lines on the next run.
const ONCE: &str = "stream:";

/// Whether `path` is read from its start on every run: not a regular file (a FIFO, a process
/// substitution, a character device).
pub fn read_once(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file())
}

impl FileSource {
    /// A source over `input`; `checkpoints` enables resuming.
    pub fn open(
        input: FileInput,
        checkpoints: Option<Arc<dyn CheckpointStore>>,
    ) -> Result<FileSource, StoreError> {
        let mut pending = VecDeque::new();
        match input {
            FileInput::File(p) => pending.push_back((stream_name(&p), Some(p))),
            FileInput::Directory(d) => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
                    .map_err(|e| StoreError::fatal("read input directory", e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                for f in files {
                    pending.push_back((stream_name(&f), Some(f)));
                }
            }
            FileInput::Stdin => pending.push_back(("stdin".into(), None)),
        }
        Ok(FileSource {
            pending,
            current: None,
            checkpoints,
            resumed: Arc::default(),
            held: Held::Nothing,
            parked: None,
        })
    }

    /// The files resumed from a stored position so far (filled as the files are opened, so
    /// read it after the run): shared with the source.
    pub fn resumed(&self) -> Arc<Mutex<Vec<Resumed>>> {
        self.resumed.clone()
    }

    async fn next_open(&mut self) -> Result<bool, StoreError> {
        let Some((stream, path)) = self.pending.pop_front() else {
            return Ok(false);
        };
        let mut reader: Box<dyn BufRead + Send> = match &path {
            Some(p) => Box::new(std::io::BufReader::new(
                std::fs::File::open(p).map_err(|e| StoreError::fatal("open input file", e))?,
            )),
            None => Box::new(std::io::BufReader::new(std::io::stdin())),
        };
        let mut line = 0;
        if stream.starts_with("file:") {
            if let Some(c) = &self.checkpoints {
                let skip = c.load_checkpoint(&stream).await?.unwrap_or(0);
                let mut buf = Vec::new();
                while line < skip {
                    buf.clear();
                    // Bytes, not text: a skipped line that is not UTF-8 was dead-lettered
                    // already and must not stop the resume.
                    let n = reader
                        .read_until(b'\n', &mut buf)
                        .map_err(|e| StoreError::fatal("read input file", e))?;
                    if n == 0 {
                        break;
                    }
                    line += 1;
                }
                if skip > 0 {
                    tracing::info!(
                        input = %bounded::name(&stream),
                        stored = skip,
                        skipped = line,
                        "input resumed after its stored position"
                    );
                    if let Ok(mut r) = self.resumed.lock() {
                        r.push(Resumed {
                            stream: stream.clone(),
                            stored: skip,
                            skipped: line,
                        });
                    }
                }
            }
        }
        self.current = Some(Open {
            stream,
            reader,
            line,
        });
        Ok(true)
    }
}

/// `file:<absolute path>` for a regular file (the name its position is stored under);
/// `stream:<path>` for what can be read only once ([`read_once`]).
fn stream_name(p: &Path) -> String {
    if read_once(p) {
        return format!("{ONCE}{}", p.display());
    }
    let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    format!("file:{}", abs.display())
}

#[async_trait]
impl Source for FileSource {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        let mut batch = SourceBatch::default();
        if self.held == Held::All {
            tracing::info!("input held: the whole process is paused; the run ends here");
            return Ok(None);
        }
        if let Some(m) = self.parked.take() {
            if self.held.holds(&m.topic) {
                tracing::info!(
                    topic = %bounded::name(&m.topic),
                    "input held at a message of a paused projection; the run ends here and \
                     the next run continues from it"
                );
                self.parked = Some(m);
                return Ok(None);
            }
            if let Some(open) = self.current.as_mut() {
                open.line += 1;
                set_position(&mut batch.ack, &open.stream, open.line);
            }
            batch.items.push(SourceItem::Message(m));
        }
        let mut buf = Vec::new();
        while batch.items.len() < max.max(1) {
            if self.current.is_none() && !self.next_open().await? {
                break;
            }
            let Some(open) = self.current.as_mut() else {
                break;
            };
            buf.clear();
            // Bytes, not text: one line that is not UTF-8 must become a dead letter, not an
            // error of the whole read (which would stop every rerun at the same line).
            let n = open
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| StoreError::fatal("read input", e))?;
            if n == 0 {
                let done = self.current.take();
                if let Some(o) = done {
                    set_position(&mut batch.ack, &o.stream, o.line);
                }
                continue;
            }
            let number = open.line + 1;
            let mut item = match std::str::from_utf8(&buf) {
                Ok(text) if text.trim().is_empty() => {
                    open.line = number;
                    set_position(&mut batch.ack, &open.stream, open.line);
                    continue;
                }
                Ok(text) => parse_line(text.trim(), number),
                Err(e) => not_utf8(&buf, e.valid_up_to(), number),
            };
            // A held message stays unconsumed (its line not counted, no position at or after
            // it acknowledged): the batch ends before it.
            if let SourceItem::Message(m) = item {
                if self.held.holds(&m.topic) {
                    self.parked = Some(m);
                    break;
                }
                item = SourceItem::Message(m);
            }
            open.line = number;
            set_position(&mut batch.ack, &open.stream, open.line);
            // A line that is not a message has no topic: the dead letter names the input it
            // came from instead (its offset is the line number), so it says where to look.
            if let SourceItem::Malformed(d) = &mut item {
                if d.topic.is_empty() {
                    d.topic.clone_from(&open.stream);
                }
            }
            batch.items.push(item);
        }
        if batch.items.is_empty()
            && self.parked.is_none()
            && self.current.is_none()
            && self.pending.is_empty()
        {
            // Only blank lines were left: nothing to apply (re-reading them is harmless).
            return Ok(None);
        }
        Ok(Some(batch))
    }

    fn hold(&mut self, held: Held) {
        self.held = held;
    }

    async fn commit(&mut self, ack: &Ack) -> Result<(), StoreError> {
        match &self.checkpoints {
            Some(c) => {
                let files: Vec<(String, i64)> = ack
                    .positions
                    .iter()
                    .filter(|(s, _)| s.starts_with("file:"))
                    .cloned()
                    .collect();
                if files.is_empty() {
                    Ok(())
                } else {
                    c.save_checkpoints(&files).await
                }
            }
            None => Ok(()),
        }
    }
}

fn set_position(ack: &mut Ack, stream: &str, line: i64) {
    match ack.positions.iter_mut().find(|(s, _)| s == stream) {
        Some(p) => p.1 = line,
        None => ack.positions.push((stream.to_owned(), line)),
    }
}

/// The dead letter of a line that is not UTF-8 (so not JSON either). Its value keeps the
/// line's bytes losslessly as `{"base64": "<standard base64 of the bytes>"}` (the line
/// terminator excluded): a string could not hold them, and an object is never the value of
/// another malformed line (those are strings).
fn not_utf8(bytes: &[u8], valid_up_to: usize, line: i64) -> SourceItem {
    use base64::Engine as _;
    let bytes = bytes
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .unwrap_or(bytes);
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    SourceItem::Malformed(DeadLetter::of_input_line(
        String::new(),
        line,
        serde_json::json!({ "base64": encoded }),
        &format!("not UTF-8 (byte {} is invalid)", valid_up_to + 1),
    ))
}

/// Parses one line into a message, or a dead letter saying why it is not one.
pub fn parse_line(text: &str, line: i64) -> SourceItem {
    let malformed = |topic: String, reason: String| {
        SourceItem::Malformed(DeadLetter::of_input_line(
            topic,
            line,
            serde_json::Value::String(text.to_owned()),
            &reason,
        ))
    };
    let json: serde_json::Value = match serde_json::from_str(text) {
        Ok(j) => j,
        Err(e) => return malformed(String::new(), format!("not JSON ({e})")),
    };
    let Some(obj) = json.as_object() else {
        return malformed(String::new(), "not a JSON object".into());
    };
    let Some(topic) = obj.get("topic").and_then(|t| t.as_str()) else {
        return malformed(String::new(), "missing string field `topic`".into());
    };
    let topic = topic.to_owned();
    let encode = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.to_string().into_bytes()),
    };
    let int = |name: &str| -> Result<Option<i64>, String> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("`{name}` must be an integer")),
        }
    };
    let partition = match int("partition") {
        Ok(p) => p.unwrap_or(0),
        Err(e) => return malformed(topic, e),
    };
    let Ok(partition) = i32::try_from(partition) else {
        return malformed(topic, "`partition` out of range".into());
    };
    let offset = match int("offset") {
        Ok(o) => o.unwrap_or(line),
        Err(e) => return malformed(topic, e),
    };
    let timestamp = match obj.get("timestamp") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.timestamp_millis()),
            Err(_) => return malformed(topic, "`timestamp` is not RFC 3339".into()),
        },
        Some(v) => match v.as_i64() {
            Some(t) => Some(t),
            None => return malformed(topic, "`timestamp` must be epoch ms or RFC 3339".into()),
        },
    };
    let headers = match obj.get("headers") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Object(h)) => h
            .iter()
            .map(|(k, v)| {
                let bytes = match v {
                    serde_json::Value::String(s) => s.clone().into_bytes(),
                    other => other.to_string().into_bytes(),
                };
                (k.clone(), bytes)
            })
            .collect(),
        Some(_) => return malformed(topic, "`headers` must be an object".into()),
    };
    SourceItem::Message(Message {
        topic,
        partition,
        offset,
        key: encode(obj.get("key")),
        value: encode(obj.get("value")),
        headers,
        timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_embedded::EmbeddedStore;

    #[test]
    fn lines_become_messages_or_dead_letters() {
        let m = parse_line(
            r#"{"topic":"t","key":{"id":1},"value":{"a":"x"},"headers":{"h":"raw","j":{"n":1}},"timestamp":"2024-01-01T00:00:00Z"}"#,
            3,
        );
        let SourceItem::Message(m) = m else {
            panic!("not a message")
        };
        assert_eq!(m.key.as_deref(), Some(&br#"{"id":1}"#[..]));
        assert_eq!(m.value.as_deref(), Some(&br#"{"a":"x"}"#[..]));
        assert_eq!(m.headers[0], ("h".to_string(), b"raw".to_vec()));
        assert_eq!(m.headers[1], ("j".to_string(), br#"{"n":1}"#.to_vec()));
        assert_eq!((m.partition, m.offset), (0, 3));
        assert_eq!(m.timestamp, Some(1_704_067_200_000));
        let SourceItem::Message(t) = parse_line(r#"{"topic":"t","key":"k","value":null}"#, 1)
        else {
            panic!("not a message")
        };
        assert_eq!((t.key.as_deref(), t.value), (Some(&b"\"k\""[..]), None));
        for bad in ["{", "[1]", r#"{"key":1}"#, r#"{"topic":"t","offset":"x"}"#] {
            match parse_line(bad, 9) {
                SourceItem::Malformed(d) => {
                    assert_eq!(d.offset, 9);
                    assert_eq!(d.value, serde_json::Value::String(bad.into()));
                }
                SourceItem::Message(_) => panic!("{bad} parsed"),
            }
        }
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_a_dead_letter_and_the_lines_around_it_are_read() {
        let dir = std::env::temp_dir().join(format!("fdc-file-utf8-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bad: &[u8] = b"{\"topic\":\"t\",\"value\":\"caf\xe9\"}";
        let mut text = b"{\"topic\":\"a\"}\n".to_vec();
        text.extend_from_slice(bad);
        text.extend_from_slice(b"\r\n{\"topic\":\"b\"}\n");
        let file = dir.join("in.jsonl");
        std::fs::write(&file, &text).unwrap();
        let store: Arc<dyn CheckpointStore> =
            Arc::new(EmbeddedStore::open(&dir.join("s")).unwrap());
        let mut s = FileSource::open(FileInput::File(file.clone()), Some(store.clone())).unwrap();
        let b = s.next_batch(10).await.unwrap().unwrap();
        assert_eq!(b.items.len(), 3);
        assert!(matches!(&b.items[0], SourceItem::Message(m) if m.topic == "a"));
        assert!(matches!(&b.items[2], SourceItem::Message(m) if m.topic == "b"));
        let SourceItem::Malformed(d) = &b.items[1] else {
            panic!("not a dead letter")
        };
        assert_eq!(d.offset, 2);
        assert_eq!(d.reason, "input line 2: not UTF-8 (byte 26 is invalid)");
        let file_name = format!("file:{}", std::fs::canonicalize(&file).unwrap().display());
        assert_eq!(d.topic, file_name, "names the file; the offset is the line");
        use base64::Engine as _;
        let kept = base64::engine::general_purpose::STANDARD
            .decode(d.value["base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(kept, bad, "the line's bytes are kept, without the line end");
        s.commit(&b.ack).await.unwrap();
        // A rerun skips over the bad line (already dead-lettered) instead of failing on it.
        std::fs::write(&file, [text.as_slice(), b"{\"topic\":\"c\"}\n"].concat()).unwrap();
        let mut s = FileSource::open(FileInput::File(file), Some(store)).unwrap();
        let b = s.next_batch(10).await.unwrap().unwrap();
        assert_eq!(b.items.len(), 1);
        assert!(matches!(&b.items[0], SourceItem::Message(m) if m.topic == "c"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_directory_is_read_in_name_order_and_resumes_after_commit() {
        let dir = std::env::temp_dir().join(format!("fdc-file-source-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("in")).unwrap();
        std::fs::write(dir.join("in/b.jsonl"), "{\"topic\":\"b\"}\n").unwrap();
        std::fs::write(
            dir.join("in/a.jsonl"),
            "{\"topic\":\"a1\"}\n\n{\"topic\":\"a2\"}\nbad\n",
        )
        .unwrap();
        let store: Arc<dyn CheckpointStore> =
            Arc::new(EmbeddedStore::open(&dir.join("s")).unwrap());
        let topics = |b: &SourceBatch| -> Vec<String> {
            b.items
                .iter()
                .map(|i| match i {
                    SourceItem::Message(m) => m.topic.clone(),
                    SourceItem::Malformed(_) => "!".into(),
                })
                .collect()
        };
        let mut s =
            FileSource::open(FileInput::Directory(dir.join("in")), Some(store.clone())).unwrap();
        let b1 = s.next_batch(2).await.unwrap().unwrap();
        assert_eq!(topics(&b1), vec!["a1", "a2"]);
        s.commit(&b1.ack).await.unwrap();
        // A restart resumes after the committed lines.
        let mut s =
            FileSource::open(FileInput::Directory(dir.join("in")), Some(store.clone())).unwrap();
        let b2 = s.next_batch(10).await.unwrap().unwrap();
        assert_eq!(topics(&b2), vec!["!", "b"]);
        // The line that is not a message names its file and line.
        let SourceItem::Malformed(d) = &b2.items[0] else {
            panic!("not a dead letter")
        };
        let a = std::fs::canonicalize(dir.join("in/a.jsonl")).unwrap();
        assert_eq!(
            (d.topic.as_str(), d.offset),
            (format!("file:{}", a.display()).as_str(), 4)
        );
        s.commit(&b2.ack).await.unwrap();
        assert!(s.next_batch(10).await.unwrap().is_none());
        let mut s = FileSource::open(FileInput::Directory(dir.join("in")), Some(store)).unwrap();
        assert!(s.next_batch(10).await.unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn topics(batch: &SourceBatch) -> Vec<String> {
        batch
            .items
            .iter()
            .map(|i| match i {
                SourceItem::Message(m) => m.topic.clone(),
                SourceItem::Malformed(_) => "malformed".into(),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_held_topic_ends_the_input_before_its_first_message_and_keeps_its_position() {
        let dir = std::env::temp_dir().join(format!("fdc-file-held-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("in.jsonl");
        std::fs::write(
            &file,
            "{\"topic\":\"a\"}\n\n{\"topic\":\"b\"}\n{\"topic\":\"a\"}\n",
        )
        .unwrap();
        let store: Arc<dyn CheckpointStore> =
            Arc::new(EmbeddedStore::open(&dir.join("s")).unwrap());
        let mut s = FileSource::open(FileInput::File(file.clone()), Some(store.clone())).unwrap();
        s.hold(Held::Topics(["b".to_string()].into()));
        let first = s.next_batch(10).await.unwrap().unwrap();
        assert_eq!(topics(&first), ["a"]);
        // The blank line is consumed, the held line is not.
        assert_eq!(first.ack.positions[0].1, 2);
        s.commit(&first.ack).await.unwrap();
        assert!(
            s.next_batch(10).await.unwrap().is_none(),
            "held: the input ends"
        );

        // Released within the run: the held message comes first.
        s.hold(Held::Nothing);
        let rest = s.next_batch(10).await.unwrap().unwrap();
        assert_eq!(topics(&rest), ["b", "a"]);
        assert_eq!(rest.ack.positions[0].1, 4);

        // The next run starts at the held line (the second batch was never committed).
        let mut again = FileSource::open(FileInput::File(file), Some(store)).unwrap();
        again.hold(Held::All);
        assert!(
            again.next_batch(10).await.unwrap().is_none(),
            "all held: nothing read"
        );
        again.hold(Held::Nothing);
        assert_eq!(
            topics(&again.next_batch(10).await.unwrap().unwrap()),
            ["b", "a"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
