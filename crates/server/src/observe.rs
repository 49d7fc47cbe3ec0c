//! The request-logging and metrics middleware. It runs after routing (applied with
//! `Router::layer`, which wraps each route), so the route label is axum's [`MatchedPath`]
//! — a fixed template such as `/v1/sessions/{id}` — and never the raw path. The label is
//! resolved here, from the request, rather than set by the route's own service: the CORS
//! layer answers preflights before that service runs, and they must still count under
//! their route. Query strings, headers and bodies are never logged: they carry tokens and
//! passwords.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use tower::{Layer, Service};

use crate::metrics::{route_index, routes, Metrics};

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
            );
        }
        Poll::Ready(res)
    }
}

fn log(route: &'static str, method: &Method, status: StatusCode, micros: u64) {
    let status = status.as_u16();
    if status >= 500 {
        tracing::error!(target: "tessera::access", %method, route, status, micros, "request failed");
    } else {
        tracing::debug!(target: "tessera::access", %method, route, status, micros, "request");
    }
}
