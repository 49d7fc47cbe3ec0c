//! `tessera-soak`: a long run of mixed traffic against `tessera serve`, sampling the
//! server's memory, open file descriptors and latency every few seconds, to show they stay
//! flat: nothing grows with time, nothing but the expected 401s and 429s is answered.
//!
//! ```sh
//! cargo build --release -p tessera -p tessera-loadgen
//! target/release/tessera-soak --server target/release/tessera --duration 30m
//! ```
//!
//! Traffic, all on loopback, each kind on its own threads (blocking clients):
//!
//! * **steady**: 8 signed-in sessions calling `GET /v1/me` (about 50/s each), refreshing
//!   when their 60 s access token expires;
//! * **churn**: a new user every 250 ms: sign up, log in, `/v1/me`, refresh, log out;
//! * **guesser**: wrong passwords for one user, 5 per second, from its own address (trusted
//!   `X-Forwarded-For`): 401, then 429 once limited;
//! * **slowloris**: every 5 s, 20 connections that send a partial request head and then one
//!   byte every 3 s; the server must cut them (`server.header_timeout`), keeping at most
//!   100 open at a time.
//!
//! Every sample (default 10 s): the server's RSS and open descriptors, the steady probe's
//! p50/p99, requests and unexpected answers per kind, slow connections open and cut. The
//! verdict at the end: RSS flat over the second half of the run (after the first minute's
//! warm-up, caches may still fill while the database grows; a leak keeps growing),
//! descriptors bounded, p99 without a trend, no unexpected answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::{json, Value};

/// Long soak of `tessera serve` under mixed traffic (loopback only).
#[derive(Debug, Parser)]
#[command(name = "tessera-soak", version)]
struct Args {
    /// The `tessera` binary to start.
    #[arg(long)]
    server: PathBuf,
    /// How long to run (`90s`, `30m`).
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    duration: Duration,
    /// Time between samples.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    sample: Duration,
    /// Also write the report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (n, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(0));
    let n: u64 = n.parse().map_err(|_| format!("not a duration: {text}"))?;
    match unit {
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("not a duration: {text}")),
    }
}

/// The password of every user the soak makes.
const PASSWORD: &str = "soak test passphrase 0";
/// The client addresses the server sees (it trusts `X-Forwarded-For` in this run).
const CLIENT_IP: &str = "198.51.100.10";
const GUESSER_IP: &str = "203.0.113.66";

/// Counts of one kind of traffic.
#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    unexpected: AtomicU64,
    /// The first few unexpected answers, for the report.
    examples: Mutex<Vec<String>>,
}

impl Counts {
    fn answered(&self, what: &str, status: u16, expected: &[u16], body: &Value) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !expected.contains(&status) {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut ex) = self.examples.lock() {
                if ex.len() < 5 {
                    ex.push(format!("{what}: {status} {body}"));
                }
            }
        }
    }
}

/// Everything the threads share.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    steady: Counts,
    churn: Counts,
    guesser: Counts,
    guesser_limited: AtomicU64,
    /// Latencies of the steady `/v1/me` calls since the last sample, µs.
    latencies: Mutex<Vec<u32>>,
    slow_open: AtomicU64,
    slow_cut: AtomicU64,
    /// Requests that got no HTTP answer at all (connection refused or reset, timeout).
    transport_errors: AtomicU64,
}

/// A blocking client that sends the soak's client address.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .proxy(None)
        .build()
        .new_agent()
}

