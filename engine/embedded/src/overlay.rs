//! The overlay store: a read-only base store with every write kept in memory (`fdc preview`).
//!
//! In: a base store (its projection, single-view and deployment-record sides; MongoDB in
//! production) and the store-trait calls of an engine. Out: the answers the base would give
//! had it taken the writes, while the base is only read; the single-view documents written so
//! far ([`OverlayStore::take_written`]) and the base's own documents to compare them with.
//!
//! Guarantees:
//! - the base is never written: writes, deletes, `ensure_*` (collections, indexes), failures
//!   dead letters, the pause state, the source drift and the deployment record stay in an in-memory [`EmbeddedStore`] (the
//!   shadow, counted) or are refused (`save_deployment`);
//! - a key written (or deleted) in the overlay is owned by it: reads of an owned key answer
//!   from the shadow (a delete hides the base's record), other keys fall through to the base;
//!   `find_in` merges the base's matches of keys not owned with the shadow's matches;
//! - a projection write is guarded by version against what the overlay reads (the shadow's
//!   record, else the base's), as the base would guard it;
//! - a single-view write on a key not owned first copies the base's document into the shadow,
//!   so merge mode and marking deleted act on the stored document as the base would;
//! - scans are refused (merging two stores' key orders is not needed: a preview runs no
//!   refresh); counts are the base's (estimates, as allowed).
//!
//! Limits: declared unique indexes are enforced among the overlay's own records only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use fdc_plan::deployment::Deployment;
use fdc_plan::WriteMode;

use crate::EmbeddedStore;
use fdc_core::change::Version;
use fdc_core::store::{
    key, DeadLetter, DeadLetterSink, DeploymentStore, FindIn, Page, ProjectionLayout,
    ProjectionStore, Record, RecordWrite, SingleViewStore, StoreError, ViewFailure, ViewWrite,
    WriteOutcome,
};
use fdc_core::value::{Map, Value};

/// Keys owned by the overlay, per collection, and what was written.
#[derive(Default)]
struct Owned {
    records: HashMap<String, HashSet<Vec<u8>>>,
    documents: HashMap<String, HashSet<Vec<u8>>>,
    /// Single-view keys written since the last [`OverlayStore::take_written`], in order.
    written: Vec<(String, Vec<Value>)>,
    failures: u64,
    dead_letters: u64,
}

/// A read-only base with in-memory writes (see the module docs).
pub struct OverlayStore {
    projections: Arc<dyn ProjectionStore>,
    views: Arc<dyn SingleViewStore>,
    deployments: Arc<dyn DeploymentStore>,
    shadow: EmbeddedStore,
    owned: Mutex<Owned>,
}

/// Which of `keys` are owned (indexes into `keys`), and which fall through.
fn split(owned: Option<&HashSet<Vec<u8>>>, keys: &[Vec<Value>]) -> (Vec<usize>, Vec<usize>) {
    let mut mine = Vec::new();
    let mut base = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let is_mine = owned.is_some_and(|o| key::encode(k).is_some_and(|e| o.contains(&e)));
        if is_mine {
            mine.push(i);
        } else {
            base.push(i);
        }
    }
    (mine, base)
}

/// The answers of two stores for the keys at `mine` and `base`, put back in key order.
fn merge<T>(
    len: usize,
    mine: &[usize],
    from_mine: Vec<Option<T>>,
    base: &[usize],
    from_base: Vec<Option<T>>,
) -> Vec<Option<T>> {
    let mut out: Vec<Option<T>> = (0..len).map(|_| None).collect();
    for (i, v) in mine.iter().zip(from_mine).chain(base.iter().zip(from_base)) {
        out[*i] = v;
    }
    out
}

fn pick(keys: &[Vec<Value>], at: &[usize]) -> Vec<Vec<Value>> {
    at.iter().map(|i| keys[*i].clone()).collect()
}

fn refused_scan(op: &str) -> StoreError {
    StoreError::fatal(
        op,
        "an overlay store does not scan (a preview runs no refresh)",
    )
}

impl OverlayStore {
    /// An overlay over the three sides of a base store; nothing is written yet.
    pub fn new(
        projections: Arc<dyn ProjectionStore>,
        views: Arc<dyn SingleViewStore>,
        deployments: Arc<dyn DeploymentStore>,
    ) -> OverlayStore {
        OverlayStore {
            projections,
            views,
            deployments,
            shadow: EmbeddedStore::in_memory(),
            owned: Mutex::new(Owned::default()),
        }
    }

