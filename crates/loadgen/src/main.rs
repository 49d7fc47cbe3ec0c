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
//! # Tessera beside a hand-written axum + jsonwebtoken service, side by side (see `compare`;
//! # scripts/compare.sh):
//! target/release/tessera-loadgen --phases compare --server target/release/tessera \
//!     --baseline target/release/tessera-baseline [--alg HS256,ES256] [--rounds 3] [--pin off]
//! # what the server keeps after 1,000 logins and a minute idle (see `memory_run`):
//! target/release/tessera-loadgen --phases memory --server target/release/tessera \
//!     --sessions 1000 [--idle 60s]
//! ```
//!
//! `scripts/pg-load.sh` runs the refresh form on SQLite and on PostgreSQL with one and three
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

mod args;
mod bars;
mod bench;
mod client;
mod compare;
mod database;
mod full_run;
mod measure;
mod memory_run;
mod pin;
mod procfs;
mod raw_get;
mod refresh_run;
mod report;
mod rotation;
mod server;
mod sessions;
mod startup;
mod stats;
mod workers;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::Parser;

use crate::args::{Args, Phases};
use crate::bench::Bench;
use crate::pin::Pinning;
use crate::report::Report;

fn main() -> ExitCode {
    let mut args = Args::parse();
    // Before the runtime starts, so that its threads inherit the load generator's CPU.
    let pinning = match args.phases {
        Phases::Compare => Pinning::apply(args.pin),
        Phases::All | Phases::Refresh | Phases::Memory => {
            Pinning::Unpinned("only --phases compare pins".into())
        }
    };
    if pinning.server_cpu().is_some() {
        // One core: a second worker thread would only add wake-ups between the two
        // (measured: the pinned servers then stayed below 80% of their core).
        args.client_threads = 0;
    }
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
            r = run(&args, &pinning) => r,
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

/// Prepares the run, then goes through the phases `--phases` names.
async fn run(args: &Args, pinning: &Pinning) -> Result<Report> {
    let bench = Bench::prepare(args)?;
    match args.phases {
        Phases::All => full_run::run(&bench).await,
        Phases::Refresh => refresh_run::run(&bench).await,
        Phases::Compare => compare::run(&bench, pinning).await,
        Phases::Memory => memory_run::run(&bench).await,
    }
}
