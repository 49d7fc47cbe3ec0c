//! `--phases refresh`: the refresh rotation alone, on one or more replicas sharing the
//! database — start, one user, `--sessions` logins, the refresh phase, memory — so a run
//! against PostgreSQL takes seconds and can start from an empty database each time.
//!
//! Replicas (`--replicas N`) run in the one temporary directory, each on its own free
//! loopback port with its own log files, sharing the database URL and the generated
//! `TESSERA_MASTER_KEY`. The first starts alone, since it creates the signing key in the
//! empty database; the others start once it answers. Session `i` logs in on replica
//! `i mod N` and its refresh worker always talks to that replica: round-robin by session,
//! as behind a load balancer with sticky connections. That keeps the load even and each
//! worker on one keep-alive connection; which replica rotates a token does not matter to
//! the rotation, whose state is all in the database.
//!
//! With PostgreSQL, where the time goes, for the comparison with `pgbench` running the same
//! statement (`scripts/pgbench/rotate.sql`):
//!
//! - per rotation, over the whole refresh phase (warm-up and stragglers included, divided
//!   by every rotation answered 200): transactions, WAL records, flushes and bytes, from
//!   PostgreSQL's counters read before and after with the load stopped; and, when the
//!   database is on this machine, the writes of the servers' connections to it (`ss`),
//!   each a round trip;
//! - PostgreSQL's CPU per request in the measured window (its processes serving this
//!   database or the whole cluster; a column of the table, next to the servers' CPU summed
//!   over the replicas);
//! - what the servers' connections were doing in the measured window, sampled from
//!   `pg_stat_activity` every 50 ms: how many were open, running, waiting on what, idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::database::{Activity, Backend, Counters, Database, Segments};
use crate::measure::{load, merged, CpuSnapshot, PgProcesses, Targets};
use crate::procfs::{self, Pid};
use crate::report::{self, mib, ms, Report, Row};
use crate::server::{Launch, Server};
use crate::stats::Record;
use crate::workers::{self, Credentials, Session, Window};
use crate::{fmt_duration, Args};

/// How long to let PostgreSQL's backends publish their statistics. A busy backend
/// publishes at most once a second, and one that goes idle within a second of its last
/// report may wait 10 s (PostgreSQL 15's `PGSTAT_IDLE_INTERVAL`); one that exits publishes
/// at once. So the reading before the phase waits a little after the logins, whose few
/// statements may still land in the phase's count (under 1% of it), and the reading
/// after the phase is taken once the servers have stopped and their connections closed.
const STATS_SETTLE: Duration = Duration::from_millis(1300);

/// Time for the backends of the stopped servers' connections to exit.
const BACKENDS_EXIT: Duration = Duration::from_millis(500);

/// How often `pg_stat_activity` is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The database-side figures of the refresh phase that could be read.
#[derive(Debug, Default)]
struct DbSide {
    counters: Option<Counters>,
    /// Client→server and server→client data segments of the servers' connections.
    segments: Option<(u64, u64)>,
    activity: Option<Activity>,
    problems: Vec<String>,
}

