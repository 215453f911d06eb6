//! [`ProjectionStore`] on MongoDB.
//!
//! In: the projection calls of the engine. Out: records, per-write outcomes.
//!
//! The version guard without transactions: a record is written by one `update` statement
//! `{q: {_id: K, "__meta.version": {$lte: V}}, u: <record>, upsert: true}`. When nothing is
//! stored, the upsert inserts; when an older or equal version is stored, the filter matches and
//! the record is replaced; when a newer one is stored, the filter matches nothing and the
//! upsert's insert of `_id: K` fails with a duplicate-key error (11000): the write is stale.
//! Every 11000 is confirmed by reading the stored version (a declared unique index can also
//! refuse a record; that is an error, never a silent "stale"), and a statement whose 11000 is
//! not confirmed (the record changed meanwhile) is sent again, a bounded number of times.
//! A hard delete is `delete {_id: K, "__meta.version": {$lte: V}}`; the `delete` command only
//! counts, so the outcome of each is read back afterwards (still stored with a newer version:
//! stale). Writes for one key within a call are applied in call order (one round per
//! occurrence); writes for different keys go out together, unordered.
//!
//! `find_in` sends `$in` on one field (or `$or` of conjunctions for composite tuples) plus
//! `__STATE__` and the equality conditions that can be checked safely on the server, then
//! checks the tuple, the state and every condition again with the engine's own rules
//! ([`crate::store::condition`], [`crate::store::key`]), so the answer is the embedded store's.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::NaiveDate;
use fdc_plan::{CompareOp, FieldCondition};
use mongodb::bson::{doc, Bson, Document};

use crate::store::{
    condition, key, FindIn, Page, ProjectionLayout, ProjectionStore, Record, RecordWrite,
    StoreError, WriteOutcome, STATE_FIELD,
};
use crate::value::Value;

use super::codec::lookup_candidates;
use super::command::{self, Kind};
use super::documents::{record_from_document, record_to_document, META, VERSION_PATH};
use super::ids::{id_of, parse_version, version_string};
use super::{index_name, MongoStore};

/// Duplicate-key error.
const DUPLICATE_KEY: i32 = 11000;
/// Rounds in a row that may resolve no statement before the collisions count as a unique-index
/// violation (each round resolves at least one statement unless a record is refused).
const ATTEMPTS: usize = 3;

/// One write of a round: its position in the call, its `_id`, the write.
type Pending = (usize, String, RecordWrite);

impl MongoStore {
    /// Documents of `collection` by `_id`, chunked.
    /// One `find` by `_id` for a batch of keys, each found document decoded by `decode`;
    /// the answers come in the order of `keys` (`None`: not stored).
    pub(super) async fn get_many_decoded<T: Clone>(
        &self,
        operation: &str,
        collection: &str,
        keys: &[Vec<Value>],
        decode: impl Fn(&Document) -> Result<T, StoreError>,
    ) -> Result<Vec<Option<T>>, StoreError> {
        let ids: Vec<Option<String>> = keys.iter().map(|k| id_of(k)).collect();
        let mut seen = HashSet::new();
        let wanted: Vec<&str> = ids
            .iter()
            .flatten()
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect();
        if wanted.is_empty() {
            return Ok(vec![None; keys.len()]);
        }
        let docs = self
            .find_by_ids(operation, collection, &wanted, None)
            .await?;
        let mut found: HashMap<&str, T> = HashMap::with_capacity(docs.len());
        for (id, d) in &docs {
            found.insert(id.as_str(), decode(d)?);
        }
        Ok(ids
            .iter()
            .map(|id| id.as_deref().and_then(|id| found.get(id).cloned()))
            .collect())
    }

