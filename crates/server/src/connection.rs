//! One HTTP/1 connection under the slow-client timeouts. A connection is closed when it has
//! not sent a complete request head within `server.header_timeout` (counted from its
//! opening, or from the first byte of its next request), or when it stays idle between
//! requests for `server.idle_timeout`. While a request is being served neither applies: its
//! body is bounded by `server.request_timeout` in the app (`crate::request_timeout`).
//!
//! hyper's own `header_read_timeout` is not used: it starts again as soon as an answer is
//! written, so it would cut every idle keep-alive connection after the header timeout.
//!
//! The phase changes on every request (head, busy, idle), but the supervisor is never woken
//! for it. A phase that begins after the supervisor's last look has its deadline a full
//! timeout after its start: a head `header_timeout` after the first byte, an idle wait
//! `idle_timeout` after the answer. So the supervisor sleeps until the current deadline or
//! the shorter timeout from its last look, whichever is first, and looks again: no timer is
//! touched per request, and no deadline is missed.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::app::App;

/// The per-connection time limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// `server.header_timeout`.
    pub header: Duration,
    /// `server.idle_timeout`.
    pub idle: Duration,
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head since this instant: the connection opened then, or the
    /// first byte of the next request arrived then.
    Head(Instant),
    /// A request is being served: its head is in, its answer not yet written.
    Busy,
    /// Keep-alive: the last answer was written at this instant and no byte came since.
    Idle(Instant),
}

/// The phase of one connection, shared by its socket (which sees bytes arrive), its service
/// (which sees requests start and answers end) and its supervisor (which holds the clock).
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: Mutex::new(Phase::Head(Instant::now())),
        }
    }

    /// Moves to the phase `step` returns, if any. The supervisor is not woken: it looks
    /// again often enough (see the module's documentation).
    fn step(&self, step: impl FnOnce(Phase) -> Option<Phase>) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = step(*phase) {
            *phase = next;
        }
    }

    /// Bytes arrived: on an idle connection, a new request head has begun.
    fn bytes_read(&self) {
        self.step(|phase| match phase {
            Phase::Idle(_) => Some(Phase::Head(Instant::now())),
            Phase::Head(_) | Phase::Busy => None,
        });
    }

    /// A complete request head arrived; the connection is busy until the guard is dropped
    /// (with the answer's body, once it is written).
    fn request_started(self: &Arc<Self>) -> InFlight {
        self.step(|_| Some(Phase::Busy));
        InFlight(Arc::clone(self))
    }

    /// When the connection is to be closed unless something happens first.
    fn deadline(&self, limits: Timeouts) -> Option<Instant> {
        match *self.phase.lock().unwrap_or_else(PoisonError::into_inner) {
            Phase::Head(since) => Some(since + limits.header),
            Phase::Busy => None,
            Phase::Idle(since) => Some(since + limits.idle),
        }
    }

    /// When the supervisor must look again: the deadline, or the shorter of the two
    /// timeouts from now if that is sooner. A phase that begins after this look (a head
    /// after bytes arrive, an idle wait after an answer) has a deadline no earlier than that.
    fn next_look(&self, limits: Timeouts, now: Instant) -> Instant {
        let soonest_new_deadline = now + limits.header.min(limits.idle);
        self.deadline(limits)
            .map_or(soonest_new_deadline, |d| d.min(soonest_new_deadline))
    }
}

/// Held by an answer until hyper has written it (and dropped it).
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.step(|_| Some(Phase::Idle(Instant::now())));
    }
}

/// The socket, reporting to [`Activity`] when bytes arrive.
#[derive(Debug)]
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// An answer's body, holding the connection busy until it is written.
#[derive(Debug)]
struct Answer {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves one accepted connection until it ends, times out, or — once `shutdown` changes —
/// has finished its request in flight. The client's address reaches the app as
/// `ConnectInfo<SocketAddr>`, as `axum::serve` would provide it.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: App,
    limits: Timeouts,
    mut shutdown: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let in_flight = activity.request_started();
            request.extensions_mut().insert(ConnectInfo(remote));
            let app = app.clone();
            async move {
                let response = match app.oneshot(request.map(Body::new)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|body| Answer {
                    body,
                    _in_flight: in_flight,
                }))
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    let look = tokio::time::sleep_until(activity.next_look(limits, Instant::now()));
    tokio::pin!(look);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(peer = %remote, error = %e, "connection ended with an error");
                }
                return;
            }
            () = look.as_mut() => {
                let now = Instant::now();
                if activity.deadline(limits).is_some_and(|d| d <= now) {
                    // Nothing is in flight: dropping the connection closes the socket.
                    tracing::debug!(peer = %remote, "closing a slow or idle connection");
                    return;
                }
                look.as_mut().reset(activity.next_look(limits, now));
            }
            _ = shutdown.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever phase comes next, the supervisor looks again before its deadline could
    /// pass: the idle timeout shorter than the header timeout included.
    #[test]
    fn the_supervisor_looks_again_before_any_new_deadline() {
        for (header, idle) in [(30, 1), (1, 30), (10, 60), (5, 5)] {
            let limits = Timeouts {
                header: Duration::from_secs(header),
                idle: Duration::from_secs(idle),
            };
            let activity = Activity::new();
            let now = Instant::now();
            let look = activity.next_look(limits, now);
            assert!(look <= now + limits.header, "the open connection's head");
            // A request is served and answered right after this look: idle from now.
            let in_flight = Arc::new(Activity::new());
            let guard = in_flight.request_started();
            let busy_look = in_flight.next_look(limits, now);
            drop(guard);
            let idle_deadline = in_flight.deadline(limits).expect("idle has a deadline");
            assert!(
                busy_look <= idle_deadline,
                "header {header}s, idle {idle}s: looked at {busy_look:?}, deadline {idle_deadline:?}"
            );
            // Bytes arrive on the idle connection right after a look: a head from now.
            let look = in_flight.next_look(limits, Instant::now());
            in_flight.bytes_read();
            assert!(look <= in_flight.deadline(limits).expect("a head has a deadline"));
        }
    }
}
