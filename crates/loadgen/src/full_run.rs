//! `--phases all`: every phase of the crate docs, in order, against one server.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use hyper::header::HeaderValue;

use crate::args::fmt_duration;
use crate::bars::{self, Figures};
use crate::bench::Bench;
use crate::measure::{load, merged, Targets};
use crate::procfs::{self, Memory, Pid};
use crate::report::{mib, Report, Row};
use crate::rotation;
use crate::server::Server;
use crate::sessions::{self, Credentials};
use crate::startup::StartUp;
use crate::stats::Record;
use crate::workers;

/// Bearer tokens for the requests of a phase, spread over the workers.
type Bearers = Arc<Vec<HeaderValue>>;

pub async fn run(bench: &Bench<'_>) -> Result<Report> {
    let args = bench.args;
    let mut report = Report {
        header: header(bench),
        ..Report::default()
    };

    // 1. Start-up: the first start creates the key; later starts find it.
    let (startup, server) = StartUp::measure(&bench.launch, args.restarts).await?;
    report.notes.push(startup.note());
    let driver = Driver {
        bench,
        addr: server.addr,
        targets: Targets {
            servers: vec![server.pid],
            db: bench.pg.clone(),
        },
        conc: usize::from(args.concurrency),
    };

    // 2. /healthz baseline.
    let healthz = driver.saturate("/healthz", &Bearers::default()).await?;
    report.rows.push(healthz.clone());

    // 3. Setup: one user, one login per session, over 2 connections.
    let creds = Arc::new(Credentials::loadgen());
    let (sessions, setup) = sessions::setup(
        &[driver.addr],
        &creds,
        usize::from(args.sessions),
        &driver.targets,
    )
    .await?;
    report.rows.push(setup);

    // 4. /v1/me with valid tokens, then /healthz and /v1/me at the same pace.
    let tokens = sessions::bearers(sessions.iter().map(|(_, s)| s))?;
    let me = driver.saturate("/v1/me", &tokens).await?;
    report.rows.push(me.clone());
    let (healthz_paced, me_paced) = driver.paced_pair(&me, &tokens).await?;
    report.rows.push(healthz_paced.clone());
    report.rows.push(me_paced.clone());

    // 5. Refresh rotation, one worker per session.
    let refresh = rotation::rotate(
        &driver.targets,
        bench.window(),
        sessions,
        &creds,
        "POST /v1/token/refresh, 1 worker per session".to_owned(),
    )
    .await?;
    report.rows.push(refresh.row.clone());
    report.summarize("refresh_", &refresh.row);
    refresh.notes(&mut report);

    // 6. /v1/me at low concurrency, alone and while logins run.
    let tokens = sessions::bearers(&refresh.sessions)?;
    let probes = driver.probes(&tokens, &creds).await?;
    report.rows.push(probes.alone.clone());
    report.rows.push(probes.logins.clone());
    report.rows.push(probes.during.clone());
    report.notes.push(
        "the CPU columns of the login rows and of the paced /v1/me rows are the whole phase's, probes and logins together".to_owned(),
    );

    // 7. Memory.
    let mem = memory_and_stop(server, &mut report)?;

    bars::conclude(
        &mut report,
        args,
        &Figures {
            startup,
            healthz,
            me,
            healthz_paced,
            me_paced,
            refresh,
            probes,
            mem,
        },
    );
    Ok(report)
}

fn header(bench: &Bench<'_>) -> Vec<String> {
    let args = bench.args;
    let mut header = vec![format!(
        "algorithm {}, {} measured per phase after {} warm-up, concurrency {}, {} sessions, load generator on {}",
        args.alg(),
        fmt_duration(args.duration),
        fmt_duration(args.warmup),
        args.concurrency,
        args.sessions,
        args.runtime()
    )];
    if args.database_url.is_some() {
        header.push(format!("database: {}", bench.db.describe()));
    }
    header.push(format!(
        "server {}; its directory {} ({})",
        bench.launch.binary.display(),
        bench.launch.dir.display(),
        bench.fs_type()
    ));
    header.push(format!(
        "{} CPUs shared by server and load generator; CLK_TCK {} (CPU time resolution {:.0} ms)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        procfs::clock_ticks_per_second(),
        1000.0 / procfs::clock_ticks_per_second() as f64
    ));
    header
}

/// The server under load, and what each phase needs to drive and measure it.
#[derive(Debug)]
struct Driver<'a> {
    bench: &'a Bench<'a>,
    addr: SocketAddr,
    targets: Targets,
    /// `--concurrency`: the connections of the saturated and paced phases.
    conc: usize,
}

