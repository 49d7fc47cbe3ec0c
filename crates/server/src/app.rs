//! The router: the browser page, every route of the HTTP API (docs/http-api.md), the OpenAPI document of them all,
//! and the layers around them.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::edge::App;
use crate::error::ApiError;
use crate::openapi;
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

/// The application: the router behind its edge (CORS, the body deadline, metrics and the
/// access log: `crate::edge`). Serve it with `into_make_service_with_connect_info` so that
/// rate limits see the client's address.
pub fn app(state: AppState) -> App {
    // Built once per process, here rather than on the first request.
    openapi::document();
    let (router, _) = routes().split_for_parts();
    let router = router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state.clone());
    App::new(
        router,
        state.metrics().clone(),
        state.allowed_origins(),
        state.config().server.request_timeout,
    )
}
