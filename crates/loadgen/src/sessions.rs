//! The user every session logs in as, the sessions' tokens, and the setup phase that makes
//! them: one user, then `--sessions` logins with body delivery.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hyper::header::HeaderValue;
use serde::Deserialize;

use crate::client::{bearer, Conn, Requests};
use crate::measure::{CpuSnapshot, Targets};
use crate::report::Row;
use crate::stats::Record;

/// The user every session logs in as.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// The benchmark's own user.
    pub fn loadgen() -> Credentials {
        Credentials {
            username: "loadgen".to_owned(),
            password: "loadgen-password-0123456789".to_owned(),
        }
    }

    pub fn login_body(&self) -> Bytes {
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
    pub fn from_body(body: &[u8]) -> Result<Session> {
        let t: TokenResponse = serde_json::from_slice(body)
            .context("TokenResponse is not the JSON of docs/http-api.md")?;
        Ok(Session {
            access_token: t.access_token,
            refresh_token: t
                .refresh_token
                .context("no refresh_token in the answer although delivery was body")?,
        })
    }
}

/// The setup phase: creates the user on the first server, then logs in `sessions` times,
/// an even share on each server, over at most two connections per server, one login after
/// the other on each. Returns the sessions with their server, in the servers' order, and
/// the phase's row.
pub async fn setup(
    addrs: &[SocketAddr],
    creds: &Arc<Credentials>,
    sessions: usize,
    targets: &Targets,
) -> Result<(Vec<(SocketAddr, Session)>, Row)> {
    let first = addrs
        .first()
        .ok_or_else(|| anyhow!("no server to log in on"))?;
    create_user(*first, creds).await?;
    let before = CpuSnapshot::take(targets)?;
    let mut handles = Vec::new();
    for (&addr, count) in addrs.iter().zip(shares(sessions, addrs.len())) {
        for k in shares(count, count.min(2)) {
            handles.push((addr, tokio::spawn(login_sessions(addr, creds.clone(), k))));
        }
    }
    let conns = handles.len();
    let mut all = Vec::with_capacity(sessions);
    let mut rec = Record::default();
    for (addr, h) in handles {
        let (s, r) = h.await.context("login task panicked")??;
        all.extend(s.into_iter().map(|s| (addr, s)));
        rec.merge(r);
    }
    let usage = before.usage_until_now(targets)?;
    let row = Row::new(
        "setup: POST /v1/login, sequential per conn",
        conns,
        &rec,
        &usage,
    );
    Ok((all, row))
}

/// `total` split into `parts` shares as even as can be, the larger ones first.
fn shares(total: usize, parts: usize) -> impl Iterator<Item = usize> {
    (0..parts).map(move |i| total / parts + usize::from(i < total % parts))
}

/// `POST /v1/users`; 201 (or 409 if it already exists) is fine.
async fn create_user(addr: SocketAddr, creds: &Credentials) -> Result<()> {
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
async fn login_sessions(
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

/// Bearer header values for the sessions' access tokens.
pub fn bearers<'s>(
    sessions: impl IntoIterator<Item = &'s Session>,
) -> Result<Arc<Vec<HeaderValue>>> {
    Ok(Arc::new(
        sessions
            .into_iter()
            .map(|s| bearer(&s.access_token))
            .collect::<Result<_>>()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_even_and_add_up() {
        let all = |total, parts| shares(total, parts).collect::<Vec<_>>();
        assert_eq!(all(64, 1), [64]);
        assert_eq!(all(5, 2), [3, 2]);
        assert_eq!(all(64, 3), [22, 21, 21]);
        // Fewer sessions than servers: the last servers get none (and no connection).
        assert_eq!(all(1, 3), [1, 0, 0]);
        assert!(all(0, 0).is_empty());
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
