//! `--phases compare`: Tessera beside the service a Rust team would write by hand (axum +
//! jsonwebtoken, `tessera-baseline`, src/bin/baseline.rs), checking the same tokens,
//! measured the same way; with `--targets …,verifier,gate`, also the two ways to protect an
//! API with Tessera's tokens: the same service behind the `tessera-verifier` layer
//! (`tessera-verifier-app`, src/bin/verifier_app.rs) and `tessera gate`'s `/auth`.
//!
//! ```text
//! scripts/compare.sh                   # HS256 and ES256, 3 rounds of 5 s windows
//! # which is:
//! cargo build --release -p tessera -p tessera-loadgen
//! target/release/tessera-loadgen --phases compare --server target/release/tessera \
//!     --baseline target/release/tessera-baseline \
//!     [--verifier-app target/release/tessera-verifier-app] \
//!     [--targets tessera,baseline,verifier,gate] [--alg HS256,ES256] [--rounds 3] \
//!     [--duration 5s] [--warmup 1s] [--concurrency 64] [--pin auto|off] [--out F.md]
//! ```
//!
//! For each algorithm of `--alg`, one block:
//!
//! 1. `tessera serve` starts in a fresh directory (SQLite), with a master key the load
//!    generator chose (`TESSERA_MASTER_KEY`) and an access-token lifetime covering the run;
//! 2. every other target starts with Tessera's keys: the baseline and the verifier app
//!    fetch Tessera's JWKS (the gate too, by discovery), or for HS* take the secret the
//!    load generator read from Tessera's database with that master key ([`secret`];
//!    Tessera never publishes an HMAC key, so the gate sits out the HS* blocks);
//! 3. one login: its access token goes on every `/v1/me` request, to every target;
//! 4. `--rounds` rounds. A round measures `/healthz` on every target in turn (in the
//!    first block only: it does not depend on the key), then `/v1/me` on every target in
//!    turn: each a window of `--warmup` + `--duration` on `--concurrency` keep-alive
//!    connections, as fast as answers come, sent by the lean client of [`crate::raw_get`]
//!    (the hyper client of the other phases costs as much CPU per request as the servers). Every target's peak RSS (`VmHWM`) is reset at
//!    the start of a round and read at its end.
//!
//! The report opens with the side-by-side table (median of the rounds [min–max], and the
//! ratio to the baseline round by round: rounds are interleaved, so pairing them cancels
//! drift) and the bars of issue 12 as PASS/MISS lines; then one row per window.
//!
//! CPU pinning (`--pin auto`, the default, [`crate::pin`]): when this process may use two
//! CPUs or more, every server runs on the first and the load generator on the second, so
//! req/s is what one core of each server does. Otherwise the header says it is not pinned.
//! A pinned server below 90% of its core in a window was held back by the load generator,
//! and the notes say so: its req/s is then a floor.
//!
//! The targets are [`target::TargetKind`]; adding one needs no change here.

pub mod secret;
pub mod table;
pub mod target;

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper::header::HeaderValue;
use tessera_jose::{Algorithm, Family};
use tessera_tokens::MasterKey;

use crate::args::{fmt_duration, Args};
use crate::bench::Bench;
use crate::measure::{load, merged, Targets};
use crate::pin::{self, Pinning};
use crate::procfs::{self, Pid};
use crate::raw_get;
use crate::report::{self, mib, Report, Row};
use crate::server::Launch;
use crate::sessions::{self, Credentials};

use table::{Series, Spread, Unit};
use target::{Issuer, Running, TargetKind};

/// Issue 12's bars on `/v1/me`: Tessera's req/s ÷ the baseline's, at least.
const ME_BARS: [(&str, f64); 2] = [("HS256", 1.05), ("ES256", 1.0)];
/// Issue 12's bar on `/healthz`: Tessera's server CPU per request at most the baseline's
/// plus this, µs.
const HEALTHZ_CPU_MARGIN_US: f64 = 1.5;
/// The resource-server bar: the verifier layer's and the gate's req/s ÷ the baseline's,
/// at least, for every algorithm.
const RESOURCE_SERVER_BAR: f64 = 1.0;
/// A pinned server below this share of its core was not saturated.
const SATURATED_PCT: f64 = 90.0;

