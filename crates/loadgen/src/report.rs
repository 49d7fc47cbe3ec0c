//! The figures of one run and their markdown rendering, bars included.

use std::fmt::Write as _;
use std::time::Duration;

use crate::stats::{Percentiles, Record};

/// CPU and memory over one measured window.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub wall: Duration,
    /// Summed over the replicas.
    pub server_cpu: Duration,
    /// The database cluster's (PostgreSQL on this machine), when measured.
    pub db_cpu: Option<Duration>,
    pub own_cpu: Duration,
    /// Busy CPU of the whole machine (all processes, all cores).
    pub machine_busy: Duration,
    /// The largest of the replicas'.
    pub server_hwm_kib: u64,
}

impl Usage {
    /// CPU used by neither the servers, nor the database, nor the load generator.
    pub fn others(&self) -> Duration {
        self.machine_busy
            .saturating_sub(self.server_cpu)
            .saturating_sub(self.db_cpu.unwrap_or_default())
            .saturating_sub(self.own_cpu)
    }
}

/// One line of the main table.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub conns: usize,
    pub requests: u64,
    pub per_sec: f64,
    pub lat: Percentiles,
    pub failures: String,
    pub clean: bool,
    /// Server CPU per answered request, µs.
    pub cpu_us_per_req: f64,
    pub server_cpu_pct: f64,
    /// Database CPU per answered request, µs, and in % of one core (when measured).
    pub db_cpu: Option<(f64, f64)>,
    pub own_cpu_pct: f64,
    /// Load generator CPU per answered request, µs.
    pub own_us_per_req: f64,
    /// CPU of everything else on the machine (a build, another benchmark), % of one core.
    pub others_cpu_pct: f64,
    pub hwm_mib: f64,
}

impl Row {
    pub fn new(name: impl Into<String>, conns: usize, rec: &Record, usage: &Usage) -> Row {
        let secs = usage.wall.as_secs_f64().max(1e-9);
        let requests = rec.requests();
        Row {
            name: name.into(),
            conns,
            requests,
            per_sec: requests as f64 / secs,
            lat: rec.summary(),
            failures: rec.failures(),
            clean: rec.non_2xx() == 0 && rec.transport_errors == 0 && rec.by_error.is_empty(),
            cpu_us_per_req: per_req(usage.server_cpu, requests),
            server_cpu_pct: 100.0 * usage.server_cpu.as_secs_f64() / secs,
            db_cpu: usage
                .db_cpu
                .map(|d| (per_req(d, requests), 100.0 * d.as_secs_f64() / secs)),
            own_cpu_pct: 100.0 * usage.own_cpu.as_secs_f64() / secs,
            own_us_per_req: per_req(usage.own_cpu, requests),
            others_cpu_pct: 100.0 * usage.others().as_secs_f64() / secs,
            hwm_mib: mib(usage.server_hwm_kib),
        }
    }
}

fn per_req(cpu: Duration, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        cpu.as_secs_f64() * 1e6 / requests as f64
    }
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

/// Above this much CPU (% of one core) used by other processes during a phase, the phase's
/// figures are flagged as disturbed.
pub const DISTURBED_PCT: f64 = 10.0;

/// A bar of the issue: its text, the measured figure, and whether it was met.
#[derive(Debug, Clone)]
pub struct Bar {
    pub what: String,
    pub measured: String,
    pub pass: bool,
    /// Set when a phase the bar rests on shared the machine with other busy processes.
    pub disturbed: Option<String>,
}

/// Everything a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub header: Vec<String>,
    /// Markdown sections shown right after the header, before the table of rows.
    pub sections: Vec<String>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub bars: Vec<Bar>,
    /// `key=value` lines for scripts (`--summary`).
    pub summary: Vec<(String, String)>,
}

impl Report {
    /// Records a bar resting on the figures of `rows`.
    pub fn bar(
        &mut self,
        what: impl Into<String>,
        measured: impl Into<String>,
        pass: bool,
        rows: &[&Row],
    ) {
        let noisy: Vec<String> = rows
            .iter()
            .filter(|r| r.others_cpu_pct > DISTURBED_PCT)
            .map(|r| format!("{} ({:.0}% of a core)", r.name, r.others_cpu_pct))
            .collect();
        self.bars.push(Bar {
            what: what.into(),
            measured: measured.into(),
            pass,
            disturbed: (!noisy.is_empty()).then(|| {
                format!(
                    "untrusted: other processes were busy during {}",
                    noisy.join(", ")
                )
            }),
        });
    }

    pub fn any_miss(&self) -> bool {
        self.bars.iter().any(|b| !b.pass)
    }

    /// Records the figures of `row` in the summary, keys prefixed with `prefix`.
    pub fn summarize(&mut self, prefix: &str, row: &Row) {
        let mut put = |k: &str, v: String| self.summary.push((format!("{prefix}{k}"), v));
        put("requests", row.requests.to_string());
        put("per_sec", format!("{:.1}", row.per_sec));
        put("p50_ms", format!("{:.2}", ms(row.lat.p50)));
        put("p99_ms", format!("{:.2}", ms(row.lat.p99)));
        put("max_ms", format!("{:.2}", ms(row.lat.max)));
        put("failures", row.failures.replace(' ', ","));
        put("clean", u8::from(row.clean).to_string());
        put(
            "server_cpu_us_per_req",
            format!("{:.1}", row.cpu_us_per_req),
        );
        put("server_cpu_pct", format!("{:.0}", row.server_cpu_pct));
        if let Some((us, pct)) = row.db_cpu {
            put("db_cpu_us_per_req", format!("{us:.1}"));
            put("db_cpu_pct", format!("{pct:.0}"));
        }
        put(
            "loadgen_cpu_us_per_req",
            format!("{:.1}", row.own_us_per_req),
        );
        put("others_cpu_pct", format!("{:.0}", row.others_cpu_pct));
    }

