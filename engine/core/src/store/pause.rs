//! Where a store keeps the pause state of a deployment and the triggers a paused single view
//! keeps.
//!
//! In: pause items (the whole process, one projection or one single view; since when, by
//! whom, why) saved or removed by an operator (`fdc pause`, `fdc resume`, the operations
//! endpoint, `fdc run --paused`), and the keys of a paused view's triggers. Out: the items
//! stored now, read by every process of the deployment (each polls them), and the pending
//! keys of a view, rebuilt and removed on resume.
//!
//! Guarantees asked of every implementation (embedded in memory and on disk, MongoDB):
//! - items are kept one per [`PauseTarget`]: a save replaces the item of its target whole
//!   (MongoDB: a replacement upserting by `_id`), a remove deletes it; concurrent saves of
//!   different targets never lose one another; every call is durable when it returns;
//! - pending keys are kept per view, at most once per key (a key kept again keeps one entry,
//!   with the newer stamp); [`PauseStore::pending`] returns them in key order with their
//!   stamps, and [`PauseStore::remove_pending`] removes an entry only while its stamp is the
//!   one given, so a key kept again after it was read (the view paused again meanwhile) is
//!   not lost;
//! - what is stored holds names, keys of single views, people's names and reasons, no record
//!   contents; errors carry no key values.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::value::Value;

/// What a pause holds back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum PauseTarget {
    /// The whole process: nothing is consumed.
    All,
    /// One projection: its input partitions are held.
    Projection(String),
    /// One single view: its triggers are kept instead of rebuilt.
    View(String),
}

impl PauseTarget {
    /// The stored id of the target's item: `all`, `projection:<name>`, `view:<name>`.
    pub fn id(&self) -> String {
        match self {
            PauseTarget::All => "all".to_string(),
            PauseTarget::Projection(p) => format!("projection:{p}"),
            PauseTarget::View(v) => format!("view:{v}"),
        }
    }

    /// The kind as `/metrics` and `/status` name it.
    pub fn kind(&self) -> &'static str {
        match self {
            PauseTarget::All => "all",
            PauseTarget::Projection(_) => "projection",
            PauseTarget::View(_) => "view",
        }
    }

    /// The projection or view name (empty for the whole process).
    pub fn name(&self) -> &str {
        match self {
            PauseTarget::All => "",
            PauseTarget::Projection(n) | PauseTarget::View(n) => n,
        }
    }
}

/// One pause: what, since when, by whom, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseItem {
    #[serde(flatten)]
    pub target: PauseTarget,
    /// When it was paused (epoch milliseconds).
    pub since_ms: i64,
    /// Who paused it (`FDC_DEPLOYED_BY`, the user name, or the caller label of the token).
    pub by: String,
    /// Why, as the operator said it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl PauseItem {
    /// The JSON text every store keeps.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a stored item's JSON text: an unreadable item is a fatal error.
    pub fn from_json(text: &str) -> Result<PauseItem, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::fatal("load pause state", e))
    }
}

/// A pending trigger of a paused view: the view's key and the stamp it was kept with.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingKey {
    pub key: Vec<Value>,
    pub stamp: i64,
}

/// The pause state and the kept triggers of a deployment (see the module docs).
#[async_trait]
pub trait PauseStore: Send + Sync {
    /// Every pause item stored now, ordered by target.
    async fn load_pauses(&self) -> Result<Vec<PauseItem>, StoreError>;

    /// Saves `item`, replacing the item of its target.
    async fn save_pause(&self, item: &PauseItem) -> Result<(), StoreError>;

    /// Removes the item of `target`; whether there was one.
    async fn remove_pause(&self, target: &PauseTarget) -> Result<bool, StoreError>;

    /// Keeps `keys` of `view` pending, each at most once, stamped `stamp`.
    async fn keep_pending(
        &self,
        view: &str,
        keys: &[Vec<Value>],
        stamp: i64,
    ) -> Result<(), StoreError>;

    /// Up to `limit` pending keys of `view`, in key order.
    async fn pending(&self, view: &str, limit: usize) -> Result<Vec<PendingKey>, StoreError>;

    /// Removes each of `keys` of `view` whose stored stamp is still its stamp.
    async fn remove_pending(&self, view: &str, keys: &[PendingKey]) -> Result<(), StoreError>;

    /// How many keys of `view` are pending.
    async fn count_pending(&self, view: &str) -> Result<u64, StoreError>;
}

