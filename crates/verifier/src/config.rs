//! Building a [`Verifier`]: which issuers to trust and where their keys are, the claim
//! rules, and the cache and feed timings. Every default is written on its setter.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tessera_jose::{JwkSet, SecretString, Verifier as JoseVerifier, VerifyingKey};
use tokio::time::Instant;

use crate::clock::{Clock, SystemClock};
use crate::discovery::Discovery;
use crate::error::ConfigError;
use crate::fetch::{Fetch, Limits, UrlPolicy};
use crate::issuer::{self, Ctx, IssuerState, KeySource};
use crate::jwks::{KeySnapshot, MaxAge, Rules};
use crate::metrics::Shared;
use crate::revocation::{Feed, FeedEndpoint};
use crate::verifier::Verifier;

/// One trusted issuer: where its keys come from and, optionally, its revocation feed.
///
/// ```
/// use tessera_verifier::Issuer;
///
/// // RFC 8414 discovery: keys (and the feed) found through the issuer's metadata.
/// let tessera = Issuer::discover("https://auth.example.com")
///     .revocations_token("the revocations token".to_owned());
/// // A JWKS URL, for tokens whose `iss` is "https://partner.example".
/// let partner = Issuer::jwks_url("https://partner.example/keys.json")
///     .expect_issuer("https://partner.example");
/// ```
#[derive(Clone)]
pub struct Issuer {
    iss: Option<String>,
    keys: Keys,
    feed: Option<(Option<String>, SecretString)>,
}

#[derive(Clone)]
enum Keys {
    Discover,
    JwksUrl(String),
    Static(Vec<VerifyingKey>),
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            Keys::Discover => "discover".to_owned(),
            Keys::JwksUrl(u) => format!("jwks {u}"),
            Keys::Static(k) => format!("{} static keys", k.len()),
        };
        f.debug_struct("Issuer")
            .field("iss", &self.iss)
            .field("keys", &keys)
            .field("feed", &self.feed.as_ref().map(|(url, _)| url))
            .finish()
    }
}

impl Issuer {
    /// Keys found by RFC 8414 discovery: `GET {issuer}/.well-known/oauth-authorization-server`
    /// names `jwks_uri` (and `revocation_feed_endpoint`); the metadata's `issuer` must equal
    /// `issuer` exactly, and tokens must carry it as `iss`.
    pub fn discover(issuer: impl Into<String>) -> Self {
        Issuer {
            iss: Some(issuer.into()),
            keys: Keys::Discover,
            feed: None,
        }
    }

    /// Keys fetched from a JWKS URL. `iss` is not checked unless
    /// [`expect_issuer`](Issuer::expect_issuer) names it (required when several issuers
    /// are configured).
    pub fn jwks_url(url: impl Into<String>) -> Self {
        Issuer {
            iss: None,
            keys: Keys::JwksUrl(url.into()),
            feed: None,
        }
    }

    /// Fixed keys, never fetched (each bound to its algorithm and chosen by `kid`).
    pub fn static_keys(keys: Vec<VerifyingKey>) -> Self {
        Issuer {
            iss: None,
            keys: Keys::Static(keys),
            feed: None,
        }
    }

    /// Fixed keys from a JWKS document (unusable keys are skipped; none usable is an
    /// error).
    pub fn static_jwks(set: &JwkSet) -> Result<Self, ConfigError> {
        let v = JoseVerifier::from_jwks(set, None)
            .map_err(|e| ConfigError(format!("static JWKS: {}", e.detail())))?;
        Ok(Issuer::static_keys(v.keys().to_vec()))
    }

