//! The cheapest HTTP/1.1 client we can have: one hyper connection per worker over a
//! loopback `TcpStream` (TCP_NODELAY), kept alive, no pool, no redirects, no TLS.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// No single request may take longer than this; the run stays bounded in time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub type Body = Full<Bytes>;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    sender: SendRequest<Body>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Result<Conn> {
        if !addr.ip().is_loopback() {
            bail!("refusing to load {addr}: loopback only");
        }
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server closes or we drop the sender; nothing to report.
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }

    /// Sends one request and reads the whole answer body, within [`REQUEST_TIMEOUT`].
    pub async fn send(&mut self, req: Request<Body>) -> Result<(StatusCode, Bytes)> {
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            self.sender.ready().await?;
            let resp = self.sender.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        })
        .await
        .map_err(|_| anyhow!("no answer within {REQUEST_TIMEOUT:?}"))?
        .map_err(Into::into)
    }

    /// False once the server closed the connection (then reconnect).
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}

/// Builds requests for one server; the fixed parts are made once.
#[derive(Debug, Clone)]
pub struct Requests {
    host: HeaderValue,
    json: HeaderValue,
}

impl Requests {
    pub fn new(addr: SocketAddr) -> Result<Requests> {
        Ok(Requests {
            host: HeaderValue::from_str(&addr.to_string())?,
            json: HeaderValue::from_static("application/json"),
        })
    }

    pub fn get(&self, path: &'static str, bearer: Option<&HeaderValue>) -> Request<Body> {
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = hyper::Uri::from_static(path);
        req.headers_mut().insert(HOST, self.host.clone());
        if let Some(b) = bearer {
            req.headers_mut().insert(AUTHORIZATION, b.clone());
        }
        req
    }

    pub fn post_json(&self, path: &'static str, body: Bytes) -> Request<Body> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = hyper::Uri::from_static(path);
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(CONTENT_TYPE, self.json.clone());
        req
    }
}

/// `Bearer TOKEN` as a header value, made once per token.
pub fn bearer(token: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}"))?;
    v.set_sensitive(true);
    Ok(v)
}

/// The `error` member of an error answer (docs/http-api.md "Error codes"), or `?`.
pub fn error_code(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_of_spec_bodies() {
        assert_eq!(
            error_code(br#"{"error":"invalid_refresh_token","error_description":"x","login_required":true}"#),
            "invalid_refresh_token"
        );
        assert_eq!(error_code(b"database is locked"), "?");
    }

    #[tokio::test]
    async fn refuses_non_loopback() {
        let err = Conn::connect("192.0.2.1:80".parse().expect("addr"))
            .await
            .expect_err("must refuse");
        assert!(err.to_string().contains("loopback only"));
    }
}
