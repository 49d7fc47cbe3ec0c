//! Revoked sessions whose access tokens may still be alive. Access tokens are verified
//! without the database, so a revoked session's tokens would live until `exp`; this cache
//! (filled by this process's own revocations and by polling the store) refuses them within
//! the poll interval instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::clock::UnixTime;
use crate::store::{Store, StoreError};

/// Session ids revoked recently, each kept until no access token of it can be alive.
#[derive(Debug, Default)]
pub struct RevocationCache {
    inner: Mutex<Inner>,
    /// Entries in the map, readable without the lock: the common case on the hot path
    /// (`/v1/me`) is an empty cache.
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    until: HashMap<String, UnixTime>,
    cursor: UnixTime,
}

impl RevocationCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// True when `sid` was revoked and its tokens may still be presented.
    pub fn is_revoked(&self, sid: &str) -> bool {
        self.len.load(Ordering::Acquire) != 0 && self.lock().until.contains_key(sid)
    }

    /// Records a revocation; `until` is when the last access token of it expires.
    pub fn insert(&self, sid: String, until: UnixTime) {
        let mut g = self.lock();
        g.until.insert(sid, until);
        self.len.store(g.until.len(), Ordering::Release);
    }

    /// Reads revocations from the store since the last sync (with an overlap for
    /// revocations committed out of order) and forgets entries past `until`.
    pub async fn sync(
        &self,
        store: &dyn Store,
        now: UnixTime,
        token_lifetime: i64,
    ) -> Result<usize, StoreError> {
        let since = {
            let g = self.lock();
            if g.cursor == 0 {
                now - token_lifetime
            } else {
                g.cursor - 5
            }
        };
        let mut added = 0;
        let mut since = since.max(0);
        loop {
            let batch = store.revocations_since(since, 1000).await?;
            let full = batch.len() == 1000;
            let mut newest = since;
            let mut g = self.lock();
            for r in batch {
                newest = newest.max(r.revoked_at);
                let until = r.revoked_at + token_lifetime;
                if until > now && g.until.insert(r.session_id, until).is_none() {
                    added += 1;
                }
                self.len.store(g.until.len(), Ordering::Release);
                g.cursor = g.cursor.max(r.revoked_at);
            }
            // Pages are by time: stop when a full page did not move the cursor forward.
            if !full || newest == since {
                break;
            }
            since = newest;
        }
        let mut g = self.lock();
        g.cursor = g.cursor.max(now - 5);
        g.until.retain(|_, until| *until > now);
        self.len.store(g.until.len(), Ordering::Release);
        Ok(added)
    }
}