pub async fn run(
    args: &Args,
    db: &Database,
    pg_procs: Option<PgProcesses>,
    launch: &Launch,
) -> Result<Report> {
    let n = usize::from(args.replicas);
    let sessions_n = usize::from(args.sessions);
    let pg = db.backend == Backend::Postgres;
    let mut report = Report::default();
    report.header.push(format!(
        "refresh rotation only: algorithm {}, {} measured after {} warm-up, {sessions_n} sessions over {n} replica{} (session i on replica i mod {n}), load generator on {}",
        args.alg,
        fmt_duration(args.duration),
        fmt_duration(args.warmup),
        if n == 1 { "" } else { "s" },
        args.runtime()
    ));
    report.header.push(format!(
        "database: {}; database CPU: {}",
        db.describe(),
        match &pg_procs {
            Some(p) => format!(
                "PostgreSQL's processes serving {} or the whole cluster (children of postmaster {})",
                p.dbname, p.postmaster
            ),
            None if pg =>
                "not measured (not on this machine, or no single postmaster found: --db-pid)"
                    .to_owned(),
            None => "inside the server (SQLite)".to_owned(),
        }
    ));
    report.header.push(format!(
        "server {}; directory {} ({})",
        launch.binary.display(),
        launch.dir.display(),
        procfs::fs_type(&launch.dir).unwrap_or_else(|| "file system unknown".to_owned())
    ));
    report.header.push(format!(
        "{} CPUs shared by servers, database and load generator",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    ));

    // Start: the first alone (it creates the signing key), then the others.
    let mut servers: Vec<Server> = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = launch.spawn(i)?;
        starts.push(s.wait_ready(Duration::from_secs(30)).await?);
        servers.push(s);
    }
    report.notes.push(format!(
        "start-up to the first /healthz 200: {} ms",
        starts
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(" / ")
    ));
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let targets = Targets {
        servers: servers.iter().map(|s| s.pid).collect(),
        db: pg_procs,
    };

    // Setup: one user; session i logs in on replica i mod n, two connections per replica.
    let creds = Arc::new(Credentials {
        username: "loadgen".to_owned(),
        password: "loadgen-password-0123456789".to_owned(),
    });
    workers::create_user(addrs[0], &creds).await?;
    let before = CpuSnapshot::take(&targets)?;
    let mut handles = Vec::new();
    for (r, &addr) in addrs.iter().enumerate() {
        let count = sessions_n / n + usize::from(r < sessions_n % n);
        let conns = count.min(2);
        for c in 0..conns {
            let k = count / conns + usize::from(c < count % conns);
            handles.push((
                addr,
                tokio::spawn(workers::login_sessions(addr, creds.clone(), k)),
            ));
        }
    }
    let setup_conns = handles.len();
    let mut sessions: Vec<(SocketAddr, Session)> = Vec::with_capacity(sessions_n);
    let mut setup_rec = Record::default();
    for (addr, h) in handles {
        let (s, r) = h.await.context("login task panicked")??;
        sessions.extend(s.into_iter().map(|s| (addr, s)));
        setup_rec.merge(r);
    }
    let setup_usage = before.usage_until_now(&targets)?;
    report.rows.push(Row::new(
        "setup: POST /v1/login, sequential per conn",
        setup_conns,
        &setup_rec,
        &setup_usage,
    ));

    // The refresh phase, with the database's counters around it.
    let mut side = DbSide::default();
    let mut counters_before = None;
    let mut segments_before = None;
    if pg {
        tokio::time::sleep(STATS_SETTLE).await;
        counters_before = note_err(db.counters(), "PostgreSQL counters", &mut side);
        if db.local {
            segments_before = note_err(db.segments(&targets.servers), "socket counters", &mut side);
        }
    }
    let w = Window::starting_now(args.warmup, args.duration);
    let sampler = if pg {
        note_err(
            db.sample_activity(&launch.dir, args.warmup, args.duration, SAMPLE_EVERY),
            "pg_stat_activity sampler",
            &mut side,
        )
    } else {
        None
    };
    let (outcomes, usage) = load(
        &targets,
        w,
        sessions
            .into_iter()
            .map(|(addr, s)| workers::refresh_loop(addr, s, creds.clone(), w))
            .collect(),
    )
    .await?;
    if let Some(s) = sampler {
        side.activity = note_err(s.finish(), "pg_stat_activity sampler", &mut side);
    }
    if let Some(b) = segments_before {
        let after: Option<Segments> =
            note_err(db.segments(&targets.servers), "socket counters", &mut side);
        side.segments = after.map(|a| a.since(&b));
    }

    let rotations: u64 = outcomes.iter().map(|o| o.rotations).sum();
    let relogins: u64 = outcomes.iter().map(|o| o.relogins).sum();
    let locked: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.locked_bodies.iter().cloned())
        .collect();
    let refresh = Row::new(
        format!(
            "POST /v1/token/refresh, 1 worker per session, {n} replica{}",
            if n == 1 { "" } else { "s" }
        ),
        sessions_n,
        &merged(outcomes.into_iter().map(|o| o.record)),
        &usage,
    );
    report.rows.push(refresh.clone());
    report.summary.extend([
        (
            "backend".to_owned(),
            if pg { "postgres" } else { "sqlite" }.to_owned(),
        ),
        ("replicas".to_owned(), n.to_string()),
        ("sessions".to_owned(), sessions_n.to_string()),
        ("refresh_relogins".to_owned(), relogins.to_string()),
        ("refresh_rotations_all".to_owned(), rotations.to_string()),
    ]);
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
    // Memory, and stop: the servers' connections close, so their backends publish their
    // statistics and the counters are complete.
    for (i, s) in servers.iter_mut().enumerate() {
        let mem = procfs::memory_kib(Pid::Other(s.pid))?;
        let stop = s.stop()?;
        report.notes.push(format!(
            "replica {i}: peak RSS {:.1} MiB, {} threads; {stop}",
            mib(mem.hwm_kib),
            mem.threads
        ));
    }
    if let Some(b) = counters_before {
        tokio::time::sleep(BACKENDS_EXIT).await;
        side.counters =
            note_err(db.counters(), "PostgreSQL counters", &mut side).map(|a| a.since(&b));
    }

    let cpu_sum =
        refresh.cpu_us_per_req + refresh.db_cpu.map_or(0.0, |(us, _)| us) + refresh.own_us_per_req;
    report.notes.push(format!(
        "CPU per rotation in the measured window: servers {:.0} µs{} + load generator {:.0} µs = {cpu_sum:.0} µs, i.e. at most {:.0} rotations/s if {} cores did nothing else",
        refresh.cpu_us_per_req,
        refresh
            .db_cpu
            .map(|(us, _)| format!(" + PostgreSQL {us:.0} µs"))
            .unwrap_or_default(),
        refresh.own_us_per_req,
        std::thread::available_parallelism().map_or(1, |n| n.get()) as f64 * 1e6
            / cpu_sum.max(1e-9),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ));
    db_notes(&mut report, &side, rotations);

    report.bar(
        "refresh: every rotation answered 200, no session lost, no \"database is locked\"",
        format!(
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, errors {}, re-logins {relogins}, locked {}",
            refresh.per_sec,
            ms(refresh.lat.p50),
            ms(refresh.lat.p99),
            refresh.failures,
            locked.len()
        ),
        refresh.clean && relogins == 0 && locked.is_empty(),
        &[&refresh],
    );
    if refresh.others_cpu_pct > report::DISTURBED_PCT {
        report.notes.push(format!(
            "WARNING: other processes used {:.0}% of a core during the refresh phase: the figures are disturbed, run again on a quiet machine",
            refresh.others_cpu_pct
        ));
    }
    Ok(report)
}

