//! The key ring: signing keys kept in the store, their private parts sealed under the
//! master key; the current key signs, every published key verifies, the JWKS is built
//! once per change.
//!
//! # Lifecycle: next → current → retired → removed
//!
//! A key's phase follows from its stored times and the clock ([`KeyPhase`]):
//!
//! - **next**: stored, published in the JWKS and trusted by verifiers, but not signing
//!   before its `activates_at`. A rotation stores the new key `prepublish` seconds ahead
//!   (at least the JWKS `max-age`), so every client cache and every replica knows it
//!   before the first token it signs.
//! - **current**: the active key (activated, not retired) that activated last; it signs.
//! - **retired**: the rotation that stored its successor set its `retired_at` to the
//!   successor's `activates_at`, when it stopped signing. It stays published and trusted
//!   for `retain` seconds (the access-token lifetime plus leeway): until every token it
//!   signed has expired.
//! - **expired**: retired longer than `retain`: unpublished, and deleted from the store by
//!   the next [`KeyRing::maintain`].
//!
//! A rotation is one atomic compare-and-set in the store ([`Store::rotate_signing_key`]):
//! however many replicas find a rotation due at the same moment, one stores a key and the
//! others find that the newest key changed and do nothing. Every replica calls
//! [`KeyRing::maintain`] on a short period, which reloads the keys (so a rotation made by
//! another replica or by `tessera keys rotate` is picked up within that period), rotates
//! when due and deletes expired keys. A rotation is due when the newest key has signed for
//! `rotation_period` minus `prepublish` (so its successor starts signing one period after
//! it did), or when its algorithm is not the configured one: changing the algorithm
//! rotates to a key of the new algorithm the same way, the old key signing until the new
//! one activates.

use std::sync::{Arc, RwLock};

use tessera_jose::primitives::{open, seal};
use tessera_jose::{
    Algorithm, Family, Jwk, JwkSet, SecretBytes, Signer, SigningKey, Verifier, VerifyingKey,
};

use crate::access::{AccessClaims, AccessError};
use crate::clock::UnixTime;
use crate::master::MasterKey;
use crate::store::{KeyRotation, Store, StoreError, StoredKey};

/// How access tokens are signed and checked, and how keys rotate.
#[derive(Debug, Clone)]
pub struct KeyRingConfig {
    /// Algorithm of new keys.
    pub algorithm: Algorithm,
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Header `typ` of access tokens.
    pub typ: String,
    /// Clock leeway in seconds when verifying.
    pub leeway: u64,
    /// Seconds a new key is published before it signs: at least the JWKS `max-age`, and
    /// longer than the period at which replicas reload keys.
    pub prepublish: i64,
    /// Seconds a retired key stays published: the access-token lifetime plus leeway.
    pub retain: i64,
    /// Automatic rotation period in seconds; `None` rotates only on demand (and on a
    /// change of algorithm).
    pub rotation_period: Option<i64>,
}

/// Failures loading or creating keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key does not open with this master key.
    #[error("signing key {0} cannot be decrypted: is TESSERA_MASTER_KEY (or tessera.master.key) the one it was created with?")]
    WrongMasterKey(String),
    /// No stored key signs now.
    #[error("no signing key is active now")]
    NoCurrentKey,
    /// A key could not be generated or parsed.
    #[error("signing key error: {0}")]
    Key(#[from] tessera_jose::Error),
}

/// Where a key is in its lifecycle at some instant (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPhase {
    /// Published, not signing yet.
    Next,
    /// Signing.
    Current,
    /// Not signing any more; published until the tokens it signed have expired.
    Retired,
    /// Past its retention: unpublished, deleted by the next maintenance.
    Expired,
}

impl KeyPhase {
    /// `next`, `current`, `retired` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPhase::Next => "next",
            KeyPhase::Current => "current",
            KeyPhase::Retired => "retired",
            KeyPhase::Expired => "expired",
        }
    }

    /// In the JWKS and trusted by verifiers.
    pub fn is_published(self) -> bool {
        self != KeyPhase::Expired
    }
}

