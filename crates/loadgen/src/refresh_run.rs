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
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::args::{fmt_duration, Args};
use crate::bench::Bench;
use crate::database::{Activity, ActivitySampler, Backend, Counters, Database, Segments};
use crate::measure::Targets;
use crate::procfs::{self, Pid};
use crate::report::{self, mib, ms, Report, Row};
use crate::rotation::{self, Rotation};
use crate::server::Server;
use crate::sessions::{self, Credentials};
use crate::startup;

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

/// Reads the database side around the refresh phase (PostgreSQL only; with SQLite every
/// step does nothing).
#[derive(Debug, Default)]
struct DbWatch {
    counters_before: Option<Counters>,
    segments_before: Option<Segments>,
    sampler: Option<ActivitySampler>,
    side: DbSide,
}

impl DbWatch {
    /// Before the phase: PostgreSQL's counters, once the logins' statistics have landed,
    /// and the servers' socket counters.
    async fn before(db: &Database, targets: &Targets) -> DbWatch {
        let mut watch = DbWatch::default();
        if db.backend != Backend::Postgres {
            return watch;
        }
        let side = &mut watch.side;
        tokio::time::sleep(STATS_SETTLE).await;
        watch.counters_before = note_err(db.counters(), "PostgreSQL counters", side);
        if db.local {
            watch.segments_before =
                note_err(db.segments(&targets.servers), "socket counters", side);
        }
        watch
    }

    /// Samples `pg_stat_activity` over the measured part of the phase starting now.
    fn sample(&mut self, db: &Database, dir: &Path, args: &Args) {
        if db.backend == Backend::Postgres {
            self.sampler = note_err(
                db.sample_activity(dir, args.warmup, args.duration, SAMPLE_EVERY),
                "pg_stat_activity sampler",
                &mut self.side,
            );
        }
    }

    /// Right after the phase, the servers still running: what the sampler saw, and the
    /// socket counters.
    fn after_phase(&mut self, db: &Database, targets: &Targets) {
        if let Some(s) = self.sampler.take() {
            self.side.activity = note_err(s.finish(), "pg_stat_activity sampler", &mut self.side);
        }
        if let Some(b) = &self.segments_before {
            let after: Option<Segments> = note_err(
                db.segments(&targets.servers),
                "socket counters",
                &mut self.side,
            );
            self.side.segments = after.map(|a| a.since(b));
        }
    }

    /// Once the servers have stopped, so their backends published everything: the
    /// counters.
    async fn after_stop(mut self, db: &Database) -> DbSide {
        if let Some(b) = self.counters_before {
            tokio::time::sleep(BACKENDS_EXIT).await;
            self.side.counters =
                note_err(db.counters(), "PostgreSQL counters", &mut self.side).map(|a| a.since(&b));
        }
        self.side
    }
}

pub async fn run(bench: &Bench<'_>) -> Result<Report> {
    let args = bench.args;
    let n = usize::from(args.replicas);
    let mut report = Report {
        header: header(bench),
        ..Report::default()
    };

    // Start: the first alone (it creates the signing key), then the others.
    let (mut servers, starts) = startup::replicas(&bench.launch, n).await?;
    report.notes.push(format!(
        "start-up to the first /healthz 200: {} ms",
        startup::ms_list(&starts)
    ));
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let targets = Targets {
        servers: servers.iter().map(|s| s.pid).collect(),
        db: bench.pg.clone(),
    };

    // Setup: one user; the sessions spread over the replicas, two connections per replica.
    let creds = Arc::new(Credentials::loadgen());
    let (sessions, setup) =
        sessions::setup(&addrs, &creds, usize::from(args.sessions), &targets).await?;
    report.rows.push(setup);

    // The refresh phase, with the database's counters around it.
    let mut watch = DbWatch::before(&bench.db, &targets).await;
    let w = bench.window();
    watch.sample(&bench.db, &bench.launch.dir, args);
    let refresh = rotation::rotate(
        &targets,
        w,
        sessions,
        &creds,
        format!(
            "POST /v1/token/refresh, 1 worker per session, {n} replica{}",
            plural(n)
        ),
    )
    .await?;
    watch.after_phase(&bench.db, &targets);
    report.rows.push(refresh.row.clone());
    report.summary.extend([
        (
            "backend".to_owned(),
            match bench.db.backend {
                Backend::Postgres => "postgres",
                Backend::Sqlite => "sqlite",
            }
            .to_owned(),
        ),
        ("replicas".to_owned(), n.to_string()),
        ("sessions".to_owned(), args.sessions.to_string()),
        ("refresh_relogins".to_owned(), refresh.relogins.to_string()),
        (
            "refresh_rotations_all".to_owned(),
            refresh.rotations.to_string(),
        ),
    ]);
    report.summarize("refresh_", &refresh.row);
    refresh.notes(&mut report);
    // Memory, and stop: the servers' connections close, so their backends publish their
    // statistics and the counters are complete.
    memory_and_stop(&mut servers, &mut report)?;
    let side = watch.after_stop(&bench.db).await;

    report.notes.push(cpu_note(&refresh.row));
    db_notes(&mut report, &side, refresh.rotations);
    conclude(&mut report, &refresh);
    Ok(report)
}