    pub(super) async fn find_by_ids(
        &self,
        operation: &str,
        collection: &str,
        ids: &[&str],
        projection: Option<Document>,
    ) -> Result<HashMap<String, Document>, StoreError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(self.config.max_batch.max(1)) {
            let filter = doc! { "_id": { "$in": chunk.to_vec() } };
            let docs = match &projection {
                None => self.find_all(operation, collection, filter, None).await?,
                Some(p) => {
                    self.find_projected(operation, collection, filter, p.clone())
                        .await?
                }
            };
            for d in docs {
                if let Ok(id) = d.get_str("_id") {
                    out.insert(id.to_owned(), d);
                }
            }
        }
        Ok(out)
    }

    async fn find_projected(
        &self,
        operation: &str,
        collection: &str,
        filter: Document,
        projection: Document,
    ) -> Result<Vec<Document>, StoreError> {
        use futures_util::TryStreamExt;
        let coll: mongodb::Collection<Document> = self.db.collection(collection);
        let cursor = coll
            .find(filter)
            .projection(projection)
            .await
            .map_err(|e| super::error::from_driver(operation, &e))?;
        cursor
            .try_collect()
            .await
            .map_err(|e| super::error::from_driver(operation, &e))
    }

    /// Stored versions by `_id` (absent: nothing stored).
    async fn stored_versions(
        &self,
        operation: &str,
        projection: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, u128>, StoreError> {
        let docs = self
            .find_by_ids(operation, projection, ids, Some(doc! { META: 1 }))
            .await?;
        Ok(docs
            .into_iter()
            .filter_map(|(id, d)| {
                let v = d
                    .get_document(META)
                    .ok()
                    .and_then(|m| m.get_str("version").ok())
                    .and_then(parse_version)?;
                Some((id, v))
            })
            .collect())
    }

    fn decode(
        &self,
        operation: &str,
        projection: &str,
        d: &Document,
    ) -> Result<Record, StoreError> {
        let names = Self::keys_of(&self.projection_keys, projection);
        record_from_document(d, names.as_deref()).map_err(|e| StoreError::fatal(operation, e.0))
    }

    /// One round: at most one write per key.
    async fn write_round(
        &self,
        operation: &str,
        projection: &str,
        round: Vec<Pending>,
        outcomes: &mut [WriteOutcome],
    ) -> Result<(), StoreError> {
        let mut puts: Vec<(usize, String, u128, Document)> = Vec::new();
        let mut removes: Vec<(usize, String, u128, Document)> = Vec::new();
        for (i, id, w) in round {
            match w {
                RecordWrite::Put(r) => {
                    let v = r.meta.version;
                    let u = record_to_document(&id, &r)
                        .map_err(|e| StoreError::fatal(operation, e.0))?;
                    let s = doc! {
                        "q": { "_id": id.as_str(), VERSION_PATH: { "$lte": version_string(v) } },
                        "u": u,
                        "upsert": true,
                    };
                    puts.push((i, id, v, s));
                }
                RecordWrite::Remove { version, .. } => {
                    let s = doc! {
                        "q": { "_id": id.as_str(), VERSION_PATH: { "$lte": version_string(version.0) } },
                        "limit": 1,
                    };
                    removes.push((i, id, version.0, s));
                }
            }
        }
        let mut fruitless = 0;
        while !puts.is_empty() {
            let statements: Vec<Document> = puts.iter().map(|p| p.3.clone()).collect();
            let codes = command::run(
                &self.db,
                operation,
                Kind::Update,
                projection,
                statements,
                self.config.max_batch,
                &self.write_concern,
            )
            .await?;
            let refused: Vec<i32> = codes
                .iter()
                .flatten()
                .copied()
                .filter(|c| *c != DUPLICATE_KEY)
                .collect();
            if !refused.is_empty() {
                return Err(command::refused(operation, &refused));
            }
            if codes.iter().all(Option::is_none) {
                break;
            }
            // Some statement collided. Which ones ran is read back rather than taken from
            // `writeErrors`: FerretDB v1 stops an unordered `update` at the first error and
            // reports it under index 0, so the statements after it may not have run at all.
            let pending = puts.len();
            let ids: Vec<&str> = puts.iter().map(|p| p.1.as_str()).collect();
            let stored = self.find_by_ids(operation, projection, &ids, None).await?;
            let mut again = Vec::new();
            for p in puts {
                let doc = stored.get(&p.1);
                let written = doc.is_some_and(|d| Some(d) == p.3.get_document("u").ok());
                let newer = doc
                    .and_then(|d| d.get_document(META).ok())
                    .and_then(|m| m.get_str("version").ok())
                    .and_then(parse_version)
                    .is_some_and(|v| v > p.2);
                if written {
                    continue;
                } else if newer {
                    outcomes[p.0] = WriteOutcome::Stale;
                } else {
                    again.push(p);
                }
            }
            // Progress: some statement was written or found stale. Without progress the
            // collision is not with a newer version of the record: a unique index refuses it.
            fruitless = if again.len() < pending {
                0
            } else {
                fruitless + 1
            };
            if !again.is_empty() && fruitless >= ATTEMPTS {
                return Err(StoreError::fatal(
                    operation,
                    format!(
                        "{} record(s) refused by a unique index of the projection (server code {DUPLICATE_KEY})",
                        again.len()
                    ),
                ));
            }
            puts = again;
        }
        if !removes.is_empty() {
            let statements: Vec<Document> = removes.iter().map(|r| r.3.clone()).collect();
            let codes = command::run(
                &self.db,
                operation,
                Kind::Delete,
                projection,
                statements,
                self.config.max_batch,
                &self.write_concern,
            )
            .await?;
            let refused: Vec<i32> = codes.iter().flatten().copied().collect();
            if !refused.is_empty() {
                return Err(command::refused(operation, &refused));
            }
            let ids: Vec<&str> = removes.iter().map(|r| r.1.as_str()).collect();
            let stored = self.stored_versions(operation, projection, &ids).await?;
            for r in &removes {
                if stored.get(&r.1).is_some_and(|s| *s > r.2) {
                    outcomes[r.0] = WriteOutcome::Stale;
                }
            }
        }
        Ok(())
    }
}

