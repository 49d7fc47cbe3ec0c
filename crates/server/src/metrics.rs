//! Prometheus metrics, hand-rolled: fixed tables of atomics indexed by route, method and
//! status, so recording a request takes no lock and allocates nothing. Rendered in the
//! text exposition format 0.0.4 by `GET /metrics`.
//!
//! The route labels are not a list of their own: they are the paths of the router's one
//! route table (`app::routes`, through the OpenAPI document it also yields), so a new route
//! has its label by construction.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;
use std::time::Duration;

use axum::http::{Method, StatusCode};

/// The label of requests no route matched (index 0).
pub const UNMATCHED: &str = "unmatched";

/// `unmatched`, then every path template the router serves, sorted.
static ROUTES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    std::iter::once(UNMATCHED)
        .chain(crate::openapi::paths().iter().map(String::as_str))
        .collect()
});

/// Every route label; index 0 is for requests no route matched.
pub fn routes() -> &'static [&'static str] {
    &ROUTES
}

const METHODS: &[&str] = &["GET", "POST", "DELETE", "OPTIONS", "HEAD", "other"];
const STATUSES: &[u16] = &[
    200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503,
];
const N_STATUS: usize = STATUSES.len() + 1; // + "other"
/// Latency histogram bucket bounds, seconds.
const BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const N_BUCKETS: usize = BOUNDS.len() + 1; // + "+Inf"

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::DELETE => 2,
        Method::OPTIONS => 3,
        Method::HEAD => 4,
        _ => 5,
    }
}

fn status_index(s: StatusCode) -> usize {
    STATUSES
        .iter()
        .position(|x| *x == s.as_u16())
        .unwrap_or(STATUSES.len())
}

/// Labelled counters with a fixed label set.
#[derive(Debug)]
struct Counters<const N: usize> {
    values: [AtomicU64; N],
}

