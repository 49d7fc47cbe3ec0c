//! What one worker records, merged per phase: latencies in µs, answers by status and by
//! error code, transport failures.

use std::collections::BTreeMap;
use std::time::Duration;

/// One worker's (or, merged, one phase's) record of the measured window.
#[derive(Debug, Default, Clone)]
pub struct Record {
    /// Latency of every request answered inside the measured window, in µs.
    pub latencies_us: Vec<u32>,
    /// Answers by HTTP status (2xx included).
    pub by_status: BTreeMap<u16, u64>,
    /// Non-2xx answers by their `error` code (docs/http-api.md "Error codes"), `?` when the body had none.
    pub by_error: BTreeMap<String, u64>,
    /// Connection or protocol failures and time-outs (no HTTP answer at all).
    pub transport_errors: u64,
}

impl Record {
    pub fn answered(&mut self, status: u16, latency: Duration) {
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        *self.by_status.entry(status).or_default() += 1;
    }

    pub fn error_code(&mut self, code: &str) {
        *self.by_error.entry(code.to_owned()).or_default() += 1;
    }

    pub fn merge(&mut self, other: Record) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
        for (k, v) in other.by_error {
            *self.by_error.entry(k).or_default() += v;
        }
        self.transport_errors += other.transport_errors;
    }

    pub fn requests(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    pub fn non_2xx(&self) -> u64 {
        self.by_status
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }

    /// Sorted latencies, for [`Percentiles::of`].
    pub fn summary(&self) -> Percentiles {
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        Percentiles::of(&v)
    }

    /// `404×3 429×1` style summary of non-2xx answers plus transport errors; `0` when clean.
    pub fn failures(&self) -> String {
        let mut parts: Vec<String> = self
            .by_status
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(s, n)| format!("{s}×{n}"))
            .collect();
        parts.extend(self.by_error.iter().map(|(c, n)| format!("{c}×{n}")));
        if self.transport_errors > 0 {
            parts.push(format!("transport×{}", self.transport_errors));
        }
        if parts.is_empty() {
            "0".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

/// Nearest-rank percentiles of a latency sample, in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub n: usize,
    pub p50: u32,
    pub p99: u32,
    pub max: u32,
}

impl Percentiles {
    /// `sorted` must be ascending.
    pub fn of(sorted: &[u32]) -> Percentiles {
        Percentiles {
            n: sorted.len(),
            p50: nearest_rank(sorted, 50.0),
            p99: nearest_rank(sorted, 99.0),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// The smallest value with at least `p`% of the sample at or below it; 0 for no sample.
pub fn nearest_rank(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 50.0), 50);
        assert_eq!(nearest_rank(&v, 99.0), 99);
        assert_eq!(nearest_rank(&v, 100.0), 100);
        assert_eq!(nearest_rank(&v, 0.0), 1);
        assert_eq!(nearest_rank(&[7], 99.0), 7);
        assert_eq!(nearest_rank(&[], 50.0), 0);
        // 1000 samples: p99 is the 990th.
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(nearest_rank(&v, 99.0), 990);
        let p = Percentiles::of(&v);
        assert_eq!((p.n, p.p50, p.max), (1000, 500, 1000));
    }

    #[test]
    fn merge_adds_up() {
        let mut a = Record::default();
        a.answered(200, Duration::from_micros(10));
        a.answered(401, Duration::from_micros(30));
        a.error_code("invalid_refresh_token");
        let mut b = Record::default();
        b.answered(200, Duration::from_micros(20));
        b.transport_errors = 2;
        a.merge(b);
        assert_eq!(a.requests(), 3);
        assert_eq!(a.non_2xx(), 1);
        assert_eq!(a.summary().p50, 20);
        assert_eq!(a.failures(), "401×1 invalid_refresh_token×1 transport×2");
        assert_eq!(Record::default().failures(), "0");
    }
}
