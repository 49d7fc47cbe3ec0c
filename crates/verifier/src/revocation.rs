//! The revocation feed client (docs/http-api.md, "The revocation feed"): polls `GET {feed}[?since=CURSOR]` with the
//! revocations token and keeps the revoked sessions as an atomically swapped snapshot, so
//! the request path checks a `sid` in O(1) without a lock.
//!
//! Memory: a session is kept as a keyed 64-bit hash of its `sid` (SipHash-1-3 under a random
//! per-process key) mapped to its `until`, 16 bytes plus one control byte per slot of a
//! hash table at most 7/8 full: 100,000 live revocations take about 2.2 MiB (131,072 slots ×
//! 17 bytes), whatever the length of the sids. A hash collision could only refuse a valid
//! token, with odds of about n / 2⁶⁴ per request, and the key is secret, so nobody can aim
//! for one.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::header::{ACCEPT, AUTHORIZATION};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Deserialize;
use tessera_jose::SecretString;
use tokio::time::Instant;

use crate::fetch::{self, FetchError};

/// The process's secret key for hashing sids (random at first use).
static SID_KEYER: OnceLock<RandomState> = OnceLock::new();

/// The keyed 64-bit hash a session is known by.
pub(crate) fn sid_key(sid: &str) -> u64 {
    SID_KEYER.get_or_init(RandomState::new).hash_one(sid)
}

/// A session, by the keyed hash of its `sid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SidKey(pub u64);

/// Passes an already keyed hash through as the table's hash (hashing it again would only
/// cost time).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Table = HashMap<u64, u64, BuildHasherDefault<PassThrough>>;

/// The revoked sessions at one moment: keyed hash of `sid` → `until` (Unix seconds).
#[derive(Debug, Default, Clone)]
pub(crate) struct RevocationSet {
    table: Table,
}

impl RevocationSet {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when `key`'s session is revoked at `now` (an entry past its `until` no longer
    /// matters: every token of that session has expired by then).
    pub fn contains(&self, key: u64, now: u64) -> bool {
        self.table.get(&key).is_some_and(|&until| now <= until)
    }

    #[cfg(test)]
    /// Bytes held by the table (slots, entries and control bytes; the map's own struct
    /// aside), for the memory bound in the docs and tests.
    pub fn heap_bytes(&self) -> usize {
        let slots = self.table.capacity() * 8 / 7;
        slots.next_power_of_two() * (std::mem::size_of::<(u64, u64)>() + 1)
    }

    fn insert(&mut self, key: u64, until: u64) {
        let e = self.table.entry(key).or_insert(until);
        *e = (*e).max(until);
    }
}

/// One page of the feed, as docs/http-api.md writes it.
#[derive(Debug, Deserialize)]
struct Page {
    cursor: String,
    revocations: Vec<Entry>,
    #[serde(default)]
    reset: bool,
}

#[derive(Debug, Deserialize)]
struct Entry {
    sid: String,
    until: Until,
}

/// `until` in Unix seconds; integers or decimals (as numeric dates may be, RFC 7519).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Until {
    Int(u64),
    Float(f64),
}

impl Until {
    fn secs(&self) -> u64 {
        match *self {
            Until::Int(n) => n,
            // Rounded up: an entry must not end before the server said.
            Until::Float(f) if f.is_finite() && f > 0.0 => f.ceil() as u64,
            Until::Float(_) => 0,
        }
    }
}

/// Where the feed is: named in the configuration, or the issuer's RFC 8414 metadata
/// (`revocation_feed_endpoint`).
#[derive(Debug, Clone)]
pub(crate) enum FeedEndpoint {
    Explicit(Uri),
    Discovered,
}

/// One issuer's feed: its client state and the current snapshot.
#[derive(Debug)]
pub(crate) struct Feed {
    pub endpoint: FeedEndpoint,
    token: SecretString,
    set: ArcSwap<RevocationSet>,
    /// Milliseconds since `epoch` of the last successful poll, plus one (0: never).
    last_success: AtomicU64,
    epoch: Instant,
    state: Mutex<FeedState>,
}

