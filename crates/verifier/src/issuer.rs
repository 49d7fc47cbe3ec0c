//! One trusted issuer: its key cache (docs/resource-servers.md: one fetch in flight, refreshed ahead of
//! max-age in the background, an unknown `kid` refetched at most once per cooldown, stale
//! keys kept while the issuer is down, retries at least every 5 s while no keys are known)
//! and its revocation feed.
//!
//! No lock is ever held across a fetch: the `Mutex` guards a few fields for a few
//! instructions; the fetch runs in its own task, and whoever wants its outcome waits on a
//! `watch` channel that the task closes when done.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::Clock;
use crate::discovery::Discovery;
use crate::fetch::{self, Fetch, FetchError, Limits, UrlPolicy};
use crate::jwks::{self, KeySnapshot, MaxAge, Rules};
use crate::metrics::{Counters, Shared};
use crate::revocation::{Feed, FeedEndpoint};

/// Everything the issuers share: the client and its bounds, the rules, the timings.
pub(crate) struct Ctx {
    pub fetch: Option<Arc<dyn Fetch>>,
    pub policy: UrlPolicy,
    pub limits: Limits,
    /// The feed's bounds: a full list is larger than a JWKS (about 60 bytes per entry).
    pub feed_limits: Limits,
    pub rules: Rules,
    pub max_age: MaxAge,
    pub cooldown: Duration,
    pub retry_max: Duration,
    pub feed_interval: Duration,
    pub feed_max_staleness: Duration,
    pub fail_closed: bool,
    pub clock: Arc<dyn Clock>,
    pub shared: Arc<Shared>,
    pub runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("fetch", &self.fetch)
            .field("policy", &self.policy)
            .field("limits", &self.limits)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    pub fn fetcher(&self) -> Result<&dyn Fetch, FetchError> {
        self.fetch
            .as_deref()
            .ok_or_else(|| FetchError::new("no HTTP client configured"))
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.metrics
    }
}

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    Static,
    JwksUrl(Uri),
    Discover,
}

/// One issuer's keys, feed and fetch state.
#[derive(Debug)]
pub(crate) struct IssuerState {
    /// The `iss` its tokens carry (checked); `None` only for a lone issuer configured by
    /// JWKS URL or keys without a name.
    pub iss: Option<String>,
    pub ctx: Arc<Ctx>,
    pub source: KeySource,
    pub discovery: Option<Discovery>,
    pub snapshot: ArcSwapOption<KeySnapshot>,
    pub feed: Option<Feed>,
    state: Mutex<FetchState>,
}

#[derive(Debug, Default)]
struct FetchState {
    /// Closed (sender dropped) when the fetch in flight is done.
    inflight: Option<watch::Receiver<()>>,
    last_unknown_kid: Option<Instant>,
    last_error: Option<String>,
    /// Consecutive failed fetches (the backoff step).
    failures: u32,
    last_attempt_end: Option<Instant>,
}

/// What health reports about an issuer's keys.
#[derive(Debug, Clone)]
pub(crate) struct KeyStatus {
    pub last_error: Option<String>,
    pub jwks_uri: Option<String>,
}

/// Records a fetch that ended without finishing (its task panicked or was cancelled), so
/// the backoff applies instead of an immediate new attempt.
struct Unfinished<'a>(Option<&'a IssuerState>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(issuer) = self.0.take() {
            issuer.finish(Err("the key fetch was interrupted".to_owned()));
        }
    }
}

/// Waits until the fetch behind `rx` is done (its task drops the sender).
pub(crate) async fn done(mut rx: watch::Receiver<()>) {
    while rx.changed().await.is_ok() {}
}