/// The phase of each stored key (same order) at `now`; `retain` as in [`KeyRingConfig`].
pub fn key_phases(keys: &[StoredKey], now: UnixTime, retain: i64) -> Vec<KeyPhase> {
    // The current key: of the keys activated and not retired, the one activated last
    // (ties: the one stored last).
    let current = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.activates_at <= now && k.retired_at.is_none_or(|r| now < r))
        .max_by_key(|(i, k)| (k.activates_at, *i))
        .map(|(i, _)| i);
    keys.iter()
        .enumerate()
        .map(|(i, k)| match k.retired_at {
            _ if Some(i) == current => KeyPhase::Current,
            Some(r) if now >= r.saturating_add(retain) => KeyPhase::Expired,
            _ if k.activates_at > now => KeyPhase::Next,
            // Retired, or an older active key that a newer one has replaced.
            _ => KeyPhase::Retired,
        })
        .collect()
}

/// True when a rotation is due at `now` (see the [module docs](self)): no key at all, the
/// newest key of another algorithm, or the newest key (once it signs) older than the
/// rotation period allows.
pub fn rotation_due(keys: &[StoredKey], config: &KeyRingConfig, now: UnixTime) -> bool {
    let Some(newest) = keys.last() else {
        return true;
    };
    if newest.alg != config.algorithm.as_str() {
        return true;
    }
    if newest.activates_at > now {
        return false; // a rotation is already pending
    }
    config.rotation_period.is_some_and(|period| {
        now >= newest
            .activates_at
            .saturating_add(period)
            .saturating_sub(config.prepublish)
    })
}

/// Stores a new key of `config.algorithm` through [`Store::rotate_signing_key`]: it signs
/// from `now + config.prepublish`, or from `now` when no key signs yet (a first key has
/// no predecessor whose tokens or caches could be in the way). Returns the new key, or
/// `None` when another rotation came first.
pub async fn rotate_keys(
    store: &dyn Store,
    master: &MasterKey,
    config: &KeyRingConfig,
    now: UnixTime,
) -> Result<Option<StoredKey>, KeyRingError> {
    let keys = store.signing_keys().await?;
    rotate_with(store, &seal_key(master), config, &keys, now).await
}

async fn rotate_with(
    store: &dyn Store,
    seal_key: &SecretBytes,
    config: &KeyRingConfig,
    keys: &[StoredKey],
    now: UnixTime,
) -> Result<Option<StoredKey>, KeyRingError> {
    let signing_now = key_phases(keys, now, config.retain).contains(&KeyPhase::Current);
    let key = SigningKey::generate(config.algorithm)?;
    let mut record = seal_key_record(seal_key, &key, now)?;
    if signing_now {
        record.activates_at = now.saturating_add(config.prepublish);
    }
    let rotation = KeyRotation {
        key: record,
        expected_newest: keys.last().map(|k| k.kid.clone()),
    };
    Ok(store
        .rotate_signing_key(&rotation)
        .await?
        .then_some(rotation.key))
}

fn seal_key(master: &MasterKey) -> SecretBytes {
    master.derive("tessera/signing-key-seal/v1")
}

/// What one [`KeyRing::maintain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// The key this replica stored, when it rotated.
    pub rotated: Option<String>,
    /// Expired keys it deleted.
    pub deleted: u64,
    /// True when the signing or published keys changed since the last look.
    pub changed: bool,
}

struct KeyState {
    /// The stored keys it was built from, oldest first.
    records: Vec<StoredKey>,
    /// Their phases when it was built.
    phases: Vec<KeyPhase>,
    signer: Signer,
    verifier: Verifier,
    jwks: Arc<str>,
}

/// Signing keys in memory.
pub struct KeyRing {
    config: KeyRingConfig,
    seal_key: SecretBytes,
    state: RwLock<Arc<KeyState>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("config", &self.config)
            .field("current_kid", &self.current_kid())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads the stored keys; creates the first key, signing at once, when none signs.
    pub async fn load(
        store: &dyn Store,
        master: &MasterKey,
        config: KeyRingConfig,
        now: UnixTime,
    ) -> Result<KeyRing, KeyRingError> {
        let seal_key = seal_key(master);
        let mut stored = store.signing_keys().await?;
        if !key_phases(&stored, now, config.retain).contains(&KeyPhase::Current) {
            // Another replica may create one at the same moment: either way, use what is
            // stored afterwards.
            rotate_with(store, &seal_key, &config, &stored, now).await?;
            stored = store.signing_keys().await?;
        }
        let state = build_state(&config, &seal_key, stored, now)?;
        Ok(KeyRing {
            state: RwLock::new(Arc::new(state)),
            config,
            seal_key,
        })
    }