    /// The summary as `key=value` lines (values hold no spaces).
    pub fn summary_text(&self) -> String {
        self.summary
            .iter()
            .map(|(k, v)| format!("{k}={}\n", v.replace([' ', '\n'], "_")))
            .collect()
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## tessera-loadgen\n");
        for h in &self.header {
            let _ = writeln!(s, "- {h}");
        }
        for section in &self.sections {
            let _ = write!(s, "\n{section}");
        }
        // The database columns only when a database was measured, so the default report
        // keeps its shape.
        let with_db = self.rows.iter().any(|r| r.db_cpu.is_some());
        let (db_head, db_rule) = if with_db {
            (" db CPU µs/req | db CPU % |", "---:|---:|")
        } else {
            ("", "")
        };
        let _ = writeln!(
            s,
            "\n| phase | conns | requests | req/s | p50 ms | p99 ms | max ms | non-2xx / errors | server CPU µs/req | server CPU % |{db_head} loadgen CPU % | loadgen µs/req | other CPU % | server VmHWM MiB |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|{db_rule}---:|---:|---:|---:|"
        );
        for r in &self.rows {
            let db = match (with_db, r.db_cpu) {
                (false, _) => String::new(),
                (true, Some((us, pct))) => format!(" {us:.1} | {pct:.0} |"),
                (true, None) => " – | – |".to_owned(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.1} | {:.0} |{db} {:.0} | {:.1} | {:.0} | {:.1} |",
                r.name,
                r.conns,
                r.requests,
                r.per_sec,
                ms(r.lat.p50),
                ms(r.lat.p99),
                ms(r.lat.max),
                r.failures,
                r.cpu_us_per_req,
                r.server_cpu_pct,
                r.own_cpu_pct,
                r.own_us_per_req,
                r.others_cpu_pct,
                r.hwm_mib,
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s);
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        let _ = writeln!(s, "\n### Bars\n");
        for b in &self.bars {
            let _ = writeln!(
                s,
                "- {}: {} — {}{}",
                if b.pass { "PASS" } else { "MISS" },
                b.what,
                b.measured,
                b.disturbed
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_rates_and_cpu_per_request() {
        let mut rec = Record::default();
        for _ in 0..1000 {
            rec.answered(200, Duration::from_micros(500));
        }
        let usage = Usage {
            wall: Duration::from_secs(2),
            server_cpu: Duration::from_millis(50),
            db_cpu: None,
            own_cpu: Duration::from_secs(1),
            machine_busy: Duration::from_millis(1150),
            server_hwm_kib: 20 * 1024,
        };
        let r = Row::new("x", 4, &rec, &usage);
        let mut noisy = r.clone();
        noisy.others_cpu_pct = 55.0;
        assert_eq!(r.per_sec, 500.0);
        assert!((r.cpu_us_per_req - 50.0).abs() < 1e-9);
        assert!((r.own_cpu_pct - 50.0).abs() < 1e-9);
        assert!((r.others_cpu_pct - 5.0).abs() < 1e-9);
        assert_eq!(r.hwm_mib, 20.0);
        assert!(r.clean);
        let mut report = Report::default();
        report.bar("b", "m", false, &[&r]);
        report.bar("c", "n", true, &[&r, &noisy]);
        report.rows.push(r);
        let md = report.markdown();
        assert!(
            md.contains(
                "- PASS: c — n (untrusted: other processes were busy during x (55% of a core))"
            ),
            "{md}"
        );
        assert!(md.contains("| x | 4 | 1000 | 500 | 0.50 |"), "{md}");
        assert!(!md.contains("db CPU"), "{md}");
        assert!(md.contains("- MISS: b — m"));
        assert!(report.any_miss());
    }

    #[test]
    fn database_columns_and_summary() {
        let mut rec = Record::default();
        for _ in 0..100 {
            rec.answered(200, Duration::from_millis(2));
        }
        rec.answered(503, Duration::from_millis(9));
        rec.error_code("unavailable");
        let usage = Usage {
            wall: Duration::from_secs(1),
            server_cpu: Duration::from_millis(101),
            db_cpu: Some(Duration::from_millis(202)),
            own_cpu: Duration::from_millis(10),
            machine_busy: Duration::from_millis(400),
            server_hwm_kib: 1024,
        };
        let r = Row::new("refresh", 64, &rec, &usage);
        assert!(
            (r.others_cpu_pct - 8.7).abs() < 1e-6,
            "{}",
            r.others_cpu_pct
        );
        let mut report = Report::default();
        report.summarize("refresh_", &r);
        report.rows.push(r);
        let md = report.markdown();
        assert!(md.contains("| db CPU µs/req | db CPU % |"), "{md}");
        assert!(md.contains("| 1000.0 | 10 | 2000.0 | 20 |"), "{md}");
        let text = report.summary_text();
        assert!(text.contains("refresh_per_sec=101.0\n"), "{text}");
        assert!(
            text.contains("refresh_failures=503×1,unavailable×1\n"),
            "{text}"
        );
        assert!(text.contains("refresh_clean=0\n"), "{text}");
        assert!(
            text.contains("refresh_db_cpu_us_per_req=2000.0\n"),
            "{text}"
        );
    }
}
