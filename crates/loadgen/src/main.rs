//! `tessera-loadgen`: the load benchmark of `tessera serve`.
//!
//! ```text
//! scripts/load.sh                      # ES256 (the default algorithm), 10 s per phase
//! scripts/load.sh --alg HS256 --out target/load-hs256.md
//! # which is:
//! cargo build --release -p tessera -p tessera-loadgen
//! target/release/tessera-loadgen --server target/release/tessera [--alg ES256] \
//!     [--duration 10s] [--concurrency 64] [--sessions 64] [--out FILE.md] [--verify-ns N]
//! # the refresh rotation alone, on PostgreSQL, three replicas (see `refresh_run`):
//! target/release/tessera-loadgen --server target/release/tessera --phases refresh \
//!     --database-url postgres://postgres@127.0.0.1:5432/EMPTY_DB --replicas 3 [--summary F]
//! ```
//!
//! `scripts/pg-load.sh` runs the last form on SQLite and on PostgreSQL with one and three
//! replicas, next to `pgbench` running the same rotation statement, and compares them.
//!
//! It starts the server itself, as a child process in a fresh temporary directory (so
//! `tessera.db` and `tessera.master.key` land there) on a free 127.0.0.1 port, configured
//! only by `TESSERA_*` variables (bind, algorithm, rate limits lifted; `--server-env K=V`
//! adds more), and stops it at the end, also on error, panic or Ctrl-C. It sends traffic to
//! that loopback address only, and every phase is bounded in time (warm-up + `--duration`).
//!
//! Phases, in order, each reporting requests, req/s, p50/p99/max latency, non-2xx answers
//! by status and error code, the server's CPU time per request (utime+stime from
//! `/proc/PID/stat`) and the load generator's own CPU:
//!
//! 1. start-up: a first start that creates the key, stopped; then `--restarts` starts on
//!    the same directory, each timed from spawn to the first 200 of `/healthz` (polled
//!    every 2 ms);
//! 2. `GET /healthz` on `--concurrency` keep-alive connections (the baseline);
//! 3. setup: one user, `--sessions` logins with body delivery;
//! 4. `GET /v1/me` with the sessions' access tokens; then `/healthz` and `/v1/me` again,
//!    both paced at 80% of that rate: the difference of their CPU/request is the verify
//!    cost, compared with the jose bench's verify time (`--verify-ns`, or criterion's
//!    `target/criterion/verify/ALG/tessera/new/estimates.json` when present);
//! 5. `POST /v1/token/refresh`: one worker per session rotating its own token;
//! 6. `GET /v1/me` on `--probe-connections` connections alone, then again while
//!    `--concurrency`/8 (at least 2) workers log in over and over; the probes are paced
//!    (`--probe-rate` per connection, latency counted from when a request was due) so
//!    they measure how long hashing holds up an answer, not their own queueing;
//! 7. the server's peak RSS (`VmHWM`) and current RSS.
//!
//! The report (markdown, on stdout and in `--out`) ends with the issue's bars as PASS/MISS
//! lines; `--fail-on-miss` turns a MISS into exit status 1. `--summary FILE` writes the
//! refresh phase's figures as `key=value` lines for scripts.
//!
//! `--database-url` points the server at another database (`TESSERA_DATABASE__URL`); with
//! PostgreSQL the load generator also gives it a fresh `TESSERA_MASTER_KEY`, and when the
//! database runs on this machine it charges PostgreSQL's CPU to a database column: the
//! postmaster's children (`--db-pid`, or found in /proc) that serve this database or the
//! whole cluster, not the backends of other databases.
//!
//! The client is built to be cheap, since it shares the machine's cores with the server:
//! hyper 1 connections without a pool, one per worker, pre-built header values, latencies
//! kept as µs in a `Vec<u32>` per worker. It runs on a tokio runtime with two workers
//! (`--client-threads 2`, the default). Measured on the 2-vCPU machine: with one client
//! thread (current-thread runtime, `--client-threads 0`, or one worker, `1`) the client is
//! cheaper per request but the two processes wait on each other's wake-ups, a third of the
//! CPU stays idle and /healthz and HS256 /v1/me come out 20–25% lower and vary from run to
//! run; with two workers the machine saturates and the figures repeat. Heavy endpoints
//! (ES256 /v1/me, refresh) measure the same either way.