    fn owned(&self, op: &str) -> Result<MutexGuard<'_, Owned>, StoreError> {
        self.owned
            .lock()
            .map_err(|_| StoreError::fatal(op, "the overlay's key list is poisoned"))
    }

    /// The single-view keys written since the last call, as `(view, key)` in write order (a key
    /// written twice is listed twice).
    pub fn take_written(&self) -> Vec<(String, Vec<Value>)> {
        self.owned
            .lock()
            .map(|mut o| std::mem::take(&mut o.written))
            .unwrap_or_default()
    }

    /// How many single-view failures were recorded (kept in memory, not in the base).
    pub fn failures(&self) -> u64 {
        self.owned.lock().map(|o| o.failures).unwrap_or_default()
    }

    /// How many dead letters were taken (kept in memory, produced nowhere).
    pub fn dead_letters(&self) -> u64 {
        self.owned
            .lock()
            .map(|o| o.dead_letters)
            .unwrap_or_default()
    }

    /// The base's documents (what is stored, without the overlay's writes).
    pub async fn stored_documents(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError> {
        self.views.get_many(view, keys).await
    }
}

#[async_trait]
impl ProjectionStore for OverlayStore {
    async fn ensure_projection(&self, layout: &ProjectionLayout) -> Result<(), StoreError> {
        ProjectionStore::ensure_projection(&self.shadow, layout).await
    }