    /// Reloads the stored keys and rebuilds what signs and verifies when the keys or their
    /// phases changed; true when something did.
    pub async fn reload(&self, store: &dyn Store, now: UnixTime) -> Result<bool, KeyRingError> {
        let stored = store.signing_keys().await?;
        let current = self.state();
        if current.records == stored
            && current.phases == key_phases(&stored, now, self.config.retain)
        {
            return Ok(false);
        }
        let next = build_state(&self.config, &self.seal_key, stored, now)?;
        match self.state.write() {
            Ok(mut g) => *g = Arc::new(next),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(next),
        }
        Ok(true)
    }

    /// One round of upkeep, run by every replica on a short period: reload, rotate when
    /// due (one replica wins), delete expired keys.
    pub async fn maintain(
        &self,
        store: &dyn Store,
        now: UnixTime,
    ) -> Result<Maintenance, KeyRingError> {
        let mut done = Maintenance {
            changed: self.reload(store, now).await?,
            ..Maintenance::default()
        };
        let state = self.state();
        if rotation_due(&state.records, &self.config, now) {
            if let Some(key) =
                rotate_with(store, &self.seal_key, &self.config, &state.records, now).await?
            {
                done.rotated = Some(key.kid);
            }
            done.changed |= self.reload(store, now).await?;
        }
        if self.state().phases.contains(&KeyPhase::Expired) {
            // Expired means `now >= retired_at + retain`: retired at or before
            // `now - retain`, so before the second after it.
            let cut = now.saturating_sub(self.config.retain).saturating_add(1);
            done.deleted = store.delete_retired_keys(cut).await?;
            done.changed |= self.reload(store, now).await?;
        }
        Ok(done)
    }

    fn state(&self) -> Arc<KeyState> {
        match self.state.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Signs access-token claims with the current key.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, tessera_jose::Error> {
        self.state().signer.sign(claims)
    }

    /// Verifies an access token (signature, `typ`, `iss`, `aud`, times) with the published
    /// keys. No database.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, AccessError> {
        let now = u64::try_from(now).unwrap_or(0);
        Ok(self
            .state()
            .verifier
            .verify::<AccessClaims>(token, now)?
            .into_claims())
    }

    /// The JWKS JSON of every public key that may have signed a live token, or will sign
    /// soon.
    pub fn jwks_json(&self) -> Arc<str> {
        Arc::clone(&self.state().jwks)
    }

    /// The id of the key that signs now.
    pub fn current_kid(&self) -> Option<String> {
        self.state().signer.key().kid().map(str::to_owned)
    }

    /// The stored keys (oldest first) with their phases, as of the last (re)load.
    pub fn keys(&self) -> Vec<(StoredKey, KeyPhase)> {
        let state = self.state();
        state
            .records
            .iter()
            .cloned()
            .zip(state.phases.iter().copied())
            .collect()
    }

    /// The configuration.
    pub fn config(&self) -> &KeyRingConfig {
        &self.config
    }

    #[doc(hidden)]
    pub fn seal_key_for_tests(&self) -> &SecretBytes {
        &self.seal_key
    }
}

/// A new key as a store record, its private JWK sealed under `seal_key` with the kid as AAD.
pub fn seal_key_record(
    seal_key: &SecretBytes,
    key: &SigningKey,
    now: UnixTime,
) -> Result<StoredKey, tessera_jose::Error> {
    let kid = key.kid().unwrap_or_default().to_owned();
    let private = key.to_jwk().to_json();
    let public_jwk = match key.public_jwk() {
        Ok(j) => j.to_json(),
        Err(_) => String::new(), // HMAC keys are never published.
    };
    Ok(StoredKey {
        private_sealed: seal(seal_key.expose_secret(), kid.as_bytes(), private.as_bytes())?,
        kid,
        alg: key.alg().as_str().to_owned(),
        public_jwk,
        created_at: now,
        activates_at: now,
        retired_at: None,
    })
}

