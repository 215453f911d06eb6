//! Bulk `insert`, `update` and `delete` commands with per-statement outcomes.
//!
//! In: a collection and its statements (documents to insert, `{q, u, upsert}` or
//! `{q, limit}`). Out: a [`Reply`]: per statement, `None` (no write error) or the server's
//! write-error code, and the server's count `n` (documents inserted, matched or deleted).
//!
//! Each call sends as few commands as the limits allow: unordered (`ordered: false`, so one
//! refused statement does not stop the others), at most `max_batch` statements and about
//! 8 MiB per command (the server limit is 16 MiB). These are the plain `update`/`delete`
//! commands every MongoDB-wire server has (FerretDB v1 included), not MongoDB 8's `bulkWrite`.
//!
//! Guarantees: a returned error list has one entry per statement in order; `n` is the sum of
//! the commands' counts, or `None` when a reply held write errors or no count (FerretDB v1
//! answers a failing `update` with `writeErrors` only; mongo-java-server counts every document
//! of an `insert` even when some failed); a command-level
//! failure or a write-concern error fails the whole call (retryable when the server or network
//! says so) and the caller may resend every statement, which is safe because every statement
//! is idempotent.

use mongodb::bson::{Bson, Document, RawArrayBuf, RawBson, RawDocumentBuf};
use mongodb::Database;

use fdc_core::store::StoreError;

use super::error::{from_code, from_driver};

/// Bytes of statements per command (the server accepts 16 MiB).
const MAX_COMMAND_BYTES: usize = 8 << 20;

/// `insert`, `update` or `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Insert,
    Update,
    Delete,
}

impl Kind {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Insert => ("insert", "documents"),
            Kind::Update => ("update", "updates"),
            Kind::Delete => ("delete", "deletes"),
        }
    }
}

/// What the server answered to the statements of one [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Per statement, in order: `None`, or the code of its write error.
    pub errors: Vec<Option<i32>>,
    /// Documents inserted, matched or deleted, summed over the commands; `None` when a reply
    /// held write errors or no count.
    pub n: Option<u64>,
}

impl Reply {
    /// The codes of the statements that failed.
    pub fn codes(&self) -> impl Iterator<Item = i32> + '_ {
        self.errors.iter().flatten().copied()
    }
}

/// Runs `statements` against `collection`.
pub async fn run(
    db: &Database,
    operation: &str,
    kind: Kind,
    collection: &str,
    statements: Vec<Document>,
    max_batch: usize,
    write_concern: &Document,
) -> Result<Reply, StoreError> {
    let mut outcomes = vec![None; statements.len()];
    let mut n = Some(0u64);
    let mut start = 0;
    let mut chunk = RawArrayBuf::new();
    let mut chunk_len = 0usize;
    let mut chunk_bytes = 0usize;
    let total = statements.len();
    for (i, s) in statements.into_iter().enumerate() {
        let raw = RawDocumentBuf::from_document(&s)
            .map_err(|_| StoreError::fatal(operation, "a statement could not be encoded"))?;
        chunk_bytes += raw.as_bytes().len();
        chunk.push(raw);
        chunk_len += 1;
        let last = i + 1 == total;
        if last || chunk_len >= max_batch.max(1) || chunk_bytes >= MAX_COMMAND_BYTES {
            let sent = std::mem::replace(&mut chunk, RawArrayBuf::new());
            let (errors, count) = send(
                db,
                operation,
                kind,
                collection,
                (sent, chunk_len),
                write_concern,
            )
            .await?;
            n = match (n, count) {
                (Some(a), Some(b)) if errors.is_empty() => Some(a + b),
                _ => None,
            };
            for (index, code) in errors {
                if let Some(slot) = outcomes.get_mut(start + index) {
                    *slot = Some(code);
                }
            }
            start += chunk_len;
            chunk_len = 0;
            chunk_bytes = 0;
        }
    }
    Ok(Reply {
        errors: outcomes,
        n,
    })
}

/// Sends one command; the write errors as (index in the chunk, code), and the count `n`.
async fn send(
    db: &Database,
    operation: &str,
    kind: Kind,
    collection: &str,
    (statements, count): (RawArrayBuf, usize),
    write_concern: &Document,
) -> Result<(Vec<(usize, i32)>, Option<u64>), StoreError> {
    let (name, list) = kind.names();
    let mut cmd = RawDocumentBuf::new();
    cmd.append(name, collection);
    cmd.append(list, statements);
    cmd.append("ordered", false);
    let wc = RawDocumentBuf::from_document(write_concern)
        .map_err(|_| StoreError::fatal(operation, "the write concern could not be encoded"))?;
    cmd.append("writeConcern", RawBson::Document(wc));
    let started = std::time::Instant::now();
    let reply = db
        .run_raw_command(cmd)
        .await
        .map_err(|e| from_driver(operation, &e))?;
    tracing::debug!(
        command = name,
        collection,
        statements = count,
        micros = started.elapsed().as_micros() as u64,
        "mongo write command"
    );
    if let Ok(wce) = reply.get_document("writeConcernError") {
        let code = wce.get_i32("code").unwrap_or(64);
        return Err(StoreError::retryable(
            operation,
            format!("write concern not satisfied (server code {code})"),
        ));
    }
    let mut errors = Vec::new();
    if let Ok(list) = reply.get_array("writeErrors") {
        for e in list {
            let Bson::Document(e) = e else { continue };
            let index = number(e.get("index"));
            let code = number(e.get("code"));
            match (index, code) {
                (Some(i), Some(c)) => errors.push((i as usize, c as i32)),
                _ => {
                    return Err(StoreError::fatal(
                        operation,
                        "the server answered a malformed write error",
                    ))
                }
            }
        }
    }
    let n = number(reply.get("n")).and_then(|n| u64::try_from(n).ok());
    Ok((errors, n))
}

fn number(b: Option<&Bson>) -> Option<i64> {
    match b? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) => Some(*f as i64),
        _ => None,
    }
}

/// The error for statements refused with codes the caller does not handle.
pub fn refused(operation: &str, codes: &[i32]) -> StoreError {
    let mut distinct: Vec<i32> = codes.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let what = format!("{} statement(s) refused", codes.len());
    match distinct.as_slice() {
        [one] => from_code(operation, *one, &what),
        _ => StoreError::fatal(operation, format!("{what} (server codes {distinct:?})")),
    }
}
