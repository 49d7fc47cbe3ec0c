//! The request loops. Each worker owns one keep-alive connection, runs until the end of
//! its window, and records only the requests that start and finish inside the measured
//! part of it (after the warm-up).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};

use crate::client::{error_code, Body, Conn, Requests};
use crate::sessions::{Credentials, Session};
use crate::stats::Record;

/// A phase's time line: warm-up until `measure_start`, measured until `end`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub measure_start: Instant,
    pub end: Instant,
}

impl Window {
    pub fn starting_now(warmup: Duration, duration: Duration) -> Window {
        let measure_start = Instant::now() + warmup;
        Window {
            measure_start,
            end: measure_start + duration,
        }
    }

    fn counts(&self, sent: Instant, answered: Instant) -> bool {
        sent >= self.measure_start && answered <= self.end
    }
}

/// One worker's connection to its server and what it recorded.
#[derive(Debug)]
struct Worker {
    addr: SocketAddr,
    win: Window,
    reqs: Requests,
    /// `None` once the window ended without a connection.
    conn: Option<Conn>,
    rec: Record,
}

/// An answer, and whether it counted (sent and answered inside the measured window).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Bytes,
    counted: bool,
}

impl Worker {
    async fn connect(addr: SocketAddr, win: Window) -> Result<Worker> {
        let reqs = Requests::new(addr)?;
        let mut rec = Record::default();
        let conn = connect_in(addr, win, &mut rec).await;
        Ok(Worker {
            addr,
            win,
            reqs,
            conn,
            rec,
        })
    }

    /// Sends `req` and records its latency, from `from`, when it counts. A transport
    /// failure is counted and gives `None`.
    async fn exchange(&mut self, req: Request<Body>, from: Instant) -> Option<Answer> {
        let conn = self.conn.as_mut()?;
        match conn.send(req).await {
            Ok((status, body)) => {
                let answered = Instant::now();
                let counted = self.win.counts(from, answered);
                if counted {
                    self.rec.answered(status.as_u16(), answered - from);
                }
                Some(Answer {
                    status,
                    body,
                    counted,
                })
            }
            Err(_) => {
                self.rec.transport_errors += 1;
                None
            }
        }
    }

    /// Reconnects when the server has closed the connection.
    async fn keep_open(&mut self) {
        if !self.conn.as_ref().is_some_and(Conn::is_open) {
            self.conn = connect_in(self.addr, self.win, &mut self.rec).await;
        }
    }

