//! `--phases memory`: what the server keeps once a burst of logins is over. One server
//! (SQLite unless `--database-url`), one user, `--sessions` logins over two connections,
//! then `--idle` without a request; the bar is the resident memory at the end (VmRSS), the
//! peak (VmHWM) beside it. Password hashing dominates: each hash in flight works in
//! `m_cost` (19 MiB) of memory, which the server frees once it has been idle.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::args::fmt_duration;
use crate::bench::Bench;
use crate::measure::Targets;
use crate::procfs::{self, Pid};
use crate::report::{mib, Report};
use crate::sessions::{self, Credentials};
use crate::startup;

/// The bar: resident memory after the logins and the idle time, MiB.
pub const IDLE_RSS_BAR_MIB: f64 = 24.0;

pub async fn run(bench: &Bench<'_>) -> Result<Report> {
    let args = bench.args;
    let logins = usize::from(args.sessions);
    let mut report = Report {
        header: vec![format!(
            "memory after logins: algorithm {}, database {}, {logins} logins of one user over two connections, then {} idle",
            args.alg(),
            bench.db.describe(),
            fmt_duration(args.idle)
        )],
        ..Report::default()
    };
    let (servers, starts) = startup::replicas(&bench.launch, 1).await?;
    let mut server = servers.into_iter().next().context("no server started")?;
    report.notes.push(format!(
        "start-up to the first /healthz 200: {} ms",
        startup::ms_list(&starts)
    ));
    let at_start = procfs::memory_kib(Pid::Other(server.pid))?;
    let targets = Targets {
        servers: vec![server.pid],
        db: bench.pg.clone(),
    };
    let creds = Arc::new(Credentials::loadgen());
    let (_sessions, setup) = sessions::setup(&[server.addr], &creds, logins, &targets).await?;
    let after_logins = procfs::memory_kib(Pid::Other(server.pid))?;
    tokio::time::sleep(args.idle).await;
    let idle = procfs::memory_kib(Pid::Other(server.pid))?;
    report.notes.push(format!(
        "server RSS: {:.1} MiB after start, {:.1} MiB right after the logins, {:.1} MiB after {} idle; peak {:.1} MiB; {} threads",
        mib(at_start.rss_kib),
        mib(after_logins.rss_kib),
        mib(idle.rss_kib),
        fmt_duration(args.idle),
        mib(idle.hwm_kib),
        idle.threads
    ));
    report.summary.extend([
        (
            "rss_start_mib".to_owned(),
            format!("{:.1}", mib(at_start.rss_kib)),
        ),
        (
            "rss_after_logins_mib".to_owned(),
            format!("{:.1}", mib(after_logins.rss_kib)),
        ),
        (
            "rss_idle_mib".to_owned(),
            format!("{:.1}", mib(idle.rss_kib)),
        ),
        (
            "rss_peak_mib".to_owned(),
            format!("{:.1}", mib(idle.hwm_kib)),
        ),
    ]);
    report.bar(
        format!(
            "RSS after {logins} logins and {} idle ≤ {IDLE_RSS_BAR_MIB} MiB",
            fmt_duration(args.idle)
        ),
        format!(
            "{:.1} MiB (peak {:.1} MiB)",
            mib(idle.rss_kib),
            mib(idle.hwm_kib)
        ),
        mib(idle.rss_kib) <= IDLE_RSS_BAR_MIB,
        &[&setup],
    );
    report.rows.push(setup);
    let how = server.stop()?;
    report.notes.push(format!("server {how}"));
    Ok(report)
}
