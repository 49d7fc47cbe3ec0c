//! The accept loop of `tessera serve`, in place of `axum::serve`: at most
//! `server.max_connections` connections at once (the rest wait in the kernel's accept
//! queue), each under the slow-client timeouts of [`crate::connection`]; a back-off instead
//! of a busy loop when `accept` fails (out of file descriptors); and a graceful shutdown
//! bounded by `server.shutdown_timeout`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::app::App;
use crate::config::ServerConfig;
use crate::connection::{serve_connection, Timeouts};

/// First pause after a failed `accept`; it doubles on each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Longest pause after a failed `accept`.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// At most one log line per this period while `accept` keeps failing.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, lets the
/// requests in flight finish, and closes whatever is still open after
/// `server.shutdown_timeout`.
pub(crate) async fn run(
    listener: TcpListener,
    app: App,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    let limits = Timeouts {
        header: config.header_timeout,
        idle: config.idle_timeout,
    };
    let slots = Arc::new(Semaphore::new(config.max_connections as usize));
    // Signalled whenever a connection closes, so a backed-off accept loop resumes as soon as
    // a file descriptor is free rather than at the end of its pause.
    let freed = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(());
    let mut connections = JoinSet::new();
    let mut failures = AcceptFailures::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote, permit) = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots, &freed, &mut failures) => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (app, stopped, freed) = (app.clone(), stopped.clone(), Arc::clone(&freed));
        connections.spawn(async move {
            serve_connection(stream, remote, app, limits, stopped).await;
            drop(permit);
            freed.notify_one();
        });
    }
    // Closing the listener refuses new connections at once.
    drop(listener);
    let _ = stop.send(());
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "closing the connections still open after server.shutdown_timeout"
        );
        connections.shutdown().await;
    }
}

/// The next connection, with its slot. Waits for a slot first (at the limit, clients wait
/// in the kernel's accept queue); when `accept` fails, pauses with a doubling back-off
/// (cut short when a connection closes) and tries again: it never returns an error.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    freed: &Notify,
    failures: &mut AcceptFailures,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    let permit = match Arc::clone(slots).acquire_owned().await {
        Ok(permit) => permit,
        // The semaphore is never closed.
        Err(_) => std::future::pending().await,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                failures.recovered();
                return (stream, remote, permit);
            }
            // That one client's connection failed before we took it: nothing to wait for.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // EMFILE / ENFILE (out of file descriptors), ENOBUFS, ENOMEM: retrying at
                // once would spin, since the pending connection keeps the socket readable.
                failures.failed(&e, backoff);
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = freed.notified() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Logs failing `accept`s at most once per [`LOG_EVERY`], and once when they stop.
#[derive(Debug, Default)]
struct AcceptFailures {
    /// Failures since the last line logged.
    unlogged: u64,
    /// Failures in a row.
    in_a_row: u64,
    last_logged: Option<Instant>,
}

impl AcceptFailures {
    fn failed(&mut self, e: &io::Error, pause: Duration) {
        self.in_a_row += 1;
        self.unlogged += 1;
        if self.last_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            tracing::warn!(
                error = %e,
                failures = self.unlogged,
                pause_ms = pause.as_millis() as u64,
                "cannot accept connections (out of file descriptors?); backing off"
            );
            self.unlogged = 0;
            self.last_logged = Some(Instant::now());
        }
    }

    fn recovered(&mut self) {
        if self.in_a_row > 0 {
            tracing::warn!(failures = self.in_a_row, "accepting connections again");
            *self = AcceptFailures::default();
        }
    }
}
