//! Revoked sessions whose access tokens may still be alive. Access tokens are verified
//! without the database, so a revoked session's tokens would live until `exp`; this cache
//! (filled by this process's own revocations and by reading the store's revocation feed)
//! refuses them within the poll interval instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::clock::UnixTime;
use crate::store::{FeedPosition, Store, StoreError};

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
    /// Where the next read of the store's feed continues; `None` before the first.
    position: Option<FeedPosition>,
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
        let e = g.until.entry(sid).or_insert(until);
        *e = (*e).max(until);
        self.len.store(g.until.len(), Ordering::Release);
    }

    /// Reads the store's revocation feed from where the last read ended (everything live on
    /// the first read, e.g. after a restart) and forgets entries past their `until`. Returns
    /// how many sessions are new to this cache. Pages are merged, never replacing the set:
    /// a reset (another database behind the same store) can only add entries, and every
    /// entry leaves by its own `until`.
    pub async fn sync(&self, store: &dyn Store, now: UnixTime) -> Result<usize, StoreError> {
        let since = self.lock().position.clone();
        let page = store.revocation_feed(since.as_ref(), now).await?;
        let mut g = self.lock();
        let mut added = 0;
        for r in page.revocations {
            let e = g.until.entry(r.session_id).or_insert_with(|| {
                added += 1;
                r.until
            });
            *e = (*e).max(r.until);
        }
        g.until.retain(|_, until| *until > now);
        g.position = Some(page.next);
        self.len.store(g.until.len(), Ordering::Release);
        Ok(added)
    }
}
