//! Start-up: starting `tessera serve`, timed from spawn to its first 200 of `/healthz`.

use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::server::{Launch, Server};

/// The start-up times of the full run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartUp {
    /// The first start, which creates the signing key.
    pub first: Duration,
    /// The starts on the key already created, in order.
    pub restarts: Vec<Duration>,
    /// Their median, which the start-up bar uses.
    pub median: Duration,
}

impl StartUp {
    /// `None` without any restart.
    fn new(first: Duration, restarts: Vec<Duration>) -> Option<StartUp> {
        let mut sorted = restarts.clone();
        sorted.sort();
        let median = *sorted.get(sorted.len() / 2)?;
        Some(StartUp {
            first,
            restarts,
            median,
        })
    }

    /// Phase 1 of the full run: a first start that creates the key, stopped; then
    /// `restarts` starts on the same directory, each stopping the one before. The last is
    /// left running for the phases that follow.
    pub async fn measure(launch: &Launch, restarts: u16) -> Result<(StartUp, Server)> {
        let mut first = launch.spawn(0)?;
        let first_start = first.wait_ready(Duration::from_secs(30)).await?;
        first.stop()?;
        drop(first);
        let mut times = Vec::new();
        let mut server: Option<Server> = None;
        for i in 1..=usize::from(restarts) {
            if let Some(mut s) = server.take() {
                s.stop()?;
            }
            let mut s = launch.spawn(i)?;
            times.push(s.wait_ready(Duration::from_secs(10)).await?);
            server = Some(s);
        }
        let server = server.ok_or_else(|| anyhow!("no server running"))?;
        let startup = StartUp::new(first_start, times).ok_or_else(|| anyhow!("no restart"))?;
        Ok((startup, server))
    }

    pub fn note(&self) -> String {
        format!(
            "start-up: first start (creates the key) {:.1} ms; with the key already created {} ms (median {:.1} ms)",
            millis(self.first),
            ms_list(&self.restarts),
            millis(self.median)
        )
    }
}

/// `--phases refresh`: starts `n` replicas one after the other, the first alone since it
/// creates the signing key in the empty database. Returns them and their start-up times.
pub async fn replicas(launch: &Launch, n: usize) -> Result<(Vec<Server>, Vec<Duration>)> {
    let mut servers = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = launch.spawn(i)?;
        starts.push(s.wait_ready(Duration::from_secs(30)).await?);
        servers.push(s);
    }
    Ok((servers, starts))
}

/// Start-up times as the notes show them: `12.1 / 8.9 / 9.2` (ms).
pub fn ms_list(times: &[Duration]) -> String {
    times
        .iter()
        .map(|d| format!("{:.1}", millis(*d)))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_the_restarts_and_the_note() {
        let ms = Duration::from_micros;
        let s = StartUp::new(ms(90_480), vec![ms(12_100), ms(8_900), ms(9_200)]);
        let s = s.expect("three restarts");
        assert_eq!(s.median, ms(9_200));
        assert_eq!(
            s.note(),
            "start-up: first start (creates the key) 90.5 ms; with the key already created 12.1 / 8.9 / 9.2 ms (median 9.2 ms)"
        );
        // Even count: the upper of the two middle values, as before.
        let s = StartUp::new(ms(1), vec![ms(4_000), ms(1_000), ms(3_000), ms(2_000)]);
        assert_eq!(s.map(|s| s.median), Some(ms(3_000)));
        assert_eq!(StartUp::new(ms(1), vec![]), None);
    }
}