    /// Requires tokens of this issuer to carry `iss` (and picks this issuer for them when
    /// several are configured). Discovery sets it already.
    pub fn expect_issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Polls the issuer's revocation feed (its metadata's `revocation_feed_endpoint`) with
    /// this Bearer token (Tessera's `revocations.token`), and refuses tokens of revoked
    /// sessions. Needs discovery; otherwise use [`revocation_feed`](Issuer::revocation_feed).
    pub fn revocations_token(mut self, token: impl Into<SecretString>) -> Self {
        self.feed = Some((None, token.into()));
        self
    }

    /// Polls the revocation feed at `url` with this Bearer token.
    pub fn revocation_feed(
        mut self,
        url: impl Into<String>,
        token: impl Into<SecretString>,
    ) -> Self {
        self.feed = Some((Some(url.into()), token.into()));
        self
    }
}

/// Configures and builds a [`Verifier`]. Start from [`Verifier::builder`].
pub struct VerifierBuilder {
    issuers: Vec<Issuer>,
    audiences: Vec<String>,
    any_audience: bool,
    leeway: u64,
    required: Vec<String>,
    typ: Option<String>,
    max_age: MaxAge,
    cooldown: Duration,
    fetch_timeout: Duration,
    max_body: usize,
    feed_max_body: usize,
    retry_max: Duration,
    feed_interval: Duration,
    feed_max_staleness: Option<Duration>,
    fail_closed: bool,
    http_hosts: Vec<String>,
    realm: Option<String>,
    fetch: Option<Arc<dyn Fetch>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("typ", &self.typ)
            .field("fail_closed", &self.fail_closed)
            .finish_non_exhaustive()
    }
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        VerifierBuilder {
            issuers: Vec::new(),
            audiences: Vec::new(),
            any_audience: false,
            leeway: tessera_jose::DEFAULT_LEEWAY,
            required: Vec::new(),
            typ: Some("at+jwt".to_owned()),
            max_age: MaxAge {
                min: Duration::from_secs(1),
                max: Duration::from_secs(3600),
                default: Duration::from_secs(300),
            },
            cooldown: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
            feed_max_body: 16 * 1024 * 1024,
            retry_max: Duration::from_secs(5),
            feed_interval: Duration::from_secs(5),
            feed_max_staleness: None,
            fail_closed: false,
            http_hosts: Vec::new(),
            realm: None,
            fetch: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl VerifierBuilder {
    /// Trusts an issuer. Call again to trust several: a token's `iss` picks one (read from
    /// the payload before verifying only to choose; that issuer's keys and rules then
    /// verify everything), so each needs a name.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Shorthand for `.issuer(Issuer::discover(url))`.
    pub fn issuer_url(self, url: impl Into<String>) -> Self {
        self.issuer(Issuer::discover(url))
    }

    /// Shorthand for `.issuer(Issuer::jwks_url(url))`.
    pub fn jwks_url(self, url: impl Into<String>) -> Self {
        self.issuer(Issuer::jwks_url(url))
    }

    /// Shorthand for `.issuer(Issuer::static_keys(keys))`.
    pub fn static_keys(self, keys: Vec<VerifyingKey>) -> Self {
        self.issuer(Issuer::static_keys(keys))
    }

    /// Accepts tokens whose `aud` contains `aud` (call again to accept several). Required:
    /// a resource server must check that a token was meant for it (RFC 9068 §4), unless
    /// [`any_audience`](Self::any_audience) says otherwise.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Accepts tokens for any audience (`aud` unchecked). Only for a service that is the
    /// sole audience of its issuer.
    pub fn any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Clock leeway for `exp`, `nbf`, `iat`. Default 60 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// Requires a claim to be present (e.g. `sid`, `sub`). Default: only `exp`.
    pub fn require_claim(mut self, claim: impl Into<String>) -> Self {
        self.required.push(claim.into());
        self
    }

    /// The header `typ` required. Default `at+jwt` (RFC 9068 §2.1; `application/at+jwt`
    /// matches too). `None` accepts any `typ` (for issuers that do not set it).
    pub fn typ(mut self, typ: Option<&str>) -> Self {
        self.typ = typ.map(str::to_owned);
        self
    }

    /// Bounds of a key set's cache lifetime, read from the JWKS answer's
    /// `Cache-Control: max-age`. Default [1 s, 1 h].
    pub fn jwks_max_age_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.max_age.min = min;
        self.max_age.max = max.max(min);
        self
    }

    /// Cache lifetime of a JWKS answer without `max-age`. Default 5 min (clamped by the
    /// bounds).
    pub fn jwks_default_max_age(mut self, age: Duration) -> Self {
        self.max_age.default = age;
        self
    }

    /// Minimum time between two fetches caused by tokens naming an unknown `kid`. Default
    /// 30 s.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Time limit of one fetch, redirects included. Default 10 s.
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Largest metadata or JWKS answer read. Default 1 MiB.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Largest revocation feed answer read. Default 16 MiB: a full list (`reset`) costs
    /// about 60 bytes per live revocation on the wire, so 100,000 take about 6 MB.
    pub fn feed_max_response_bytes(mut self, bytes: usize) -> Self {
        self.feed_max_body = bytes;
        self
    }

    /// Upper bound of the retry backoff after a failed key fetch (250 ms doubling up to
    /// it). Default 5 s: while no keys are known, a fetch is tried at least this often.
    pub fn retry_max(mut self, max: Duration) -> Self {
        self.retry_max = max.max(Duration::from_millis(250));
        self
    }

    /// Time between two polls of the revocation feed. Default 5 s.
    pub fn feed_interval(mut self, interval: Duration) -> Self {
        self.feed_interval = interval;
        self
    }

    /// How old the last successful feed poll may be for the list to count as fresh (in
    /// health, readiness and fail-closed mode). Default three feed intervals (15 s).
    pub fn feed_max_staleness(mut self, max: Duration) -> Self {
        self.feed_max_staleness = Some(max);
        self
    }

    /// Refuses requests with 503 `unavailable` while an issuer's revocation list is not
    /// fresh (never fetched, or its feed unreachable past the staleness bound). Default
    /// off: the last list is kept and [`health`](Verifier::health) says it is stale.
    pub fn fail_closed(mut self, on: bool) -> Self {
        self.fail_closed = on;
        self
    }

    /// Allows plain http to `host` (default: https only, except loopback hosts). For an
    /// issuer reached over a private network you trust.
    pub fn allow_http_host(mut self, host: impl Into<String>) -> Self {
        self.http_hosts.push(host.into());
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenges. Default none.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The HTTP client for discovery, JWKS and feed. Default [`HttpFetch`](crate::HttpFetch)
    /// (feature `http-client`).
    pub fn fetcher(mut self, fetch: Arc<dyn Fetch>) -> Self {
        self.fetch = Some(fetch);
        self
    }

    /// The wall clock for `exp`/`nbf`/`iat` and revocation lifetimes. Default the system
    /// clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the verifier and starts its background tasks (key refresh, feed polling) on
    /// the current tokio runtime: call it inside one when any keys or feed are remote.
    ///
    /// It never waits for the network: while an issuer's keys are not known yet, its
    /// tokens are answered 503 `unavailable` (see [`Verifier::wait_ready`]).
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        if self.issuers.is_empty() {
            return err("no issuer configured: call .issuer_url(), .jwks_url(), .static_keys() or .issuer()".into());
        }
        if self.audiences.is_empty() && !self.any_audience {
            return err(
                "no audience configured: call .audience(…) (RFC 9068 §4) or .any_audience()".into(),
            );
        }
        if self.issuers.len() > 1 {
            for (i, a) in self.issuers.iter().enumerate() {
                let Some(iss) = &a.iss else {
                    return err(format!("issuer #{} has no name: with several issuers, each needs .expect_issuer(…)", i + 1));
                };
                if self.issuers[..i]
                    .iter()
                    .any(|b| b.iss.as_ref() == Some(iss))
                {
                    return err(format!("issuer `{iss}` is configured twice"));
                }
            }
        }
        let policy = issuer::policy(self.http_hosts.clone());
        let remote = self
            .issuers
            .iter()
            .any(|i| !matches!(i.keys, Keys::Static(_)) || i.feed.is_some());
        let runtime = if remote {
            Some(tokio::runtime::Handle::try_current().map_err(|_| {
                ConfigError("build() must run inside a tokio runtime (it starts the key refresh and feed tasks)".into())
            })?)
        } else {
            None
        };
        let fetch = match (self.fetch, remote) {
            (Some(f), _) => Some(f),
            (None, false) => None,
            (None, true) => Some(default_fetch()?),
        };
        let ctx = Arc::new(Ctx {
            fetch,
            policy: policy.clone(),
            limits: Limits {
                timeout: self.fetch_timeout,
                max_body: self.max_body,
            },
            feed_limits: Limits {
                timeout: self.fetch_timeout,
                max_body: self.feed_max_body,
            },
            rules: Rules {
                audiences: self.audiences,
                leeway: self.leeway,
                required: self.required,
                typ: self.typ,
            },
            max_age: self.max_age,
            cooldown: self.cooldown,
            retry_max: self.retry_max,
            feed_interval: self.feed_interval,
            feed_max_staleness: self
                .feed_max_staleness
                .unwrap_or(self.feed_interval.saturating_mul(3)),
            fail_closed: self.fail_closed,
            clock: self.clock,
            shared: Arc::new(Shared {
                realm: self.realm.map(Arc::from),
                metrics: Default::default(),
            }),
            runtime,
        });
        let mut states = Vec::with_capacity(self.issuers.len());
        for i in self.issuers {
            states.push(Arc::new(issuer_state(i, &ctx, &policy)?));
        }
        Ok(Verifier::start(states, ctx))
    }
}

