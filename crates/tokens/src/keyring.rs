//! The key ring: signing keys kept in the store, their private parts sealed under the
//! master key; the current key signs, every published key verifies, the JWKS is built
//! once per change.

use std::sync::{Arc, RwLock};

use tessera_jose::primitives::{open, seal};
use tessera_jose::{
    Algorithm, Family, Jwk, JwkSet, SecretBytes, Signer, SigningKey, Verifier, VerifyingKey,
};

use crate::access::{AccessClaims, AccessError};
use crate::clock::UnixTime;
use crate::master::MasterKey;
use crate::store::{Store, StoreError, StoredKey};

/// How access tokens are signed and checked.
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
    /// No stored key can sign with the configured algorithm now.
    #[error("no signing key is active for the configured algorithm")]
    NoCurrentKey,
    /// A key could not be generated or parsed.
    #[error("signing key error: {0}")]
    Key(#[from] tessera_jose::Error),
}

struct KeyState {
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
    /// Loads the stored keys; creates the first key (or one of a newly configured
    /// algorithm) when there is none to sign with.
    pub async fn load(
        store: &dyn Store,
        master: &MasterKey,
        config: KeyRingConfig,
        now: UnixTime,
    ) -> Result<KeyRing, KeyRingError> {
        let seal_key = master.derive("tessera/signing-key-seal/v1");
        let mut stored = store.signing_keys().await?;
        let usable = |k: &StoredKey| {
            k.alg == config.algorithm.as_str() && k.retired_at.is_none() && k.activates_at <= now
        };
        if !stored.iter().any(usable) {
            let key = SigningKey::generate(config.algorithm)?;
            let record = seal_key_record(&seal_key, &key, now)?;
            match store.insert_signing_key(&record).await {
                // Another replica created one at the same moment: use what is stored.
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            stored = store.signing_keys().await?;
        }
        let mut signing = Vec::with_capacity(stored.len());
        for k in &stored {
            let jwk = open(
                seal_key.expose_secret(),
                k.kid.as_bytes(),
                &k.private_sealed,
            )
            .map_err(|_| KeyRingError::WrongMasterKey(k.kid.clone()))?;
            let text = std::str::from_utf8(&jwk)
                .map_err(|_| KeyRingError::WrongMasterKey(k.kid.clone()))?;
            signing.push((
                k.clone(),
                SigningKey::from_jwk(&Jwk::from_json(text)?, None)?,
            ));
        }
        let ring = KeyRing {
            state: RwLock::new(Arc::new(build_state(&config, signing, now)?)),
            config,
            seal_key,
        };
        Ok(ring)
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

    /// The JWKS JSON of every public key that may have signed a live token.
    pub fn jwks_json(&self) -> Arc<str> {
        Arc::clone(&self.state().jwks)
    }

    /// The id of the key that signs now.
    pub fn current_kid(&self) -> Option<String> {
        self.state().signer.key().kid().map(str::to_owned)
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

fn build_state(
    config: &KeyRingConfig,
    keys: Vec<(StoredKey, SigningKey)>,
    now: UnixTime,
) -> Result<KeyState, KeyRingError> {
    let mut verifying: Vec<VerifyingKey> = Vec::with_capacity(keys.len());
    let mut published = JwkSet::default();
    let mut current: Option<(i64, SigningKey)> = None;
    for (record, key) in keys {
        verifying.push(key.verifying_key()?);
        if key.alg().family() != Family::Hmac {
            published.keys.push(key.public_jwk()?);
        }
        let usable = key.alg() == config.algorithm
            && record.retired_at.is_none()
            && record.activates_at <= now;
        if usable
            && current
                .as_ref()
                .is_none_or(|(at, _)| record.activates_at >= *at)
        {
            current = Some((record.activates_at, key));
        }
    }
    let (_, current) = current.ok_or(KeyRingError::NoCurrentKey)?;
    let verifier = Verifier::with_keys(verifying)
        .with_issuer(config.issuer.clone())
        .with_audience(config.audience.clone())
        .with_typ(config.typ.clone())
        .with_leeway(config.leeway)
        .require("sub")
        .require("sid")
        .require("jti");
    Ok(KeyState {
        signer: Signer::new(current).with_typ(config.typ.clone()),
        verifier,
        jwks: Arc::from(published.to_json()),
    })
}
