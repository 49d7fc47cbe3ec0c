//! Key sets: a fetched JWKS turned into a ready `tessera_jose::Verifier` with the
//! verifier's rules, and how long it may be kept (`Cache-Control: max-age`, clamped).

use std::time::Duration;

use http::header::CACHE_CONTROL;
use http::HeaderMap;
use tessera_jose::{JwkSet, Verifier as JoseVerifier, VerifyingKey};
use tokio::time::Instant;

/// The claim rules applied to every key set (docs/security.md, RFC 9068).
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub audiences: Vec<String>,
    pub leeway: u64,
    pub required: Vec<String>,
    pub typ: Option<String>,
}

impl Rules {
    /// A jose verifier over `keys` that checks these rules, and `iss` when given.
    pub fn verifier(&self, keys: Vec<VerifyingKey>, iss: Option<&str>) -> JoseVerifier {
        let mut v = JoseVerifier::with_keys(keys).with_leeway(self.leeway);
        if let Some(iss) = iss {
            v = v.with_issuer(iss);
        }
        for aud in &self.audiences {
            v = v.with_audience(aud.clone());
        }
        for claim in &self.required {
            v = v.require(claim.clone());
        }
        if let Some(typ) = &self.typ {
            v = v.with_typ(typ.clone());
        }
        v
    }
}

/// One issuer's keys at one moment, swapped in whole.
#[derive(Debug)]
pub(crate) struct KeySnapshot {
    pub verifier: JoseVerifier,
    pub fetched_at: Instant,
    pub max_age: Duration,
}

impl KeySnapshot {
    /// When the background task refreshes it: at 90 % of its max-age, so a fresh set is in
    /// place before the old one is due (requests never wait for it either way).
    pub fn refresh_at(&self) -> Instant {
        self.fetched_at + self.max_age.mul_f64(0.9)
    }
}

/// The usable keys of a JWKS document. Keys that cannot verify (no `alg` and none
/// decidable, `use` other than `sig`, unknown `kty`) are skipped (RFC 7517 §5); a set with
/// no usable key is refused, so the last good keys stay in place.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<VerifyingKey>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the JWKS is not UTF-8".to_owned())?;
    let set = JwkSet::from_json(text).map_err(|e| format!("not a JWK Set: {}", e.detail()))?;
    let keys = JoseVerifier::from_jwks(&set, None)
        .map_err(|e| format!("the JWKS is unusable: {}", e.detail()))?
        .keys()
        .to_vec();
    Ok(keys)
}

/// Bounds of the cache lifetime of a key set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaxAge {
    pub min: Duration,
    pub max: Duration,
    /// When the answer has no `max-age`.
    pub default: Duration,
}

impl MaxAge {
    /// `max-age` of `Cache-Control` clamped to `[min, max]`; `no-cache`/`no-store` count as
    /// 0 (so `min`); no header or no directive gives `default` (clamped too).
    pub fn of(&self, headers: &HeaderMap) -> Duration {
        let mut found = None;
        for v in headers.get_all(CACHE_CONTROL) {
            let Ok(v) = v.to_str() else { continue };
            for d in v.split(',') {
                let d = d.trim();
                let (name, value) = d.split_once('=').unwrap_or((d, ""));
                let name = name.trim();
                if name.eq_ignore_ascii_case("max-age") {
                    if let Ok(secs) = value.trim().trim_matches('"').parse::<u64>() {
                        found = Some(found.map_or(secs, |f: u64| f.min(secs)));
                    }
                } else if name.eq_ignore_ascii_case("no-cache")
                    || name.eq_ignore_ascii_case("no-store")
                {
                    found = Some(0);
                }
            }
        }
        found
            .map_or(self.default, Duration::from_secs)
            .clamp(self.min, self.max)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn age(v: Option<&'static str>) -> Duration {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(CACHE_CONTROL, HeaderValue::from_static(v));
        }
        MaxAge {
            min: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            default: Duration::from_secs(300),
        }
        .of(&h)
    }

    #[test]
    fn max_age_is_read_and_clamped() {
        assert_eq!(age(Some("public, max-age=120")), Duration::from_secs(120));
        assert_eq!(age(Some("max-age=0")), Duration::from_secs(1));
        assert_eq!(age(Some("no-store")), Duration::from_secs(1));
        assert_eq!(age(Some("max-age=86400")), Duration::from_secs(3600));
        assert_eq!(age(Some("public")), Duration::from_secs(300));
        assert_eq!(age(Some("max-age=nope")), Duration::from_secs(300));
        assert_eq!(age(None), Duration::from_secs(300));
    }
}
