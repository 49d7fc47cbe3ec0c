//! The side-by-side table: for each measure, every target's median over the rounds with its
//! spread, and each target's ratio to the baseline taken round by round (the rounds are
//! interleaved, so pairing them cancels what drifts during the run).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::target::TargetKind;

/// How a measure's values print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    PerSec,
    Micros,
    Millis,
    MiB,
}

impl Unit {
    fn fmt(self, v: f64) -> String {
        match self {
            Unit::PerSec => format!("{v:.0}"),
            Unit::Micros => format!("{v:.2}"),
            Unit::Millis => format!("{v:.2}"),
            Unit::MiB => format!("{v:.1}"),
        }
    }
}

/// One measure (a line of the table): per target, one value per round, in round order.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub unit: Unit,
    pub values: BTreeMap<TargetKind, Vec<f64>>,
}

/// The median of a sample and its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for an empty sample.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let (&min, &max) = (v.first()?, v.last()?);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Spread { median, min, max })
    }

    fn show(&self, fmt: impl Fn(f64) -> String) -> String {
        if self.min == self.max {
            fmt(self.median)
        } else {
            format!("{} [{}–{}]", fmt(self.median), fmt(self.min), fmt(self.max))
        }
    }
}

impl Series {
    pub fn new(label: impl Into<String>, unit: Unit) -> Series {
        Series {
            label: label.into(),
            unit,
            values: BTreeMap::new(),
        }
    }

    pub fn push(&mut self, target: TargetKind, value: f64) {
        self.values.entry(target).or_default().push(value);
    }

    pub fn spread(&self, target: TargetKind) -> Option<Spread> {
        Spread::of(self.values.get(&target)?)
    }

    /// `target`'s value ÷ the baseline's, round by round.
    pub fn ratios(&self, target: TargetKind) -> Vec<f64> {
        self.paired(target, |t, b| (b != 0.0).then(|| t / b))
    }

    /// `target`'s value − the baseline's, round by round.
    pub fn differences(&self, target: TargetKind) -> Vec<f64> {
        self.paired(target, |t, b| Some(t - b))
    }

    fn paired(&self, target: TargetKind, f: impl Fn(f64, f64) -> Option<f64>) -> Vec<f64> {
        let (Some(t), Some(b)) = (
            self.values.get(&target),
            self.values.get(&TargetKind::Baseline),
        ) else {
            return Vec::new();
        };
        t.iter().zip(b).filter_map(|(&t, &b)| f(t, b)).collect()
    }

    fn ratio_cell(&self, target: TargetKind) -> String {
        let Some(ratio) = Spread::of(&self.ratios(target)) else {
            return "–".to_owned();
        };
        let mut cell = ratio.show(|v| format!("{v:.2}"));
        // For CPU per request, the bar is a difference in µs.
        if self.unit == Unit::Micros {
            if let Some(d) = Spread::of(&self.differences(target)) {
                let _ = write!(cell, "; {} µs", d.show(|v| format!("{v:+.2}")));
            }
        }
        cell
    }
}

/// The table: a column per target (median [min–max] over the rounds), then a ratio column
/// per target other than the baseline (its ÷ the baseline's, round by round).
pub fn markdown(series: &[Series], targets: &[TargetKind]) -> String {
    let others: Vec<TargetKind> = targets
        .iter()
        .copied()
        .filter(|t| *t != TargetKind::Baseline)
        .collect();
    let mut s = String::new();
    let _ = write!(s, "| measure |");
    for t in targets {
        let _ = write!(s, " {} |", t.name());
    }
    for t in &others {
        let _ = write!(s, " {} ÷ baseline |", t.name());
    }
    let _ = write!(s, "\n|---|");
    for _ in 0..targets.len() + others.len() {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    for series in series {
        let _ = write!(s, "| {} |", series.label);
        for t in targets {
            let cell = series
                .spread(*t)
                .map_or_else(|| "–".to_owned(), |sp| sp.show(|v| series.unit.fmt(v)));
            let _ = write!(s, " {cell} |");
        }
        for t in &others {
            let _ = write!(s, " {} |", series.ratio_cell(*t));
        }
        let _ = writeln!(s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use TargetKind::{Baseline, Tessera};

    #[test]
    fn median_and_range() {
        assert_eq!(Spread::of(&[]), None);
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("some");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).expect("some");
        assert_eq!(s.median, 2.5);
        // A NaN (0/0) is not a sample.
        assert_eq!(Spread::of(&[f64::NAN, 5.0]).map(|s| s.median), Some(5.0));
    }

    #[test]
    fn ratios_pair_the_rounds() {
        let mut s = Series::new("GET /v1/me req/s", Unit::PerSec);
        for (t, b) in [(90.0, 100.0), (110.0, 100.0), (50.0, 0.0), (99.0, 90.0)] {
            s.push(Tessera, t);
            s.push(Baseline, b);
        }
        // Round 3 (baseline 0) has no ratio.
        assert_eq!(s.ratios(Tessera), [0.9, 1.1, 1.1]);
        assert_eq!(s.differences(Tessera), [-10.0, 10.0, 50.0, 9.0]);
        assert!(s.ratios(Baseline).iter().all(|r| *r == 1.0));
    }

    #[test]
    fn table_has_a_ratio_column_per_other_target() {
        let mut rps = Series::new("GET /healthz req/s", Unit::PerSec);
        let mut cpu = Series::new("GET /healthz server CPU µs/req", Unit::Micros);
        for (t, b) in [
            (40_000.0, 50_000.0),
            (42_000.0, 50_000.0),
            (41_000.0, 50_000.0),
        ] {
            rps.push(Tessera, t);
            rps.push(Baseline, b);
        }
        for (t, b) in [(14.0, 10.0), (14.5, 10.0), (13.5, 10.5)] {
            cpu.push(Tessera, t);
            cpu.push(Baseline, b);
        }
        let md = markdown(&[rps, cpu], &[Tessera, Baseline]);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| measure | tessera | baseline | tessera ÷ baseline |"
        );
        assert_eq!(lines[1], "|---|---:|---:|---:|");
        assert_eq!(
            lines[2],
            "| GET /healthz req/s | 41000 [40000–42000] | 50000 | 0.82 [0.80–0.84] |"
        );
        assert_eq!(
            lines[3],
            "| GET /healthz server CPU µs/req | 14.00 [13.50–14.50] | 10.00 [10.00–10.50] | 1.40 [1.29–1.45]; +4.00 [+3.00–+4.50] µs |"
        );
    }
}