fn header(bench: &Bench<'_>) -> Vec<String> {
    let args = bench.args;
    let n = args.replicas;
    vec![
        format!(
            "refresh rotation only: algorithm {}, {} measured after {} warm-up, {} sessions over {n} replica{} (session i on replica i mod {n}), load generator on {}",
            args.alg(),
            fmt_duration(args.duration),
            fmt_duration(args.warmup),
            args.sessions,
            plural(usize::from(n)),
            args.runtime()
        ),
        format!(
            "database: {}; database CPU: {}",
            bench.db.describe(),
            match &bench.pg {
                Some(p) => format!(
                    "PostgreSQL's processes serving {} or the whole cluster (children of postmaster {})",
                    p.dbname, p.postmaster
                ),
                None if bench.db.backend == Backend::Postgres =>
                    "not measured (not on this machine, or no single postmaster found: --db-pid)"
                        .to_owned(),
                None => "inside the server (SQLite)".to_owned(),
            }
        ),
        format!(
            "server {}; directory {} ({})",
            bench.launch.binary.display(),
            bench.launch.dir.display(),
            bench.fs_type()
        ),
        format!(
            "{} CPUs shared by servers, database and load generator",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        ),
    ]
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Each replica's peak RSS, then it stops.
fn memory_and_stop(servers: &mut [Server], report: &mut Report) -> Result<()> {
    for (i, s) in servers.iter_mut().enumerate() {
        let mem = procfs::memory_kib(Pid::Other(s.pid))?;
        let stop = s.stop()?;
        report.notes.push(format!(
            "replica {i}: peak RSS {:.1} MiB, {} threads; {stop}",
            mib(mem.hwm_kib),
            mem.threads
        ));
    }
    Ok(())
}

/// Where a rotation's CPU went, and how many rotations the machine's cores could do.
fn cpu_note(refresh: &Row) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_sum =
        refresh.cpu_us_per_req + refresh.db_cpu.map_or(0.0, |(us, _)| us) + refresh.own_us_per_req;
    format!(
        "CPU per rotation in the measured window: servers {:.0} µs{} + load generator {:.0} µs = {cpu_sum:.0} µs, i.e. at most {:.0} rotations/s if {cpus} cores did nothing else",
        refresh.cpu_us_per_req,
        refresh
            .db_cpu
            .map(|(us, _)| format!(" + PostgreSQL {us:.0} µs"))
            .unwrap_or_default(),
        refresh.own_us_per_req,
        cpus as f64 * 1e6 / cpu_sum.max(1e-9),
    )
}

/// The bar, and a warning when other processes disturbed the phase.
fn conclude(report: &mut Report, refresh: &Rotation) {
    let row = &refresh.row;
    report.bar(
        "refresh: every rotation answered 200, no session lost, no \"database is locked\"",
        format!(
            "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms, errors {}, re-logins {}, locked {}",
            row.per_sec,
            ms(row.lat.p50),
            ms(row.lat.p99),
            row.failures,
            refresh.relogins,
            refresh.locked.len()
        ),
        refresh.clean(),
        &[row],
    );
    if row.others_cpu_pct > report::DISTURBED_PCT {
        report.notes.push(format!(
            "WARNING: other processes used {:.0}% of a core during the refresh phase: the figures are disturbed, run again on a quiet machine",
            row.others_cpu_pct
        ));
    }
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
