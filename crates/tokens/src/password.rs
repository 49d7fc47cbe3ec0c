//! Argon2id password hashing (RFC 9106, OWASP parameters), off the async runtime: every
//! hash runs in `spawn_blocking` behind a semaphore, so logins cannot starve request
//! handling. Each hash needs `m_cost` KiB of working memory; those buffers are allocated
//! once per permit and reused, so memory stays at `permits × m_cost` however many logins
//! come (allocating 19 MiB per hash lets the allocator keep one such block per thread
//! arena, which measured over 600 MiB of RSS under a login load). After
//! [`IDLE_RELEASE`] without a hash they are freed, so an idle server does not hold them.
//!
//! The wait for a permit is bounded too ([`PasswordHasher::with_queue_wait`]): past it the
//! attempt fails with [`PasswordError::Busy`] (the server answers 503 with `Retry-After`)
//! instead of joining an ever-longer queue that slows every login down.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Argon2, Block, Params, Version};
use tessera_jose::{random_bytes, SecretString};
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::Instant;

/// How long the hashing buffers are kept without a hash before they are freed.
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);

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
    /// Every hashing slot stayed busy for the whole queue wait: too many logins at once.
    #[error("password hashing is saturated: no slot within {0:?}")]
    Busy(Duration),
}

fn hash_err(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash(e.to_string())
}

/// Argon2 working memory, one buffer per permit, reused across hashes and freed when idle.
#[derive(Debug, Default)]
struct Memory {
    buffers: Vec<Vec<Block>>,
    /// When the last hash ended.
    last_used: Option<Instant>,
    /// A task is waiting to free the buffers once they have been idle long enough.
    release_pending: bool,
}

type MemoryPool = Arc<Mutex<Memory>>;

/// Hashes and verifies passwords with bounded concurrency and bounded memory.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: PasswordParams,
    permits: Arc<Semaphore>,
    /// Longest wait for a permit; `None`: wait as long as it takes (one-off tools).
    queue_wait: Option<Duration>,
    memory: MemoryPool,
    /// [`IDLE_RELEASE`]; shorter in tests.
    idle_release: Duration,
    dummy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    /// A hasher running at most `max_concurrent` hashes at once; callers wait for a slot
    /// as long as it takes (see [`with_queue_wait`](Self::with_queue_wait)).
    pub fn new(params: PasswordParams, max_concurrent: usize) -> Self {
        PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            queue_wait: None,
            memory: Arc::default(),
            idle_release: IDLE_RELEASE,
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// Bounds the wait for a hashing slot: past `wait`, [`PasswordError::Busy`].
    #[must_use]
    pub fn with_queue_wait(mut self, wait: Duration) -> Self {
        self.queue_wait = Some(wait);
        self
    }

    /// Runs `f` on the blocking pool with a permit and a working-memory buffer.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let acquire = Arc::clone(&self.permits).acquire_owned();
        let _permit = match self.queue_wait {
            Some(wait) => tokio::time::timeout(wait, acquire)
                .await
                .map_err(|_| PasswordError::Busy(wait))?,
            None => acquire.await,
        }
        .map_err(|_| PasswordError::Cancelled)?;
        let pool = Arc::clone(&self.memory);
        let result = tokio::task::spawn_blocking(move || {
            let mut buf = lock(&pool).buffers.pop().unwrap_or_default();
            let result = f(&mut buf);
            lock(&pool).buffers.push(buf);
            result
        })
        .await
        .map_err(|_| PasswordError::Cancelled)?;
        self.release_when_idle();
        result
    }

    /// Notes that a hash just ended and makes sure a task frees the buffers once no hash
    /// has ended for `idle_release` (one such task at a time).
    fn release_when_idle(&self) {
        let mut memory = lock(&self.memory);
        memory.last_used = Some(Instant::now());
        if std::mem::replace(&mut memory.release_pending, true) {
            return;
        }
        drop(memory);
        let pool = Arc::clone(&self.memory);
        let idle = self.idle_release;
        tokio::spawn(async move {
            let mut wake = Instant::now() + idle;
            loop {
                tokio::time::sleep_until(wake).await;
                let mut memory = lock(&pool);
                let due = memory.last_used.map_or(wake, |at| at + idle);
                if due <= Instant::now() {
                    // A buffer still in use comes back after this and schedules its own
                    // release.
                    memory.buffers = Vec::new();
                    memory.release_pending = false;
                    return;
                }
                wake = due;
            }
        });
    }

    /// A PHC string (`$argon2id$v=19$m=…`) for `password` with a fresh random salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let params = self.params;
        self.blocking(move |mem| hash_now(params, &password, mem))
            .await
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
        let ok = self
            .blocking(move |mem| verify_now(&password, &phc, mem))
            .await?;
        Ok(ok && known)
    }

    async fn dummy_hash(&self) -> Result<String, PasswordError> {
        self.dummy
            .get_or_try_init(|| async {
                let mut b = [0u8; 24];
                random_bytes(&mut b).map_err(hash_err)?;
                let pw = SecretString::new(tessera_jose::base64url::encode(&b));
                self.hash(pw).await
            })
            .await
            .cloned()
    }
}

fn lock(pool: &Mutex<Memory>) -> std::sync::MutexGuard<'_, Memory> {
    pool.lock().unwrap_or_else(PoisonError::into_inner)
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// Runs Argon2id into `out` using `mem` (grown to the needed size once, then reused).
fn fill(
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    mem: &mut Vec<Block>,
) -> Result<(), PasswordError> {
    if mem.len() < params.block_count() {
        mem.resize(params.block_count(), Block::default());
    }
    argon2id(params)
        .hash_password_into_with_memory(password, salt, out, &mut mem[..])
        .map_err(hash_err)
}

