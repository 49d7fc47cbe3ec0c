//! The request loops. Each worker owns one keep-alive connection, runs until the end of
//! its window, and records only the requests that start and finish inside the measured
//! part of it (after the warm-up).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hyper::header::HeaderValue;
use serde::Deserialize;

use crate::client::{bearer, error_code, Conn, Requests};
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

/// The user every session logs in as.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    fn login_body(&self) -> Bytes {
        Bytes::from(
            serde_json::json!({
                "username": self.username,
                "password": self.password,
                "delivery": "body",
            })
            .to_string(),
        )
    }
}

/// One login's tokens (body delivery).
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    refresh_token: Option<String>,
}

impl Session {
    fn from_body(body: &[u8]) -> Result<Session> {
        let t: TokenResponse =
            serde_json::from_slice(body).context("TokenResponse is not the JSON of SPEC §4")?;
        Ok(Session {
            access_token: t.access_token,
            refresh_token: t
                .refresh_token
                .context("no refresh_token in the answer although delivery was body")?,
        })
    }
}

/// `POST /v1/users`; 201 (or 409 if it already exists) is fine.
pub async fn create_user(addr: SocketAddr, creds: &Credentials) -> Result<()> {
    let reqs = Requests::new(addr)?;
    let mut conn = Conn::connect(addr).await?;
    let body = serde_json::json!({"username": creds.username, "password": creds.password});
    let (status, body) = conn
        .send(reqs.post_json("/v1/users", Bytes::from(body.to_string())))
        .await?;
    if !(status.as_u16() == 201 || status.as_u16() == 409) {
        bail!(
            "POST /v1/users answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Logs in `count` times over one connection, recording each login's latency.
pub async fn login_sessions(
    addr: SocketAddr,
    creds: Arc<Credentials>,
    count: usize,
) -> Result<(Vec<Session>, Record)> {
    let reqs = Requests::new(addr)?;
    let mut conn = Conn::connect(addr).await?;
    let body = creds.login_body();
    let mut sessions = Vec::with_capacity(count);
    let mut rec = Record::default();
    for _ in 0..count {
        let t = Instant::now();
        let (status, answer) = conn.send(reqs.post_json("/v1/login", body.clone())).await?;
        rec.answered(status.as_u16(), t.elapsed());
        if !status.is_success() {
            bail!(
                "POST /v1/login answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        sessions.push(Session::from_body(&answer)?);
    }
    Ok((sessions, rec))
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

/// `GET path` in a loop; with `bearers`, each request carries the next token of the list
/// (starting at `offset`, so workers spread over the sessions).
pub async fn get_loop(
    addr: SocketAddr,
    path: &'static str,
    bearers: Arc<Vec<HeaderValue>>,
    offset: usize,
    win: Window,
) -> Result<Record> {
    let reqs = Requests::new(addr)?;
    let mut rec = Record::default();
    let Some(mut conn) = connect_in(addr, win, &mut rec).await else {
        return Ok(rec);
    };
    let mut i = offset;
    while Instant::now() < win.end {
        let req = reqs.get(path, bearers.get(i % bearers.len().max(1)));
        i = i.wrapping_add(1);
        let sent = Instant::now();
        match conn.send(req).await {
            Ok((status, body)) => {
                let answered = Instant::now();
                if win.counts(sent, answered) {
                    rec.answered(status.as_u16(), answered - sent);
                    if !status.is_success() {
                        rec.error_code(&error_code(&body));
                    }
                }
            }
            Err(_) => rec.transport_errors += 1,
        }
        if !conn.is_open() {
            let Some(c) = connect_in(addr, win, &mut rec).await else {
                break;
            };
            conn = c;
        }
    }
    Ok(rec)
}

/// `GET path` at a fixed pace of `per_sec` requests per second on one connection. Latency
/// is counted from the time a request was due, not from when it went out, so a stalled
/// server is not hidden by the probe waiting for it (no coordinated omission).
pub async fn paced_get_loop(
    addr: SocketAddr,
    path: &'static str,
    bearers: Arc<Vec<HeaderValue>>,
    offset: usize,
    per_sec: u32,
    win: Window,
) -> Result<Record> {
    let reqs = Requests::new(addr)?;
    let mut rec = Record::default();
    let Some(mut conn) = connect_in(addr, win, &mut rec).await else {
        return Ok(rec);
    };
    let interval = Duration::from_secs(1) / per_sec.max(1);
    // Spread the probes' phases so they do not all fire at once.
    let mut due = Instant::now() + interval * (offset as u32 % 16) / 16;
    let mut i = offset;
    while due < win.end {
        tokio::time::sleep_until(due.into()).await;
        let req = reqs.get(path, bearers.get(i % bearers.len().max(1)));
        i = i.wrapping_add(1);
        match conn.send(req).await {
            Ok((status, body)) => {
                let answered = Instant::now();
                if win.counts(due, answered) {
                    rec.answered(status.as_u16(), answered - due);
                    if !status.is_success() {
                        rec.error_code(&error_code(&body));
                    }
                }
            }
            Err(_) => rec.transport_errors += 1,
        }
        if !conn.is_open() {
            let Some(c) = connect_in(addr, win, &mut rec).await else {
                break;
            };
            conn = c;
        }
        due += interval;
    }
    Ok(rec)
}

/// `POST /v1/login` (correct password, body delivery) in a loop.
pub async fn login_loop(addr: SocketAddr, creds: Arc<Credentials>, win: Window) -> Result<Record> {
    let reqs = Requests::new(addr)?;
    let body = creds.login_body();
    let mut rec = Record::default();
    let Some(mut conn) = connect_in(addr, win, &mut rec).await else {
        return Ok(rec);
    };
    while Instant::now() < win.end {
        let sent = Instant::now();
        match conn.send(reqs.post_json("/v1/login", body.clone())).await {
            Ok((status, answer)) => {
                let answered = Instant::now();
                if win.counts(sent, answered) {
                    rec.answered(status.as_u16(), answered - sent);
                    if !status.is_success() {
                        rec.error_code(&error_code(&answer));
                    }
                }
            }
            Err(_) => rec.transport_errors += 1,
        }
        if !conn.is_open() {
            let Some(c) = connect_in(addr, win, &mut rec).await else {
                break;
            };
            conn = c;
        }
    }
    Ok(rec)
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
/// so the phase goes on. Other failures (e.g. 503) retry with the same token, which SPEC
/// §5 says was not spent ("nothing half-written").
pub async fn refresh_loop(
    addr: SocketAddr,
    mut session: Session,
    creds: Arc<Credentials>,
    win: Window,
) -> Result<RefreshOutcome> {
    let reqs = Requests::new(addr)?;
    let mut out_rec = Record::default();
    let mut relogins = 0;
    let mut rotations = 0;
    let mut locked_bodies = Vec::new();
    let Some(mut conn) = connect_in(addr, win, &mut out_rec).await else {
        return Ok(RefreshOutcome {
            record: out_rec,
            session,
            rotations,
            relogins,
            locked_bodies,
        });
    };
    let rec = &mut out_rec;
    while Instant::now() < win.end {
        let body = format!(r#"{{"refresh_token":"{}"}}"#, session.refresh_token);
        let sent = Instant::now();
        match conn
            .send(reqs.post_json("/v1/token/refresh", Bytes::from(body)))
            .await
        {
            Ok((status, answer)) => {
                let answered = Instant::now();
                let counted = win.counts(sent, answered);
                if counted {
                    rec.answered(status.as_u16(), answered - sent);
                }
                if status.is_success() {
                    session = Session::from_body(&answer)?;
                    rotations += 1;
                } else {
                    // Errors count even outside the window: the bar is "zero errors".
                    if !counted {
                        rec.by_status
                            .entry(status.as_u16())
                            .and_modify(|n| *n += 1)
                            .or_insert(1);
                    }
                    rec.error_code(&error_code(&answer));
                    let text = String::from_utf8_lossy(&answer);
                    if text.contains("locked") && locked_bodies.len() < 5 {
                        locked_bodies.push(text.into_owned());
                    }
                    if status.as_u16() == 401 {
                        session = relogin(&mut conn, &reqs, &creds).await?;
                        relogins += 1;
                    }
                }
            }
            Err(_) => rec.transport_errors += 1,
        }
        if !conn.is_open() {
            let Some(c) = connect_in(addr, win, rec).await else {
                break;
            };
            conn = c;
        }
    }
    Ok(RefreshOutcome {
        record: out_rec,
        session,
        rotations,
        relogins,
        locked_bodies,
    })
}

async fn relogin(conn: &mut Conn, reqs: &Requests, creds: &Credentials) -> Result<Session> {
    let (status, answer) = conn
        .send(reqs.post_json("/v1/login", creds.login_body()))
        .await?;
    if !status.is_success() {
        bail!(
            "login after a refresh 401 answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    Session::from_body(&answer)
}

/// Bearer header values for the sessions' access tokens.
pub fn bearers(sessions: &[Session]) -> Result<Arc<Vec<HeaderValue>>> {
    Ok(Arc::new(
        sessions
            .iter()
            .map(|s| bearer(&s.access_token))
            .collect::<Result<_>>()?,
    ))
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

    #[test]
    fn token_response_needs_a_refresh_token() {
        let s = Session::from_body(
            br#"{"access_token":"a.b.c","token_type":"Bearer","expires_in":900,"refresh_token":"r","refresh_expires_in":1,"session_id":"s"}"#,
        );
        assert_eq!(s.map(|s| s.refresh_token).ok().as_deref(), Some("r"));
        assert!(Session::from_body(br#"{"access_token":"a.b.c"}"#).is_err());
    }
}