mod client;
mod database;
mod measure;
mod procfs;
mod refresh_run;
mod report;
mod server;
mod stats;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, ValueEnum};

use crate::database::{Backend, Database};
use crate::measure::{load, merged, CpuSnapshot, PgProcesses, Targets};
use crate::procfs::Pid;
use crate::report::{mib, ms, Report, Row};
use crate::server::{Launch, Server};
use crate::stats::Record;
use crate::workers::{Credentials, Session, Window};

/// Which phases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phases {
    /// Every phase, in the order of the crate docs.
    All,
    /// Start, setup and the refresh rotation only (`refresh_run`).
    Refresh,
}

/// Load benchmark of `tessera serve` (loopback only, bounded in time).
#[derive(Debug, Parser)]
#[command(name = "tessera-loadgen", version, about)]
struct Args {
    /// The `tessera` binary to start (e.g. target/release/tessera).
    #[arg(long)]
    server: PathBuf,
    /// Signing algorithm of the server's key (`TESSERA_TOKENS__ALGORITHM`).
    #[arg(long, default_value = "ES256")]
    alg: String,
    /// Measured length of each load phase (`500ms`, `10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before each load phase.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Keep-alive connections for /healthz and /v1/me.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    concurrency: u16,
    /// Sessions (logins), each with its own refresh worker in the refresh phase.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    sessions: u16,
    /// Connections measuring /v1/me latency in the login phase (and its baseline).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    probe_connections: u16,
    /// Pace of each probe connection, requests/s (0: as fast as answers come back). A paced
    /// probe leaves the server idle between requests, so what it measures is how long a
    /// request waits behind password hashing, not behind other probe requests.
    #[arg(long, default_value_t = 250)]
    probe_rate: u32,
    /// Timed restarts on the existing key (the start-up bar uses their median).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    restarts: u16,
    /// The jose bench's verify time for the algorithm, ns (criterion `verify/ALG/tessera`).
    #[arg(long)]
    verify_ns: Option<f64>,
    /// Also write the markdown report here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Extra `KEY=VALUE` environment for the server (repeatable).
    #[arg(long = "server-env", value_parser = parse_key_value)]
    server_env: Vec<(String, String)>,
    /// Tokio runtime of the load generator: 0 is a current-thread runtime (all the work on
    /// the main thread), N a multi-thread runtime with N workers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=64))]
    client_threads: u16,
    /// Exit 1 when a bar is missed.
    #[arg(long)]
    fail_on_miss: bool,
    /// `all` phases, or only the `refresh` rotation (start, logins, rotation: seconds).
    #[arg(long, value_enum, default_value_t = Phases::All)]
    phases: Phases,
    /// The servers' database (`TESSERA_DATABASE__URL`), e.g.
    /// `postgres://postgres@127.0.0.1:5432/DB` (give an empty database for comparable
    /// figures). Default: SQLite in the server's temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Servers sharing the database (`--phases refresh` on PostgreSQL). Session i logs in
    /// on replica i mod N, and its refresh worker always talks to that replica.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    replicas: u16,
    /// PostgreSQL's postmaster: the database's CPU is that of its children serving the
    /// database or the whole cluster. Default: found in /proc when the database is on this
    /// machine and one cluster runs.
    #[arg(long)]
    db_pid: Option<u32>,
    /// Also write the refresh figures here as `key=value` lines (for scripts).
    #[arg(long)]
    summary: Option<PathBuf>,
}

