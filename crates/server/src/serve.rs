//! `tessera serve`: open the database, load the master key and the signing keys, listen,
//! run the background tasks, and stop gracefully on SIGINT or SIGTERM (`crate::listener`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use tessera_jose::SecretString;
use tessera_tokens::{PasswordParams, Store, SystemClock};
use tokio::net::TcpListener;

use crate::app::app;
use crate::background::spawn_background;
use crate::config::{Config, DatabaseConfig, LogFormat};
use crate::master_key::load_master_key;
use crate::startup::StartError;
use crate::state::AppState;

/// Installs the global tracing subscriber from `log.level` and `log.format`, writing to
/// stderr. Does nothing if one is already installed. The binary calls it; the server never
/// does on its own.
pub fn init_logging(config: &Config) {
    let filter = crate::config::env_filter(&config.log.level)
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
    let master = load_master_key(master_env.as_deref(), &config.keys)?;
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
    crate::listener::run(listener, app(state), &config.server, shutdown_signal()).await;
    for t in tasks {
        t.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (the graceful-shutdown trigger of `serve` and `gate`).
pub async fn shutdown_signal() {
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
