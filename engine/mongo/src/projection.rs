//! [`ProjectionStore`] on MongoDB.
//!
//! In: the projection calls of the engine. Out: records, per-write outcomes.
//!
//! Writes: a call is split into rounds of at most one write per key (writes of one key apply
//! in call order; the engine coalesces per key, so a normal call is one round), each applied
//! by [`super::guard`]: one read of the stored versions, then unordered `insert`, `update` and
//! `delete` commands for the writes that are not stale. No other call of the same store writes
//! the same records meanwhile (`locks`).
//!
//! `find_in` sends `$in` on one field (or `$or` of conjunctions for composite tuples) plus
//! `__STATE__` and the equality conditions that can be checked safely on the server, then
//! checks the tuple, the state and every condition again with the engine's own rules
//! ([`fdc_core::store::condition`], [`fdc_core::store::key`]), so the answer is the embedded store's.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::NaiveDate;
use fdc_plan::{CompareOp, FieldCondition};
use mongodb::bson::{doc, Bson, Document};

use fdc_core::store::{
    condition, key, FindIn, Page, ProjectionLayout, ProjectionStore, Record, RecordWrite,
    StoreError, WriteOutcome, STATE_FIELD,
};
use fdc_core::value::Value;

use super::codec::lookup_candidates;
use super::documents::record_from_document;
use super::guard::Pending;
use super::ids::id_of;
use super::{index_name, MongoStore};

impl MongoStore {
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
            let docs = self
                .find_all(operation, collection, filter, projection.clone(), None)
                .await?;
            for d in docs {
                if let Ok(id) = d.get_str("_id") {
                    out.insert(id.to_owned(), d);
                }
            }
        }
        Ok(out)
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
        for (fields, unique) in layout.secondary_indexes() {
            indexes.push((fields.to_vec(), unique, index_name("ix", fields)));
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
                docs.extend(self.find_all(&op, projection, f, None, None).await?);
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
                docs.extend(self.find_all(&op, projection, f, None, None).await?);
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
                docs.extend(self.find_all(&op, projection, f, None, None).await?);
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
            let Some(id) = id_of(w.key()) else {
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
        #[cfg(feature = "fault-injection")]
        super::fault::after_projection_write().await;
        Ok(outcomes)
    }

    /// The collection's estimated document count (metadata, no scan): progress of a refresh.
    async fn count(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        let op = format!("count projection {projection}");
        let n = self
            .db
            .collection::<Document>(projection)
            .estimated_document_count()
            .await
            .map_err(|e| super::error::from_driver(&op, &e))?;
        Ok(Some(n))
    }

    async fn drop_index(&self, projection: &str, fields: &[String]) -> Result<(), StoreError> {
        let op = format!("drop an index of projection {projection}");
        self.drop_secondary_index(&op, projection, fields).await
    }

    async fn drop_projection(&self, projection: &str) -> Result<(), StoreError> {
        let op = format!("drop projection {projection}");
        self.drop_collection(&op, projection).await
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
            .find_all(&op, projection, filter, None, Some(limit as i64))
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
