//! The command line: what a run measures, for how long, against which server and database.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, ValueEnum};

use crate::compare::target::TargetKind;
use crate::pin::PinMode;

/// Which phases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phases {
    /// Every phase, in the order of the crate docs.
    All,
    /// Start, setup and the refresh rotation only (`refresh_run`).
    Refresh,
    /// Tessera beside the hand-written baseline (`--baseline`), interleaved rounds of
    /// /healthz and /v1/me, with the ratios and the bars of issue 12 (`compare`).
    Compare,
    /// One server, `--sessions` logins, then `--idle` without a request: the server's
    /// resident memory at the end (`memory_run`).
    Memory,
}

/// Load benchmark of `tessera serve` (loopback only, bounded in time).
#[derive(Debug, Parser)]
// A flag given twice takes the last value, so scripts can put defaults before "$@".
#[command(name = "tessera-loadgen", version, about, args_override_self = true)]
pub struct Args {
    /// The `tessera` binary to start (e.g. target/release/tessera).
    #[arg(long)]
    pub server: PathBuf,
    /// Signing algorithm of the server's key (`TESSERA_TOKENS__ALGORITHM`) [default:
    /// ES256]. With `--phases compare`, a comma-separated list measured one after the
    /// other [default there: HS256,ES256].
    #[arg(long)]
    pub alg: Option<String>,
    /// Measured length of each load phase (`500ms`, `10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured warm-up before each load phase.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Keep-alive connections for /healthz and /v1/me.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,
    /// Sessions (logins), each with its own refresh worker in the refresh phase.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub sessions: u16,
    /// Connections measuring /v1/me latency in the login phase (and its baseline).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub probe_connections: u16,
    /// Pace of each probe connection, requests/s (0: as fast as answers come back). A paced
    /// probe leaves the server idle between requests, so what it measures is how long a
    /// request waits behind password hashing, not behind other probe requests.
    #[arg(long, default_value_t = 250)]
    pub probe_rate: u32,
    /// Timed restarts on the existing key (the start-up bar uses their median).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub restarts: u16,
    /// The jose bench's verify time for the algorithm, ns (criterion `verify/ALG/tessera`).
    #[arg(long)]
    pub verify_ns: Option<f64>,
    /// Also write the markdown report here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Extra `KEY=VALUE` environment for the server (repeatable).
    #[arg(long = "server-env", value_parser = parse_key_value)]
    pub server_env: Vec<(String, String)>,
    /// Tokio runtime of the load generator: 0 is a current-thread runtime (all the work on
    /// the main thread), N a multi-thread runtime with N workers. A pinned `--phases
    /// compare` always uses 0: the load generator has one core.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub client_threads: u16,
    /// Exit 1 when a bar is missed.
    #[arg(long)]
    pub fail_on_miss: bool,
    /// `--phases memory`: how long the server stays idle after the logins before its
    /// memory is read.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub idle: Duration,
    /// `all` phases, or only the `refresh` rotation (start, logins, rotation: seconds).
    #[arg(long, value_enum, default_value_t = Phases::All)]
    pub phases: Phases,
    /// The servers' database (`TESSERA_DATABASE__URL`), e.g.
    /// `postgres://postgres@127.0.0.1:5432/DB` (give an empty database for comparable
    /// figures). Default: SQLite in the server's temporary directory.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Servers sharing the database (`--phases refresh` on PostgreSQL). Session i logs in
    /// on replica i mod N, and its refresh worker always talks to that replica.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub replicas: u16,
    /// PostgreSQL's postmaster: the database's CPU is that of its children serving the
    /// database or the whole cluster. Default: found in /proc when the database is on this
    /// machine and one cluster runs.
    #[arg(long)]
    pub db_pid: Option<u32>,
    /// Also write the refresh figures here as `key=value` lines (for scripts).
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// `--phases compare`: the baseline binary (target/release/tessera-baseline).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// `--phases compare`: the binary of the `verifier` target
    /// (target/release/tessera-verifier-app).
    #[arg(long)]
    pub verifier_app: Option<PathBuf>,
    /// `--phases compare`: the services measured, in the order each round visits them
    /// (`verifier` needs --verifier-app; `gate` is `--server`'s `tessera gate`, and checks
    /// only algorithms whose keys are published, not HS*). The ratios are each one's
    /// figures divided by `baseline`'s, which must be in the list.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tessera,baseline"
    )]
    pub targets: Vec<TargetKind>,
    /// `--phases compare`: rounds; each round measures every endpoint on every target once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub rounds: u16,
    /// `--phases compare`: `auto` pins the servers to the first CPU this process may use
    /// and the load generator to the second, when there are two; `off` leaves both free.
    #[arg(long, value_enum, default_value_t = PinMode::Auto)]
    pub pin: PinMode,
}

impl Args {
    /// The one signing algorithm of the `all` and `refresh` phases.
    pub fn alg(&self) -> &str {
        self.alg.as_deref().unwrap_or("ES256")
    }

    /// The algorithms `--phases compare` measures, in order.
    pub fn compare_algs(&self) -> Vec<String> {
        self.alg
            .as_deref()
            .unwrap_or("HS256,ES256")
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect()
    }

    /// The load generator's runtime, as the report headers name it.
    pub fn runtime(&self) -> String {
        match self.client_threads {
            0 => "a current-thread tokio runtime".to_owned(),
            n => format!("a multi-thread tokio runtime with {n} workers"),
        }
    }
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

/// A duration as the report headers show it: `10s`, or `1500ms` when not whole seconds.
pub fn fmt_duration(d: Duration) -> String {
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
        assert_eq!(a.alg(), "HS256");
        assert_eq!(a.targets, [TargetKind::Tessera, TargetKind::Baseline]);
    }

    #[test]
    fn compare_flags() {
        let a = Args::try_parse_from([
            "tessera-loadgen",
            "--server",
            "x",
            "--phases",
            "compare",
            "--baseline",
            "b",
            "--alg",
            "HS256, EdDSA",
            "--rounds",
            "5",
            "--pin",
            "off",
        ])
        .expect("parses");
        assert_eq!(a.phases, Phases::Compare);
        assert_eq!(a.compare_algs(), ["HS256", "EdDSA"]);
        assert_eq!((a.rounds, a.pin), (5, PinMode::Off));
        let d = Args::try_parse_from(["tessera-loadgen", "--server", "x"]).expect("parses");
        assert_eq!(d.alg(), "ES256");
        assert_eq!(d.compare_algs(), ["HS256", "ES256"]);
        assert_eq!(d.pin, PinMode::Auto);
        // What scripts/compare.sh relies on: its defaults come first, the user's win; and
        // repeatable flags still add up.
        let o = Args::try_parse_from([
            "tessera-loadgen",
            "--server",
            "x",
            "--duration",
            "5s",
            "--server-env",
            "A=1",
            "--duration",
            "2s",
            "--server-env",
            "B=2",
        ])
        .expect("parses");
        assert_eq!(o.duration, Duration::from_secs(2));
        assert_eq!(o.server_env.len(), 2);
        assert!(
            Args::try_parse_from(["tessera-loadgen", "--server", "x", "--targets", "nginx"])
                .is_err()
        );
    }
}
