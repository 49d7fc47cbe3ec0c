//! tessera-server over real HTTP: the app on an ephemeral port, a fresh SQLite database per
//! test, a manual clock (no test sleeps), weak Argon2 parameters.
#![allow(clippy::unwrap_used)]

mod common;

mod access;
mod admin;
mod concurrency;
mod config;
mod cookies_csrf;
mod edges;
mod fuzz_smoke;
mod health;
mod key_rotation;
mod logs;
mod oauth;
mod openapi;
mod page;
mod rate_limits;
mod redis_limits;
mod refresh;
mod revocations;
mod route_labels;
mod serve;
mod sessions;
mod signup_login;
mod usernames_passwords;
