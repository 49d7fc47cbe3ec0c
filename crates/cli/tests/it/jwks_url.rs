//! `token verify --jwks URL` against small servers run inside the test: what is fetched,
//! and every way a fetch fails (exit 2, `invalid_request: cannot fetch JWKS from URL: why`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

use crate::Dir;

/// What the test server answers to one request: status line and headers are built from
/// these; `Connection: close` always.
#[derive(Debug, Clone)]
struct Reply {
    status: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: "200 OK",
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    fn status(status: &'static str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn redirect(to: String) -> Reply {
        Reply {
            status: "302 Found",
            headers: vec![("location".into(), to)],
            body: Vec::new(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {}\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.status,
            self.body.len()
        );
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

type Handler = dyn Fn(&str) -> Option<Reply> + Send + Sync;

/// A one-thread HTTP/1.1 server on 127.0.0.1: each connection is one request, answered by
/// the handler from the request path (`None`: accept, read, and never answer). Optionally
/// TLS. Records each request head. Stops when dropped.
struct TestServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&str) -> Option<Reply> + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            thread::spawn(move || {
                // Bounded: a test that forgets to stop it does not leave it running.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (handler, requests, tls, stop) = (
                                Arc::clone(&handler),
                                Arc::clone(&requests),
                                tls.clone(),
                                Arc::clone(&stop),
                            );
                            thread::spawn(move || {
                                serve_one(stream, tls, &*handler, &requests, &stop)
                            });
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        TestServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn http(handler: impl Fn(&str) -> Option<Reply> + Send + Sync + 'static) -> TestServer {
        TestServer::start(None, handler)
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(
    stream: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: &Handler,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    match tls {
        None => exchange(stream, handler, requests, stop),
        Some(config) => {
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, stream);
            exchange(&mut tls, handler, requests, stop);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    }
}

/// Reads one request head and writes the handler's reply. Bytes that are not an HTTP head
/// (a TLS ClientHello sent to this plain port) get a 400, as a real HTTP server answers; a
/// failed handshake or a client that went away just ends the exchange.
fn exchange(
    mut stream: impl Read + Write,
    handler: &Handler,
    requests: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 || head.iter().any(|b| !b.is_ascii() || *b == 0) {
            let _ = stream.write_all(&Reply::status("400 Bad Request", "").bytes());
            return;
        }
    }
    let head = String::from_utf8(head).unwrap();
    requests.lock().unwrap().push(head.clone());
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    match handler(&path) {
        Some(reply) => {
            let _ = stream.write_all(&reply.bytes());
            let _ = stream.flush();
        }
        // Hold the connection open, silent, until the test ends.
        None => {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A directory with an ES256 key (kid `k1`), a token it signed, and the public JWKS text.
fn signed() -> (Dir, String, String) {
    let dir = Dir::new();
    dir.generate("k.jwk", "ES256", &["--kid", "k1"]);
    let token = dir.encode(&["--key", "k.jwk", "--exp", "15m", "--claim", "sub=u1"]);
    let public = dir.run(&["keys", "public", "k.jwk"]).json();
    let jwks = json!({ "keys": [public] }).to_string();
    (dir, token, jwks)
}

/// Runs verify against `url` and checks the fetch failed with exit 2 and the URL named;
/// the stderr line is returned.
#[track_caller]
fn fetch_fails(dir: &Dir, token: &str, url: &str) -> String {
    let run = dir.verify(token, &["--jwks", url]);
    run.fails(2, "invalid_request");
    let prefix = format!("invalid_request: cannot fetch JWKS from {url}: ");
    assert!(run.stderr.starts_with(&prefix), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    run.stderr
}

#[test]
fn jwks_url_over_http_verifies() {
    let (dir, token, jwks) = signed();
    let server = TestServer::http(move |path| {
        (path == "/.well-known/jwks.json").then(|| Reply::json(jwks.clone()))
    });
    let claims = dir
        .verify(
            &token,
            &["--jwks", &server.url("http", "/.well-known/jwks.json")],
        )
        .json();
    assert_eq!(claims["sub"], "u1");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let head = requests[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get /.well-known/jwks.json http/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\naccept: application/jwk-set+json"),
        "{head}"
    );
    assert!(head.contains("\r\nuser-agent: tessera/"), "{head}");
}

#[test]
fn jwks_url_follows_up_to_three_redirects() {
    let (dir, token, jwks) = signed();
    let server = TestServer::http(move |path| {
        // /hop/N redirects to /hop/N-1; /hop/0 is the set.
        let n: u32 = path.strip_prefix("/hop/")?.parse().ok()?;
        Some(match n {
            0 => Reply::json(jwks.clone()),
            n => Reply::redirect(format!("/hop/{}", n - 1)),
        })
    });
    dir.verify(&token, &["--jwks", &server.url("http", "/hop/3")])
        .ok();
    let why = fetch_fails(&dir, &token, &server.url("http", "/hop/4"));
    assert!(why.ends_with("more than 3 redirects\n"), "{why}");
}

#[test]
fn jwks_url_error_statuses_exit_2() {
    let (dir, token, _) = signed();
    let server = TestServer::http(|path| {
        Some(match path {
            "/missing" => Reply::status("404 Not Found", "secret-looking body"),
            "/broken" => Reply::status("500 Internal Server Error", "stack trace"),
            _ => Reply::status("204 No Content", ""),
        })
    });
    for (path, status) in [("/missing", 404), ("/broken", 500), ("/empty", 204)] {
        let why = fetch_fails(&dir, &token, &server.url("http", path));
        assert!(
            why.ends_with(&format!(
                "the server answered HTTP {status} (expected 200)\n"
            )),
            "{why}"
        );
        // A response body is never printed.
        assert!(!why.contains("secret") && !why.contains("stack"), "{why}");
    }
}

#[test]
fn jwks_url_bodies_that_are_not_a_jwks_exit_2() {
    let (dir, token, _) = signed();
    let server = TestServer::http(|path| {
        Some(match path {
            "/page" => Reply::json("<html>not json</html>"),
            "/binary" => Reply::json(vec![0xff, 0xfe, 0x00]),
            "/array" => Reply::json("[1,2,3]"),
            "/huge" => Reply::json(format!(
                "{{\"keys\":[],\"pad\":\"{}\"}}",
                "a".repeat(1024 * 1024)
            )),
            _ => Reply::json(r#"{"keys":[]}"#),
        })
    });
    for path in ["/page", "/array"] {
        let why = fetch_fails(&dir, &token, &server.url("http", path));
        assert!(why.contains(": not a JWK Set: "), "{why}");
        assert!(!why.contains("html"), "{why}");
    }
    let why = fetch_fails(&dir, &token, &server.url("http", "/binary"));
    assert!(why.ends_with("the response is not UTF-8 JSON\n"), "{why}");
    let why = fetch_fails(&dir, &token, &server.url("http", "/huge"));
    assert!(why.contains("larger than 1048576 bytes"), "{why}");
    // A well-formed set with no usable key is a key problem, as for a file.
    let url = server.url("http", "/empty-set");
    let run = dir.verify(&token, &["--jwks", &url]);
    run.fails(2, "invalid_key");
    assert!(
        run.stderr.starts_with(&format!("invalid_key: {url}: ")),
        "{run:#?}"
    );
}

#[test]
fn jwks_url_unreachable_exits_2_quickly() {
    let (dir, token, _) = signed();
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let why = fetch_fails(&dir, &token, &format!("http://127.0.0.1:{port}/jwks.json"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(why.to_ascii_lowercase().contains("refused"), "{why}");
    // Not a URL the client can use at all.
    fetch_fails(&dir, &token, "http://");
}

/// A server that accepts and then says nothing is given up on after 10 s.
#[test]
fn jwks_url_silent_server_times_out() {
    let (dir, token, _) = signed();
    let server = TestServer::http(|_| None);
    let started = Instant::now();
    let why = fetch_fails(&dir, &token, &server.url("http", "/jwks.json"));
    let took = started.elapsed();
    assert!(why.ends_with("no complete answer within 10 s\n"), "{why}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

/// A CA and a certificate it issued for 127.0.0.1 and localhost.
struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn new_pki(ca_name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &*ca)
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialized_der().to_vec()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// https with a private CA, trusted through `SSL_CERT_FILE` as the system store would be;
/// without that root the same server is refused; and an https URL may not redirect to
/// plain http.
#[test]
fn jwks_url_over_https_trusts_the_system_roots() {
    let (dir, token, jwks) = signed();
    let pki = new_pki("Test CA");
    dir.write("ca.pem", &pki.ca_pem);
    let http = {
        let jwks = jwks.clone();
        TestServer::http(move |_| Some(Reply::json(jwks.clone())))
    };
    let plain_url = http.url("http", "/jwks.json");
    let https = TestServer::start(Some(Arc::clone(&pki.server)), move |path| {
        Some(match path {
            "/to-http" => Reply::redirect(plain_url.clone()),
            _ => Reply::json(jwks.clone()),
        })
    });
    let url = https.url("https", "/jwks.json");
    let with_roots = |roots: &str, url: &str| {
        dir.run_env(
            &["token", "verify", &token, "--jwks", url],
            &[("SSL_CERT_FILE", Some(roots)), ("SSL_CERT_DIR", None)],
        )
    };

    let claims = with_roots("ca.pem", &url).json();
    assert_eq!(claims["sub"], "u1");

    // Another CA's root only: the certificate is not trusted.
    let other = new_pki("Other CA");
    dir.write("other.pem", &other.ca_pem);
    let run = with_roots("other.pem", &url);
    run.fails(2, "invalid_request");
    assert!(
        run.stderr.contains("TLS: invalid peer certificate"),
        "{run:#?}"
    );

    let run = with_roots("ca.pem", &https.url("https", "/to-http"));
    run.fails(2, "invalid_request");
    assert!(
        run.stderr
            .ends_with("an https URL redirected to plain http\n"),
        "{run:#?}"
    );
}

/// https to a port that speaks plain http: a TLS error, clearly worded, exit 2.
#[test]
fn jwks_url_https_to_a_plain_http_port_exits_2() {
    let (dir, token, jwks) = signed();
    let server = TestServer::http(move |_| Some(Reply::json(jwks.clone())));
    let why = fetch_fails(&dir, &token, &server.url("https", "/jwks.json"));
    assert!(why.contains("TLS: "), "{why}");
}