impl<const N: usize> Default for Counters<N> {
    fn default() -> Self {
        Counters {
            values: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Outcome of a login attempt.
#[derive(Debug, Clone, Copy)]
pub enum LoginResult {
    /// Tokens issued.
    Success = 0,
    /// Unknown user or wrong password.
    InvalidCredentials = 1,
    /// Refused by the rate limiter before any hashing.
    RateLimited = 2,
    /// Database or internal failure.
    Error = 3,
}
const LOGIN_LABELS: [&str; 4] = ["success", "invalid_credentials", "rate_limited", "error"];

/// Outcome of a signup.
#[derive(Debug, Clone, Copy)]
pub enum SignupResult {
    /// User created.
    Created = 0,
    /// Username taken.
    UsernameTaken = 1,
    /// Bad username or password (`invalid_request`, `weak_password`).
    Rejected = 2,
    /// Signup turned off.
    Disabled = 3,
    /// Refused by the rate limiter.
    RateLimited = 4,
    /// Database or internal failure.
    Error = 5,
}
const SIGNUP_LABELS: [&str; 6] = [
    "created",
    "username_taken",
    "rejected",
    "disabled",
    "rate_limited",
    "error",
];

/// Outcome of a refresh.
#[derive(Debug, Clone, Copy)]
pub enum RefreshOutcome {
    /// A new pair was issued (including a grace-window repeat).
    Rotated = 0,
    /// Past its absolute or idle expiry.
    Expired = 1,
    /// Its session was revoked.
    Revoked = 2,
    /// Spent token presented after the grace window.
    Reused = 3,
    /// Unknown, malformed or missing token.
    Unknown = 4,
    /// Database unreachable.
    Unavailable = 5,
    /// Internal failure.
    Error = 6,
    /// Refused by the rate limiter.
    RateLimited = 7,
}
const REFRESH_LABELS: [&str; 8] = [
    "rotated",
    "expired",
    "revoked",
    "reused",
    "unknown",
    "unavailable",
    "error",
    "rate_limited",
];

/// The registry.
#[derive(Debug)]
pub struct Metrics {
    requests: Vec<AtomicU64>,
    latency_buckets: Vec<AtomicU64>,
    latency_sum_us: Vec<AtomicU64>,
    logins: Counters<4>,
    signups: Counters<6>,
    refreshes: Counters<8>,
    reuse_detected: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        let routes = routes().len();
        Metrics {
            requests: zeros(routes * METHODS.len() * N_STATUS),
            latency_buckets: zeros(routes * N_BUCKETS),
            latency_sum_us: zeros(routes),
            logins: Counters::default(),
            signups: Counters::default(),
            refreshes: Counters::default(),
            reuse_detected: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Records one answered request.
    pub fn record_request(
        &self,
        route: usize,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = route.min(routes().len() - 1);
        let i = (route * METHODS.len() + method_index(method)) * N_STATUS + status_index(status);
        self.requests[i].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BOUNDS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BOUNDS.len());
        self.latency_buckets[route * N_BUCKETS + b].fetch_add(1, Relaxed);
        self.latency_sum_us[route].fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// Counts a login attempt.
    pub fn login(&self, r: LoginResult) {
        self.logins.values[r as usize].fetch_add(1, Relaxed);
    }

    /// Counts a signup attempt.
    pub fn signup(&self, r: SignupResult) {
        self.signups.values[r as usize].fetch_add(1, Relaxed);
    }

    /// Counts a refresh attempt; a reuse also counts as a reuse detection.
    pub fn refresh(&self, r: RefreshOutcome) {
        self.refreshes.values[r as usize].fetch_add(1, Relaxed);
        if matches!(r, RefreshOutcome::Reused) {
            self.reuse_detected.fetch_add(1, Relaxed);
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "# HELP tessera_build_info Build information.")?;
        writeln!(out, "# TYPE tessera_build_info gauge")?;
        writeln!(
            out,
            "tessera_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )?;

        writeln!(
            out,
            "# HELP tessera_http_requests_total HTTP requests answered."
        )?;
        writeln!(out, "# TYPE tessera_http_requests_total counter")?;
        for (r, route) in routes().iter().enumerate() {
            for (m, method) in METHODS.iter().enumerate() {
                for s in 0..N_STATUS {
                    let n = self.requests[(r * METHODS.len() + m) * N_STATUS + s].load(Relaxed);
                    if n == 0 {
                        continue;
                    }
                    let status = STATUSES
                        .get(s)
                        .map_or_else(|| "other".to_owned(), u16::to_string);
                    writeln!(
                        out,
                        "tessera_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                    )?;
                }
            }
        }

        writeln!(
            out,
            "# HELP tessera_http_request_duration_seconds Time to answer, by route."
        )?;
        writeln!(
            out,
            "# TYPE tessera_http_request_duration_seconds histogram"
        )?;
        for (r, route) in routes().iter().enumerate() {
            let counts: Vec<u64> = (0..N_BUCKETS)
                .map(|b| self.latency_buckets[r * N_BUCKETS + b].load(Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (b, c) in counts.iter().enumerate() {
                cumulative += c;
                let le = BOUNDS
                    .get(b)
                    .map_or_else(|| "+Inf".to_owned(), f64::to_string);
                writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                )?;
            }
            let sum = self.latency_sum_us[r].load(Relaxed) as f64 / 1e6;
            writeln!(
                out,
                "tessera_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            )?;
            writeln!(
                out,
                "tessera_http_request_duration_seconds_count{{route=\"{route}\"}} {total}"
            )?;
        }

        counter_family(
            out,
            "tessera_logins_total",
            "Login attempts by result.",
            "result",
            &LOGIN_LABELS,
            &self.logins.values,
        )?;
        counter_family(
            out,
            "tessera_signups_total",
            "Signup attempts by result.",
            "result",
            &SIGNUP_LABELS,
            &self.signups.values,
        )?;
        counter_family(
            out,
            "tessera_refresh_total",
            "Refresh attempts by outcome.",
            "outcome",
            &REFRESH_LABELS,
            &self.refreshes.values,
        )?;

        writeln!(out, "# HELP tessera_refresh_reuse_detected_total Spent refresh tokens presented after the grace window (session revoked).")?;
        writeln!(out, "# TYPE tessera_refresh_reuse_detected_total counter")?;
        writeln!(
            out,
            "tessera_refresh_reuse_detected_total {}",
            self.reuse_detected.load(Relaxed)
        )
    }
}

fn counter_family(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    labels: &[&str],
    values: &[AtomicU64],
) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} counter")?;
    for (l, v) in labels.iter().zip(values) {
        writeln!(out, "{name}{{{label}=\"{l}\"}} {}", v.load(Relaxed))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        let me = routes().iter().position(|r| *r == "/v1/me").unwrap();
        m.record_request(me, &Method::GET, StatusCode::OK, Duration::from_micros(300));
        m.record_request(
            me,
            &Method::GET,
            StatusCode::UNAUTHORIZED,
            Duration::from_millis(3),
        );
        m.record_request(
            0,
            &Method::PATCH,
            StatusCode::IM_A_TEAPOT,
            Duration::from_secs(20),
        );
        m.refresh(RefreshOutcome::Reused);
        let text = m.render();
        assert!(
            text.contains(
                "tessera_http_requests_total{route=\"/v1/me\",method=\"GET\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "tessera_http_requests_total{route=\"unmatched\",method=\"other\",status=\"other\"} 1"
        ));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"/v1/me\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"/v1/me\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"/v1/me\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("tessera_http_request_duration_seconds_count{route=\"/v1/me\"} 2"));
        assert!(text.contains("tessera_refresh_total{outcome=\"reused\"} 1"));
        assert!(text.contains("tessera_refresh_reuse_detected_total 1"));
        assert!(text.contains("tessera_logins_total{result=\"success\"} 0"));
    }
}