/// One request: the status and JSON body, or `None` when no answer came.
fn call(
    agent: &ureq::Agent,
    shared: &Shared,
    method: &str,
    url: &str,
    bearer: Option<&str>,
    ip: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("x-forwarded-for", ip);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = match body {
        Some(b) => agent.run(
            req.header("content-type", "application/json")
                .body(b.to_string())
                .ok()?,
        ),
        None => agent.run(req.body(()).ok()?),
    };
    match res {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
        }
        Err(_) => {
            shared.transport_errors.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

fn signup_login(agent: &ureq::Agent, shared: &Shared, base: &str, name: &str) -> Option<Value> {
    let (s, body) = call(
        agent,
        shared,
        "POST",
        &format!("{base}/v1/users"),
        None,
        CLIENT_IP,
        Some(json!({"username": name, "password": PASSWORD})),
    )?;
    shared.churn.answered("signup", s, &[201], &body);
    let (s, body) = call(
        agent,
        shared,
        "POST",
        &format!("{base}/v1/login"),
        None,
        CLIENT_IP,
        Some(json!({"username": name, "password": PASSWORD, "delivery": "body"})),
    )?;
    shared.churn.answered("login", s, &[200], &body);
    (s == 200).then_some(body)
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// A signed-in session calling `/v1/me`, refreshing when its access token expires.
fn steady(shared: Arc<Shared>, base: String, n: usize) {
    let agent = agent();
    let Some(mut tokens) = signup_login(&agent, &shared, &base, &format!("steady{n}")) else {
        return;
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let access = text(&tokens, "access_token");
        let Some((status, body)) = call(
            &agent,
            &shared,
            "GET",
            &format!("{base}/v1/me"),
            Some(&access),
            CLIENT_IP,
            None,
        ) else {
            thread::sleep(Duration::from_millis(100));
            continue;
        };
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        if let Ok(mut l) = shared.latencies.lock() {
            l.push(micros);
        }
        shared.steady.answered("me", status, &[200, 401], &body);
        if status == 401 && body["error"] == "token_expired" {
            let refresh = text(&tokens, "refresh_token");
            if let Some((s, b)) = call(
                &agent,
                &shared,
                "POST",
                &format!("{base}/v1/token/refresh"),
                None,
                CLIENT_IP,
                Some(json!({ "refresh_token": refresh })),
            ) {
                shared.steady.answered("refresh", s, &[200], &b);
                if s == 200 {
                    tokens = b;
                }
            }
        } else if status == 401 {
            shared
                .steady
                .answered("me (not expired)", status, &[], &body);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A new user every 250 ms through the whole life of a session.
fn churn(shared: Arc<Shared>, base: String) {
    let agent = agent();
    let mut n = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        n += 1;
        if let Some(tokens) = signup_login(&agent, &shared, &base, &format!("churn{n}")) {
            let access = text(&tokens, "access_token");
            if let Some((s, b)) = call(
                &agent,
                &shared,
                "GET",
                &format!("{base}/v1/me"),
                Some(&access),
                CLIENT_IP,
                None,
            ) {
                shared.churn.answered("me", s, &[200], &b);
            }
            let refresh = text(&tokens, "refresh_token");
            if let Some((s, b)) = call(
                &agent,
                &shared,
                "POST",
                &format!("{base}/v1/token/refresh"),
                None,
                CLIENT_IP,
                Some(json!({ "refresh_token": refresh })),
            ) {
                shared.churn.answered("refresh", s, &[200], &b);
                if s == 200 {
                    if let Some((s, b)) = call(
                        &agent,
                        &shared,
                        "POST",
                        &format!("{base}/v1/logout"),
                        None,
                        CLIENT_IP,
                        Some(json!({ "refresh_token": text(&b, "refresh_token") })),
                    ) {
                        shared.churn.answered("logout", s, &[204], &b);
                    }
                }
            }
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// Wrong passwords for one user from one address, 5 per second.
fn guesser(shared: Arc<Shared>, base: String) {
    let agent = agent();
    let mut n = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        n += 1;
        if let Some((status, body)) = call(
            &agent,
            &shared,
            "POST",
            &format!("{base}/v1/login"),
            None,
            GUESSER_IP,
            Some(json!({"username": "steady0", "password": format!("guess {n}")})),
        ) {
            shared.guesser.answered("guess", status, &[401, 429], &body);
            if status == 429 {
                shared.guesser_limited.fetch_add(1, Ordering::Relaxed);
            }
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Slow connections: a partial request head, then a byte every 3 s, until the server cuts
/// them.
fn slowloris(shared: Arc<Shared>, addr: SocketAddr) {
    let mut open: Vec<(TcpStream, Instant)> = Vec::new();
    let mut last_batch = Instant::now() - Duration::from_secs(10);
    while !shared.stop.load(Ordering::Relaxed) {
        if last_batch.elapsed() >= Duration::from_secs(5) {
            last_batch = Instant::now();
            for _ in 0..20 {
                if open.len() >= 100 {
                    break;
                }
                if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                    let _ = s.set_nonblocking(true);
                    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: soak\r\nX-Slow: ");
                    open.push((s, Instant::now()));
                }
            }
        }
        // A byte each to the open ones; a connection the server closed is counted as cut.
        let mut kept = Vec::with_capacity(open.len());
        for (mut s, at) in open.drain(..) {
            let mut buf = [0u8; 256];
            let closed = match s.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => true, // an answer (408 or 400) means the server gave up on it
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => s.write_all(b"a").is_err(),
                Err(_) => true,
            };
            if closed {
                shared.slow_cut.fetch_add(1, Ordering::Relaxed);
            } else {
                kept.push((s, at));
            }
        }
        open = kept;
        shared.slow_open.store(open.len() as u64, Ordering::Relaxed);
        thread::sleep(Duration::from_secs(3));
    }
}

/// One sample of the server and the traffic.
#[derive(Debug, Clone)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: u64,
    p50_us: u32,
    p99_us: u32,
    steady: u64,
    churn: u64,
    guesses: u64,
    limited: u64,
    unexpected: u64,
    transport_errors: u64,
    slow_open: u64,
    slow_cut: u64,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// `tessera serve` in `dir`, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(args: &Args, dir: &std::path::Path, addr: SocketAddr) -> Result<Server> {
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut cmd = Command::new(&args.server);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TESSERA_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .arg("serve")
        .current_dir(dir)
        .env("TESSERA_SERVER__BIND", addr.to_string())
        .env("TESSERA_SERVER__TRUST_FORWARDED_FOR", "true")
        .env("TESSERA_TOKENS__ACCESS_TTL", "60s")
        .env("TESSERA_TOKENS__LEEWAY", "0s")
        .env("TESSERA_RATE_LIMIT__SIGNUP_PER_MINUTE", "100000")
        .env("TESSERA_RATE_LIMIT__LOGIN_SUCCESS_PER_MINUTE", "100000")
        .env("TESSERA_RATE_LIMIT__REFRESH_PER_MINUTE", "100000")
        .env("TESSERA_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", args.server.display()))?;
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = agent();
    loop {
        if let Ok(r) = probe.get(format!("http://{addr}/healthz")).call() {
            if r.status().is_success() {
                return Ok(server);
            }
        }
        if Instant::now() > deadline {
            bail!("tessera serve did not answer /healthz within 30 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    // The server runs in a scratch directory: a relative path must not depend on it.
    args.server = std::fs::canonicalize(&args.server)
        .with_context(|| format!("--server {}", args.server.display()))?;
    let dir = tempfile::tempdir()?;
    let addr = free_port()?;
    let server = start_server(&args, dir.path(), addr)?;
    let pid = server.0.id();
    let base = format!("http://{addr}");
    let shared = Arc::new(Shared::default());

    let mut threads = Vec::new();
    for n in 0..8 {
        let (s, b) = (Arc::clone(&shared), base.clone());
        threads.push(thread::spawn(move || steady(s, b, n)));
    }
    // The guesser's target must exist first.
    thread::sleep(Duration::from_secs(2));
    for job in [churn, guesser] {
        let (s, b) = (Arc::clone(&shared), base.clone());
        threads.push(thread::spawn(move || job(s, b)));
    }
    {
        let s = Arc::clone(&shared);
        threads.push(thread::spawn(move || slowloris(s, addr)));
    }

    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    while started.elapsed() < args.duration {
        thread::sleep(
            args.sample
                .min(args.duration.saturating_sub(started.elapsed())),
        );
        let mut lat = match shared.latencies.lock() {
            Ok(mut l) => std::mem::take(&mut *l),
            Err(_) => Vec::new(),
        };
        lat.sort_unstable();
        let unexpected = shared.steady.unexpected.load(Ordering::Relaxed)
            + shared.churn.unexpected.load(Ordering::Relaxed)
            + shared.guesser.unexpected.load(Ordering::Relaxed);
        let s = Sample {
            at: started.elapsed(),
            rss_kib: rss_kib(pid),
            fds: open_fds(pid),
            p50_us: quantile(&lat, 0.50),
            p99_us: quantile(&lat, 0.99),
            steady: shared.steady.requests.load(Ordering::Relaxed),
            churn: shared.churn.requests.load(Ordering::Relaxed),
            guesses: shared.guesser.requests.load(Ordering::Relaxed),
            limited: shared.guesser_limited.load(Ordering::Relaxed),
            unexpected,
            transport_errors: shared.transport_errors.load(Ordering::Relaxed),
            slow_open: shared.slow_open.load(Ordering::Relaxed),
            slow_cut: shared.slow_cut.load(Ordering::Relaxed),
        };
        eprintln!(
            "soak {:>5.0}s: rss {} KiB, fds {}, p99 {} µs, unexpected {}",
            s.at.as_secs_f64(),
            s.rss_kib,
            s.fds,
            s.p99_us,
            s.unexpected
        );
        samples.push(s);
    }
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let report = report(&args, &shared, &samples);
    print!("{report}");
    if let Some(out) = &args.out {
        std::fs::write(out, &report)?;
    }
    drop(server);
    Ok(())
}

fn report(args: &Args, shared: &Shared, samples: &[Sample]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# tessera-soak: {} of mixed traffic, a sample every {}\n",
        fmt(args.duration),
        fmt(args.sample)
    );
    let _ = writeln!(
        out,
        "| t | RSS MiB | fds | /v1/me p50 / p99 ms | steady | churn | guesses (429) | unexpected | no answer | slow open / cut |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in samples {
        let _ = writeln!(
            out,
            "| {:.0}s | {:.1} | {} | {:.2} / {:.2} | {} | {} | {} ({}) | {} | {} | {} / {} |",
            s.at.as_secs_f64(),
            s.rss_kib as f64 / 1024.0,
            s.fds,
            f64::from(s.p50_us) / 1000.0,
            f64::from(s.p99_us) / 1000.0,
            s.steady,
            s.churn,
            s.guesses,
            s.limited,
            s.unexpected,
            s.transport_errors,
            s.slow_open,
            s.slow_cut
        );
    }
    // The verdict, over the samples after the first minute (start-up and warm-up).
    let settled: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= Duration::from_secs(60))
        .collect();
    let _ = writeln!(out);
    if let (Some(first), Some(last)) = (settled.first(), settled.last()) {
        let rss_max = settled.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let fds_max = settled.iter().map(|s| s.fds).max().unwrap_or(0);
        let fds_min = settled.iter().map(|s| s.fds).min().unwrap_or(0);
        let half = settled.len() / 2;
        let p99_first: Vec<u32> = settled[..half.max(1)].iter().map(|s| s.p99_us).collect();
        let p99_second: Vec<u32> = settled[half..].iter().map(|s| s.p99_us).collect();
        let median = |v: &[u32]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        // A leak grows all along; caches (SQLite's page cache per connection, the
        // allocator's arenas) fill while the database grows and then stop. So the bar is on
        // the second half of the settled run, and the whole growth is printed beside it.
        let mid = settled[half];
        let rss_growth = last.rss_kib.saturating_sub(mid.rss_kib);
        let verdicts = [
            (
                "RSS flat (second half of the settled run grows ≤ 2 MiB)",
                rss_growth <= 2048,
                format!(
                    "{:.1} → {:.1} → {:.1} MiB (first, middle, last settled; max {:.1})",
                    first.rss_kib as f64 / 1024.0,
                    mid.rss_kib as f64 / 1024.0,
                    last.rss_kib as f64 / 1024.0,
                    rss_max as f64 / 1024.0
                ),
            ),
            (
                "descriptors bounded (max − min ≤ 150, the slow connections' budget and more)",
                fds_max - fds_min <= 150,
                format!("{fds_min} – {fds_max}"),
            ),
            (
                "p99 without a trend (second half's median ≤ 2 × first half's)",
                median(&p99_second) <= 2 * median(&p99_first).max(1),
                format!(
                    "{:.2} ms → {:.2} ms",
                    f64::from(median(&p99_first)) / 1000.0,
                    f64::from(median(&p99_second)) / 1000.0
                ),
            ),
            (
                "no unexpected answer (only 2xx, 401 and 429)",
                last.unexpected == 0,
                format!("{}", last.unexpected),
            ),
            (
                "every request answered (no refused or reset connection)",
                last.transport_errors == 0,
                format!("{}", last.transport_errors),
            ),
            (
                "the guesser was limited",
                last.limited > 0,
                format!("{} of {} guesses got 429", last.limited, last.guesses),
            ),
            (
                "slow connections were cut",
                last.slow_cut > 0,
                format!("{} cut", last.slow_cut),
            ),
        ];
        for (what, ok, detail) in verdicts {
            let _ = writeln!(
                out,
                "- {}: {what}: {detail}",
                if ok { "PASS" } else { "MISS" }
            );
        }
    } else {
        let _ = writeln!(
            out,
            "- too short for a verdict (needs samples after the first minute)"
        );
    }
    for counts in [&shared.steady, &shared.churn, &shared.guesser] {
        if let Ok(ex) = counts.examples.lock() {
            for e in ex.iter() {
                let _ = writeln!(out, "- unexpected: {e}");
            }
        }
    }
    out
}

fn fmt(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(60) && s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}
