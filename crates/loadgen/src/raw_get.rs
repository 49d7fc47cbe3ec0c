//! `GET` loops over bare keep-alive sockets, for `--phases compare`: the request bytes are
//! built once, each answer is read up to its `Content-Length` and parsed with `httparse`.
//!
//! Why not the hyper client of the other phases: pinned to one core against a server pinned
//! to another, it spent about as much CPU per request as the servers under test (13–19 µs,
//! the servers 10–25 µs), so the baseline's `/healthz` ran at 85% of its core, held back
//! by the client. This one costs a write and a read per request (9–12 µs, loopback TCP
//! included), and every server then runs at 93–99% of its core. No pipelining: one request
//! in flight per connection, as the hyper workers do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use hyper::header::HeaderValue;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::client::{error_code, REQUEST_TIMEOUT};
use crate::stats::Record;
use crate::workers::Window;

/// Most response headers we expect (the servers send a handful).
const MAX_HEADERS: usize = 32;

/// `GET path` with an optional `Authorization` value, as HTTP/1.1 bytes.
pub fn request(addr: SocketAddr, path: &str, authorization: Option<&HeaderValue>) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n").into_bytes();
    if let Some(v) = authorization {
        r.extend_from_slice(b"authorization: ");
        r.extend_from_slice(v.as_bytes());
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r
}

/// One keep-alive connection.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server said `connection: close`.
    closing: bool,
}

/// One answer: its status and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Result<RawConn> {
        if !addr.ip().is_loopback() {
            bail!("refusing to load {addr}: loopback only");
        }
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::with_capacity(4096),
            closing: false,
        })
    }

    /// False once the server said it closes the connection.
    pub fn is_open(&self) -> bool {
        !self.closing
    }

    /// Sends `request` and reads its answer, within [`REQUEST_TIMEOUT`].
    pub async fn exchange(&mut self, request: &[u8]) -> Result<Answer> {
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            self.stream.write_all(request).await?;
            self.read_answer().await
        })
        .await
        .map_err(|_| anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
    }

    async fn read_answer(&mut self) -> Result<Answer> {
        loop {
            if let Some(p) = parse(&self.buf)? {
                self.closing |= p.close;
                self.buf.drain(..p.len);
                return Ok(p.answer);
            }
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.buf.reserve(4096);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                self.closing = true;
                bail!("the server closed the connection");
            }
        }
    }
}

/// A complete answer at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    /// Its length in bytes, head and body.
    len: usize,
    answer: Answer,
    /// The server closes the connection after it.
    close: bool,
}

/// The answer at the start of `buf`; `None` while it is incomplete.
fn parse(buf: &[u8]) -> Result<Option<Parsed>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf)? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = resp.code.ok_or_else(|| anyhow!("no status code"))?;
    let mut length = None;
    let mut close = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(std::str::from_utf8(h.value)?.trim().parse::<usize>()?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("chunked answers are not read here");
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    let length = length.ok_or_else(|| anyhow!("answer without content-length"))?;
    if buf.len() < head + length {
        return Ok(None);
    }
    Ok(Some(Parsed {
        len: head + length,
        answer: Answer {
            status,
            body: buf[head..head + length].to_vec(),
        },
        close,
    }))
}

/// `GET` in a loop, as fast as answers come back, until the window ends; each request
/// carries the next of `requests` (starting at `offset`, so workers spread over them).
/// Latency counts from when the request goes out; only requests sent and answered inside
/// the measured window count.
pub async fn get_loop(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    offset: usize,
    win: Window,
) -> Result<Record> {
    let mut rec = Record::default();
    let mut conn = None;
    let mut i = offset;
    while Instant::now() < win.end {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match RawConn::connect(addr).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    rec.transport_errors += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let req = requests
            .get(i % requests.len().max(1))
            .ok_or_else(|| anyhow!("no request to send"))?;
        i = i.wrapping_add(1);
        let sent = Instant::now();
        match c.exchange(req).await {
            Ok(a) => {
                let answered = Instant::now();
                if sent >= win.measure_start && answered <= win.end {
                    rec.answered(a.status, answered - sent);
                    if !(200..300).contains(&a.status) {
                        rec.error_code(&error_code(&a.body));
                    }
                }
                if !c.is_open() {
                    conn = None;
                }
            }
            Err(_) => {
                rec.transport_errors += 1;
                conn = None;
            }
        }
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        assert_eq!(
            request(addr, "/healthz", None),
            b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n"
        );
        let bearer = HeaderValue::from_static("Bearer a.b.c");
        assert_eq!(
            request(addr, "/v1/me", Some(&bearer)),
            b"GET /v1/me HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nauthorization: Bearer a.b.c\r\n\r\n"
        );
    }

    #[test]
    fn answers_are_cut_at_their_length() -> Result<()> {
        let one = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}";
        // Incomplete head, incomplete body: wait for more.
        assert_eq!(parse(&one[..20])?, None);
        assert_eq!(parse(&one[..one.len() - 1])?, None);
        let mut two = one.to_vec();
        two.extend_from_slice(
            b"HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
        );
        let first = parse(&two)?.expect("complete");
        assert_eq!(
            (first.len, first.answer.status, first.close),
            (one.len(), 200, false)
        );
        assert_eq!(first.answer.body, b"{\"status\":\"ok\"}");
        let second = parse(&two[first.len..])?.expect("complete");
        assert_eq!(
            (second.len, second.answer.status, second.close),
            (two.len() - one.len(), 401, true)
        );
        assert_eq!(second.answer.body, b"{}");
        assert!(parse(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        Ok(())
    }

    /// Against a real server: keep-alive, statuses and bodies, the window's accounting.
    #[tokio::test]
    async fn loops_over_one_keep_alive_connection() -> Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/ok", axum::routing::get(|| async { "fine" }))
            .route(
                "/no",
                axum::routing::get(|| async {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        axum::Json(serde_json::json!({"error": "invalid_token"})),
                    )
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut c = RawConn::connect(addr).await?;
        for _ in 0..3 {
            let a = c.exchange(&request(addr, "/ok", None)).await?;
            assert_eq!((a.status, a.body.as_slice()), (200, &b"fine"[..]));
        }
        let win = Window::starting_now(
            std::time::Duration::ZERO,
            std::time::Duration::from_millis(200),
        );
        let reqs = Arc::new(vec![request(addr, "/no", None)]);
        let rec = get_loop(addr, reqs, 0, win).await?;
        assert!(rec.requests() > 10, "{}", rec.requests());
        assert_eq!(rec.by_status.get(&401).copied(), Some(rec.requests()));
        assert_eq!(
            rec.by_error.get("invalid_token").copied(),
            Some(rec.requests())
        );
        assert_eq!(rec.transport_errors, 0);
        Ok(())
    }
}
