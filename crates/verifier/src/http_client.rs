//! The default [`Fetch`]: hyper-util's pooled client, TLS by rustls on aws-lc-rs (the crypto
//! library the workspace already builds), trusting the system's roots.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::fetch::{Fetch, FetchError, FetchFuture, FetchRequest, FetchResponse};

/// How long a TCP connect may take (the verifier's overall fetch timeout still applies).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default HTTP client: one pooled HTTP/1.1 client, https through rustls.
///
/// [`HttpFetch::new`] trusts the system's CA roots (the bundled Mozilla roots when none can
/// be read); [`HttpFetch::with_tls_config`] takes your own rustls configuration, e.g. to
/// trust a private CA:
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// let mut roots = rustls::RootCertStore::empty();
/// # let my_ca_der: Vec<u8> = Vec::new();
/// roots.add(rustls::pki_types::CertificateDer::from(my_ca_der))?;
/// let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
/// let tls = rustls::ClientConfig::builder_with_provider(provider)
///     .with_safe_default_protocol_versions()?
///     .with_root_certificates(roots)
///     .with_no_client_auth();
/// let verifier = tessera_verifier::Verifier::builder()
///     .issuer_url("https://auth.internal.example")
///     .audience("api")
///     .fetcher(Arc::new(tessera_verifier::HttpFetch::with_tls_config(tls)))
///     .build()?;
/// # Ok(()) }
/// ```
///
/// For a proxy, or anything else this client does not do, implement [`Fetch`] over the
/// client you already use.
#[derive(Clone)]
pub struct HttpFetch {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl fmt::Debug for HttpFetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetch").finish_non_exhaustive()
    }
}

impl HttpFetch {
    /// A client trusting the system's CA roots, or the bundled Mozilla roots when the
    /// system has none (a minimal container image). Fails only if rustls refuses its own
    /// default protocol versions.
    pub fn new() -> Result<Self, FetchError> {
        let native = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::warn!(
                "no system CA certificates could be read; trusting the bundled Mozilla roots"
            );
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::new(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpFetch::with_tls_config(tls))
    }

    /// A client with your own rustls configuration (custom roots, client certificates).
    pub fn with_tls_config(tls: rustls::ClientConfig) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpFetch { client }
    }
}

impl Fetch for HttpFetch {
    fn get(&self, request: FetchRequest) -> FetchFuture<'_> {
        Box::pin(async move {
            let url = request.url.clone();
            let mut req = http::Request::get(request.url)
                .body(Empty::<Bytes>::new())
                .map_err(|_| FetchError::new(format!("cannot build a request for {url}")))?;
            *req.headers_mut() = request.headers;
            let response = self
                .client
                .request(req)
                .await
                .map_err(|e| FetchError::new(format!("GET {url}: {}", describe(&e))))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, request.max_body)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        FetchError::new(format!(
                            "the answer of {url} is larger than {} bytes",
                            request.max_body
                        ))
                    } else {
                        FetchError::new(format!("GET {url}: the body could not be read"))
                    }
                })?
                .to_bytes();
            Ok(FetchResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        })
    }
}

/// The innermost cause of a client error (hyper-util's own text says only "client error").
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    if e.is_connect() {
        format!("cannot connect ({last})")
    } else {
        last
    }
}