/// Whether an equality with this string constant means the same on the server (string
/// equality) as in the engine (see [`condition::constant_like`]): not when the constant could
/// be read as a decimal, a date or a datetime.
fn plain_string(s: &str) -> bool {
    s.parse::<rust_decimal::Decimal>().is_err()
        && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err()
        && chrono::DateTime::parse_from_rfc3339(s).is_err()
}

/// Adds the server-side part of `conditions`: equalities whose server match is a superset of
/// the engine's (the engine checks them all again).
fn push_conditions(conditions: &[FieldCondition], filter: &mut Document) {
    for c in conditions {
        if c.op != CompareOp::Eq || c.field.starts_with('_') || filter.contains_key(&c.field) {
            continue;
        }
        let b = match &c.value {
            serde_json::Value::Null => Bson::Null,
            serde_json::Value::Bool(b) => Bson::Boolean(*b),
            serde_json::Value::String(s) if plain_string(s) => Bson::String(s.clone()),
            _ => continue,
        };
        filter.insert(c.field.clone(), b);
    }
}

/// `{field: value}` or `{field: {$in: [...]}}` for the candidates of one value.
fn match_one(values: Vec<Bson>) -> Bson {
    match <[Bson; 1]>::try_from(values) {
        Ok([one]) => one,
        Err(many) => Bson::Document(doc! { "$in": many }),
    }
}