fn hash_now(
    p: PasswordParams,
    password: &SecretString,
    mem: &mut Vec<Block>,
) -> Result<String, PasswordError> {
    let params = Params::new(p.m_cost, p.t_cost, p.p_cost, None).map_err(hash_err)?;
    let mut salt = [0u8; 16];
    random_bytes(&mut salt).map_err(hash_err)?;
    let salt_string = SaltString::encode_b64(&salt).map_err(hash_err)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    fill(
        &params,
        password.expose_secret().as_bytes(),
        &salt,
        &mut out,
        mem,
    )?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(hash_err)?,
        salt: Some(salt_string.as_salt()),
        hash: Some(Output::new(&out).map_err(hash_err)?),
    };
    Ok(phc.to_string())
}

fn verify_now(
    password: &SecretString,
    phc: &str,
    mem: &mut Vec<Block>,
) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc).map_err(hash_err)?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT
        || parsed
            .version
            .is_some_and(|v| v != u32::from(Version::V0x13))
    {
        return Err(PasswordError::Hash("not an argon2id v19 hash".into()));
    }
    let expected = parsed
        .hash
        .ok_or_else(|| hash_err("PHC string without a hash"))?;
    let salt = parsed
        .salt
        .ok_or_else(|| hash_err("PHC string without a salt"))?;
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(hash_err)?;
    let params = Params::try_from(&parsed).map_err(hash_err)?;
    let mut out = vec![0u8; expected.len()];
    fill(
        &params,
        password.expose_secret().as_bytes(),
        salt,
        &mut out,
        mem,
    )?;
    // `Output` compares in constant time.
    Ok(Output::new(&out).map_err(hash_err)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_phc_strings_are_standard_argon2id() {
        use argon2::password_hash::PasswordVerifier as _;
        let mut mem = Vec::new();
        let pw = SecretString::new("correct horse".into());
        let phc = hash_now(PasswordParams::INSECURE_FOR_TESTS, &pw, &mut mem).expect("hash");
        let parsed = PasswordHash::new(&phc).expect("parse");
        // The argon2 crate's own verifier accepts what we wrote, and we accept what it writes.
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .expect("argon2 crate verifies our hash");
        let theirs = {
            use argon2::password_hash::PasswordHasher as _;
            let salt = SaltString::encode_b64(&[9u8; 16]).expect("salt");
            Argon2::default()
                .hash_password(b"correct horse", &salt)
                .expect("hash")
                .to_string()
        };
        assert!(verify_now(&pw, &theirs, &mut mem).expect("verify"));
        let wrong = SecretString::new("wrong".into());
        assert!(!verify_now(&wrong, &theirs, &mut mem).expect("verify"));
        let argon2i = theirs.replace("argon2id", "argon2i");
        assert!(
            verify_now(&pw, &argon2i, &mut mem).is_err(),
            "only argon2id"
        );
    }

    #[tokio::test]
    async fn memory_is_reused_not_reallocated() {
        let h = PasswordHasher::new(PasswordParams::INSECURE_FOR_TESTS, 1);
        for _ in 0..5 {
            h.hash(SecretString::new("correct horse".into()))
                .await
                .expect("hash");
        }
        let pool = h.memory.lock().expect("lock");
        assert_eq!(pool.buffers.len(), 1, "one buffer for one permit");
        assert_eq!(pool.buffers[0].len(), 64, "m_cost blocks of 1 KiB");
    }

    /// The buffers are freed once no hash has run for the idle time, not while hashes keep
    /// coming; the next hash allocates again.
    #[tokio::test]
    async fn memory_is_freed_when_idle() {
        let mut h = PasswordHasher::new(PasswordParams::INSECURE_FOR_TESTS, 1);
        h.idle_release = Duration::from_secs(1);
        let buffers = |h: &PasswordHasher| h.memory.lock().expect("lock").buffers.len();
        // Busy for twice the idle time, a hash every 50 ms: the buffer stays.
        for _ in 0..30 {
            h.hash(SecretString::new("correct horse".into()))
                .await
                .expect("hash");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(buffers(&h), 1, "kept while in use");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(buffers(&h), 0, "freed after the idle time");
        assert!(!h.memory.lock().expect("lock").release_pending);
        h.hash(SecretString::new("correct horse".into()))
            .await
            .expect("hash after a release");
        assert_eq!(buffers(&h), 1);
    }

    /// With every slot taken for longer than the queue wait, an attempt fails fast with
    /// `Busy` instead of queueing; once a slot frees up, hashing works again.
    #[tokio::test]
    async fn a_saturated_hasher_refuses_after_the_queue_wait() {
        let h = PasswordHasher::new(PasswordParams::INSECURE_FOR_TESTS, 1)
            .with_queue_wait(Duration::from_millis(50));
        let held = Arc::clone(&h.permits)
            .acquire_owned()
            .await
            .expect("permit");
        let started = std::time::Instant::now();
        let err = h
            .hash(SecretString::new("correct horse".into()))
            .await
            .expect_err("no slot");
        assert!(matches!(err, PasswordError::Busy(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(held);
        h.hash(SecretString::new("correct horse".into()))
            .await
            .expect("a free slot hashes");
    }

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
