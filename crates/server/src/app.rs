//! The router: the browser page, every route of SPEC §4, and the layers around them.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::header::{
    AUTHORIZATION, CONTENT_TYPE, COOKIE, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, Method};
use axum::routing::{delete, get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};

use crate::error::ApiError;
use crate::observe::ObserveLayer;
use crate::routes::{admin, health, login, me, oauth, page, refresh, users, well_known};
use crate::state::AppState;

/// Largest accepted request body (SPEC §4); over it → 413 `invalid_request`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The application. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// so that rate limits see the client's address.
pub fn app(state: AppState) -> Router {
    let observe = ObserveLayer::new(state.metrics().clone());
    let cors = cors(state.allowed_origins());
    Router::new()
        // The browser page (assets embedded in the binary).
        .route("/", get(page::index))
        .route("/assets/app.js", get(page::script))
        .route("/assets/app.css", get(page::style))
        .route("/v1/users", post(users::signup))
        .route("/v1/login", post(login::login))
        .route("/v1/token/refresh", post(refresh::refresh))
        .route("/v1/logout", post(refresh::logout))
        .route("/v1/logout/all", post(me::logout_all))
        .route("/v1/me", get(me::me))
        .route("/v1/sessions", get(me::sessions))
        .route("/v1/sessions/{id}", delete(me::revoke_session))
        .route("/v1/admin/users/{id}/revoke", post(admin::revoke_user))
        .route("/.well-known/jwks.json", get(well_known::jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata),
        )
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/oauth/introspect", post(oauth::introspect))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
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
