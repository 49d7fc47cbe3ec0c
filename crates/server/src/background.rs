//! The background tasks of every replica: the revocation sync, signing-key upkeep and the
//! purge of expired sessions.

use std::sync::Arc;
use std::time::Duration;

use tessera_tokens::{Auth, KeyRingError, StoreError};
use tokio::task::JoinHandle;

/// How often revocations made by other processes (CLI, replicas) are read.
const REVOCATION_SYNC: Duration = Duration::from_secs(2);
/// How often every replica reloads the signing keys, rotates them when due and deletes
/// expired ones: the bound on how late a replica learns of a rotation.
pub const KEY_MAINTENANCE: Duration = Duration::from_secs(5);
/// How often expired sessions are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long expired or revoked sessions are kept before the purge deletes them, seconds.
const PURGE_RETENTION: i64 = 3600;

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