fn issuer_state(i: Issuer, ctx: &Arc<Ctx>, policy: &UrlPolicy) -> Result<IssuerState, ConfigError> {
    let name = i.iss.clone().unwrap_or_else(|| "the issuer".to_owned());
    let at = |e: String| ConfigError(format!("{name}: {e}"));
    let (source, discovery, keys) = match i.keys {
        Keys::Discover => {
            let iss = i.iss.as_deref().unwrap_or_default();
            let d = Discovery::new(iss, policy).map_err(at)?;
            (KeySource::Discover, Some(d), None)
        }
        Keys::JwksUrl(u) => (
            KeySource::JwksUrl(policy.parse(&u).map_err(at)?),
            None,
            None,
        ),
        Keys::Static(k) if k.is_empty() => return Err(at("no static keys given".into())),
        Keys::Static(k) => (KeySource::Static, None, Some(k)),
    };
    let feed = match i.feed {
        None => None,
        Some((Some(url), token)) => Some(Feed::new(
            FeedEndpoint::Explicit(policy.parse(&url).map_err(at)?),
            token,
        )),
        Some((None, _)) if discovery.is_none() => {
            return Err(at("the revocation feed is found by discovery only; give its URL with .revocation_feed(url, token)".into()))
        }
        Some((None, token)) => Some(Feed::new(FeedEndpoint::Discovered, token)),
    };
    let state = IssuerState::new(i.iss, Arc::clone(ctx), source, discovery, feed);
    if let Some(keys) = keys {
        let verifier = ctx.rules.verifier(keys, state.iss.as_deref());
        state.snapshot.store(Some(Arc::new(KeySnapshot {
            verifier,
            fetched_at: Instant::now(),
            max_age: ctx.max_age.max,
        })));
    }
    Ok(state)
}

#[cfg(feature = "http-client")]
fn default_fetch() -> Result<Arc<dyn Fetch>, ConfigError> {
    crate::HttpFetch::new()
        .map(|f| Arc::new(f) as Arc<dyn Fetch>)
        .map_err(|e| ConfigError(format!("HTTP client: {e}")))
}

#[cfg(not(feature = "http-client"))]
fn default_fetch() -> Result<Arc<dyn Fetch>, ConfigError> {
    Err(ConfigError(
        "no HTTP client: enable the `http-client` feature or pass one with .fetcher(…)".into(),
    ))
}