impl Args {
    fn runtime(&self) -> String {
        match self.client_threads {
            0 => "a current-thread tokio runtime".to_owned(),
            n => format!("a multi-thread tokio runtime with {n} workers"),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match args.client_threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(n))
            .enable_all()
            .build(),
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera-loadgen: tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = run(&args) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        }
    });
    // Worker tasks still parked on a dead server must not hold up the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(report) => {
            let md = report.markdown();
            print!("{md}");
            for (path, text) in [(&args.out, md), (&args.summary, report.summary_text())] {
                let Some(path) = path else { continue };
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("tessera-loadgen: writing {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            if args.fail_on_miss && report.any_miss() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("tessera-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> Result<Report> {
    let binary = std::fs::canonicalize(&args.server)
        .with_context(|| format!("--server {}", args.server.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("tessera-loadgen-")
        .tempdir()?;
    let db = Database::parse(args.database_url.as_deref())?;
    if args.replicas > 1 && (db.backend != Backend::Postgres || args.phases != Phases::Refresh) {
        bail!("--replicas above 1 needs --phases refresh and a postgres:// --database-url (the replicas share the database)");
    }
    let postmaster = match (db.backend, args.db_pid) {
        (Backend::Sqlite, _) => None,
        (Backend::Postgres, Some(pid)) => Some(pid),
        (Backend::Postgres, None) if db.local => procfs::find_postmaster(),
        (Backend::Postgres, None) => None,
    };
    let pg = postmaster.map(|postmaster| PgProcesses {
        postmaster,
        dbname: db.dbname.clone(),
    });
    // Ours first: `--server-env` may override them.
    let mut extra_env = db.server_env()?;
    extra_env.extend(args.server_env.iter().cloned());
    let launch = Launch {
        binary,
        dir: dir.path().to_owned(),
        alg: args.alg.clone(),
        extra_env,
    };
    if args.phases == Phases::Refresh {
        return refresh_run::run(args, &db, pg, &launch).await;
    }
    let mut report = Report::default();
    let conc = usize::from(args.concurrency);
    let sessions_n = usize::from(args.sessions);
    let probes = usize::from(args.probe_connections);
    let win = || Window::starting_now(args.warmup, args.duration);

    report.header.push(format!(
        "algorithm {}, {} measured per phase after {} warm-up, concurrency {conc}, {sessions_n} sessions, load generator on {}",
        args.alg,
        fmt_duration(args.duration),
        fmt_duration(args.warmup),
        args.runtime()
    ));
    if args.database_url.is_some() {
        report.header.push(format!("database: {}", db.describe()));
    }
    report.header.push(format!(
        "server {}; its directory {} ({})",
        launch.binary.display(),
        launch.dir.display(),
        procfs::fs_type(&launch.dir).unwrap_or_else(|| "file system unknown".to_owned())
    ));
    report.header.push(format!(
        "{} CPUs shared by server and load generator; CLK_TCK {} (CPU time resolution {:.0} ms)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        procfs::clock_ticks_per_second(),
        1000.0 / procfs::clock_ticks_per_second() as f64
    ));

    // 1. Start-up: the first start creates the key; later starts find it.
    let mut first = launch.spawn(0)?;
    let first_start = first.wait_ready(Duration::from_secs(30)).await?;
    first.stop()?;
    drop(first);
    let mut restarts = Vec::new();
    let mut server: Option<Server> = None;
    for i in 1..=usize::from(args.restarts) {
        if let Some(mut s) = server.take() {
            s.stop()?;
        }
        let mut s = launch.spawn(i)?;
        restarts.push(s.wait_ready(Duration::from_secs(10)).await?);
        server = Some(s);
    }
    let server = server.ok_or_else(|| anyhow!("no server running"))?;
    let (addr, pid) = (server.addr, server.pid);
    let targets = Targets {
        servers: vec![pid],
        db: pg,
    };
    let mut sorted = restarts.clone();
    sorted.sort();
    let start_median = sorted[sorted.len() / 2];
    report.notes.push(format!(
        "start-up: first start (creates the key) {:.1} ms; with the key already created {} ms (median {:.1} ms)",
        first_start.as_secs_f64() * 1e3,
        restarts
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(" / "),
        start_median.as_secs_f64() * 1e3
    ));

    // 2. /healthz baseline.
    let w = win();
    let none = Arc::new(Vec::new());
    let (recs, usage) = load(
        &targets,
        w,
        (0..conc)
            .map(|i| workers::get_loop(addr, "/healthz", none.clone(), i, None, w))
            .collect(),
    )
    .await?;
    let healthz = Row::new("GET /healthz", conc, &merged(recs), &usage);
    report.rows.push(healthz.clone());

    // 3. Setup: one user, one login per session, over 2 connections.
    let creds = Arc::new(Credentials {
        username: "loadgen".to_owned(),
        password: "loadgen-password-0123456789".to_owned(),
    });
    workers::create_user(addr, &creds).await?;
    let setup_conns = sessions_n.min(2);
    let before = CpuSnapshot::take(&targets)?;
    let mut handles = Vec::new();
    for i in 0..setup_conns {
        let count = sessions_n / setup_conns + usize::from(i < sessions_n % setup_conns);
        handles.push(tokio::spawn(workers::login_sessions(
            addr,
            creds.clone(),
            count,
        )));
    }
    let mut sessions: Vec<Session> = Vec::new();
    let mut setup_rec = Record::default();
    for h in handles {
        let (s, r) = h.await.context("login task panicked")??;
        sessions.extend(s);
        setup_rec.merge(r);
    }
    let setup_usage = before.usage_until_now(&targets)?;
    report.rows.push(Row::new(
        "setup: POST /v1/login, sequential per conn",
        setup_conns,
        &setup_rec,
        &setup_usage,
    ));

    // 4. /v1/me with valid tokens.
    let w = win();
    let tokens = workers::bearers(&sessions)?;
    let (recs, usage) = load(
        &targets,
        w,
        (0..conc)
            .map(|i| workers::get_loop(addr, "/v1/me", tokens.clone(), i, None, w))
            .collect(),
    )
    .await?;
    let me = Row::new("GET /v1/me", conc, &merged(recs), &usage);
    report.rows.push(me.clone());

    // 4b. CPU per request depends on how many requests each wake-up of the server finds
    // (batching), which differs between two saturated phases of different speed. So the
    // verify cost is measured on /healthz and /v1/me both paced at the same rate, 80% of
    // /v1/me's saturated rate, spread over the same connections.
    let per_conn = ((0.8 * me.per_sec / conc as f64).round() as u32).max(1);
    let rate = per_conn as usize * conc;
    let mut matched = Vec::new();
    for (path, bearers) in [("/healthz", none.clone()), ("/v1/me", tokens.clone())] {
        let w = win();
        let (recs, usage) = load(
            &targets,
            w,
            (0..conc)
                .map(|i| workers::get_loop(addr, path, bearers.clone(), i, Some(per_conn), w))
                .collect(),
        )
        .await?;
        let row = Row::new(
            format!("GET {path} paced at {rate}/s"),
            conc,
            &merged(recs),
            &usage,
        );
        report.rows.push(row.clone());
        matched.push(row);
    }
    let (healthz_paced, me_paced) = (matched[0].clone(), matched[1].clone());

    // 5. Refresh rotation, one worker per session.
    let w = win();
    let (outcomes, usage) = load(
        &targets,
        w,
        sessions
            .into_iter()
            .map(|s| workers::refresh_loop(addr, s, creds.clone(), w))
            .collect(),
    )
    .await?;
    let relogins: u64 = outcomes.iter().map(|o| o.relogins).sum();
    let locked: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.locked_bodies.iter().cloned())
        .collect();
    let sessions: Vec<Session> = outcomes.iter().map(|o| o.session.clone()).collect();
    let refresh = Row::new(
        "POST /v1/token/refresh, 1 worker per session",
        sessions_n,
        &merged(outcomes.into_iter().map(|o| o.record)),
        &usage,
    );
    report.rows.push(refresh.clone());
    report.summarize("refresh_", &refresh);
    if relogins > 0 {
        report.notes.push(format!(
            "refresh: {relogins} sessions died with a 401 and had to log in again"
        ));
    }
    for body in &locked {
        report
            .notes
            .push(format!("refresh answer mentioning \"locked\": {body}"));
    }

    // 6. /v1/me at low concurrency, alone and while logins run.
    let tokens = workers::bearers(&sessions)?;
    let probe_rate = args.probe_rate;
    let pace = (probe_rate != 0).then_some(probe_rate);
    let probe = |i: usize, w: Window| workers::get_loop(addr, "/v1/me", tokens.clone(), i, pace, w);
    let probe_kind = if probe_rate == 0 {
        "closed loop".to_owned()
    } else {
        format!("{probe_rate}/s each")
    };
    let probe_kind = format!("{probes} probes {probe_kind}");
    let w = win();
    let (recs, usage) = load(&targets, w, (0..probes).map(|i| probe(i, w)).collect()).await?;
    let me_low = Row::new(
        format!("GET /v1/me, {probe_kind}, no logins"),
        probes,
        &merged(recs),
        &usage,
    );
    report.rows.push(me_low.clone());

    let login_workers = (conc / 8).max(2);
    let w = win();
    let probe_handles: Vec<_> = (0..probes).map(|i| tokio::spawn(probe(i, w))).collect();
    let (login_recs, usage) = load(
        &targets,
        w,
        (0..login_workers)
            .map(|_| workers::login_loop(addr, creds.clone(), w))
            .collect(),
    )
    .await?;
    let mut probe_rec = Record::default();
    for h in probe_handles {
        probe_rec.merge(h.await.context("probe panicked")??);
    }
    let logins = Row::new(
        "POST /v1/login, same user",
        login_workers,
        &merged(login_recs),
        &usage,
    );
    // CPU columns of the probe row are the whole phase's (logins included).
    let me_during = Row::new(
        format!("GET /v1/me, {probe_kind}, during logins"),
        probes,
        &probe_rec,
        &usage,
    );
    report.rows.push(logins.clone());
    report.rows.push(me_during.clone());
    report.notes.push(
        "the CPU columns of the login rows and of the paced /v1/me rows are the whole phase's, probes and logins together".to_owned(),
    );

    // 7. Memory.
    let mem = procfs::memory_kib(Pid::Other(pid))?;
    report.notes.push(format!(
        "server memory at the end: peak RSS (VmHWM) {:.1} MiB, current RSS (VmRSS) {:.1} MiB, {} threads",
        mib(mem.hwm_kib),
        mib(mem.rss_kib),
        mem.threads
    ));
    let stop = {
        let mut server = server;
        server.stop()?
    };
    report.notes.push(format!("server {stop}"));

    // The figures the bars need.
    let verify_cost_us = me_paced.cpu_us_per_req - healthz_paced.cpu_us_per_req;
    let verify_ref = match args.verify_ns {
        Some(ns) => Some((ns, "--verify-ns".to_owned())),
        None => criterion_verify_ns(&args.alg),
    };
    report.notes.push(format!(
        "verify cost, at the same paced rate: /v1/me CPU/req − /healthz CPU/req = {:.1} − {:.1} = {verify_cost_us:.1} µs (saturated phases: {:.1} − {:.1} = {:.1} µs){}",
        me_paced.cpu_us_per_req,
        healthz_paced.cpu_us_per_req,
        me.cpu_us_per_req,
        healthz.cpu_us_per_req,
        me.cpu_us_per_req - healthz.cpu_us_per_req,
        match &verify_ref {
            Some((ns, src)) => format!(
                "; jose verify {:.1} µs ({src}), ratio {:.2}",
                ns / 1e3,
                verify_cost_us * 1e3 / ns
            ),
            None =>
                "; no jose verify figure (pass --verify-ns or run `cargo bench -p tessera-jose`)"
                    .to_owned(),
        }
    ));
    let delay_ms = ms(me_during.lat.p99) - ms(me_low.lat.p99);
    report.notes.push(format!(
        "logins: {:.1}/s; /v1/me p99 {:.2} ms during logins vs {:.2} ms without ({delay_ms:+.2} ms)",
        logins.per_sec,
        ms(me_during.lat.p99),
        ms(me_low.lat.p99)
    ));
    let busiest = report
        .rows
        .iter()
        .map(|r| r.own_cpu_pct)
        .fold(0.0, f64::max);
    report.notes.push(format!(
        "load generator: at most {busiest:.0}% of one core in any phase; {}",
        match args.client_threads {
            0 => "all its work runs on one thread, so near 100% it would be the bottleneck"
                .to_owned(),
            n => format!(
                "it has {n} worker threads, so near {}% it would be the bottleneck",
                100 * n
            ),
        }
    ));

    report.bar(
        "refresh ≥ 2000 rotations/s, p99 < 50 ms, zero errors, no \"database is locked\"",
        format!(
            "{:.0}/s, p99 {:.2} ms, errors {}, locked {}",
            refresh.per_sec,
            ms(refresh.lat.p99),
            refresh.failures,
            locked.len()
        ),
        refresh.per_sec >= 2000.0
            && refresh.lat.p99 < 50_000
            && refresh.clean
            && relogins == 0
            && locked.is_empty(),
        &[&refresh],
    );
    report.bar(
        "logins delay /v1/me p99 by ≤ 10 ms",
        format!(
            "{delay_ms:+.2} ms ({:.2} → {:.2} ms), {:.1} logins/s",
            ms(me_low.lat.p99),
            ms(me_during.lat.p99),
            logins.per_sec
        ),
        delay_ms <= 10.0 && logins.clean && me_during.clean,
        &[&me_low, &me_during],
    );
    report.bar(
        "peak RSS under load < 64 MiB",
        format!("VmHWM {:.1} MiB", mib(mem.hwm_kib)),
        mem.hwm_kib < 64 * 1024,
        &[],
    );
    report.bar(
        "start to first answered request < 300 ms (key already created)",
        format!(
            "median {:.1} ms of {}",
            start_median.as_secs_f64() * 1e3,
            restarts.len()
        ),
        start_median < Duration::from_millis(300),
        &[],
    );
    if args.alg.eq_ignore_ascii_case("HS256") {
        report.bar(
            "HS256: /v1/me req/s ≥ 0.85 × /healthz req/s",
            format!(
                "{:.0} / {:.0} = {:.2}",
                me.per_sec,
                healthz.per_sec,
                me.per_sec / healthz.per_sec.max(1e-9)
            ),
            me.per_sec >= 0.85 * healthz.per_sec && me.clean && healthz.clean,
            &[&healthz, &me],
        );
    }
    if let Some((ns, src)) = verify_ref {
        report.bar(
            format!(
                "/v1/me CPU/req − /healthz CPU/req ≤ 1.2 × jose verify ({})",
                args.alg
            ),
            format!(
                "{verify_cost_us:.1} µs vs 1.2 × {:.1} µs = {:.1} µs ({src})",
                ns / 1e3,
                1.2 * ns / 1e3
            ),
            verify_cost_us * 1e3 <= 1.2 * ns,
            &[&healthz_paced, &me_paced],
        );
    }
    let noisy: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| r.others_cpu_pct > report::DISTURBED_PCT)
        .map(|r| r.name.as_str())
        .collect();
    if !noisy.is_empty() {
        report.notes.push(format!(
            "WARNING: other processes used more than {:.0}% of a core during {}: those figures are disturbed, run again on a quiet machine",
            report::DISTURBED_PCT,
            noisy.join(", ")
        ));
    }
    if !healthz.clean || !me.clean || !me_low.clean {
        report.notes.push(
            "some /healthz or /v1/me answers were not 2xx: see the failures column".to_owned(),
        );
    }
    Ok(report)
}

/// criterion's median for `verify/ALG/tessera` (as scripts/bench-table.py reads it), when `cargo bench -p tessera-jose` ran here.
fn criterion_verify_ns(alg: &str) -> Option<(f64, String)> {
    let path = format!("target/criterion/verify/{alg}/tessera/new/estimates.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let ns = v.get("median")?.get("point_estimate")?.as_f64()?;
    Some((ns, path))
}

/// `250ms`, `10s`, `2m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .with_context(|| format!("`{s}`: expected a number and a unit (ms, s, m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        other => bail!("`{s}`: unknown unit `{other}` (ms, s, m)"),
    };
    if d > Duration::from_secs(600) {
        bail!("`{s}`: at most 10 minutes");
    }
    Ok(d)
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn parse_key_value(s: &str) -> Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("`{s}`: expected KEY=VALUE"))?;
    Ok((k.to_owned(), v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").ok(), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_duration("250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3").ok(), Some(Duration::from_secs(3)));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("11m").is_err());
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(fmt_duration(Duration::from_secs(10)), "10s");
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("TESSERA_DATABASE__URL=sqlite://x.db?mode=rwc").ok(),
            Some((
                "TESSERA_DATABASE__URL".to_owned(),
                "sqlite://x.db?mode=rwc".to_owned()
            ))
        );
        assert!(parse_key_value("nope").is_err());
    }

    #[test]
    fn cli_parses() {
        let a = Args::try_parse_from([
            "tessera-loadgen",
            "--server",
            "x",
            "--alg",
            "HS256",
            "--duration",
            "2s",
            "--client-threads",
            "2",
        ]);
        let a = a.expect("parses");
        assert_eq!(a.duration, Duration::from_secs(2));
        assert_eq!(a.client_threads, 2);
        assert_eq!((a.concurrency, a.sessions), (64, 64));
    }
}