/// The rows of phase 6.
#[derive(Debug)]
pub struct Probes {
    /// The probes alone.
    pub alone: Row,
    /// The logins running next to them.
    pub logins: Row,
    /// The probes during the logins.
    pub during: Row,
}

impl Driver<'_> {
    /// One window of `GET path` on `conns` connections, `per_conn` requests/s each or, with
    /// `None`, as fast as answers come back.
    async fn get(
        &self,
        name: String,
        conns: usize,
        path: &'static str,
        bearers: &Bearers,
        per_conn: Option<u32>,
    ) -> Result<Row> {
        let w = self.bench.window();
        let (recs, usage) = load(
            &self.targets,
            w,
            (0..conns)
                .map(|i| workers::get_loop(self.addr, path, bearers.clone(), i, per_conn, w))
                .collect(),
        )
        .await?;
        Ok(Row::new(name, conns, &merged(recs), &usage))
    }

    /// `GET path` on `--concurrency` keep-alive connections, as fast as it answers.
    async fn saturate(&self, path: &'static str, bearers: &Bearers) -> Result<Row> {
        self.get(format!("GET {path}"), self.conc, path, bearers, None)
            .await
    }

    /// Phase 4b. CPU per request depends on how many requests each wake-up of the server
    /// finds (batching), which differs between two saturated phases of different speed. So
    /// the verify cost is measured on /healthz and /v1/me both paced at the same rate, 80%
    /// of /v1/me's saturated rate, spread over the same connections.
    async fn paced_pair(&self, me: &Row, tokens: &Bearers) -> Result<(Row, Row)> {
        let per_conn = ((0.8 * me.per_sec / self.conc as f64).round() as u32).max(1);
        let rate = per_conn as usize * self.conc;
        let healthz_paced = self
            .get(
                format!("GET /healthz paced at {rate}/s"),
                self.conc,
                "/healthz",
                &Bearers::default(),
                Some(per_conn),
            )
            .await?;
        let me_paced = self
            .get(
                format!("GET /v1/me paced at {rate}/s"),
                self.conc,
                "/v1/me",
                tokens,
                Some(per_conn),
            )
            .await?;
        Ok((healthz_paced, me_paced))
    }

    /// Phase 6: `GET /v1/me` on `--probe-connections` connections alone, then again while
    /// `--concurrency`/8 (at least 2) workers log in over and over. The probes are paced
    /// (`--probe-rate` per connection) so they measure how long hashing holds up an answer,
    /// not their own queueing.
    async fn probes(&self, tokens: &Bearers, creds: &Arc<Credentials>) -> Result<Probes> {
        let args = self.bench.args;
        let probes = usize::from(args.probe_connections);
        let pace = (args.probe_rate != 0).then_some(args.probe_rate);
        let kind = match pace {
            None => "closed loop".to_owned(),
            Some(rate) => format!("{rate}/s each"),
        };
        let kind = format!("{probes} probes {kind}");
        let alone = self
            .get(
                format!("GET /v1/me, {kind}, no logins"),
                probes,
                "/v1/me",
                tokens,
                pace,
            )
            .await?;

        let login_workers = (self.conc / 8).max(2);
        let w = self.bench.window();
        let probe_handles: Vec<_> = (0..probes)
            .map(|i| {
                tokio::spawn(workers::get_loop(
                    self.addr,
                    "/v1/me",
                    tokens.clone(),
                    i,
                    pace,
                    w,
                ))
            })
            .collect();
        let (login_recs, usage) = load(
            &self.targets,
            w,
            (0..login_workers)
                .map(|_| workers::login_loop(self.addr, creds.clone(), w))
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
        let during = Row::new(
            format!("GET /v1/me, {kind}, during logins"),
            probes,
            &probe_rec,
            &usage,
        );
        Ok(Probes {
            alone,
            logins,
            during,
        })
    }
}

/// Phase 7: the server's peak and current RSS at the end; then it stops.
fn memory_and_stop(mut server: Server, report: &mut Report) -> Result<Memory> {
    let mem = procfs::memory_kib(Pid::Other(server.pid))?;
    report.notes.push(format!(
        "server memory at the end: peak RSS (VmHWM) {:.1} MiB, current RSS (VmRSS) {:.1} MiB, {} threads",
        mib(mem.hwm_kib),
        mib(mem.rss_kib),
        mem.threads
    ));
    let stop = server.stop()?;
    report.notes.push(format!("server {stop}"));
    Ok(mem)
}