#[derive(Debug, Default)]
struct FeedState {
    cursor: Option<String>,
    last_error: Option<String>,
}

/// What the health report says about a feed.
#[derive(Debug, Clone)]
pub(crate) struct FeedStatus {
    pub since_success: Option<Duration>,
    pub last_error: Option<String>,
    pub revocations: usize,
}

impl Feed {
    pub fn new(endpoint: FeedEndpoint, token: SecretString) -> Self {
        Feed {
            endpoint,
            token,
            set: ArcSwap::from_pointee(RevocationSet::default()),
            last_success: AtomicU64::new(0),
            epoch: Instant::now(),
            state: Mutex::new(FeedState::default()),
        }
    }

    /// True when the session whose [`sid_key`] is `key` is revoked at `now` (Unix
    /// seconds). Lock-free.
    pub fn is_revoked(&self, key: SidKey, now: u64) -> bool {
        self.set.load().contains(key.0, now)
    }

    /// How long ago the last poll succeeded (`None`: never).
    pub fn since_success(&self) -> Option<Duration> {
        match self.last_success.load(Ordering::Acquire) {
            0 => None,
            ms => {
                let at = self.epoch + Duration::from_millis(ms - 1);
                Some(Instant::now().saturating_duration_since(at))
            }
        }
    }

    /// True when the last successful poll is at most `max_staleness` old.
    pub fn is_fresh(&self, max_staleness: Duration) -> bool {
        self.since_success().is_some_and(|d| d <= max_staleness)
    }

    pub fn status(&self) -> FeedStatus {
        let last_error = self
            .state
            .lock()
            .map(|s| s.last_error.clone())
            .unwrap_or_default();
        FeedStatus {
            since_success: self.since_success(),
            last_error,
            revocations: self.set.load().len(),
        }
    }

    pub fn len(&self) -> usize {
        self.set.load().len()
    }

    /// Records the outcome of a poll (for health and freshness).
    pub fn record(&self, result: &Result<(), FetchError>) {
        if let Ok(mut s) = self.state.lock() {
            s.last_error = result.as_ref().err().map(|e| e.to_string());
        }
        if result.is_ok() {
            let ms = Instant::now()
                .saturating_duration_since(self.epoch)
                .as_millis();
            self.last_success.store(
                u64::try_from(ms).unwrap_or(u64::MAX - 1) + 1,
                Ordering::Release,
            );
        }
    }