    /// Logs in again on this connection, after a refresh 401 killed the session.
    async fn relogin(&mut self, creds: &Credentials) -> Result<Session> {
        let conn = self.conn.as_mut().ok_or_else(|| anyhow!("no connection"))?;
        let (status, answer) = conn
            .send(self.reqs.post_json("/v1/login", creds.login_body()))
            .await?;
        if !status.is_success() {
            bail!(
                "login after a refresh 401 answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Session::from_body(&answer)
    }
}

/// Connects, retrying every 10 ms until the window ends.
async fn connect_in(addr: SocketAddr, win: Window, rec: &mut Record) -> Option<Conn> {
    loop {
        match Conn::connect(addr).await {
            Ok(c) => return Some(c),
            Err(_) => {
                rec.transport_errors += 1;
                if Instant::now() >= win.end {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// When a worker's requests go out.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// Each as soon as the previous answer is in; latency counts from when it went out.
    Closed,
    /// On a fixed schedule. Latency counts from when a request was due, not from when it
    /// went out, so a stalled server is not hidden by the worker waiting for it (no
    /// coordinated omission).
    Every { interval: Duration, due: Instant },
}

impl Pace {
    /// `per_sec` requests per second, or `None` for a closed loop; `offset` spreads the
    /// workers' schedules so they do not all fire at once.
    fn new(per_sec: Option<u32>, offset: usize) -> Pace {
        match per_sec {
            None => Pace::Closed,
            Some(n) => {
                let interval = Duration::from_secs(1) / n.max(1);
                Pace::Every {
                    interval,
                    due: Instant::now() + interval * (offset as u32 % 16) / 16,
                }
            }
        }
    }

    /// Waits until the next request is due; false once that is past `end`.
    async fn wait(&self, end: Instant) -> bool {
        match *self {
            Pace::Closed => Instant::now() < end,
            Pace::Every { due, .. } => {
                if due >= end {
                    return false;
                }
                tokio::time::sleep_until(due.into()).await;
                true
            }
        }
    }

    /// What the latency of the request about to go out counts from.
    fn start(&self) -> Instant {
        match *self {
            Pace::Closed => Instant::now(),
            Pace::Every { due, .. } => due,
        }
    }

    fn advance(&mut self) {
        if let Pace::Every { interval, due } = self {
            *due += *interval;
        }
    }
}

/// Sends what `next` builds until the window ends, at `per_sec` requests per second or,
/// with `None`, each as soon as the last answer is in.
async fn request_loop(
    addr: SocketAddr,
    win: Window,
    per_sec: Option<u32>,
    offset: usize,
    mut next: impl FnMut(&Requests) -> Request<Body>,
) -> Result<Record> {
    let mut w = Worker::connect(addr, win).await?;
    let mut pace = Pace::new(per_sec, offset);
    while w.conn.is_some() && pace.wait(win.end).await {
        let req = next(&w.reqs);
        let from = pace.start();
        if let Some(a) = w.exchange(req, from).await {
            if a.counted && !a.status.is_success() {
                w.rec.error_code(&error_code(&a.body));
            }
        }
        w.keep_open().await;
        pace.advance();
    }
    Ok(w.rec)
}

/// `GET path` in a loop, at `per_sec` requests per second or as fast as answers come back;
/// with `bearers`, each request carries the next token of the list (starting at `offset`,
/// so workers spread over the sessions).
pub async fn get_loop(
    addr: SocketAddr,
    path: &'static str,
    bearers: Arc<Vec<HeaderValue>>,
    offset: usize,
    per_sec: Option<u32>,
    win: Window,
) -> Result<Record> {
    let mut i = offset;
    request_loop(addr, win, per_sec, offset, |reqs| {
        let req = reqs.get(path, bearers.get(i % bearers.len().max(1)));
        i = i.wrapping_add(1);
        req
    })
    .await
}

/// `POST /v1/login` (correct password, body delivery) in a loop.
pub async fn login_loop(addr: SocketAddr, creds: Arc<Credentials>, win: Window) -> Result<Record> {
    let body = creds.login_body();
    request_loop(addr, win, None, 0, |reqs| {
        reqs.post_json("/v1/login", body.clone())
    })
    .await
}

/// What a refresh worker brings back.
#[derive(Debug)]
pub struct RefreshOutcome {
    pub record: Record,
    /// The session as it stands after the last successful rotation.
    pub session: Session,
    /// Successful rotations over the whole phase, warm-up and stragglers included (what
    /// the database saw).
    pub rotations: u64,
    /// Logins needed because the session's refresh token stopped working (should be 0).
    pub relogins: u64,
    /// Bodies of answers that mention "locked" (SQLite's `database is locked`).
    pub locked_bodies: Vec<String>,
}

/// Rotates one session's refresh token in a loop, always presenting the newest token.
/// A 401 kills the session (`login_required`): it is counted and the worker logs in again
/// so the phase goes on. Other failures (e.g. 503) retry with the same token, which a 503
/// leaves unspent ("nothing half-written", docs/http-api.md "Error codes").
pub async fn refresh_loop(
    addr: SocketAddr,
    mut session: Session,
    creds: Arc<Credentials>,
    win: Window,
) -> Result<RefreshOutcome> {
    let mut w = Worker::connect(addr, win).await?;
    let mut relogins = 0;
    let mut rotations = 0;
    let mut locked_bodies = Vec::new();
    while w.conn.is_some() && Instant::now() < win.end {
        let body = format!(r#"{{"refresh_token":"{}"}}"#, session.refresh_token);
        let sent = Instant::now();
        let req = w.reqs.post_json("/v1/token/refresh", Bytes::from(body));
        if let Some(a) = w.exchange(req, sent).await {
            if a.status.is_success() {
                session = Session::from_body(&a.body)?;
                rotations += 1;
            } else {
                // Errors count even outside the window: the bar is "zero errors".
                if !a.counted {
                    *w.rec.by_status.entry(a.status.as_u16()).or_default() += 1;
                }
                w.rec.error_code(&error_code(&a.body));
                let text = String::from_utf8_lossy(&a.body);
                if text.contains("locked") && locked_bodies.len() < 5 {
                    locked_bodies.push(text.into_owned());
                }
                if a.status.as_u16() == 401 {
                    session = w.relogin(&creds).await?;
                    relogins += 1;
                }
            }
        }
        w.keep_open().await;
    }
    Ok(RefreshOutcome {
        record: w.rec,
        session,
        rotations,
        relogins,
        locked_bodies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_only_requests_inside() {
        let w = Window::starting_now(Duration::from_millis(100), Duration::from_secs(1));
        let before = w.measure_start - Duration::from_millis(1);
        let inside = w.measure_start + Duration::from_millis(5);
        assert!(!w.counts(before, inside));
        assert!(w.counts(inside, inside + Duration::from_millis(1)));
        assert!(!w.counts(inside, w.end + Duration::from_millis(1)));
    }

    #[tokio::test]
    async fn paced_requests_are_due_on_a_spread_schedule() {
        let t = Instant::now();
        let mut pace = Pace::new(Some(100), 8);
        let t2 = Instant::now();
        let first = pace.start();
        // 100/s is every 10 ms; offset 8 of 16 starts half an interval in.
        let half = Duration::from_millis(5);
        assert!(first >= t + half && first <= t2 + half, "{:?}", first - t);
        assert!(pace.wait(first + Duration::from_secs(1)).await);
        assert!(Instant::now() >= first);
        pace.advance();
        assert_eq!(pace.start(), first + Duration::from_millis(10));
        // The next request would be due at the window's end: the loop is over.
        assert!(!pace.wait(first + Duration::from_millis(10)).await);
    }

    #[tokio::test]
    async fn closed_loop_runs_until_the_end() {
        let mut pace = Pace::new(None, 3);
        let before = Instant::now();
        let end = before + Duration::from_secs(60);
        assert!(pace.wait(end).await);
        // Latency counts from when the request goes out.
        let from = pace.start();
        assert!(from >= before && from < end);
        pace.advance();
        assert!(!pace.wait(Instant::now()).await);
    }
}
