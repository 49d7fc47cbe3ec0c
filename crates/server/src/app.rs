//! The router: the browser page, every route of the HTTP API (docs/http-api.md), the OpenAPI document of them all,
//! and the layers around them.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{
    AUTHORIZATION, CONTENT_TYPE, COOKIE, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::observe::ObserveLayer;
use crate::openapi;
use crate::request_timeout;
use crate::routes::{
    admin, health, login, me, oauth, page, refresh, revocations, users, well_known,
};
use crate::state::AppState;

/// Largest accepted request body (docs/http-api.md); over it → 413 `invalid_request`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route the server has, each registered with its OpenAPI operation in one
/// declaration (`routes!` takes the method and path from the handler's `#[utoipa::path]`),
/// so the router, `GET /openapi.json` and the metrics' route labels cannot disagree.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::preamble())
        // The browser page (assets embedded in the binary).
        .routes(routes!(page::index))
        .routes(routes!(page::script))
        .routes(routes!(page::style))
        .routes(routes!(users::signup))
        .routes(routes!(login::login))
        .routes(openapi::optional_body(routes!(refresh::refresh)))
        .routes(openapi::optional_body(routes!(refresh::logout)))
        .routes(routes!(me::logout_all))
        .routes(routes!(me::me))
        .routes(routes!(me::sessions))
        .routes(routes!(me::revoke_session))
        .routes(routes!(admin::revoke_user))
        .routes(routes!(revocations::revocations))
        .routes(routes!(well_known::jwks))
        .routes(routes!(oauth::metadata))
        .routes(routes!(oauth::revoke))
        .routes(routes!(oauth::introspect))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::openapi))
}

/// The application. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// so that rate limits see the client's address.
pub fn app(state: AppState) -> Router {
    // Built once per process, here rather than on the first request.
    openapi::document();
    let observe = ObserveLayer::new(state.metrics().clone());
    let cors = cors(state.allowed_origins());
    let (router, _) = routes().split_for_parts();
    router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        // `Router::layer` wraps each route (after routing), the last one outermost.
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(SetSensitiveResponseHeadersLayer::new([SET_COOKIE]))
        .layer(SetSensitiveRequestHeadersLayer::new([
            AUTHORIZATION,
            COOKIE,
        ]))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_timeout::limit_body_time,
        ))
        .layer(observe)
        .with_state(state)
}

/// Browsers may call with credentials from the allowed origins only (never `*`).
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        .expose_headers([RETRY_AFTER, WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(600))
}