/// The `aud` of Tessera's access tokens (`tokens.audience` default).
const AUDIENCE: &str = "api";

pub async fn run(bench: &Bench<'_>, pinning: &Pinning) -> Result<Report> {
    let plan = Plan::of(bench.args)?;
    let mut report = Report {
        header: header(bench, &plan, pinning),
        ..Report::default()
    };
    let mut found = Found::default();
    for (i, alg) in plan.algs.iter().enumerate() {
        block(bench, &plan, pinning, *alg, i == 0, &mut report, &mut found).await?;
    }
    conclude(&mut report, &plan, pinning, &found);
    Ok(report)
}

/// What the command line asks for, checked.
#[derive(Debug)]
struct Plan {
    algs: Vec<Algorithm>,
    targets: Vec<TargetKind>,
    rounds: usize,
    /// Long enough for the one access token of a block to outlive the run.
    access_ttl: Duration,
}

impl Plan {
    fn of(args: &Args) -> Result<Plan> {
        if args.baseline.is_none() {
            bail!("--phases compare needs --baseline PATH (target/release/tessera-baseline)");
        }
        if args.database_url.is_some() || args.replicas > 1 {
            bail!("--phases compare runs one server on its default SQLite (/healthz and /v1/me do not touch the database): drop --database-url and --replicas");
        }
        let targets = args.targets.clone();
        for must in [TargetKind::Tessera, TargetKind::Baseline] {
            if !targets.contains(&must) {
                bail!(
                    "--targets must include {} (the issuer and the yardstick)",
                    must.name()
                );
            }
        }
        let mut unique = targets.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != targets.len() {
            bail!("--targets names a target twice");
        }
        if targets.contains(&TargetKind::Verifier) && args.verifier_app.is_none() {
            bail!("--targets verifier needs --verifier-app PATH (target/release/tessera-verifier-app)");
        }
        let mut algs = Vec::new();
        for name in args.compare_algs() {
            let alg = Algorithm::from_str(&name).map_err(|e| anyhow!("--alg {name}: {e}"))?;
            if algs.contains(&alg) {
                bail!("--alg names {name} twice");
            }
            algs.push(alg);
        }
        if algs.is_empty() {
            bail!("--alg names no algorithm");
        }
        let rounds = usize::from(args.rounds);
        let windows = (algs.len() + 1) * rounds * targets.len();
        let window = args.warmup + args.duration + Duration::from_secs(2);
        Ok(Plan {
            algs,
            targets,
            rounds,
            access_ttl: window * u32::try_from(windows)? + Duration::from_secs(600),
        })
    }
}

/// The windows of one endpoint: per target, one row per round.
#[derive(Debug)]
struct Windows {
    /// `GET /healthz`, `HS256 GET /v1/me`.
    scope: String,
    alg: Option<Algorithm>,
    rows: BTreeMap<TargetKind, Vec<Row>>,
}

impl Windows {
    fn new(scope: String, alg: Option<Algorithm>) -> Windows {
        Windows {
            scope,
            alg,
            rows: BTreeMap::new(),
        }
    }

    fn all_rows(&self) -> Vec<&Row> {
        self.rows.values().flatten().collect()
    }

    /// A measure of the rows as a table line.
    fn series(&self, what: &str, unit: Unit, f: impl Fn(&Row) -> f64) -> Series {
        let mut s = Series::new(format!("{} {what}", self.scope), unit);
        for (t, rows) in &self.rows {
            for r in rows {
                s.push(*t, f(r));
            }
        }
        s
    }

    fn per_sec(&self) -> Series {
        self.series("req/s", Unit::PerSec, |r| r.per_sec)
    }

    fn cpu(&self) -> Series {
        self.series("server CPU µs/req", Unit::Micros, |r| r.cpu_us_per_req)
    }