impl IssuerState {
    pub fn new(
        iss: Option<String>,
        ctx: Arc<Ctx>,
        source: KeySource,
        discovery: Option<Discovery>,
        feed: Option<Feed>,
    ) -> Self {
        IssuerState {
            iss,
            ctx,
            source,
            discovery,
            snapshot: ArcSwapOption::empty(),
            feed,
            state: Mutex::new(FetchState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FetchState> {
        // A panic while holding this lock leaves plain data behind: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the fetch in flight, or starts one.
    pub fn refresh(self: &Arc<Self>) -> watch::Receiver<()> {
        let mut st = self.lock();
        self.join_or_start(&mut st)
    }

    fn join_or_start(self: &Arc<Self>, st: &mut FetchState) -> watch::Receiver<()> {
        if let Some(rx) = st.inflight.as_ref().filter(|rx| rx.has_changed().is_ok()) {
            return rx.clone();
        }
        let (tx, rx) = watch::channel(());
        st.inflight = Some(rx.clone());
        let this = Arc::clone(self);
        let task = async move {
            let mut guard = Unfinished(Some(&this));
            let result = this.fetch_keys().await;
            guard.0 = None;
            this.finish(result);
            drop(tx);
        };
        match &self.ctx.runtime {
            Some(rt) => {
                rt.spawn(task);
            }
            // Static keys only: nothing to fetch; the receiver reports done at once.
            None => drop(task),
        }
        rx
    }

    /// A token named a `kid` the current keys lack. Returns the fetch to wait for: the one
    /// in flight, or a new one if the cooldown since the last unknown-`kid` fetch has
    /// passed. `None`: refuse the token now (a flood of random kids costs one fetch per
    /// cooldown, not one per token).
    pub fn unknown_kid(self: &Arc<Self>) -> Option<watch::Receiver<()>> {
        if matches!(self.source, KeySource::Static) {
            return None;
        }
        let mut st = self.lock();
        if let Some(rx) = st.inflight.as_ref().filter(|rx| rx.has_changed().is_ok()) {
            return Some(rx.clone());
        }
        let now = Instant::now();
        if st
            .last_unknown_kid
            .is_some_and(|t| now.saturating_duration_since(t) < self.ctx.cooldown)
        {
            return None;
        }
        st.last_unknown_kid = Some(now);
        Counters::inc(&self.ctx.counters().unknown_kid_refetches);
        Some(self.join_or_start(&mut st))
    }

    fn finish(&self, result: Result<(), String>) {
        let mut st = self.lock();
        st.last_attempt_end = Some(Instant::now());
        match result {
            Ok(()) => {
                st.failures = 0;
                st.last_error = None;
            }
            Err(e) => {
                tracing::warn!(issuer = ?self.iss, error = %e, "JWKS fetch failed; keeping the last keys");
                st.failures = st.failures.saturating_add(1);
                st.last_error = Some(e);
            }
        }
        st.inflight = None;
    }

    /// One JWKS fetch (after discovery when needed); on success the new keys are swapped in.
    async fn fetch_keys(&self) -> Result<(), String> {
        let counters = self.ctx.counters();
        Counters::inc(&counters.jwks_fetches);
        let result = self.fetch_keys_inner().await;
        if result.is_err() {
            Counters::inc(&counters.jwks_fetch_failures);
            if let Some(d) = &self.discovery {
                d.forget();
            }
        }
        result
    }

    async fn fetch_keys_inner(&self) -> Result<(), String> {
        let ctx = &self.ctx;
        let url = match (&self.source, &self.discovery) {
            (KeySource::JwksUrl(u), _) => u.clone(),
            (KeySource::Discover, Some(d)) => d
                .metadata(ctx)
                .await
                .map_err(|e| e.to_string())?
                .jwks_uri
                .clone(),
            _ => return Ok(()),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/jwk-set+json, application/json"),
        );
        let fetcher = ctx.fetcher().map_err(|e| e.to_string())?;
        let res = fetch::get(fetcher, &ctx.policy, &ctx.limits, url.clone(), headers)
            .await
            .map_err(|e| e.to_string())?;
        if res.status != StatusCode::OK {
            return Err(format!("JWKS {url} answered {}", res.status.as_u16()));
        }
        let keys = jwks::parse(&res.body).map_err(|e| format!("JWKS {url}: {e}"))?;
        let verifier = ctx.rules.verifier(keys, self.iss.as_deref());
        self.snapshot.store(Some(Arc::new(KeySnapshot {
            verifier,
            fetched_at: Instant::now(),
            max_age: ctx.max_age.of(&res.headers),
        })));
        Ok(())
    }

    /// How long until the background task should fetch: now when no keys and no attempt
    /// yet; after a failure, a backoff of 250 ms doubling up to `retry_max` (5 s); else at
    /// 90 % of the keys' max-age.
    pub fn due_in(&self) -> Duration {
        let now = Instant::now();
        let st = self.lock();
        if st
            .inflight
            .as_ref()
            .is_some_and(|rx| rx.has_changed().is_ok())
        {
            // The task waits for it through `refresh` (which joins it).
            return Duration::ZERO;
        }
        let due = if st.failures > 0 {
            let step = Duration::from_millis(250).saturating_mul(1 << (st.failures - 1).min(16));
            st.last_attempt_end.unwrap_or(now) + step.min(self.ctx.retry_max)
        } else if let Some(s) = self.snapshot.load().as_ref() {
            s.refresh_at()
        } else {
            now
        };
        due.saturating_duration_since(now)
    }

    pub fn key_status(&self) -> KeyStatus {
        let last_error = self.lock().last_error.clone();
        let jwks_uri = match (&self.source, &self.discovery) {
            (KeySource::JwksUrl(u), _) => Some(u.to_string()),
            (KeySource::Discover, Some(d)) => d.cached().map(|m| m.jwks_uri.to_string()),
            _ => None,
        };
        KeyStatus {
            last_error,
            jwks_uri,
        }
    }

    /// The feed URL: configured, or from the metadata.
    async fn feed_endpoint(&self) -> Result<Uri, FetchError> {
        let Some(feed) = &self.feed else {
            return Err(FetchError::new("no feed"));
        };
        match (&feed.endpoint, &self.discovery) {
            (FeedEndpoint::Explicit(u), _) => Ok(u.clone()),
            (FeedEndpoint::Discovered, Some(d)) => d
                .metadata(&self.ctx)
                .await?
                .revocation_feed_endpoint
                .clone()
                .ok_or_else(|| {
                    FetchError::new("the issuer's metadata names no revocation_feed_endpoint")
                }),
            (FeedEndpoint::Discovered, None) => {
                Err(FetchError::new("no revocation feed URL configured"))
            }
        }
    }

    async fn poll_feed(&self) {
        let Some(feed) = &self.feed else { return };
        let counters = self.ctx.counters();
        Counters::inc(&counters.feed_polls);
        let clock = Arc::clone(&self.ctx.clock);
        let result = match self.feed_endpoint().await {
            Ok(url) => feed.poll(&url, &self.ctx, move || clock.now()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            Counters::inc(&counters.feed_failures);
            tracing::warn!(issuer = ?self.iss, error = %e, "revocation feed poll failed; keeping the last list");
        }
        feed.record(&result);
    }
}

/// Keeps one issuer's keys fresh until the verifier is dropped.
pub(crate) async fn keys_task(weak: Weak<IssuerState>) {
    loop {
        let Some(issuer) = weak.upgrade() else { return };
        let wait = issuer.due_in();
        drop(issuer);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            continue;
        }
        let Some(issuer) = weak.upgrade() else { return };
        let rx = issuer.refresh();
        drop(issuer);
        done(rx).await;
    }
}

/// Polls one issuer's revocation feed until the verifier is dropped.
pub(crate) async fn feed_task(weak: Weak<IssuerState>) {
    loop {
        let Some(issuer) = weak.upgrade() else { return };
        issuer.poll_feed().await;
        let interval = issuer.ctx.feed_interval;
        drop(issuer);
        tokio::time::sleep(interval).await;
    }
}

/// The https-unless-loopback policy, for the builder.
pub(crate) fn policy(http_hosts: Vec<String>) -> UrlPolicy {
    UrlPolicy { http_hosts }
}
