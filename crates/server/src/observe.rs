//! The request-logging and metrics middleware. It runs after routing (applied with
//! `Router::layer`, which wraps each route), so the route label is axum's [`MatchedPath`]
//! — a fixed template such as `/v1/sessions/{id}` — and never the raw path. The label is
//! resolved here, from the request, rather than set by the route's own service: the CORS
//! layer answers preflights before that service runs, and they must still count under
//! their route. Query strings, headers and bodies are never logged: they carry tokens and
//! passwords.
//!
//! This is also where failures are logged: a 5xx answer carries its cause
//! ([`FailureCause`]) in a response extension, and the access log writes it. A 500 is
//! logged every time; 503s (the database is down, and every request says so) at most once
//! per [`OUTAGE_LOG_EVERY`] seconds with the number held back, the rest at debug level.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use tower::{Layer, Service};

use crate::error::FailureCause;
use crate::metrics::{route_index, routes, Metrics};

/// Seconds between two logged 503 answers.
pub const OUTAGE_LOG_EVERY: u64 = 10;

/// The throttle of 503 lines (one per process).
static OUTAGE_LOG: LogThrottle = LogThrottle::new(OUTAGE_LOG_EVERY);

/// Wraps services with [`Observe`].
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
}

impl ObserveLayer {
    /// Records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        ObserveLayer { metrics }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// Times each request, counts it by route, method and status, and logs one line.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or(0, |p| route_index(p.as_str()));
        let method = req.method().clone();
        ObserveFuture {
            inner: self.inner.call(req),
            start: Instant::now(),
            method,
            route,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Observe`].
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        method: Method,
        route: usize,
        metrics: Arc<Metrics>,
    }
}

impl<F, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &res {
            let elapsed = this.start.elapsed();
            let status = response.status();
            this.metrics
                .record_request(*this.route, this.method, status, elapsed);
            log(
                routes()[*this.route],
                this.method,
                status,
                elapsed.as_micros() as u64,
                response.extensions().get::<FailureCause>(),
            );
        }
        Poll::Ready(res)
    }
}

fn log(
    route: &'static str,
    method: &Method,
    status: StatusCode,
    micros: u64,
    cause: Option<&FailureCause>,
) {
    let cause = cause.map_or("", |c| &c.0);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        match OUTAGE_LOG.admit() {
            Some(suppressed) => tracing::warn!(
                target: "tessera::access", %method, route, status = 503, micros, cause, suppressed,
                "request refused: unavailable (further 503s within 10 s are logged at debug level)"
            ),
            None => tracing::debug!(
                target: "tessera::access", %method, route, status = 503, micros, cause,
                "request refused: unavailable"
            ),
        }
    } else if status.is_server_error() {
        let status = status.as_u16();
        tracing::error!(target: "tessera::access", %method, route, status, micros, cause, "request failed");
    } else {
        let status = status.as_u16();
        tracing::debug!(target: "tessera::access", %method, route, status, micros, "request");
    }
}

/// Lets one log line through per `every` seconds of monotonic time, counting the others.
struct LogThrottle {
    every: u64,
    /// Seconds since the first use (plus one, so 0 means never) of the last line let
    /// through.
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl LogThrottle {
    const fn new(every: u64) -> LogThrottle {
        LogThrottle {
            every,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` when this one may be logged.
    fn admit(&self) -> Option<u64> {
        static START: OnceLock<Instant> = OnceLock::new();
        let now = START.get_or_init(Instant::now).elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if (last == 0 || now >= last + self.every)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::LogThrottle;

    #[test]
    fn log_throttle_lets_one_line_through_per_interval_and_counts_the_rest() {
        let hourly = LogThrottle::new(3600);
        assert_eq!(hourly.admit(), Some(0));
        assert_eq!(hourly.admit(), None);
        assert_eq!(hourly.admit(), None);
        assert_eq!(
            hourly.suppressed.load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        // An interval of zero lets every line through, reporting what was held back before.
        let always = LogThrottle::new(0);
        assert_eq!(always.admit(), Some(0));
        assert_eq!(always.admit(), Some(0));
    }
}
