//! The verifier: picks the issuer, verifies against its current keys, checks revocation.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::claims::AccessClaims;
use crate::config::VerifierBuilder;
use crate::error::Rejection;
use crate::health::{FeedHealth, Health, IssuerHealth};
use crate::issuer::{self, Ctx, IssuerState};
use crate::layer::VerifierLayer;
use crate::metrics::{Counters, Metrics, Shared};
use crate::revocation::{sid_key, SidKey};
use crate::scope::RequireScopeLayer;

/// Verifies access tokens of one or more issuers, with keys kept fresh in the background
/// and, optionally, a revocation list. Cheap to clone (one `Arc`); build it once with
/// [`Verifier::builder`] and hand clones to layers and handlers.
///
/// Dropping the last clone stops its background tasks.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuers: Vec<Arc<IssuerState>>,
    ctx: Arc<Ctx>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "issuers",
                &self
                    .inner
                    .issuers
                    .iter()
                    .map(|i| &i.iss)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The outcome of the synchronous part of a verification: on success, where the payload
/// segment is in the token (the caller keeps the token's bytes with the claims).
pub(crate) enum Step {
    Done(Result<Range<usize>, Rejection>),
    /// The token names an unknown `kid` and a key fetch is under way: wait for it, then
    /// check again (once).
    Wait(usize, watch::Receiver<()>),
}

#[derive(Deserialize)]
struct PeekIss<'a> {
    #[serde(borrow)]
    iss: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PeekKid {
    kid: Option<serde::de::IgnoredAny>,
}

/// The session of a verified payload from the JSON text of its `sid` (`Err` when it is not
/// a string).
fn session(raw: Option<&[u8]>) -> Result<Option<SidKey>, ()> {
    let Some(raw) = raw else { return Ok(None) };
    let inner = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => return Err(()),
    };
    let key = if inner.contains(&b'\\') {
        sid_key(&serde_json::from_slice::<String>(raw).map_err(|_| ())?)
    } else {
        sid_key(std::str::from_utf8(inner).map_err(|_| ())?)
    };
    Ok(Some(SidKey(key)))
}

/// Decodes one base64url segment of a compact token, only to choose (never to trust).
/// Bounded by jose's size cap.
fn segment(token: &str, index: usize) -> Option<Vec<u8>> {
    if token.len() > tessera_jose::DEFAULT_MAX_TOKEN_LEN {
        return None;
    }
    let seg = token.split('.').nth(index)?;
    tessera_jose::base64url::decode(seg.as_bytes()).ok()
}

