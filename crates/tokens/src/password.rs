//! Argon2id password hashing (RFC 9106, OWASP parameters), off the async runtime: every
//! hash runs in `spawn_blocking` behind a semaphore, so logins cannot starve request
//! handling or exhaust memory (each hash holds `m_cost` KiB while it runs).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Argon2, Params, Version};
use tessera_jose::{random_bytes, SecretString};
use tokio::sync::{OnceCell, Semaphore};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl PasswordParams {
    /// OWASP's first recommendation for Argon2id: 19 MiB, 2 iterations, 1 lane.
    pub const OWASP: PasswordParams = PasswordParams {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// Deliberately weak parameters for tests only.
    pub const INSECURE_FOR_TESTS: PasswordParams = PasswordParams {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };
}

/// Password hashing failures (not "wrong password", which is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The parameters or the stored hash are unusable.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The blocking pool is gone (runtime shutting down).
    #[error("password hashing was cancelled")]
    Cancelled,
}

/// Hashes and verifies passwords with bounded concurrency.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: PasswordParams,
    permits: Arc<Semaphore>,
    dummy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    /// A hasher running at most `max_concurrent` hashes at once.
    pub fn new(params: PasswordParams, max_concurrent: usize) -> Self {
        PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    fn argon2(params: PasswordParams) -> Result<Argon2<'static>, PasswordError> {
        let p = Params::new(params.m_cost, params.t_cost, params.p_cost, None)
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, p))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Cancelled)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| PasswordError::Cancelled)?
    }

    /// A PHC string (`$argon2id$v=19$m=…`) for `password` with a fresh random salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let params = self.params;
        self.blocking(move || hash_now(params, &password)).await
    }

    /// True when `password` matches the PHC string. With `None` (unknown user) a dummy hash
    /// with the same parameters is checked instead and the answer is `false`, so both
    /// cases cost the same time.
    pub async fn verify(
        &self,
        password: SecretString,
        phc: Option<String>,
    ) -> Result<bool, PasswordError> {
        let (phc, known) = match phc {
            Some(p) => (p, true),
            None => (self.dummy_hash().await?, false),
        };
        let params = self.params;
        let ok = self
            .blocking(move || {
                let parsed =
                    PasswordHash::new(&phc).map_err(|e| PasswordError::Hash(e.to_string()))?;
                Ok(Self::argon2(params)?
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(ok && known)
    }

    async fn dummy_hash(&self) -> Result<String, PasswordError> {
        self.dummy
            .get_or_try_init(|| async {
                let mut b = [0u8; 24];
                random_bytes(&mut b).map_err(|e| PasswordError::Hash(e.to_string()))?;
                let pw = SecretString::new(tessera_jose::base64url::encode(&b));
                self.hash(pw).await
            })
            .await
            .cloned()
    }
}

fn hash_now(params: PasswordParams, password: &SecretString) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(PasswordHasher::argon2(params)?
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| PasswordError::Hash(e.to_string()))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = PasswordHasher::new(PasswordParams::INSECURE_FOR_TESTS, 2);
        let phc = h
            .hash(SecretString::new("correct horse".into()))
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h
            .verify(SecretString::new("correct horse".into()), Some(phc.clone()))
            .await
            .expect("v"));
        assert!(!h
            .verify(SecretString::new("wrong".into()), Some(phc))
            .await
            .expect("v"));
        assert!(!h
            .verify(SecretString::new("correct horse".into()), None)
            .await
            .expect("dummy"));
    }

    #[test]
    fn owasp_parameters_are_the_default_strength() {
        let p = PasswordParams::OWASP;
        assert_eq!((p.m_cost, p.t_cost, p.p_cost), (19456, 2, 1));
    }
}