    /// One poll: GET the feed with the last cursor, apply the page, swap the snapshot.
    pub async fn poll(
        &self,
        endpoint: &Uri,
        ctx: &crate::issuer::Ctx,
        now: impl Fn() -> u64,
    ) -> Result<(), FetchError> {
        let cursor = self.state.lock().ok().and_then(|s| s.cursor.clone());
        let url = match &cursor {
            Some(c) => fetch::with_query(endpoint, "since", c)?,
            None => endpoint.clone(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| FetchError::new("the revocations token is not a valid header value"))?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        let fetcher = ctx.fetcher()?;
        let res = fetch::get(fetcher, &ctx.policy, &ctx.feed_limits, url, headers).await?;
        match res.status {
            StatusCode::OK => {}
            StatusCode::BAD_REQUEST if cursor.is_some() => {
                // The server no longer understands our cursor: start over with a full list.
                if let Ok(mut s) = self.state.lock() {
                    s.cursor = None;
                }
                return Err(FetchError::new(
                    "the feed refused the cursor (400); asking for the whole list next",
                ));
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(FetchError::new(format!(
                    "the feed refused the revocations token ({})",
                    res.status.as_u16()
                )))
            }
            s => return Err(FetchError::new(format!("the feed answered {}", s.as_u16()))),
        }
        let page: Page = serde_json::from_slice(&res.body)
            .map_err(|_| FetchError::new("the feed's answer is not the feed's JSON"))?;
        self.apply(&page, now());
        if let Ok(mut s) = self.state.lock() {
            s.cursor = Some(page.cursor);
        }
        Ok(())
    }

    /// Applies a page: `reset` replaces the set, otherwise entries are added; entries past
    /// `until` are dropped. The new set is swapped in whole (readers never wait).
    fn apply(&self, page: &Page, now: u64) {
        let current = self.set.load();
        let expired = current.table.values().any(|&until| until < now);
        if !page.reset && page.revocations.is_empty() && !expired {
            return;
        }
        let mut next = if page.reset {
            RevocationSet {
                table: Table::with_capacity_and_hasher(
                    page.revocations.len(),
                    BuildHasherDefault::default(),
                ),
            }
        } else {
            RevocationSet::clone(&current)
        };
        for e in &page.revocations {
            next.insert(sid_key(&e.sid), e.until.secs());
        }
        next.table.retain(|_, until| *until >= now);
        self.set.store(std::sync::Arc::new(next));
    }

    #[cfg(test)]
    fn apply_json(&self, json: &str, now: u64) {
        let page: Page = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        self.apply(&page, now);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn k(sid: &str) -> SidKey {
        SidKey(sid_key(sid))
    }

    fn feed() -> Feed {
        Feed::new(FeedEndpoint::Discovered, SecretString::new("t".into()))
    }

    #[test]
    fn pages_add_reset_replaces_and_expired_entries_drop() {
        let f = feed();
        f.apply_json(
            r#"{"cursor":"1","revocations":[{"sid":"ses_a","until":200},{"sid":"ses_b","until":120}],"reset":true}"#,
            100,
        );
        assert!(f.is_revoked(k("ses_a"), 100));
        assert!(f.is_revoked(k("ses_b"), 100));
        assert!(!f.is_revoked(k("ses_c"), 100));
        f.apply_json(
            r#"{"cursor":"2","revocations":[{"sid":"ses_c","until":300.5}]}"#,
            110,
        );
        assert!(f.is_revoked(k("ses_c"), 110) && f.is_revoked(k("ses_a"), 110));
        // ses_b's until passes: dropped at the next page.
        f.apply_json(r#"{"cursor":"3","revocations":[]}"#, 130);
        assert_eq!(f.len(), 2);
        assert!(!f.is_revoked(k("ses_b"), 130));
        // reset replaces everything.
        f.apply_json(
            r#"{"cursor":"4","revocations":[{"sid":"ses_d","until":400}],"reset":true}"#,
            130,
        );
        assert_eq!(f.len(), 1);
        assert!(!f.is_revoked(k("ses_a"), 130));
        assert!(f.is_revoked(k("ses_d"), 130));
        // a duplicate keeps the later until.
        f.apply_json(
            r#"{"cursor":"5","revocations":[{"sid":"ses_d","until":350}]}"#,
            130,
        );
        assert!(f.is_revoked(k("ses_d"), 390));
    }

    #[test]
    fn a_hundred_thousand_revocations_fit_in_a_few_mebibytes() {
        let f = feed();
        let entries: Vec<String> = (0..100_000)
            .map(|i| format!(r#"{{"sid":"ses_{i:032x}","until":1000}}"#))
            .collect();
        let json = format!(
            r#"{{"cursor":"c","revocations":[{}],"reset":true}}"#,
            entries.join(",")
        );
        f.apply_json(&json, 10);
        assert_eq!(f.len(), 100_000);
        let bytes = f.set.load().heap_bytes();
        assert!(bytes <= 3 * 1024 * 1024, "{bytes} bytes");
        assert!(f.is_revoked(k(&format!("ses_{:032x}", 99_999)), 10));
        assert!(!f.is_revoked(k(&format!("ses_{:032x}", 100_000)), 10));
    }
}
