//! Projection writes under the version guard, in a constant number of round trips.
//!
//! In: one round of a projection write call (at most one [`RecordWrite`] per key). Out: per
//! write, [`WriteOutcome::Applied`] or [`WriteOutcome::Stale`], with the records stored.
//!
//! A round:
//! 1. one `find` (`_id $in`, only `__meta`) reads the stored version of every key;
//! 2. a write whose guard ([`RecordWrite::guard`]: its version, or the deleted version for a
//!    put after a hard delete) is older than its stored version is stale and not sent; the
//!    rest go out as at most three unordered commands: `insert` of the records not stored,
//!    `update` replacing the stored ones (`upsert: false`), `delete` of the hard-deleted ones
//!    (a hard delete of a record that is not stored is applied: there is nothing to remove);
//! 3. the replies are checked: when each command's count `n` says every statement applied,
//!    the round is done. That is the common path: two round trips plus one per kind of write,
//!    whatever the number of records, and no error is part of it.
//!
//! When a reply falls short (another writer inserted, changed or removed a record since step
//! 1, or a statement was refused), the affected documents are read back, what was applied is
//! kept, and the rest starts again at step 1. A statement refused with a duplicate key
//! ([`DUPLICATE_KEY`]) [`ATTEMPTS`] times in a row with no other progress is refused by a
//! declared unique index: a fatal error, never a silent "stale".
//!
//! The filter of the update and delete statements depends on the [`WriteGuard`]; see there
//! why FerretDB v1 gets `{_id}` alone.

use std::collections::HashMap;

use mongodb::bson::{doc, Document};

use fdc_core::store::{RecordWrite, StoreError, WriteOutcome};

use super::command::{self, Kind, Reply};
use super::documents::{record_to_document, META, VERSION_PATH};
use super::ids::{parse_version, version_string};
use super::MongoStore;

/// Duplicate-key error.
pub const DUPLICATE_KEY: i32 = 11000;
/// Attempts in a row that may resolve no statement before the round fails.
pub const ATTEMPTS: usize = 3;

/// How update and delete statements make sure that a record did not change between the read
/// of its version (step 1) and the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteGuard {
    /// The filter is `{_id, "__meta.version": <the version read>}`: on a server whose writes
    /// are atomic per document (MongoDB), a record changed by another writer meanwhile makes
    /// its statement match nothing, which the reply's count reveals. The default.
    VersionInFilter,
    /// The filter is `{_id}` alone. For FerretDB v1, detected at connect: it runs an `update`
    /// as a query followed by a separate write (FerretDB issue #3040), so a version in the
    /// filter would not make the write atomic, and its SQLite backend uses an index only for a
    /// filter that is exactly `{_id: <string>}`: any other filter reads the whole collection,
    /// once per statement. The guard is then the read of step 1: the writes of one key are
    /// serialized inside the process (`locks`), and other processes are kept out by the
    /// consumer group (one consumer per partition, messages partitioned by key). A second
    /// process writing the same keys at the same moment (for example the old owner of a
    /// partition still finishing a batch during a rebalance) could overwrite a newer version
    /// with an older one; on MongoDB, `VersionInFilter` excludes that.
    IdOnly,
}

/// One write of a round: its position in the call, its `_id`, the write.
pub type Pending = (usize, String, RecordWrite);

/// A write ready to send: the stored document of a put (`None`: a hard delete).
struct Prepared {
    position: usize,
    id: String,
    /// The guard ([`RecordWrite::guard`]): stale when the stored version is newer.
    version: u128,
    document: Option<Document>,
}

impl MongoStore {
    /// The filter of an update or delete of `id`, whose stored version was read as `stored`.
    fn guard_filter(&self, id: &str, stored: u128) -> Document {
        match self.guard {
            WriteGuard::VersionInFilter => {
                doc! { "_id": id, VERSION_PATH: version_string(stored) }
            }
            WriteGuard::IdOnly => doc! { "_id": id },
        }
    }

