//! The pause state and a paused view's pending triggers in MongoDB.
//!
//! In: the [`PauseStore`] calls. Out: one document per pause item in [`PAUSE_COLLECTION`]
//! (`_id`: the target's id, the item's fields) and one per pending key in
//! [`PENDING_COLLECTION`] (`_id`: `<view>/<key id>`, `view`, `key`: the key's `_id` form,
//! `stamp`).
//!
//! Guarantees: the portable subset only — saves are `update` commands of replacement
//! statements upserting by `_id`, removals `delete` commands by `_id` (a pending key's also by
//! its `stamp`, so a key kept again since it was read stays), reads are `find`s by `_id` or
//! `view` sorted by `_id`, counts `count` commands; every write is sent with the store's write
//! concern and a write error fails the call. Replicas of a group sharing the database share
//! the state: each item is its own document, so concurrent pauses of different targets never
//! overwrite one another.

use async_trait::async_trait;
use mongodb::bson::{doc, Bson, Document};

use crate::command::{self, Kind};
use crate::error::from_driver;
use crate::ids::{id_of, key_from_id};
use crate::MongoStore;
use fdc_core::store::{PauseItem, PauseStore, PauseTarget, PendingKey, StoreError};
use fdc_core::value::Value;

/// The collection of pause items.
pub const PAUSE_COLLECTION: &str = "fdc_pause";
/// The collection of the pending triggers of paused views.
pub const PENDING_COLLECTION: &str = "fdc_pending_triggers";

impl MongoStore {
    pub(crate) async fn write(
        &self,
        op: &str,
        kind: Kind,
        collection: &str,
        statements: Vec<Document>,
    ) -> Result<command::Reply, StoreError> {
        if statements.is_empty() {
            return Ok(command::Reply {
                errors: Vec::new(),
                n: Some(0),
            });
        }
        let reply = command::run(
            &self.db,
            op,
            kind,
            collection,
            statements,
            self.config.max_batch,
            &self.write_concern,
        )
        .await?;
        let codes: Vec<i32> = reply.codes().collect();
        if !codes.is_empty() {
            return Err(command::refused(op, &codes));
        }
        Ok(reply)
    }

    async fn count_in(
        &self,
        op: &str,
        collection: &str,
        filter: Document,
    ) -> Result<u64, StoreError> {
        let reply = self
            .db
            .run_command(doc! { "count": collection, "query": filter })
            .await
            .map_err(|e| from_driver(op, &e))?;
        Ok(match reply.get("n") {
            Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
            Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
            Some(Bson::Double(n)) => *n as u64,
            _ => return Err(StoreError::fatal(op, "the server answered without a count")),
        })
    }
}

fn pending_id(view: &str, key_id: &str) -> String {
    format!("{view}/{key_id}")
}

#[async_trait]
impl PauseStore for MongoStore {
    async fn load_pauses(&self) -> Result<Vec<PauseItem>, StoreError> {
        let op = "load pause state";
        let docs = self
            .find_all(op, PAUSE_COLLECTION, doc! {}, None, None)
            .await?;
        let mut items = Vec::with_capacity(docs.len());
        for mut d in docs {
            d.remove("_id");
            let json = Bson::Document(d).into_relaxed_extjson();
            items.push(PauseItem::from_json(&json.to_string())?);
        }
        items.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(items)
    }

    async fn save_pause(&self, item: &PauseItem) -> Result<(), StoreError> {
        let op = "save pause state";
        let mut replacement = mongodb::bson::to_document(item)
            .map_err(|e| StoreError::fatal(op, format!("cannot encode the item: {e}")))?;
        let id = item.target.id();
        replacement.insert("_id", id.as_str());
        let statement = doc! { "q": { "_id": id.as_str() }, "u": replacement, "upsert": true };
        self.write(op, Kind::Update, PAUSE_COLLECTION, vec![statement])
            .await
            .map(|_| ())
    }

    async fn remove_pause(&self, target: &PauseTarget) -> Result<bool, StoreError> {
        let op = "remove pause state";
        let statement = doc! { "q": { "_id": target.id() }, "limit": 1 };
        let reply = self
            .write(op, Kind::Delete, PAUSE_COLLECTION, vec![statement])
            .await?;
        Ok(reply.n.unwrap_or(0) > 0)
    }

    async fn keep_pending(
        &self,
        view: &str,
        keys: &[Vec<Value>],
        stamp: i64,
    ) -> Result<(), StoreError> {
        let op = "keep pending triggers";
        let mut statements = Vec::with_capacity(keys.len());
        for k in keys {
            let Some(kid) = id_of(k) else {
                return Err(StoreError::fatal(op, "a single-view key field is null"));
            };
            let id = pending_id(view, &kid);
            statements.push(doc! {
                "q": { "_id": id.as_str() },
                "u": { "_id": id.as_str(), "view": view, "key": kid, "stamp": stamp },
                "upsert": true,
            });
        }
        self.write(op, Kind::Update, PENDING_COLLECTION, statements)
            .await
            .map(|_| ())
    }

    async fn pending(&self, view: &str, limit: usize) -> Result<Vec<PendingKey>, StoreError> {
        let op = "read pending triggers";
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let docs = self
            .find_all(
                op,
                PENDING_COLLECTION,
                doc! { "view": view },
                None,
                Some(limit),
            )
            .await?;
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            let key =
                d.get_str("key").ok().and_then(key_from_id).ok_or_else(|| {
                    StoreError::fatal(op, "a pending trigger without a readable key")
                })?;
            let stamp = match d.get("stamp") {
                Some(Bson::Int64(s)) => *s,
                Some(Bson::Int32(s)) => i64::from(*s),
                _ => return Err(StoreError::fatal(op, "a pending trigger without a stamp")),
            };
            out.push(PendingKey { key, stamp });
        }
        Ok(out)
    }

    async fn remove_pending(&self, view: &str, keys: &[PendingKey]) -> Result<(), StoreError> {
        let op = "remove pending triggers";
        let statements = keys
            .iter()
            .filter_map(|k| {
                let kid = id_of(&k.key)?;
                Some(doc! {
                    "q": { "_id": pending_id(view, &kid), "stamp": k.stamp },
                    "limit": 1,
                })
            })
            .collect();
        self.write(op, Kind::Delete, PENDING_COLLECTION, statements)
            .await
            .map(|_| ())
    }

    async fn count_pending(&self, view: &str) -> Result<u64, StoreError> {
        self.count_in(
            "count pending triggers",
            PENDING_COLLECTION,
            doc! { "view": view },
        )
        .await
    }
}
