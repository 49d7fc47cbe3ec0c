//! # tessera-server
//!
//! Tessera's HTTP server (docs/http-api.md): an axum [`app`] over the `tessera-tokens` domain, with
//! the refresh cookie, CSRF checks, CORS, rate limits, Prometheus metrics and the layered
//! [`Config`]. Handlers are thin: extract, call one `Auth` function, map the answer in
//! one place ([`ApiError`]). Each route is declared together with its OpenAPI operation,
//! so `GET /openapi.json` (committed as `docs/openapi.json`) documents exactly the routes
//! served.
//!
//! ```
//! use tessera_server::Config;
//!
//! // Defaults < TOML file < TESSERA_<SECTION>__<KEY> variables.
//! let env = [("TESSERA_TOKENS__ACCESS_TTL".to_owned(), "2m".to_owned())];
//! let config = Config::load(None, env)?;
//! assert_eq!(config.tokens.access_ttl.as_secs(), 120);
//! assert_eq!(config.server.public_url, "http://127.0.0.1:8080");
//!
//! // Unknown settings stop start-up, naming the culprit.
//! let err = Config::load(None, [("TESSERA_TOKENS__TTL".to_owned(), "1m".to_owned())]).unwrap_err();
//! assert!(err.to_string().contains("TESSERA_TOKENS__TTL"));
//! # Ok::<(), tessera_server::ConfigError>(())
//! ```
//!
//! [`serve`] runs it all for `tessera serve`; tests build an [`AppState`] with a manual
//! clock and serve [`app`] on an ephemeral port.

mod app;
mod background;
pub mod config;
mod connection;
mod cookie;
mod csrf;
mod edge;
mod error;
mod extract;
#[doc(hidden)]
pub mod fuzzing;
mod listener;
mod master_key;
pub mod metrics;
mod observe;
mod openapi;
pub mod rate_limit;
mod request_timeout;
mod routes;
mod serve;
mod startup;
mod state;
mod store_adapter;

pub use app::{app, App, BODY_LIMIT};
pub use background::spawn_background;
pub use config::{Config, ConfigError};
pub use cookie::{RefreshCookie, DEV_NAME as DEV_COOKIE_NAME, SECURE_NAME as COOKIE_NAME};
pub use error::ApiError;
pub use master_key::load_master_key;
pub use serve::{init_logging, serve, shutdown_signal};
pub use startup::StartError;
pub use state::{domain_settings, AppState};
pub use store_adapter::connect as connect_store;