    fn table(&self) -> Vec<Series> {
        vec![
            self.per_sec(),
            self.cpu(),
            self.series("p50 ms", Unit::Millis, |r| report::ms(r.lat.p50)),
            self.series("p99 ms", Unit::Millis, |r| report::ms(r.lat.p99)),
        ]
    }
}

/// Everything the blocks measured.
#[derive(Debug, Default)]
struct Found {
    windows: Vec<Windows>,
    memory: Vec<Series>,
}

/// One algorithm: Tessera and the targets started, one login, the rounds, all stopped.
async fn block(
    bench: &Bench<'_>,
    plan: &Plan,
    pinning: &Pinning,
    alg: Algorithm,
    with_health: bool,
    report: &mut Report,
    found: &mut Found,
) -> Result<()> {
    let args = bench.args;
    let dir = bench.launch.dir.join(alg.as_str().to_ascii_lowercase());
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let master = MasterKey::generate()?;
    let mut extra_env = bench.launch.extra_env.clone();
    extra_env.push(("TESSERA_MASTER_KEY".to_owned(), master.to_base64url()));
    extra_env.push((
        "TESSERA_TOKENS__ACCESS_TTL".to_owned(),
        format!("{}s", plan.access_ttl.as_secs()),
    ));
    let launch = Launch {
        binary: bench.launch.binary.clone(),
        dir: dir.clone(),
        alg: alg.as_str().to_owned(),
        extra_env,
        cpu: pinning.server_cpu(),
    };
    let mut tessera = launch.spawn(0)?;
    tessera.wait_ready(Duration::from_secs(30)).await?;
    let hmac_secret = match alg.family() {
        Family::Hmac => Some(hmac_secret_file(&dir, &master, alg).await?),
        _ => None,
    };
    let issuer = Issuer {
        server: &tessera,
        url: format!("http://{}", tessera.addr),
        audience: AUDIENCE,
        alg: alg.as_str(),
        hmac_secret,
        dir: &dir,
        cpu: pinning.server_cpu(),
    };
    let mut running = Vec::with_capacity(plan.targets.len());
    for t in &plan.targets {
        if t.supports(alg.as_str()) {
            running.push(t.start(&issuer, args).await?);
        } else {
            report.notes.push(format!(
                "{alg}: {} not measured (it reads keys from the issuer's JWKS, which never holds an HMAC key)",
                t.name()
            ));
        }
    }
    report.notes.push(format!(
        "{alg}: CPUs each process may use (Cpus_allowed_list): {}",
        running
            .iter()
            .map(|r| format!(
                "{} {}",
                r.kind.name(),
                pin::cpus_allowed(r.pid).unwrap_or_else(|| "?".to_owned())
            ))
            .chain([format!(
                "load generator {}",
                pin::cpus_allowed(std::process::id()).unwrap_or_else(|| "?".to_owned())
            )])
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // One login; its token on every /v1/me request, to every target.
    let creds = Arc::new(Credentials::loadgen());
    let issuer_only = Targets {
        servers: vec![tessera.pid],
        db: None,
    };
    let (sessions, mut setup) = sessions::setup(&[tessera.addr], &creds, 1, &issuer_only).await?;
    setup.name = format!("{alg} setup: one login on tessera");
    report.rows.push(setup);
    let bearers = sessions::bearers(sessions.iter().map(|(_, s)| s))?;

    let mut at_start = Series::new(
        format!("{alg}: peak RSS from start to after the login, MiB"),
        Unit::MiB,
    );
    for r in &running {
        at_start.push(r.kind, mib(procfs::memory_kib(Pid::Other(r.pid))?.hwm_kib));
    }
    let mut health = with_health.then(|| Windows::new("GET /healthz".to_owned(), None));
    let mut me = Windows::new(format!("{alg} GET /v1/me"), Some(alg));
    let mut peak = Series::new(format!("{alg}: peak RSS in a round, MiB"), Unit::MiB);
    let mut reset_failed = None;
    for round in 1..=plan.rounds {
        for r in &running {
            if let Err(e) = procfs::reset_peak_rss(r.pid) {
                reset_failed = Some(format!("{e:#}"));
            }
        }
        if let Some(health) = &mut health {
            for r in &running {
                let path = r.kind.health_path();
                let row = window(bench, r, path, &Arc::default(), round, None).await?;
                report.rows.push(row.clone());
                health.rows.entry(r.kind).or_default().push(row);
            }
        }
        for r in &running {
            let path = r.kind.protected_path();
            let row = window(bench, r, path, &bearers, round, Some(alg)).await?;
            report.rows.push(row.clone());
            me.rows.entry(r.kind).or_default().push(row);
        }
        for r in &running {
            peak.push(r.kind, mib(procfs::memory_kib(Pid::Other(r.pid))?.hwm_kib));
        }
    }
    if let Some(e) = reset_failed {
        peak.label = format!("{alg}: peak RSS since start (resetting it failed: {e}), MiB");
    }
    found.windows.extend(health);
    found.windows.push(me);
    found.memory.push(peak);
    found.memory.push(at_start);

    for mut r in running {
        if let Some(how) = r.stop()? {
            report.notes.push(format!("{alg}: {} {how}", r.kind.name()));
        }
    }
    let how = tessera.stop()?;
    report.notes.push(format!("{alg}: tessera {how}"));
    Ok(())
}

/// Reads Tessera's HMAC secret from its database into a 0600 file for the baseline.
async fn hmac_secret_file(
    dir: &Path,
    master: &MasterKey,
    alg: Algorithm,
) -> Result<std::path::PathBuf> {
    let url = format!("sqlite://{}", dir.join("tessera.db").display());
    let secret = secret::current_hmac_secret(&url, master, alg).await?;
    let path = dir.join("hmac.secret");
    secret::write_secret(&path, &secret)?;
    Ok(path)
}

/// One window of `GET path` on `--concurrency` connections against one target.
async fn window(
    bench: &Bench<'_>,
    target: &Running,
    path: &'static str,
    bearers: &Arc<Vec<HeaderValue>>,
    round: usize,
    alg: Option<Algorithm>,
) -> Result<Row> {
    let conns = usize::from(bench.args.concurrency);
    let w = bench.window();
    let measured = Targets {
        servers: vec![target.pid],
        db: None,
    };
    let requests: Vec<Vec<u8>> = if bearers.is_empty() {
        vec![raw_get::request(target.addr, path, None)]
    } else {
        bearers
            .iter()
            .map(|b| raw_get::request(target.addr, path, Some(b)))
            .collect()
    };
    let requests = Arc::new(requests);
    let (recs, usage) = load(
        &measured,
        w,
        (0..conns)
            .map(|i| raw_get::get_loop(target.addr, requests.clone(), i, w))
            .collect(),
    )
    .await?;
    let scope = match alg {
        Some(alg) => format!("{alg} GET {path}"),
        None => format!("GET {path}"),
    };
    Ok(Row::new(
        format!("r{round} {} {scope}", target.kind.name()),
        conns,
        &merged(recs),
        &usage,
    ))
}

fn header(bench: &Bench<'_>, plan: &Plan, pinning: &Pinning) -> Vec<String> {
    let args = bench.args;
    let names = |v: &[TargetKind]| v.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
    let algs: Vec<&str> = plan.algs.iter().map(|a| a.as_str()).collect();
    vec![
        format!(
            "compare: targets {}; algorithms {}; {}, interleaved (each: /healthz on every target in turn, first algorithm only, then /v1/me on every target in turn); {} measured per window after {} warm-up; {} keep-alive connections; one login per algorithm, its access token on every /v1/me request; load generator on {}",
            names(&plan.targets),
            algs.join(", "),
            rounds(plan.rounds),
            fmt_duration(args.duration),
            fmt_duration(args.warmup),
            args.concurrency,
            args.runtime()
        ),
        format!("CPU: {}", pinning.describe()),
        format!(
            "tessera and gate: {}; baseline: {} (axum 0.8 + jsonwebtoken 11 on aws-lc-rs); verifier: {} (axum 0.8 + the tessera-verifier layer)",
            bench.launch.binary.display(),
            args.baseline
                .as_ref()
                .map_or_else(|| "?".to_owned(), |b| b.display().to_string()),
            args.verifier_app
                .as_ref()
                .map_or_else(|| "not run".to_owned(), |b| b.display().to_string())
        ),
        format!(
            "CLK_TCK {} (CPU time resolution {:.0} ms)",
            procfs::clock_ticks_per_second(),
            1000.0 / procfs::clock_ticks_per_second() as f64
        ),
    ]
}

/// `1 round`, `3 rounds`.
fn rounds(n: usize) -> String {
    format!("{n} round{}", if n == 1 { "" } else { "s" })
}

/// The side-by-side table, the bars and the warnings.
fn conclude(report: &mut Report, plan: &Plan, pinning: &Pinning, found: &Found) {
    let mut series: Vec<Series> = found.windows.iter().flat_map(Windows::table).collect();
    series.extend(found.memory.iter().cloned());
    report.sections.push(format!(
        "### Side by side: median of {} [min–max]; ratios round by round\n\n{}",
        rounds(plan.rounds),
        table::markdown(&series, &plan.targets)
    ));

    if let Some(health) = found.windows.iter().find(|w| w.alg.is_none()) {
        let cpu = health.cpu();
        let diff = Spread::of(&cpu.differences(TargetKind::Tessera));
        let (t, b) = (
            cpu.spread(TargetKind::Tessera),
            cpu.spread(TargetKind::Baseline),
        );
        let measured = match (diff, t, b) {
            (Some(d), Some(t), Some(b)) => format!(
                "{:+.2} µs [{:+.2}–{:+.2}] ({:.2} vs {:.2} µs/req)",
                d.median, d.min, d.max, t.median, b.median
            ),
            _ => "not measured".to_owned(),
        };
        let pass = diff.is_some_and(|d| d.median <= HEALTHZ_CPU_MARGIN_US)
            && health.all_rows().iter().all(|r| r.clean);
        report.bar(
            format!("/healthz server CPU per request ≤ baseline + {HEALTHZ_CPU_MARGIN_US} µs"),
            measured,
            pass,
            &health.all_rows(),
        );
    }
    for (alg, min) in ME_BARS {
        let what = format!("/v1/me {alg} req/s ≥ {min:.2} × baseline");
        let Some(me) = found
            .windows
            .iter()
            .find(|w| w.alg.is_some_and(|a| a.as_str() == alg))
        else {
            report.notes.push(format!(
                "bar \"{what}\" not measured: {alg} is not in --alg"
            ));
            continue;
        };
        let ratio = Spread::of(&me.per_sec().ratios(TargetKind::Tessera));
        let measured = ratio.map_or_else(
            || "not measured".to_owned(),
            |r| format!("{:.2} [{:.2}–{:.2}]", r.median, r.min, r.max),
        );
        let pass = ratio.is_some_and(|r| r.median >= min) && me.all_rows().iter().all(|r| r.clean);
        report.bar(what, measured, pass, &me.all_rows());
    }
    // The resource-server bars: the layer and the gate at least match the baseline.
    for target in [TargetKind::Verifier, TargetKind::Gate] {
        if !plan.targets.contains(&target) {
            continue;
        }
        for me in found.windows.iter().filter(|w| w.alg.is_some()) {
            let Some(rows) = me.rows.get(&target) else {
                continue;
            };
            let alg = me.alg.map_or("", |a| a.as_str());
            let what = format!(
                "{} {alg} GET {} req/s ≥ {RESOURCE_SERVER_BAR:.2} × baseline",
                target.name(),
                target.protected_path()
            );
            let ratio = Spread::of(&me.per_sec().ratios(target));
            let measured = ratio.map_or_else(
                || "not measured".to_owned(),
                |r| format!("{:.2} [{:.2}–{:.2}]", r.median, r.min, r.max),
            );
            let mut compared: Vec<&Row> = rows.iter().collect();
            compared.extend(me.rows.get(&TargetKind::Baseline).into_iter().flatten());
            let pass = ratio.is_some_and(|r| r.median >= RESOURCE_SERVER_BAR)
                && compared.iter().all(|r| r.clean);
            report.bar(what, measured, pass, &compared);
        }
    }
    warnings(report, pinning, found);
}

fn warnings(report: &mut Report, pinning: &Pinning, found: &Found) {
    let rows: Vec<&Row> = found.windows.iter().flat_map(Windows::all_rows).collect();
    let noisy: Vec<String> = rows
        .iter()
        .filter(|r| r.others_cpu_pct > report::DISTURBED_PCT)
        .map(|r| format!("{} ({:.0}%)", r.name, r.others_cpu_pct))
        .collect();
    if !noisy.is_empty() {
        report.notes.push(format!(
            "WARNING: other processes used more than {:.0}% of a core during {}: those figures are disturbed, run again on a quiet machine",
            report::DISTURBED_PCT,
            noisy.join(", ")
        ));
    }
    if pinning.server_cpu().is_some() {
        let starved: Vec<String> = rows
            .iter()
            .filter(|r| r.server_cpu_pct < SATURATED_PCT)
            .map(|r| format!("{} ({:.0}%)", r.name, r.server_cpu_pct))
            .collect();
        if !starved.is_empty() {
            report.notes.push(format!(
                "WARNING: the server used less than {SATURATED_PCT:.0}% of its core during {}: the load generator (or other processes on that core) held it back, so its req/s is a floor (its CPU/request still holds)",
                starved.join(", ")
            ));
        }
    }
    if rows.iter().any(|r| !r.clean) {
        report
            .notes
            .push("some answers were not 2xx: see the failures column".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["tessera-loadgen", "--server", "s", "--phases", "compare"];
        v.extend_from_slice(extra);
        Args::try_parse_from(v).expect("parses")
    }

    #[test]
    fn plan_checks_the_command_line() {
        let p = Plan::of(&args(&["--baseline", "b"])).expect("plan");
        assert_eq!(p.algs, [Algorithm::HS256, Algorithm::ES256]);
        assert_eq!(p.targets, [TargetKind::Tessera, TargetKind::Baseline]);
        // 3 blocks' worth of windows (2 algorithms + /healthz) × 3 rounds × 2 targets of
        // 1 + 10 + 2 s, plus 10 minutes.
        assert_eq!(p.access_ttl, Duration::from_secs(18 * 13 + 600));
        let err = |extra: &[&str]| format!("{:#}", Plan::of(&args(extra)).expect_err("refused"));
        assert!(err(&[]).contains("--baseline"));
        assert!(err(&["--baseline", "b", "--targets", "tessera"]).contains("include baseline"));
        assert!(err(&["--baseline", "b", "--alg", "HS256,XS1"]).contains("--alg XS1"));
        assert!(err(&["--baseline", "b", "--alg", "ES256,ES256"]).contains("twice"));
        assert!(
            err(&["--baseline", "b", "--targets", "tessera,baseline,verifier"])
                .contains("--verifier-app")
        );
        assert!(
            err(&["--baseline", "b", "--targets", "tessera,baseline,gate,gate"]).contains("twice")
        );
        // The gate cannot check HS256 (no published key): it sits out that block instead
        // of refusing the run.
        let p = Plan::of(&args(&[
            "--baseline",
            "b",
            "--targets",
            "tessera,baseline,gate",
        ]))
        .expect("plan");
        assert_eq!(p.algs, [Algorithm::HS256, Algorithm::ES256]);
        assert!(!TargetKind::Gate.supports("HS256") && TargetKind::Gate.supports("ES256"));
        assert!(
            err(&["--baseline", "b", "--database-url", "postgres://h/d"])
                .contains("--database-url")
        );
    }

    fn row(name: &str, per_sec: f64, cpu: f64, server_pct: f64) -> Row {
        let mut rec = crate::stats::Record::default();
        rec.answered(200, Duration::from_micros(300));
        let mut r = Row::new(name, 1, &rec, &crate::report::Usage::default());
        r.per_sec = per_sec;
        r.cpu_us_per_req = cpu;
        r.server_cpu_pct = server_pct;
        r
    }

    /// The bars read the right windows: /healthz CPU as a difference, /v1/me req/s as a
    /// ratio; a missing algorithm is a note, not a MISS.
    #[test]
    fn bars_of_issue_12() {
        let mut health = Windows::new("GET /healthz".into(), None);
        let mut me = Windows::new("HS256 GET /v1/me".into(), Some(Algorithm::HS256));
        for (t, b) in [(14.0, 10.0), (11.0, 10.0), (11.4, 10.1)] {
            health
                .rows
                .entry(TargetKind::Tessera)
                .or_default()
                .push(row("t", 1.0, t, 99.0));
            health
                .rows
                .entry(TargetKind::Baseline)
                .or_default()
                .push(row("b", 1.0, b, 99.0));
        }
        for (t, b) in [(106.0, 100.0), (104.0, 100.0), (110.0, 100.0)] {
            me.rows
                .entry(TargetKind::Tessera)
                .or_default()
                .push(row("t", t, 1.0, 99.0));
            me.rows
                .entry(TargetKind::Baseline)
                .or_default()
                .push(row("b", b, 1.0, 80.0));
        }
        let found = Found {
            windows: vec![health, me],
            memory: vec![],
        };
        let plan = Plan::of(&args(&["--baseline", "b"])).expect("plan");
        let mut report = Report::default();
        let pinned = Pinning::Pinned {
            server: 0,
            load: 1,
            allowed: 2,
        };
        conclude(&mut report, &plan, &pinned, &found);
        let md = report.markdown();
        // Differences +4.0, +1.0, +1.3: median +1.3 µs.
        assert!(md.contains("- PASS: /healthz server CPU per request ≤ baseline + 1.5 µs — +1.30 µs [+1.00–+4.00]"), "{md}");
        assert!(
            md.contains("- PASS: /v1/me HS256 req/s ≥ 1.05 × baseline — 1.06 [1.04–1.10]"),
            "{md}"
        );
        assert!(
            md.contains("bar \"/v1/me ES256 req/s ≥ 1.00 × baseline\" not measured"),
            "{md}"
        );
        assert!(
            md.contains("| HS256 GET /v1/me req/s | 106 [104–110] | 100 | 1.06 [1.04–1.10] |"),
            "{md}"
        );
        assert!(
            md.contains("less than 90% of its core during b (80%)"),
            "{md}"
        );
        assert!(
            md.contains("### Side by side: median of 3 rounds [min–max]"),
            "{md}"
        );
        assert_eq!(rounds(1), "1 round");
        assert!(!report.any_miss());
    }

    /// The resource-server bars: each of the verifier and the gate ÷ the baseline on its
    /// own protected route, for every algorithm it was measured on.
    #[test]
    fn resource_server_bars() {
        let mut me = Windows::new("ES256 GET /v1/me".into(), Some(Algorithm::ES256));
        for (t, v, g, b) in [(1.0, 99.0, 120.0, 100.0), (1.0, 98.0, 110.0, 100.0)] {
            for (kind, per_sec) in [
                (TargetKind::Tessera, t),
                (TargetKind::Verifier, v),
                (TargetKind::Gate, g),
                (TargetKind::Baseline, b),
            ] {
                me.rows
                    .entry(kind)
                    .or_default()
                    .push(row("x", per_sec, 1.0, 99.0));
            }
        }
        let found = Found {
            windows: vec![me],
            memory: vec![],
        };
        let plan = Plan::of(&args(&[
            "--baseline",
            "b",
            "--verifier-app",
            "v",
            "--targets",
            "tessera,baseline,verifier,gate",
            "--alg",
            "ES256",
        ]))
        .expect("plan");
        let mut report = Report::default();
        conclude(
            &mut report,
            &plan,
            &Pinning::Unpinned("test".into()),
            &found,
        );
        let md = report.markdown();
        assert!(
            md.contains(
                "- MISS: verifier ES256 GET /v1/me req/s ≥ 1.00 × baseline — 0.98 [0.98–0.99]"
            ),
            "{md}"
        );
        assert!(
            md.contains("- PASS: gate ES256 GET /auth req/s ≥ 1.00 × baseline — 1.15 [1.10–1.20]"),
            "{md}"
        );
    }
}
