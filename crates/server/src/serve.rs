//! `tessera serve`: open the database, load the master key and the signing keys, listen,
//! run the background tasks, and stop gracefully on SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_jose::SecretString;
use tessera_tokens::{Auth, KeyRingError, PasswordParams, Store, StoreError, SystemClock};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::app;
use crate::config::{Config, ConfigError, DatabaseConfig, LogFormat};
use crate::master_key::load_master_key;
use crate::state::AppState;

/// How often revocations made by other processes (CLI, replicas) are read.
const REVOCATION_SYNC: Duration = Duration::from_secs(2);
/// How often every replica reloads the signing keys, rotates them when due and deletes
/// expired ones: the bound on how late a replica learns of a rotation.
pub const KEY_MAINTENANCE: Duration = Duration::from_secs(5);
/// How often expired sessions are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long expired or revoked sessions are kept before the purge deletes them, seconds.
const PURGE_RETENTION: i64 = 3600;

/// Why the server did not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The master key could not be read or created.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The database could not be opened or migrated.
    #[error("database {url}: {source}")]
    Store {
        /// `database.url` (without credentials).
        url: String,
        /// Why.
        source: StoreError,
    },
    /// `redis.url` could not be used.
    #[error("redis.url: {0}")]
    Redis(String),
    /// The signing keys could not be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[source] KeyRingError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// `server.bind`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Installs the global tracing subscriber from `log.level` and `log.format`, writing to
/// stderr. Does nothing if one is already installed. The binary calls it; the server never
/// does on its own.
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// `database.url` without a password, for messages.
fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://[redacted]@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Opens (creating and migrating) the configured database.
async fn open_store(config: &DatabaseConfig) -> Result<Arc<dyn Store>, StartError> {
    crate::store_adapter::connect(config)
        .await
        .map_err(|source| StartError::Store {
            url: redacted_url(&config.url),
            source,
        })
}

/// Runs the server until SIGINT or SIGTERM. `TESSERA_MASTER_KEY` is read from the
/// environment here; without it the key file `keys.master_key_file` is used (created on
/// first start). No Argon2 work happens at start: the dummy hash for unknown users is
/// computed on the first login that needs it.
pub async fn serve(config: Config, admin_token: Option<SecretString>) -> Result<(), StartError> {
    let started = Instant::now();
    let store = open_store(&config.database).await?;
    let master_env = std::env::var("TESSERA_MASTER_KEY").ok();
    let master = load_master_key(master_env.as_deref(), &config.keys.master_key_file)?;
    if admin_token.is_none() {
        tracing::info!("admin API disabled: TESSERA_ADMIN_TOKEN is not set");
    }
    let state = AppState::new(
        config.clone(),
        store,
        Arc::new(SystemClock),
        master,
        PasswordParams::OWASP,
        admin_token,
    )
    .await?;
    let listener = TcpListener::bind(config.server.bind)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.server.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    tracing::info!(
        public_url = %config.server.public_url,
        kid = state.auth().keys().current_kid().as_deref().unwrap_or(""),
        startup_ms = started.elapsed().as_millis() as u64,
        "listening on http://{addr}"
    );
    let tasks = spawn_background(Arc::clone(state.auth()));
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(StartError::Serve);
    for t in tasks {
        t.abort();
    }
    tracing::info!("stopped");
    result
}

/// Revocation sync (every 2 s), signing-key upkeep (every 5 s) and the purge of expired
/// sessions (hourly).
pub fn spawn_background(auth: Arc<Auth>) -> Vec<JoinHandle<()>> {
    let sync = {
        let auth = Arc::clone(&auth);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REVOCATION_SYNC);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = auth.sync_revocations().await {
                    tracing::debug!(error = %e, "revocation sync failed");
                }
            }
        })
    };
    let keys = {
        let auth = Arc::clone(&auth);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(KEY_MAINTENANCE);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match auth.maintain_keys().await {
                    Ok(done) => {
                        if let Some(kid) = &done.rotated {
                            tracing::info!(
                                kid = %kid,
                                prepublish_s = auth.keys().config().prepublish,
                                "rotated the signing key: the new key is published now and signs after the pre-publication delay"
                            );
                        }
                        if done.deleted > 0 {
                            tracing::info!(keys = done.deleted, "deleted expired signing keys");
                        }
                        if done.changed {
                            tracing::info!(
                                current_kid = auth.keys().current_kid().as_deref().unwrap_or(""),
                                "signing keys reloaded"
                            );
                        }
                    }
                    // The database being down is reported by /readyz and by the requests
                    // that fail; keys keep working from memory meanwhile.
                    Err(KeyRingError::Store(StoreError::Unavailable(e))) => {
                        tracing::debug!(error = %e, "signing-key maintenance: database unavailable");
                    }
                    Err(e) => tracing::warn!(error = %e, "signing-key maintenance failed"),
                }
            }
        })
    };
    let purge = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match auth.purge(PURGE_RETENTION).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "purged expired sessions"),
                Err(e) => tracing::warn!(error = %e, "purge failed"),
            }
        }
    });
    vec![sync, keys, purge]
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            super::redacted_url("postgres://u:pw@db:5432/t"),
            "postgres://[redacted]@db:5432/t"
        );
        assert_eq!(
            super::redacted_url("sqlite://tessera.db"),
            "sqlite://tessera.db"
        );
    }
}