    async fn get_many(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Record>>, StoreError> {
        Ok(ProjectionStore::get_many_shared(self, projection, keys)
            .await?
            .into_iter()
            .map(|r| r.map(Arc::unwrap_or_clone))
            .collect())
    }

    async fn get_many_shared(
        &self,
        projection: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Record>>>, StoreError> {
        let (mine, base) = split(self.owned("read projection")?.records.get(projection), keys);
        let from_mine = if mine.is_empty() {
            Vec::new()
        } else {
            ProjectionStore::get_many_shared(&self.shadow, projection, &pick(keys, &mine)).await?
        };
        let from_base = if base.is_empty() {
            Vec::new()
        } else {
            self.projections
                .get_many_shared(projection, &pick(keys, &base))
                .await?
        };
        Ok(merge(keys.len(), &mine, from_mine, &base, from_base))
    }

    async fn find_in(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Record>, StoreError> {
        Ok(self
            .find_in_shared(projection, query)
            .await?
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    async fn find_in_shared(
        &self,
        projection: &str,
        query: FindIn<'_>,
    ) -> Result<Vec<Arc<Record>>, StoreError> {
        let mut found = self.projections.find_in_shared(projection, query).await?;
        {
            let owned = self.owned("find in projection")?;
            if let Some(o) = owned.records.get(projection) {
                found.retain(|r| !key::encode(&r.key).is_some_and(|k| o.contains(&k)));
            }
        }
        found.extend(self.shadow.find_in_shared(projection, query).await?);
        Ok(found)
    }

    async fn write(
        &self,
        projection: &str,
        writes: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        let op = "write projection";
        let keys: Vec<Vec<Value>> = writes.iter().map(|w| w.key().to_vec()).collect();
        let current = ProjectionStore::get_many_shared(self, projection, &keys).await?;
        // The version stored under each key as the writes go (a key may be written twice).
        let mut stored: HashMap<Vec<u8>, Option<Version>> = HashMap::new();
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut applied = Vec::new();
        // Only applied keys become owned: a stale write leaves the base's record visible.
        let mut now_owned = Vec::new();
        for (w, now) in writes.into_iter().zip(current) {
            let Some(k) = key::encode(w.key()) else {
                return Err(StoreError::fatal(op, "a primary-key field is null"));
            };
            let version = *stored
                .entry(k.clone())
                .or_insert_with(|| now.map(|r| Version(r.meta.version)));
            if version.is_some_and(|v| v > w.guard()) {
                outcomes.push(WriteOutcome::Stale);
                continue;
            }
            let after = match &w {
                RecordWrite::Remove { .. } => None,
                RecordWrite::Put(r) | RecordWrite::PutAfterDelete { record: r, .. } => {
                    Some(Version(r.meta.version))
                }
            };
            stored.insert(k.clone(), after);
            now_owned.push(k);
            outcomes.push(WriteOutcome::Applied);
            applied.push(w);
        }
        // The shadow holds the owned keys' records as read above, and nothing for the others,
        // so its own guard applies exactly these writes.
        ProjectionStore::write(&self.shadow, projection, applied).await?;
        let mut owned = self.owned(op)?;
        let set = owned.records.entry(projection.to_string()).or_default();
        set.extend(now_owned);
        Ok(outcomes)
    }

    async fn scan(
        &self,
        _projection: &str,
        _after: Option<&[Value]>,
        _limit: usize,
    ) -> Result<Page<Record>, StoreError> {
        Err(refused_scan("scan projection"))
    }

    async fn count(&self, projection: &str) -> Result<Option<u64>, StoreError> {
        self.projections.count(projection).await
    }
}

#[async_trait]
impl SingleViewStore for OverlayStore {
    async fn ensure_view(&self, view: &str, key_fields: &[String]) -> Result<(), StoreError> {
        SingleViewStore::ensure_view(&self.shadow, view, key_fields).await
    }

    async fn get_many(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Map>>, StoreError> {
        Ok(SingleViewStore::get_many_shared(self, view, keys)
            .await?
            .into_iter()
            .map(|d| d.map(Arc::unwrap_or_clone))
            .collect())
    }

    async fn get_many_shared(
        &self,
        view: &str,
        keys: &[Vec<Value>],
    ) -> Result<Vec<Option<Arc<Map>>>, StoreError> {
        let (mine, base) = split(self.owned("read single view")?.documents.get(view), keys);
        let from_mine = if mine.is_empty() {
            Vec::new()
        } else {
            SingleViewStore::get_many_shared(&self.shadow, view, &pick(keys, &mine)).await?
        };
        let from_base = if base.is_empty() {
            Vec::new()
        } else {
            self.views.get_many_shared(view, &pick(keys, &base)).await?
        };
        Ok(merge(keys.len(), &mine, from_mine, &base, from_base))
    }

    async fn write(
        &self,
        view: &str,
        mode: WriteMode,
        writes: Vec<ViewWrite>,
    ) -> Result<(), StoreError> {
        let op = "write single view";
        let keys: Vec<Vec<Value>> = writes
            .iter()
            .map(|w| match w {
                ViewWrite::Upsert { key, .. }
                | ViewWrite::Delete { key }
                | ViewWrite::MarkDeleted { key } => key.clone(),
            })
            .collect();
        let (_, base) = split(self.owned(op)?.documents.get(view), &keys);
        // Copy up the stored documents of keys not owned yet (merge mode, marking deleted).
        let base_keys = pick(&keys, &base);
        if !base_keys.is_empty() {
            let stored = self.views.get_many(view, &base_keys).await?;
            let copies: Vec<ViewWrite> = base_keys
                .into_iter()
                .zip(stored)
                .filter_map(|(key, doc)| doc.map(|document| ViewWrite::Upsert { key, document }))
                .collect();
            if !copies.is_empty() {
                SingleViewStore::write(&self.shadow, view, WriteMode::Replace, copies).await?;
            }
        }
        SingleViewStore::write(&self.shadow, view, mode, writes).await?;
        let mut owned = self.owned(op)?;
        let set = owned.documents.entry(view.to_string()).or_default();
        for k in &keys {
            if let Some(e) = key::encode(k) {
                set.insert(e);
            }
        }
        owned
            .written
            .extend(keys.into_iter().map(|k| (view.to_string(), k)));
        Ok(())
    }

    async fn scan(
        &self,
        _view: &str,
        _after: Option<&[Value]>,
        _limit: usize,
    ) -> Result<Page<(Vec<Value>, Map)>, StoreError> {
        Err(refused_scan("scan single view"))
    }

    async fn count_documents(&self, view: &str) -> Result<Option<u64>, StoreError> {
        self.views.count_documents(view).await
    }

    async fn record_failures(&self, failures: Vec<ViewFailure>) -> Result<(), StoreError> {
        let n = failures.len() as u64;
        self.shadow.record_failures(failures).await?;
        self.owned("record single-view failures")?.failures += n;
        Ok(())
    }
}

#[async_trait]
impl DeadLetterSink for OverlayStore {
    async fn dead_letter(&self, letters: Vec<DeadLetter>) -> Result<(), StoreError> {
        let n = letters.len() as u64;
        self.shadow.dead_letter(letters).await?;
        self.owned("store dead letters")?.dead_letters += n;
        Ok(())
    }
}

#[async_trait]
impl DeploymentStore for OverlayStore {
    async fn load_deployment(&self) -> Result<Option<Deployment>, StoreError> {
        self.deployments.load_deployment().await
    }

    async fn save_deployment(&self, _record: &Deployment) -> Result<(), StoreError> {
        Err(StoreError::fatal(
            "save deployment record",
            "an overlay store keeps its base read-only",
        ))
    }
}

/// The pause state of a preview lives with its shadow, in memory: a preview shows what the
/// pipeline would write, so the deployment's own pauses do not hold it back, and nothing it
/// pauses or keeps reaches the base store.
#[async_trait]
impl fdc_core::store::PauseStore for OverlayStore {
    async fn load_pauses(&self) -> Result<Vec<fdc_core::store::PauseItem>, StoreError> {
        self.shadow.load_pauses().await
    }

    async fn save_pause(&self, item: &fdc_core::store::PauseItem) -> Result<(), StoreError> {
        self.shadow.save_pause(item).await
    }

    async fn remove_pause(
        &self,
        target: &fdc_core::store::PauseTarget,
    ) -> Result<bool, StoreError> {
        self.shadow.remove_pause(target).await
    }

    async fn keep_pending(
        &self,
        view: &str,
        keys: &[Vec<Value>],
        stamp: i64,
    ) -> Result<(), StoreError> {
        self.shadow.keep_pending(view, keys, stamp).await
    }

    async fn pending(
        &self,
        view: &str,
        limit: usize,
    ) -> Result<Vec<fdc_core::store::PendingKey>, StoreError> {
        self.shadow.pending(view, limit).await
    }

    async fn remove_pending(
        &self,
        view: &str,
        keys: &[fdc_core::store::PendingKey],
    ) -> Result<(), StoreError> {
        self.shadow.remove_pending(view, keys).await
    }

    async fn count_pending(&self, view: &str) -> Result<u64, StoreError> {
        self.shadow.count_pending(view).await
    }
}

/// The source drift a preview counts lives with its shadow, in memory: it is what the new
/// pipeline would see, not what the deployment saw, so it never reaches the base store (and
/// the base's drift is not shown as the preview's).
#[async_trait]
impl fdc_core::store::SourceDriftStore for OverlayStore {
    async fn load_source_drift(&self) -> Result<Vec<fdc_core::store::SourceDrift>, StoreError> {
        self.shadow.load_source_drift().await
    }

    async fn merge_source_drift(
        &self,
        deltas: &[fdc_core::store::SourceDrift],
    ) -> Result<(), StoreError> {
        self.shadow.merge_source_drift(deltas).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc_core::store::{RecordMeta, RecordState, STATE_FIELD};

    fn rec(id: i64, customer: i64, version: u128) -> Record {
        let mut fields = Map::default();
        fields.insert("id".into(), Value::Int(id));
        fields.insert("customer_id".into(), Value::Int(customer));
        Record {
            key: vec![Value::Int(id)],
            layout: Default::default(),
            fields,
            state: RecordState::Public,
            meta: RecordMeta {
                version,
                topic: "t".into(),
                partition: 0,
                offset: id,
                timestamp: None,
                created_at: 0,
                updated_at: 0,
            },
        }
    }

    fn layout() -> ProjectionLayout {
        ProjectionLayout {
            name: "orders".into(),
            key: vec!["id".into()],
            declared: vec![],
            queried: vec![vec!["customer_id".into()]],
        }
    }

    fn doc(pairs: &[(&str, i64)]) -> Map {
        let mut m: Map = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), Value::Int(*v)))
            .collect();
        m.insert(STATE_FIELD.into(), Value::String("PUBLIC".into()));
        m
    }

    fn k(id: i64) -> Vec<Value> {
        vec![Value::Int(id)]
    }

    /// A base with orders 1 (customer 10, v5) and 2 (customer 10, v5), and view `c` holding
    /// key 10; the overlay over it; and the base itself to check it is unchanged.
    async fn seeded() -> (Arc<EmbeddedStore>, OverlayStore) {
        let base = Arc::new(EmbeddedStore::in_memory());
        ProjectionStore::ensure_projection(base.as_ref(), &layout())
            .await
            .unwrap();
        ProjectionStore::write(
            base.as_ref(),
            "orders",
            vec![
                RecordWrite::Put(rec(1, 10, 5)),
                RecordWrite::Put(rec(2, 10, 5)),
            ],
        )
        .await
        .unwrap();
        SingleViewStore::write(
            base.as_ref(),
            "c",
            WriteMode::Replace,
            vec![ViewWrite::Upsert {
                key: k(10),
                document: doc(&[("id", 10), ("n", 2), ("kept", 1)]),
            }],
        )
        .await
        .unwrap();
        let overlay = OverlayStore::new(base.clone(), base.clone(), base.clone());
        ProjectionStore::ensure_projection(&overlay, &layout())
            .await
            .unwrap();
        (base, overlay)
    }

    async fn ids_of_customer(s: &dyn ProjectionStore, customer: i64) -> Vec<(i64, u128)> {
        let fields = vec!["customer_id".to_string()];
        let values = vec![vec![Value::Int(customer)]];
        let q = FindIn {
            fields: &fields,
            values: &values,
            conditions: &[],
            public_only: true,
        };
        let mut out: Vec<(i64, u128)> = s
            .find_in("orders", q)
            .await
            .unwrap()
            .into_iter()
            .map(|r| match r.key[0] {
                Value::Int(i) => (i, r.meta.version),
                _ => panic!("int key"),
            })
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn reads_fall_through_to_the_base() {
        let (_, o) = seeded().await;
        let got = ProjectionStore::get_many(&o, "orders", &[k(2), k(3), k(1)])
            .await
            .unwrap();
        let versions: Vec<Option<u128>> = got
            .iter()
            .map(|r| r.as_ref().map(|r| r.meta.version))
            .collect();
        assert_eq!(versions, vec![Some(5), None, Some(5)]);
        assert_eq!(ids_of_customer(&o, 10).await, vec![(1, 5), (2, 5)]);
        let docs = SingleViewStore::get_many(&o, "c", &[k(10), k(11)])
            .await
            .unwrap();
        assert_eq!(docs[0], Some(doc(&[("id", 10), ("n", 2), ("kept", 1)])));
        assert_eq!(docs[1], None);
    }

    #[tokio::test]
    async fn writes_shadow_the_base_which_stays_unchanged() {
        let (base, o) = seeded().await;
        // Order 1 moves to customer 11 (newer); order 3 is new; an older order 2 is stale.
        let outcomes = ProjectionStore::write(
            &o,
            "orders",
            vec![
                RecordWrite::Put(rec(1, 11, 6)),
                RecordWrite::Put(rec(3, 10, 1)),
                RecordWrite::Put(rec(2, 12, 4)),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            outcomes,
            vec![
                WriteOutcome::Applied,
                WriteOutcome::Applied,
                WriteOutcome::Stale
            ]
        );
        assert_eq!(ids_of_customer(&o, 10).await, vec![(2, 5), (3, 1)]);
        assert_eq!(ids_of_customer(&o, 11).await, vec![(1, 6)]);
        assert_eq!(ids_of_customer(&o, 12).await, vec![]);
        // An equal version replays (applies), as in every store.
        let again = ProjectionStore::write(&o, "orders", vec![RecordWrite::Put(rec(2, 10, 5))])
            .await
            .unwrap();
        assert_eq!(again, vec![WriteOutcome::Applied]);
        // The base holds what it held.
        assert_eq!(
            ids_of_customer(base.as_ref(), 10).await,
            vec![(1, 5), (2, 5)]
        );
        assert_eq!(ids_of_customer(base.as_ref(), 11).await, vec![]);
        // A stale write of an owned key is refused against the overlay's own version.
        let stale = ProjectionStore::write(&o, "orders", vec![RecordWrite::Put(rec(1, 10, 5))])
            .await
            .unwrap();
        assert_eq!(stale, vec![WriteOutcome::Stale]);
    }

    #[tokio::test]
    async fn deletes_shadow_the_base_record() {
        let (base, o) = seeded().await;
        let old = ProjectionStore::write(
            &o,
            "orders",
            vec![RecordWrite::Remove {
                key: k(1),
                version: Version(4),
            }],
        )
        .await
        .unwrap();
        assert_eq!(old, vec![WriteOutcome::Stale], "the base's v5 is newer");
        let removed = ProjectionStore::write(
            &o,
            "orders",
            vec![RecordWrite::Remove {
                key: k(1),
                version: Version(7),
            }],
        )
        .await
        .unwrap();
        assert_eq!(removed, vec![WriteOutcome::Applied]);
        let got = ProjectionStore::get_many(&o, "orders", &[k(1)])
            .await
            .unwrap();
        assert_eq!(got, vec![None]);
        assert_eq!(ids_of_customer(&o, 10).await, vec![(2, 5)]);
        assert_eq!(
            ids_of_customer(base.as_ref(), 10).await,
            vec![(1, 5), (2, 5)]
        );
        // A view document deleted in the overlay is gone there, and kept in the base.
        SingleViewStore::write(
            &o,
            "c",
            WriteMode::Replace,
            vec![ViewWrite::Delete { key: k(10) }],
        )
        .await
        .unwrap();
        assert_eq!(
            SingleViewStore::get_many(&o, "c", &[k(10)]).await.unwrap(),
            vec![None]
        );
        assert!(o.stored_documents("c", &[k(10)]).await.unwrap()[0].is_some());
        assert!(SingleViewStore::get_many(base.as_ref(), "c", &[k(10)])
            .await
            .unwrap()[0]
            .is_some());
    }

    #[tokio::test]
    async fn view_writes_merge_onto_the_stored_document_and_are_listed_in_order() {
        let (base, o) = seeded().await;
        SingleViewStore::write(
            &o,
            "c",
            WriteMode::Merge,
            vec![
                ViewWrite::Upsert {
                    key: k(11),
                    document: doc(&[("id", 11), ("n", 1)]),
                },
                ViewWrite::Upsert {
                    key: k(10),
                    document: doc(&[("id", 10), ("n", 3)]),
                },
            ],
        )
        .await
        .unwrap();
        let docs = SingleViewStore::get_many(&o, "c", &[k(10), k(11)])
            .await
            .unwrap();
        assert_eq!(docs[0], Some(doc(&[("id", 10), ("n", 3), ("kept", 1)])));
        assert_eq!(docs[1], Some(doc(&[("id", 11), ("n", 1)])));
        SingleViewStore::write(
            &o,
            "c",
            WriteMode::Replace,
            vec![ViewWrite::MarkDeleted { key: k(10) }],
        )
        .await
        .unwrap();
        let marked = SingleViewStore::get_many(&o, "c", &[k(10)]).await.unwrap();
        assert_eq!(
            marked[0].as_ref().and_then(|d| d.get(STATE_FIELD)),
            Some(&Value::String("DELETED".into()))
        );
        assert_eq!(
            o.take_written(),
            vec![
                ("c".to_string(), k(11)),
                ("c".to_string(), k(10)),
                ("c".to_string(), k(10))
            ]
        );
        assert_eq!(o.take_written(), vec![]);
        let stored = SingleViewStore::get_many(base.as_ref(), "c", &[k(10), k(11)])
            .await
            .unwrap();
        assert_eq!(
            stored,
            vec![Some(doc(&[("id", 10), ("n", 2), ("kept", 1)])), None]
        );
    }

    #[tokio::test]
    async fn failures_and_dead_letters_are_counted_apart_scans_refused() {
        let (base, o) = seeded().await;
        o.record_failures(vec![ViewFailure {
            view: "c".into(),
            key: serde_json::json!({"id": 1}),
            reason: "r".into(),
            document: serde_json::json!({}),
        }])
        .await
        .unwrap();
        assert_eq!(o.failures(), 1);
        assert!(base.view_failures().unwrap().is_empty());
        let letter = DeadLetter::of_input_line(String::new(), 1, "x".into(), "not JSON");
        o.dead_letter(vec![letter]).await.unwrap();
        assert_eq!(o.dead_letters(), 1);
        assert!(base.dead_letters().unwrap().is_empty());
        assert!(ProjectionStore::scan(&o, "orders", None, 10).await.is_err());
        assert!(SingleViewStore::scan(&o, "c", None, 10).await.is_err());
        // The base's record is read through (it has none).
        assert_eq!(o.load_deployment().await.unwrap(), None);
    }

    #[tokio::test]
    async fn source_drift_stays_in_the_shadow() {
        use fdc_core::store::{SourceDrift, SourceDriftStore};
        let (base, o) = seeded().await;
        fdc_core::store::drift::conformance(&o).await.unwrap();
        assert!(base.load_source_drift().await.unwrap().is_empty());
        base.merge_source_drift(&[SourceDrift::new("base_only")])
            .await
            .unwrap();
        assert!(
            !o.load_source_drift()
                .await
                .unwrap()
                .iter()
                .any(|d| d.projection == "base_only"),
            "the preview shows its own drift"
        );
    }
}
