//! The domain rules, tested through [`Auth`] without HTTP: a real store (SQLite in a
//! temporary directory), a manual clock, and cheap Argon2 parameters.
#![allow(clippy::unwrap_used)]

mod access;
mod names;
mod refresh;
mod sessions;
mod signup_login;

use std::sync::Arc;

use tessera_jose::{Algorithm, SecretString};
use tessera_store::{SqliteOptions, SqliteStore};
use tessera_tokens::{
    Auth, ClientInfo, Issued, ManualClock, MasterKey, PasswordParams, Settings, Store, UserId,
    Username,
};

/// The start of every test's clock.
pub const T0: i64 = 1_900_000_000;

/// The settings of the tests: the product's defaults for lifetimes (15 min access, 14 d
/// session, 7 d idle, 10 s grace, 60 s leeway) with weak hashing so tests run fast.
pub fn settings() -> Settings {
    Settings {
        issuer: "https://auth.test".into(),
        audience: "api".into(),
        typ: "at+jwt".into(),
        algorithm: Algorithm::ES256,
        access_ttl: 15 * 60,
        refresh_ttl: 14 * 86_400,
        idle_timeout: 7 * 86_400,
        max_sessions_per_user: 100,
        reuse_grace: 10,
        leeway: 60,
        min_password_len: 8,
        password_params: PasswordParams::INSECURE_FOR_TESTS,
        hash_concurrency: 2,
        hash_queue_wait: std::time::Duration::from_secs(5),
        key_prepublish: 10,
        key_rotation_period: None,
    }
}

/// One domain service over a fresh database.
pub struct Domain {
    pub auth: Auth,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Domain {
    pub async fn new() -> Domain {
        Domain::with(settings()).await
    }

    pub async fn with(settings: Settings) -> Domain {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::connect(&url, SqliteOptions::default())
                .await
                .unwrap(),
        );
        let clock = ManualClock::new(T0);
        let auth = Auth::new(
            Arc::clone(&store),
            Arc::new(clock.clone()),
            &MasterKey::generate().unwrap(),
            settings,
        )
        .await
        .unwrap();
        Domain {
            auth,
            clock,
            store,
            _dir: dir,
        }
    }

    /// Signs `name` up with the password `correct horse`.
    pub async fn signup(&self, name: &str) -> UserId {
        self.auth
            .signup(&Username::parse(name).unwrap(), password("correct horse"))
            .await
            .unwrap()
    }

    /// Logs `name` in with `correct horse`.
    pub async fn login(&self, name: &str) -> Issued {
        self.auth
            .login(name, password("correct horse"), ClientInfo::default())
            .await
            .unwrap()
    }

    /// A user, signed up and logged in once.
    pub async fn user(&self, name: &str) -> (UserId, Issued) {
        let id = self.signup(name).await;
        (id, self.login(name).await)
    }
}

pub fn password(text: &str) -> SecretString {
    SecretString::new(text.to_owned())
}
