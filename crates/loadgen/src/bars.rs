//! The end of the full run's report: the figures the bars need, the bars as
//! PASS/MISS lines, and the warnings about figures not to trust.

use std::time::Duration;

use crate::args::Args;
use crate::full_run::Probes;
use crate::procfs::Memory;
use crate::report::{self, mib, ms, Report, Row};
use crate::rotation::Rotation;
use crate::startup::StartUp;

/// What the phases of the full run found.
#[derive(Debug)]
pub struct Figures {
    pub startup: StartUp,
    pub healthz: Row,
    pub me: Row,
    pub healthz_paced: Row,
    pub me_paced: Row,
    pub refresh: Rotation,
    pub probes: Probes,
    /// The server's memory at the end.
    pub mem: Memory,
}

/// Adds the closing notes, the bars and the warnings to `report`.
pub fn conclude(report: &mut Report, args: &Args, f: &Figures) {
    let verify = Verify::of(args, f);
    report.notes.push(verify.note(f));
    report.notes.push(format!(
        "logins: {:.1}/s; /v1/me p99 {:.2} ms during logins vs {:.2} ms without ({:+.2} ms)",
        f.probes.logins.per_sec,
        ms(f.probes.during.lat.p99),
        ms(f.probes.alone.lat.p99),
        f.login_delay_ms()
    ));
    report.notes.push(own_cpu_note(report, args));
    bars(report, args, f, &verify);
    warnings(report, f);
}

impl Figures {
    /// How much later the probes' p99 came while logins ran, ms.
    fn login_delay_ms(&self) -> f64 {
        ms(self.probes.during.lat.p99) - ms(self.probes.alone.lat.p99)
    }
}

/// The cost of verifying an access token, against the jose bench's figure.
#[derive(Debug)]
struct Verify {
    /// /v1/me CPU/req − /healthz CPU/req at the same paced rate, µs.
    cost_us: f64,
    /// The jose bench's verify time, ns, and where it comes from.
    reference: Option<(f64, String)>,
}

impl Verify {
    fn of(args: &Args, f: &Figures) -> Verify {
        Verify {
            cost_us: f.me_paced.cpu_us_per_req - f.healthz_paced.cpu_us_per_req,
            reference: match args.verify_ns {
                Some(ns) => Some((ns, "--verify-ns".to_owned())),
                None => criterion_verify_ns(args.alg()),
            },
        }
    }

    fn note(&self, f: &Figures) -> String {
        let cost_us = self.cost_us;
        format!(
            "verify cost, at the same paced rate: /v1/me CPU/req − /healthz CPU/req = {:.1} − {:.1} = {cost_us:.1} µs (saturated phases: {:.1} − {:.1} = {:.1} µs){}",
            f.me_paced.cpu_us_per_req,
            f.healthz_paced.cpu_us_per_req,
            f.me.cpu_us_per_req,
            f.healthz.cpu_us_per_req,
            f.me.cpu_us_per_req - f.healthz.cpu_us_per_req,
            match &self.reference {
                Some((ns, src)) => format!(
                    "; jose verify {:.1} µs ({src}), ratio {:.2}",
                    ns / 1e3,
                    cost_us * 1e3 / ns
                ),
                None =>
                    "; no jose verify figure (pass --verify-ns or run `cargo bench -p tessera-jose`)"
                        .to_owned(),
            }
        )
    }
}

/// The bars, in the report's order.
fn bars(report: &mut Report, args: &Args, f: &Figures, verify: &Verify) {
    let refresh = &f.refresh.row;
    report.bar(
        "refresh ≥ 2000 rotations/s, p99 < 50 ms, zero errors, no \"database is locked\"",
        format!(
            "{:.0}/s, p99 {:.2} ms, errors {}, locked {}",
            refresh.per_sec,
            ms(refresh.lat.p99),
            refresh.failures,
            f.refresh.locked.len()
        ),
        refresh.per_sec >= 2000.0 && refresh.lat.p99 < 50_000 && f.refresh.clean(),
        &[refresh],
    );
    let Probes {
        alone,
        logins,
        during,
    } = &f.probes;
    let delay_ms = f.login_delay_ms();
    report.bar(
        "logins delay /v1/me p99 by ≤ 10 ms",
        format!(
            "{delay_ms:+.2} ms ({:.2} → {:.2} ms), {:.1} logins/s",
            ms(alone.lat.p99),
            ms(during.lat.p99),
            logins.per_sec
        ),
        delay_ms <= 10.0 && logins.clean && during.clean,
        &[alone, during],
    );
    report.bar(
        "peak RSS under load < 64 MiB",
        format!("VmHWM {:.1} MiB", mib(f.mem.hwm_kib)),
        f.mem.hwm_kib < 64 * 1024,
        &[],
    );
    report.bar(
        "start to first answered request < 300 ms (key already created)",
        format!(
            "median {:.1} ms of {}",
            f.startup.median.as_secs_f64() * 1e3,
            f.startup.restarts.len()
        ),
        f.startup.median < Duration::from_millis(300),
        &[],
    );
    let (healthz, me) = (&f.healthz, &f.me);
    if args.alg().eq_ignore_ascii_case("HS256") {
        report.bar(
            "HS256: /v1/me req/s ≥ 0.85 × /healthz req/s",
            format!(
                "{:.0} / {:.0} = {:.2}",
                me.per_sec,
                healthz.per_sec,
                me.per_sec / healthz.per_sec.max(1e-9)
            ),
            me.per_sec >= 0.85 * healthz.per_sec && me.clean && healthz.clean,
            &[healthz, me],
        );
    }
    if let Some((ns, src)) = &verify.reference {
        let cost_us = verify.cost_us;
        report.bar(
            format!(
                "/v1/me CPU/req − /healthz CPU/req ≤ 1.2 × jose verify ({})",
                args.alg()
            ),
            format!(
                "{cost_us:.1} µs vs 1.2 × {:.1} µs = {:.1} µs ({src})",
                ns / 1e3,
                1.2 * ns / 1e3
            ),
            cost_us * 1e3 <= 1.2 * ns,
            &[&f.healthz_paced, &f.me_paced],
        );
    }
}

/// Phases other processes disturbed, and /healthz or /v1/me answers that were not 2xx.
fn warnings(report: &mut Report, f: &Figures) {
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
    if !f.healthz.clean || !f.me.clean || !f.probes.alone.clean {
        report.notes.push(
            "some /healthz or /v1/me answers were not 2xx: see the failures column".to_owned(),
        );
    }
}

/// How busy the load generator itself got, against the threads it has.
fn own_cpu_note(report: &Report, args: &Args) -> String {
    let busiest = report
        .rows
        .iter()
        .map(|r| r.own_cpu_pct)
        .fold(0.0, f64::max);
    format!(
        "load generator: at most {busiest:.0}% of one core in any phase; {}",
        match args.client_threads {
            0 => "all its work runs on one thread, so near 100% it would be the bottleneck"
                .to_owned(),
            n => format!(
                "it has {n} worker threads, so near {}% it would be the bottleneck",
                100 * n
            ),
        }
    )
}

/// criterion's median for `verify/ALG/tessera` (as scripts/bench-table.py reads it), when `cargo bench -p tessera-jose` ran here.
fn criterion_verify_ns(alg: &str) -> Option<(f64, String)> {
    let path = format!("target/criterion/verify/{alg}/tessera/new/estimates.json");
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let ns = v.get("median")?.get("point_estimate")?.as_f64()?;
    Some((ns, path))
}
