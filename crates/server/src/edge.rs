//! The one middleware in front of the router: CORS, sensitive headers, the request-body
//! deadline, metrics and the access log, in a single service that wraps the whole router.
//!
//! It replaces a stack of tower layers applied per route (`Router::layer`). axum clones a
//! route's service for every request, so each of those layers was cloned (and boxed) on
//! every request, the CORS layer with its origin list, and the CORS layer built a fresh
//! header map and `Vary` string for every answer. Here everything known at start — the
//! allowed origins, the preflight answer's headers, the route table — is built once and
//! shared behind one `Arc`; a request pays a route lookup, a few header inserts and two
//! atomic increments.
//!
//! What each answer gets:
//! - `Vary: origin, access-control-request-method, access-control-request-headers`, always
//!   (the CORS headers depend on them, so caches must key on them).
//! - From an allowed origin (`cors.allowed_origins`, exact match):
//!   `Access-Control-Allow-Origin` (that origin), `Access-Control-Allow-Credentials: true`
//!   and, on answers that are not preflights, `Access-Control-Expose-Headers`.
//! - Any `OPTIONS` request is a preflight: answered here, 200 with the allowed methods,
//!   headers and `Access-Control-Max-Age`, without reaching a handler. It is still counted
//!   under its route.
//!
//! The route label is the router's path template (`/v1/sessions/{id}`, never the raw path),
//! found in a table built from the same route list as the router ([`crate::metrics::routes`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::extract::Request;
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    AUTHORIZATION, CONNECTION, COOKIE, ORIGIN, SET_COOKIE, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::Router;
use tower::Service;

use crate::error::{ApiError, FailureCause};
use crate::metrics::{routes, Metrics};
use crate::observe::log;
use crate::request_timeout::with_deadline;

/// `Vary` of every answer.
#[allow(clippy::declare_interior_mutable_const)]
const VARY_CORS: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);
/// What a browser may send (preflight answer).
#[allow(clippy::declare_interior_mutable_const)]
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET,POST,DELETE,OPTIONS");
#[allow(clippy::declare_interior_mutable_const)]
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static("authorization,content-type");
/// How long a browser may cache a preflight answer, seconds.
#[allow(clippy::declare_interior_mutable_const)]
const MAX_AGE: HeaderValue = HeaderValue::from_static("600");
/// What a page's script may read of an answer.
#[allow(clippy::declare_interior_mutable_const)]
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("retry-after,www-authenticate");
#[allow(clippy::declare_interior_mutable_const)]
const TRUE: HeaderValue = HeaderValue::from_static("true");

/// Headers whose values are marked sensitive (never printed by `Debug`).
static SENSITIVE_REQUEST_HEADERS: [HeaderName; 2] = [AUTHORIZATION, COOKIE];
/// Response headers whose values are marked sensitive.
static SENSITIVE_RESPONSE_HEADERS: [HeaderName; 1] = [SET_COOKIE];

/// What every request shares, built once.
#[derive(Debug)]
struct Edge {
    metrics: Arc<Metrics>,
    /// Path template → index in [`routes`] (0: unmatched).
    routes: matchit::Router<usize>,
    /// `cors.allowed_origins`, as header values.
    origins: Box<[HeaderValue]>,
    /// `server.request_timeout`.
    body_deadline: Duration,
}

impl Edge {
    fn route(&self, path: &str) -> usize {
        self.routes.at(path).map_or(0, |m| *m.value)
    }
}

/// The application: the router behind [`Edge`]. Cheap to clone (two `Arc`s).
#[derive(Debug, Clone)]
pub struct App {
    router: Router,
    edge: Arc<Edge>,
}

impl App {
    /// Wraps `router`. `origins` are the allowed CORS origins in canonical form; a
    /// request body still arriving `body_deadline` after its head is answered 408.
    pub(crate) fn new(
        router: Router,
        metrics: Arc<Metrics>,
        origins: &[String],
        body_deadline: Duration,
    ) -> App {
        let mut table = matchit::Router::new();
        for (i, path) in routes().iter().enumerate().skip(1) {
            // Every label is a route the router took, so the table takes it too.
            if let Err(e) = table.insert(*path, i) {
                unreachable!("route {path} does not fit the route table: {e}");
            }
        }
        App {
            router,
            edge: Arc::new(Edge {
                metrics,
                routes: table,
                origins: origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect(),
                body_deadline,
            }),
        }
    }

    /// A make-service that gives the app each connection's address as `ConnectInfo<C>`
    /// (`SocketAddr` for TCP), for `axum::serve`.
    pub fn into_make_service_with_connect_info<C>(self) -> IntoMakeServiceWithConnectInfo<App, C> {
        axum::ServiceExt::<Request>::into_make_service_with_connect_info::<C>(self)
    }
}

