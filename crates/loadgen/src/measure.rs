//! Measuring a window: CPU of the servers (all replicas), of the database cluster when it
//! runs on this machine, of the load generator and of the whole machine.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::procfs::{self, Pid};
use crate::report::Usage;
use crate::stats::Record;
use crate::workers::Window;

/// The processes whose CPU a window is charged to.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The `tessera serve` replicas.
    pub servers: Vec<u32>,
    /// The PostgreSQL database, when it runs on this machine ([`procfs::postgres_cpu`]).
    pub db: Option<PgProcesses>,
}

/// Which PostgreSQL processes are the database's: the children of `postmaster` that serve
/// `dbname` or the whole cluster.
#[derive(Debug, Clone)]
pub struct PgProcesses {
    pub postmaster: u32,
    pub dbname: String,
}

/// CPU counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct CpuSnapshot {
    at: Instant,
    servers: Duration,
    db: Option<Duration>,
    own: Duration,
    machine: Duration,
}

impl CpuSnapshot {
    pub fn take(t: &Targets) -> Result<CpuSnapshot> {
        let mut servers = Duration::ZERO;
        for &pid in &t.servers {
            servers += procfs::cpu_time(Pid::Other(pid))?;
        }
        Ok(CpuSnapshot {
            at: Instant::now(),
            servers,
            db: match &t.db {
                Some(pg) => Some(
                    procfs::postgres_cpu(pg.postmaster, &pg.dbname).with_context(|| {
                        format!("CPU of the database (postmaster {})", pg.postmaster)
                    })?,
                ),
                None => None,
            },
            own: procfs::cpu_time(Pid::OwnProcess)?,
            machine: procfs::machine_busy()?,
        })
    }

    pub fn usage_until_now(&self, t: &Targets) -> Result<Usage> {
        let now = CpuSnapshot::take(t)?;
        let mut hwm = 0;
        for &pid in &t.servers {
            hwm = hwm.max(procfs::memory_kib(Pid::Other(pid))?.hwm_kib);
        }
        Ok(Usage {
            wall: now.at - self.at,
            server_cpu: now.servers.saturating_sub(self.servers),
            db_cpu: now.db.zip(self.db).map(|(n, b)| n.saturating_sub(b)),
            own_cpu: now.own.saturating_sub(self.own),
            machine_busy: now.machine.saturating_sub(self.machine),
            server_hwm_kib: hwm,
        })
    }
}

/// CPU over the measured part of `win`.
pub async fn measure(t: &Targets, win: Window) -> Result<Usage> {
    tokio::time::sleep_until(win.measure_start.into()).await;
    let before = CpuSnapshot::take(t)?;
    tokio::time::sleep_until(win.end.into()).await;
    before.usage_until_now(t)
}

/// Spawns the workers, measures the window, joins them (each bounded by the request
/// time-out after the window ends).
pub async fn load<T, F>(t: &Targets, win: Window, workers: Vec<F>) -> Result<(Vec<T>, Usage)>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let handles: Vec<_> = workers.into_iter().map(tokio::spawn).collect();
    let usage = measure(t, win).await?;
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.context("worker panicked")??);
    }
    Ok((out, usage))
}

pub fn merged(records: impl IntoIterator<Item = Record>) -> Record {
    let mut all = Record::default();
    for r in records {
        all.merge(r);
    }
    all
}
