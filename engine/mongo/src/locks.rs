//! In-process exclusion of concurrent writes to the same records.
//!
//! In: the set of document ids a write call touches. Out: a guard; while it lives, no other
//! call of the same store touches any of those ids.
//!
//! Why: the version guard is one `update` statement, atomic per document on MongoDB, but
//! FerretDB v1 (SQLite backend) runs an `update` as a query followed by a separate write
//! (FerretDB issue #3040), so two concurrent guarded writes of one record could let the older
//! version win. Serializing the writes of one key inside the process closes that window for
//! everything sharing one `MongoStore` (the whole `fdc run` process); calls on different keys
//! still run in parallel. Across processes the guard relies on the server's per-document
//! atomicity (MongoDB has it; FerretDB v1 does not).
//!
//! Guarantees: all ids of a call are taken at once (no lock ordering, no deadlock); a guard
//! releases its ids when dropped, also when the call fails or its future is dropped.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// The ids held by running write calls.
#[derive(Default)]
pub struct KeyLocks {
    held: Mutex<HashSet<String>>,
    released: Notify,
}

/// Holds ids until dropped.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    ids: Vec<String>,
}

impl KeyLocks {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set is consistent at every await point, so a panic elsewhere cannot corrupt it.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until none of `ids` is held, then holds them all.
    pub async fn lock(&self, mut ids: Vec<String>) -> KeyGuard<'_> {
        ids.sort_unstable();
        ids.dedup();
        loop {
            let notified = self.released.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between check and wait is not missed.
            notified.as_mut().enable();
            {
                let mut held = self.held();
                if ids.iter().all(|id| !held.contains(id)) {
                    held.extend(ids.iter().cloned());
                    return KeyGuard { locks: self, ids };
                }
            }
            notified.await;
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held();
        for id in &self.ids {
            held.remove(id);
        }
        drop(held);
        self.locks.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn overlapping_calls_wait_and_disjoint_ones_do_not() {
        let locks = Arc::new(KeyLocks::default());
        let g = locks.lock(vec!["a".into(), "b".into()]).await;
        // Disjoint: immediate.
        let other = tokio::time::timeout(Duration::from_millis(100), locks.lock(vec!["c".into()]))
            .await
            .expect("disjoint ids do not wait");
        drop(other);
        let l2 = Arc::clone(&locks);
        let waiting = tokio::spawn(async move {
            let _g = l2.lock(vec!["b".into(), "d".into()]).await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "an overlapping call waits");
        drop(g);
        tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("released")
            .expect("task");
        assert!(locks.held().is_empty());
    }
}