impl Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = AppFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut req: Request) -> AppFuture {
        let start = Instant::now();
        let edge = &*self.edge;
        let route = edge.route(req.uri().path());
        let method = req.method().clone();
        let origin = req
            .headers()
            .get(ORIGIN)
            .filter(|o| edge.origins.iter().any(|allowed| allowed == *o))
            .cloned();
        mark_sensitive(req.headers_mut(), &SENSITIVE_REQUEST_HEADERS);
        let kind = if method == Method::OPTIONS {
            Kind::Preflight
        } else if req.body().is_end_stream() {
            Kind::Call {
                future: self.router.call(req),
                expired: None,
            }
        } else {
            let expired = Arc::new(AtomicBool::new(false));
            let req = req.map(|body| with_deadline(body, edge.body_deadline, Arc::clone(&expired)));
            Kind::Call {
                future: self.router.call(req),
                expired: Some(expired),
            }
        };
        AppFuture {
            kind,
            start,
            method,
            route,
            origin,
            edge: Arc::clone(&self.edge),
        }
    }
}

pin_project_lite::pin_project! {
    /// `Preflight`: an `OPTIONS` request, answered here. `Call`: any other request, in the
    /// router; `expired` is set when its body's deadline passed before the body's end.
    #[project = KindProj]
    enum Kind {
        Preflight,
        Call {
            #[pin]
            future: RouteFuture<Infallible>,
            expired: Option<Arc<AtomicBool>>,
        },
    }
}

pin_project_lite::pin_project! {
    /// The future of [`App`].
    pub struct AppFuture {
        #[pin]
        kind: Kind,
        start: Instant,
        method: Method,
        route: usize,
        origin: Option<HeaderValue>,
        edge: Arc<Edge>,
    }
}

impl Future for AppFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let preflight = matches!(*this.kind, Kind::Preflight);
        let mut response = match this.kind.project() {
            KindProj::Preflight => preflight_answer(),
            KindProj::Call { future, expired } => {
                let Ok(response) = std::task::ready!(future.poll(cx));
                if expired.as_ref().is_some_and(|e| e.load(Ordering::Relaxed)) {
                    // Whatever the handler made of the failed read, the answer is the
                    // timeout; the rest of the body is never read, so the connection cannot
                    // carry another request.
                    let mut response = ApiError::request_timeout().into_response();
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                    response
                } else {
                    response
                }
            }
        };
        let headers = response.headers_mut();
        headers.append(VARY, VARY_CORS);
        if let Some(origin) = this.origin.take() {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
            if !preflight {
                headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
            }
        }
        mark_sensitive(headers, &SENSITIVE_RESPONSE_HEADERS);
        let elapsed = this.start.elapsed();
        let status = response.status();
        this.edge
            .metrics
            .record_request(*this.route, this.method, status, elapsed);
        log(
            routes()[*this.route],
            this.method,
            status,
            elapsed.as_micros() as u64,
            response.extensions().get::<FailureCause>(),
        );
        Poll::Ready(Ok(response))
    }
}

/// The answer to a CORS preflight (the origin's own headers are added by the caller).
fn preflight_answer() -> Response {
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
    h.insert(ACCESS_CONTROL_MAX_AGE, MAX_AGE);
    response
}

/// Marks every value of `names` sensitive, so that no `Debug` print of the headers shows it.
fn mark_sensitive(headers: &mut HeaderMap, names: &[HeaderName]) {
    for name in names {
        if let axum::http::header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_route_label_is_found_by_its_own_paths_and_nothing_else_is() {
        let app = App::new(
            Router::new(),
            Arc::new(Metrics::default()),
            &[],
            Duration::from_secs(1),
        );
        let edge = &app.edge;
        for (i, label) in routes().iter().enumerate().skip(1) {
            assert_eq!(edge.route(&label.replace("{id}", "abc")), i, "{label}");
        }
        assert_eq!(
            edge.route("/v1/sessions/abc"),
            edge.route("/v1/sessions/{id}")
        );
        assert_ne!(edge.route("/v1/sessions/abc"), 0);
        for unknown in ["/no/such/route", "/v1/me/extra", "/v1", ""] {
            assert_eq!(edge.route(unknown), 0, "{unknown}");
        }
    }

    #[test]
    fn sensitive_values_are_hidden_from_debug() {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer secret-token"),
        );
        headers.append(COOKIE, HeaderValue::from_static("a=1"));
        headers.append(COOKIE, HeaderValue::from_static("refresh=secret-cookie"));
        mark_sensitive(&mut headers, &SENSITIVE_REQUEST_HEADERS);
        let printed = format!("{headers:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(headers
            .get_all(COOKIE)
            .iter()
            .all(HeaderValue::is_sensitive));
    }
}