/// `Some(value)`, or `None` with the error kept for the report.
fn note_err<T>(r: Result<T>, what: &str, side: &mut DbSide) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            side.problems.push(format!("{what}: {e:#}"));
            None
        }
    }
}

fn db_notes(report: &mut Report, side: &DbSide, rotations: u64) {
    let per = |x: u64| x as f64 / rotations.max(1) as f64;
    if let Some(c) = side.counters {
        report.notes.push(format!(
            "PostgreSQL per rotation, over the whole refresh phase ({rotations} rotations answered 200, warm-up included): {:.2} transactions (a statement outside BEGIN/COMMIT is one), {:.1} WAL records, {:.0} WAL bytes, {:.3} WAL writes, {:.3} WAL flushes (cluster-wide counters)",
            per(c.xacts),
            per(c.wal_records),
            per(c.wal_bytes),
            per(c.wal_writes),
            per(c.wal_syncs),
        ));
        report.summary.extend([
            (
                "db_xacts_per_rotation".to_owned(),
                format!("{:.3}", per(c.xacts)),
            ),
            (
                "db_wal_syncs_per_rotation".to_owned(),
                format!("{:.3}", per(c.wal_syncs)),
            ),
            (
                "db_wal_bytes_per_rotation".to_owned(),
                format!("{:.0}", per(c.wal_bytes)),
            ),
        ]);
    }
    if let Some((out, inn)) = side.segments {
        report.notes.push(format!(
            "round trips per rotation: the servers' connections wrote {:.2} times to PostgreSQL and read {:.2} answers (TCP data segments, `ss`); a rotation is one statement, and sqlx adds a ping (an empty Sync) when it takes a connection from the pool and another when it gives it back",
            per(out),
            per(inn)
        ));
        report.summary.push((
            "db_round_trips_per_rotation".to_owned(),
            format!("{:.3}", per(out)),
        ));
    }
    if let Some(a) = &side.activity {
        report.notes.push(format!(
            "the servers' PostgreSQL connections, mean of {} samples every {} ms of the measured window: {} (state, then wait event; `CPU`: running or runnable; the pool holds at most database.max_connections, default 16, per replica)",
            a.samples,
            a.every.as_millis(),
            a.describe()
        ));
        let open: u64 = a.counts.values().sum();
        report.summary.extend([
            ("db_active_conns".to_owned(), format!("{:.2}", a.active())),
            (
                "db_open_conns".to_owned(),
                format!("{:.2}", open as f64 / a.samples.max(1) as f64),
            ),
        ]);
    }
    for p in &side.problems {
        report.notes.push(format!("not measured: {p}"));
    }
}