    /// Stored versions by `_id` (absent: nothing stored). A stored record without a readable
    /// version is an error: the guard cannot be applied to it.
    async fn stored_versions(
        &self,
        operation: &str,
        projection: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, u128>, StoreError> {
        let docs = self
            .find_by_ids(operation, projection, ids, Some(doc! { META: 1 }))
            .await?;
        docs.into_iter()
            .map(|(id, d)| {
                let v = d
                    .get_document(META)
                    .ok()
                    .and_then(|m| m.get_str("version").ok())
                    .and_then(parse_version)
                    .ok_or_else(|| {
                        StoreError::fatal(operation, "a stored record has no valid version")
                    })?;
                Ok((id, v))
            })
            .collect()
    }

    /// Sends `statements`; fails on every write-error code but [`DUPLICATE_KEY`].
    async fn send(
        &self,
        operation: &str,
        kind: Kind,
        projection: &str,
        statements: Vec<Document>,
    ) -> Result<Reply, StoreError> {
        let reply = command::run(
            &self.db,
            operation,
            kind,
            projection,
            statements,
            self.statements_per_command(kind),
            &self.write_concern,
        )
        .await?;
        let refused: Vec<i32> = reply.codes().filter(|c| *c != DUPLICATE_KEY).collect();
        if refused.is_empty() {
            Ok(reply)
        } else {
            Err(command::refused(operation, &refused))
        }
    }

    /// Applies one round (at most one write per key), setting `outcomes` of stale writes.
    pub(super) async fn write_round(
        &self,
        operation: &str,
        projection: &str,
        round: Vec<Pending>,
        outcomes: &mut [WriteOutcome],
    ) -> Result<(), StoreError> {
        let mut pending = Vec::with_capacity(round.len());
        for (position, id, w) in round {
            // The stored version is compared with the write's guard: a put after a hard delete
            // of the same batch is guarded by the deleted version, not by its own.
            let version = w.guard().0;
            let document = match w.into_record() {
                Some(r) => Some(
                    record_to_document(&id, &r).map_err(|e| StoreError::fatal(operation, e.0))?,
                ),
                None => None,
            };
            pending.push(Prepared {
                position,
                id,
                version,
                document,
            });
        }
        let mut fruitless = 0;
        while !pending.is_empty() {
            let before = pending.len();
            let (again, duplicates) = self
                .attempt(operation, projection, pending, outcomes)
                .await?;
            fruitless = if again.len() < before {
                0
            } else {
                fruitless + 1
            };
            if !again.is_empty() && fruitless >= ATTEMPTS {
                return Err(if duplicates {
                    StoreError::fatal(
                        operation,
                        format!(
                            "{} record(s) refused by a unique index of the projection (server code {DUPLICATE_KEY})",
                            again.len()
                        ),
                    )
                } else {
                    StoreError::retryable(
                        operation,
                        format!(
                            "{} record(s) changed by another writer on every attempt",
                            again.len()
                        ),
                    )
                });
            }
            pending = again;
        }
        Ok(())
    }

    /// Steps 1 to 3 once; the writes to try again, and whether a duplicate key was among the
    /// reasons.
    async fn attempt(
        &self,
        operation: &str,
        projection: &str,
        pending: Vec<Prepared>,
        outcomes: &mut [WriteOutcome],
    ) -> Result<(Vec<Prepared>, bool), StoreError> {
        let ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
        let stored = self.stored_versions(operation, projection, &ids).await?;
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let mut removes = Vec::new();
        for p in pending {
            match (stored.get(&p.id).copied(), p.document.is_some()) {
                (Some(v), _) if v > p.version => outcomes[p.position] = WriteOutcome::Stale,
                (Some(v), true) => updates.push((p, v)),
                (Some(v), false) => removes.push((p, v)),
                (None, true) => inserts.push(p),
                // A hard delete of a record that is not stored: nothing to remove.
                (None, false) => {}
            }
        }
        let mut again = Vec::new();
        let mut duplicates = false;

        if !inserts.is_empty() {
            let documents: Vec<Document> =
                inserts.iter().filter_map(|p| p.document.clone()).collect();
            let reply = self
                .send(operation, Kind::Insert, projection, documents)
                .await?;
            for (p, error) in inserts.into_iter().zip(reply.errors) {
                // Inserted by another writer since step 1, or refused by a unique index: step
                // 1 tells which on the next attempt.
                if error.is_some() {
                    duplicates = true;
                    again.push(p);
                }
            }
        }

        if !updates.is_empty() {
            let statements: Vec<Document> = updates
                .iter()
                .map(|(p, v)| {
                    doc! {
                        "q": self.guard_filter(&p.id, *v),
                        "u": p.document.clone().unwrap_or_default(),
                        "upsert": false,
                    }
                })
                .collect();
            let reply = self
                .send(operation, Kind::Update, projection, statements)
                .await?;
            duplicates |= reply.codes().next().is_some();
            if reply.n != Some(updates.len() as u64) {
                // Some statement matched nothing or was refused, and the reply does not say
                // which (FerretDB v1 stops at the first write error, reported under index 0):
                // what is stored tells.
                let ids: Vec<&str> = updates.iter().map(|(p, _)| p.id.as_str()).collect();
                let now = self.find_by_ids(operation, projection, &ids, None).await?;
                for (p, _) in updates {
                    if now.get(&p.id) != p.document.as_ref() {
                        again.push(p);
                    }
                }
            }
        }

        if !removes.is_empty() {
            let statements: Vec<Document> = removes
                .iter()
                .map(|(p, v)| doc! { "q": self.guard_filter(&p.id, *v), "limit": 1 })
                .collect();
            let reply = self
                .send(operation, Kind::Delete, projection, statements)
                .await?;
            if let Some(code) = reply.codes().next() {
                return Err(command::refused(operation, &[code]));
            }
            if reply.n != Some(removes.len() as u64) {
                let ids: Vec<&str> = removes.iter().map(|(p, _)| p.id.as_str()).collect();
                let now = self.stored_versions(operation, projection, &ids).await?;
                for (p, _) in removes {
                    if now.contains_key(&p.id) {
                        again.push(p);
                    }
                }
            }
        }
        Ok((again, duplicates))
    }
}