/// The behaviour every [`PauseStore`] must show, on an empty store: what each adapter's tests
/// run (embedded in memory and on disk, MongoDB). `Err` says what differed.
pub async fn conformance(store: &dyn PauseStore) -> Result<(), String> {
    fn check(ok: bool, what: &str) -> Result<(), String> {
        ok.then_some(()).ok_or_else(|| what.to_string())
    }
    let e = |e: StoreError| e.to_string();
    check(
        store.load_pauses().await.map_err(e)?.is_empty(),
        "a new store holds no pause",
    )?;
    let view = PauseItem {
        target: PauseTarget::View("c360".into()),
        since_ms: 10,
        by: "ada".into(),
        reason: Some("backfill".into()),
    };
    let all = PauseItem {
        target: PauseTarget::All,
        since_ms: 11,
        by: "grace".into(),
        reason: None,
    };
    store.save_pause(&view).await.map_err(e)?;
    store.save_pause(&all).await.map_err(e)?;
    let again = PauseItem {
        since_ms: 12,
        reason: Some("still".into()),
        ..view.clone()
    };
    store.save_pause(&again).await.map_err(e)?;
    check(
        store.load_pauses().await.map_err(e)? == vec![all.clone(), again.clone()],
        "a save replaces the item of its target; items come ordered by target",
    )?;
    check(
        store.remove_pause(&PauseTarget::All).await.map_err(e)?,
        "removing a stored item says there was one",
    )?;
    check(
        !store.remove_pause(&PauseTarget::All).await.map_err(e)?,
        "removing a missing item says there was none",
    )?;
    check(
        store.load_pauses().await.map_err(e)? == vec![again],
        "a removed item is gone, the others stay",
    )?;

    let k = |i: i64| vec![Value::Int(i), Value::String("x".into())];
    check(
        store.count_pending("c360").await.map_err(e)? == 0,
        "no pending key",
    )?;
    store
        .keep_pending("c360", &[k(2), k(1)], 100)
        .await
        .map_err(e)?;
    store
        .keep_pending("c360", &[k(2), k(3)], 200)
        .await
        .map_err(e)?;
    store.keep_pending("other", &[k(9)], 100).await.map_err(e)?;
    check(
        store.count_pending("c360").await.map_err(e)? == 3,
        "a key kept twice is kept once",
    )?;
    let first = store.pending("c360", 2).await.map_err(e)?;
    check(
        first
            == vec![
                PendingKey {
                    key: k(1),
                    stamp: 100,
                },
                PendingKey {
                    key: k(2),
                    stamp: 200,
                },
            ],
        "pending keys come in key order, with the newest stamp, up to the limit",
    )?;
    // Kept again after it was read: the stamp changed, so removing the read entry keeps it.
    store.keep_pending("c360", &[k(1)], 300).await.map_err(e)?;
    store.remove_pending("c360", &first).await.map_err(e)?;
    check(
        store.pending("c360", 10).await.map_err(e)?
            == vec![
                PendingKey {
                    key: k(1),
                    stamp: 300,
                },
                PendingKey {
                    key: k(3),
                    stamp: 200,
                },
            ],
        "removal takes only the entries whose stamp is unchanged",
    )?;
    check(
        store.count_pending("other").await.map_err(e)? == 1,
        "views keep their keys apart",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_round_trips_through_its_json_text() {
        let item = PauseItem {
            target: PauseTarget::Projection("orders".into()),
            since_ms: 1_700_000_000_000,
            by: "ada".into(),
            reason: Some("source repair".into()),
        };
        let text = item.to_json();
        assert!(text.contains(r#""kind":"projection""#), "{text}");
        assert!(text.contains(r#""name":"orders""#), "{text}");
        assert_eq!(PauseItem::from_json(&text).unwrap(), item);
        let all = PauseItem {
            target: PauseTarget::All,
            since_ms: 1,
            by: "x".into(),
            reason: None,
        };
        assert_eq!(PauseItem::from_json(&all.to_json()).unwrap(), all);
        assert!(PauseItem::from_json("{}").is_err());
    }

    #[test]
    fn ids_name_kind_and_target() {
        assert_eq!(PauseTarget::All.id(), "all");
        assert_eq!(PauseTarget::View("c360".into()).id(), "view:c360");
        assert_eq!(PauseTarget::Projection("o".into()).kind(), "projection");
    }
}