fn open_key(seal_key: &SecretBytes, record: &StoredKey) -> Result<SigningKey, KeyRingError> {
    let wrong = || KeyRingError::WrongMasterKey(record.kid.clone());
    let jwk = open(
        seal_key.expose_secret(),
        record.kid.as_bytes(),
        &record.private_sealed,
    )
    .map_err(|_| wrong())?;
    let text = std::str::from_utf8(&jwk).map_err(|_| wrong())?;
    Ok(SigningKey::from_jwk(&Jwk::from_json(text)?, None)?)
}

fn build_state(
    config: &KeyRingConfig,
    seal_key: &SecretBytes,
    records: Vec<StoredKey>,
    now: UnixTime,
) -> Result<KeyState, KeyRingError> {
    let phases = key_phases(&records, now, config.retain);
    let mut verifying: Vec<VerifyingKey> = Vec::with_capacity(records.len());
    let mut published = JwkSet::default();
    let mut current = None;
    for (record, phase) in records.iter().zip(&phases) {
        if !phase.is_published() {
            continue;
        }
        let key = open_key(seal_key, record)?;
        verifying.push(key.verifying_key()?);
        if key.alg().family() != Family::Hmac {
            published.keys.push(key.public_jwk()?);
        }
        if *phase == KeyPhase::Current {
            current = Some(key);
        }
    }
    let current = current.ok_or(KeyRingError::NoCurrentKey)?;
    let verifier = Verifier::with_keys(verifying)
        .with_issuer(config.issuer.clone())
        .with_audience(config.audience.clone())
        .with_typ(config.typ.clone())
        .with_leeway(config.leeway)
        .require("sub")
        .require("sid")
        .require("jti");
    Ok(KeyState {
        records,
        phases,
        signer: Signer::new(current).with_typ(config.typ.clone()),
        verifier,
        jwks: Arc::from(published.to_json()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(kid: &str, alg: &str, activates_at: i64, retired_at: Option<i64>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: alg.into(),
            public_jwk: String::new(),
            private_sealed: Vec::new(),
            created_at: activates_at - 100,
            activates_at,
            retired_at,
        }
    }

    fn config(alg: Algorithm) -> KeyRingConfig {
        KeyRingConfig {
            algorithm: alg,
            issuer: "i".into(),
            audience: "a".into(),
            typ: "at+jwt".into(),
            leeway: 60,
            prepublish: 100,
            retain: 1_000,
            rotation_period: Some(10_000),
        }
    }

    #[test]
    fn phases_follow_the_stored_times() {
        let keys = [
            record("old", "ES256", 0, Some(5_000)),
            record("cur", "ES256", 5_000, None),
            record("next", "ES256", 9_000, None),
        ];
        let at = |now| key_phases(&keys, now, 1_000);
        use KeyPhase::*;
        assert_eq!(at(4_999), [Current, Next, Next]);
        assert_eq!(at(5_000), [Retired, Current, Next]);
        assert_eq!(at(5_999), [Retired, Current, Next]);
        assert_eq!(at(6_000), [Expired, Current, Next]);
        // Two active keys (the older not marked retired): the later activation signs.
        assert_eq!(at(9_000), [Expired, Retired, Current]);
        // Nothing activated yet: no current key.
        assert!(!key_phases(&keys[2..], 8_999, 1_000).contains(&Current));
    }

    #[test]
    fn rotation_is_due_on_period_algorithm_or_no_key() {
        let es = config(Algorithm::ES256);
        assert!(rotation_due(&[], &es, 0));
        let keys = [record("k", "ES256", 1_000, None)];
        // period 10 000 minus pre-publication 100, from activation
        assert!(!rotation_due(&keys, &es, 10_899));
        assert!(rotation_due(&keys, &es, 10_900));
        // Another algorithm configured: due at once.
        assert!(rotation_due(&keys, &config(Algorithm::EdDSA), 1_001));
        // A pending key is not rotated again, unless its algorithm is not the configured one.
        let pending = [
            record("k", "ES256", 0, None),
            record("n", "ES256", 50_000, None),
        ];
        assert!(!rotation_due(&pending, &es, 49_999));
        assert!(rotation_due(&pending, &config(Algorithm::EdDSA), 49_999));
        // No period: only the algorithm decides.
        let manual = KeyRingConfig {
            rotation_period: None,
            ..es
        };
        assert!(!rotation_due(&keys, &manual, i64::MAX));
    }
}