impl Verifier {
    /// A builder with the defaults of docs/resource-servers.md.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    pub(crate) fn start(issuers: Vec<Arc<IssuerState>>, ctx: Arc<Ctx>) -> Self {
        let mut tasks = Vec::new();
        if let Some(rt) = &ctx.runtime {
            for i in &issuers {
                if !matches!(i.source, issuer::KeySource::Static) {
                    tasks.push(
                        rt.spawn(issuer::keys_task(Arc::downgrade(i)))
                            .abort_handle(),
                    );
                }
                if i.feed.is_some() {
                    tasks.push(
                        rt.spawn(issuer::feed_task(Arc::downgrade(i)))
                            .abort_handle(),
                    );
                }
            }
        }
        Verifier {
            inner: Arc::new(Inner {
                issuers,
                ctx,
                tasks,
            }),
        }
    }

    /// Verifies a compact access token: signature and claims with the issuer's current
    /// keys (waiting for one refetch if it names an unknown `kid` and the cooldown allows),
    /// then the revocation list. Counts the outcome in [`metrics`](Self::metrics).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Rejection> {
        let r = match self.check(token, true) {
            Step::Done(r) => r,
            Step::Wait(i, rx) => self.check_after_fetch(i, token, rx).await,
        };
        self.count(r.map(|payload| AccessClaims::in_token(token, payload, self.shared())))
    }

    pub(crate) async fn check_after_fetch(
        &self,
        issuer: usize,
        token: &str,
        rx: watch::Receiver<()>,
    ) -> Result<Range<usize>, Rejection> {
        issuer::done(rx).await;
        match self.check_issuer(issuer, token, false) {
            Step::Done(r) => r,
            // Not reached: without refetch permission the check always finishes.
            Step::Wait(..) => Err(Rejection::invalid("no key matches the token's kid")),
        }
    }

    /// Counts an outcome and puts the realm on a refusal.
    pub(crate) fn count(
        &self,
        r: Result<AccessClaims, Rejection>,
    ) -> Result<AccessClaims, Rejection> {
        let shared = &self.inner.ctx.shared;
        match r {
            Ok(c) => {
                Counters::inc(&shared.metrics.accepted);
                Ok(c)
            }
            Err(e) => {
                let e = e.with_realm(shared.realm.as_ref());
                shared.metrics.refused(&e);
                Err(e)
            }
        }
    }

    /// The refusal for a request without a token (counted).
    pub(crate) fn missing(&self) -> Rejection {
        match self.count(Err(Rejection::missing())) {
            Err(e) => e,
            Ok(_) => Rejection::missing(),
        }
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.inner.ctx.shared)
    }

    /// The synchronous check: everything but waiting for a key fetch.
    pub(crate) fn check(&self, token: &str, may_fetch: bool) -> Step {
        match self.pick(token) {
            Ok(i) => self.check_issuer(i, token, may_fetch),
            Err(e) => Step::Done(Err(e)),
        }
    }

    /// The issuer of a token: the only one, or the one its `iss` names.
    fn pick(&self, token: &str) -> Result<usize, Rejection> {
        let issuers = &self.inner.issuers;
        if issuers.len() == 1 {
            return Ok(0);
        }
        let payload =
            segment(token, 1).ok_or_else(|| Rejection::invalid("the token is malformed"))?;
        let iss = serde_json::from_slice::<PeekIss<'_>>(&payload)
            .map_err(|_| Rejection::invalid("the token is malformed"))?
            .iss
            .ok_or_else(|| Rejection::invalid("token has no iss"))?;
        issuers
            .iter()
            .position(|i| i.iss.as_deref() == Some(&*iss))
            .ok_or_else(|| Rejection::invalid("the token's issuer is not trusted here"))
    }

    fn check_issuer(&self, index: usize, token: &str, may_fetch: bool) -> Step {
        let issuer = &self.inner.issuers[index];
        let snapshot = issuer.snapshot.load();
        let Some(keys) = snapshot.as_ref() else {
            return Step::Done(Err(Rejection::unavailable(
                "the issuer's keys are not known yet; retry shortly",
            )));
        };
        let now = self.inner.ctx.clock.now();
        // Only what the layer needs is read here (the sid, when revocations are on), with
        // jose's scanner over the payload it already decoded; the rest is read when a
        // handler asks.
        let verified = match &issuer.feed {
            Some(_) => keys
                .verifier
                .verify_raw(token, now, |c| session(c.raw("sid"))),
            None => keys.verifier.verify_raw(token, now, |_| Ok(None)),
        };
        let sid = match verified {
            Ok(v) => match v.into_claims() {
                Ok(sid) => sid,
                // A session we cannot name cannot be checked for revocation.
                Err(()) => return Step::Done(Err(Rejection::invalid("sid must be a string"))),
            },
            Err(e) => {
                // Only a token that names a kid can be helped by a refetch (a missing kid
                // with several keys never will).
                if e.kind() == tessera_jose::ErrorKind::UnknownKey
                    && may_fetch
                    && segment(token, 0)
                        .and_then(|h| serde_json::from_slice::<PeekKid>(&h).ok())
                        .is_some_and(|h| h.kid.is_some())
                {
                    if let Some(rx) = issuer.unknown_kid() {
                        return Step::Wait(index, rx);
                    }
                }
                return Step::Done(Err(Rejection::from_jose(&e)));
            }
        };
        if let Some(feed) = &issuer.feed {
            let ctx = &self.inner.ctx;
            if ctx.fail_closed && !feed.is_fresh(ctx.feed_max_staleness) {
                return Step::Done(Err(Rejection::unavailable(
                    "the revocation list is not current; retry shortly",
                )));
            }
            if sid.is_some_and(|sid| feed.is_revoked(sid, now)) {
                return Step::Done(Err(Rejection::invalid(
                    "the session of this access token was revoked",
                )));
            }
        }
        // Verified, so exactly three segments.
        let start = token.find('.').map_or(0, |i| i + 1);
        let end = token.rfind('.').unwrap_or(start).max(start);
        Step::Done(Ok(start..end))
    }

    /// A tower layer that verifies `Authorization: Bearer` on every request: refuses a
    /// missing or invalid token, puts [`AccessClaims`] in the request's extensions.
    pub fn layer(&self) -> VerifierLayer {
        VerifierLayer::new(self.clone(), false)
    }

    /// Like [`layer`](Self::layer), but lets requests without a token through
    /// (anonymous); a token that is present must still be valid. Use
    /// [`OptionalClaims`](crate::OptionalClaims) or [`Claims`](crate::Claims) per route.
    pub fn optional_layer(&self) -> VerifierLayer {
        VerifierLayer::new(self.clone(), true)
    }

    /// A tower layer (put it inside the verifier's) answering 403 `insufficient_scope`
    /// unless the token grants every space-separated scope of `scope`.
    pub fn require_scope(&self, scope: &str) -> RequireScopeLayer {
        RequireScopeLayer::new(scope, Arc::clone(&self.inner.ctx.shared))
    }

    /// True when every issuer's keys are known and every feed is fresh.
    pub fn is_ready(&self) -> bool {
        let ctx = &self.inner.ctx;
        self.inner.issuers.iter().all(|i| {
            i.snapshot.load().is_some()
                && i.feed
                    .as_ref()
                    .is_none_or(|f| f.is_fresh(ctx.feed_max_staleness))
        })
    }

    /// Waits until [`is_ready`](Self::is_ready) (checked every 50 ms) or `timeout`; returns
    /// readiness. Not needed to serve (requests get 503 until keys arrive), handy at
    /// start-up or in tests.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_ready() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Keys, fetch errors and feeds of every issuer.
    pub fn health(&self) -> Health {
        let ctx = &self.inner.ctx;
        let issuers: Vec<IssuerHealth> = self
            .inner
            .issuers
            .iter()
            .map(|i| {
                let snap = i.snapshot.load_full();
                let status = i.key_status();
                IssuerHealth {
                    issuer: i.iss.clone(),
                    jwks_uri: status.jwks_uri,
                    keys_known: snap.is_some(),
                    key_count: snap.as_ref().map_or(0, |s| s.verifier.keys().len()),
                    keys_age: snap.as_ref().map(|s| {
                        tokio::time::Instant::now().saturating_duration_since(s.fetched_at)
                    }),
                    keys_max_age: snap.as_ref().map(|s| s.max_age),
                    last_fetch_error: status.last_error,
                    feed: i.feed.as_ref().map(|f| {
                        let s = f.status();
                        FeedHealth {
                            fresh: s.since_success.is_some_and(|d| d <= ctx.feed_max_staleness),
                            last_success_age: s.since_success,
                            last_error: s.last_error,
                            revocations: s.revocations,
                            fail_closed: ctx.fail_closed,
                        }
                    }),
                }
            })
            .collect();
        Health {
            ready: self.is_ready(),
            issuers,
        }
    }

    /// The counters since the verifier was built, plus the key and revocation gauges.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.inner.ctx.shared.metrics.snapshot();
        for i in &self.inner.issuers {
            if let Some(s) = i.snapshot.load().as_ref() {
                m.keys += s.verifier.keys().len() as u64;
            }
            if let Some(f) = &i.feed {
                m.revocations += f.len() as u64;
            }
        }
        m
    }
}