#[async_trait]
impl ProjectionStore for MongoStore {
    async fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        let op = format!("ensure projection {}", layout.name);
        Self::remember(&self.projection_keys, &layout.name, &layout.key);
        let mut indexes: Vec<(Vec<String>, bool, String)> = Vec::new();
        if !layout.key.is_empty() {
            indexes.push((layout.key.clone(), true, index_name("key", &layout.key)));
        }
        let wanted = layout
            .declared
            .iter()
            .map(|(f, u)| (f, *u))
            .chain(layout.queried.iter().map(|f| (f, false)));
        for (fields, unique) in wanted {
            if fields.is_empty() || indexes.iter().any(|(f, _, _)| f == fields) {
                continue;
            }
            indexes.push((fields.clone(), unique, index_name("ix", fields)));
        }
        self.create_indexes(&op, &layout.name, &indexes).await
    }

    async fn get_many(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Record>>, StoreError> {
        let op = format!("read projection {projection}");
        self.get_many_decoded(&op, projection, keys, |d| self.decode(&op, projection, d))
            .await
    }

    async fn find_in(&self, projection: &str, q: FindIn<'_>) -> Result<Vec<Record>, StoreError> {
        let op = format!("query projection {projection}");
        let mut wanted: HashSet<Vec<u8>> = HashSet::new();
        let tuples: Vec<&Vec<Value>> = q
            .values
            .iter()
            .filter(|t| t.len() == q.fields.len())
            .filter(|t| key::encode(t).is_some_and(|e| wanted.insert(e)))
            .collect();
        if tuples.is_empty() || q.fields.is_empty() {
            return Ok(Vec::new());
        }
        let mut base = Document::new();
        if q.public_only {
            base.insert(STATE_FIELD, "PUBLIC");
        }
        let by_key = Self::keys_of(&self.projection_keys, projection)
            .is_some_and(|k| k.as_slice() == q.fields);
        let chunk = self.config.max_batch.max(1);
        let mut docs = Vec::new();
        if by_key {
            let ids: Vec<String> = tuples.iter().filter_map(|t| id_of(t)).collect();
            for ids in ids.chunks(chunk) {
                let mut f = base.clone();
                f.insert("_id", doc! { "$in": ids.to_vec() });
                push_conditions(q.conditions, &mut f);
                docs.extend(self.find_all(&op, projection, f, None).await?);
            }
        } else if let [field] = q.fields {
            for part in tuples.chunks(chunk) {
                let mut values = Vec::with_capacity(part.len());
                for t in part {
                    lookup_candidates(&t[0], &mut values);
                }
                let mut f = base.clone();
                f.insert(field.clone(), doc! { "$in": values });
                push_conditions(q.conditions, &mut f);
                docs.extend(self.find_all(&op, projection, f, None).await?);
            }
        } else {
            // Composite tuples: `$or` of conjunctions, fewer per query (each is a sub-filter).
            for part in tuples.chunks((chunk / 4).max(1)) {
                let branches: Vec<Document> = part
                    .iter()
                    .map(|t| {
                        let mut b = Document::new();
                        for (f, v) in q.fields.iter().zip(t.iter()) {
                            let mut c = Vec::new();
                            lookup_candidates(v, &mut c);
                            b.insert(f.clone(), match_one(c));
                        }
                        b
                    })
                    .collect();
                let mut f = base.clone();
                f.insert("$or", branches);
                push_conditions(q.conditions, &mut f);
                docs.extend(self.find_all(&op, projection, f, None).await?);
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(docs.len());
        for d in &docs {
            if let Ok(id) = d.get_str("_id") {
                if !seen.insert(id.to_owned()) {
                    continue;
                }
            }
            let r = self.decode(&op, projection, d)?;
            let keep = (!q.public_only || r.is_public())
                && key::encode_fields(&r.fields, q.fields).is_some_and(|t| wanted.contains(&t))
                && condition::all_hold(&r.fields, q.conditions);
            if keep {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn write(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let op = format!("write projection {projection}");
        let mut outcomes = vec![WriteOutcome::Applied; writes.len()];
        let mut occurrences: HashMap<String, usize> = HashMap::new();
        let mut rounds: Vec<Vec<Pending>> = Vec::new();
        for (i, w) in writes.into_iter().enumerate() {
            let key_values = match &w {
                RecordWrite::Put(r) => &r.key,
                RecordWrite::Remove { key, .. } => key,
            };
            let Some(id) = id_of(key_values) else {
                return Err(StoreError::fatal(op, "a primary-key field is null"));
            };
            let n = occurrences.entry(id.clone()).or_insert(0);
            if rounds.len() <= *n {
                rounds.push(Vec::new());
            }
            rounds[*n].push((i, id, w));
            *n += 1;
        }
        // No other call of this store writes these records until this one is done.
        let _guard = self
            .locks
            .lock(
                occurrences
                    .into_keys()
                    .map(|id| format!("{projection}\u{0}{id}"))
                    .collect(),
            )
            .await;
        for round in rounds {
            self.write_round(&op, projection, round, &mut outcomes)
                .await?;
        }
        Ok(outcomes)
    }

    async fn scan(
        &self,
        projection: &str,
        after: Option<&[Value]>,
        limit: usize,
    ) -> Result<Page<Record>, StoreError> {
        let op = format!("scan projection {projection}");
        let limit = limit.max(1);
        let filter = match after.and_then(id_of) {
            Some(id) => doc! { "_id": { "$gt": id } },
            None => doc! {},
        };
        let docs = self
            .find_all(&op, projection, filter, Some(limit as i64))
            .await?;
        let items = docs
            .iter()
            .map(|d| self.decode(&op, projection, d))
            .collect::<Result<Vec<Record>, StoreError>>()?;
        let next = if items.len() == limit {
            items.last().map(|r| r.key.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }
}
