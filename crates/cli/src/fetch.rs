//! `token verify --jwks URL`: fetching a JWK Set over http or https.
//!
//! One blocking GET, bounded in every direction a hostile or broken server could push: time
//! (connect and total), size, redirects. Only a 200 answer is read, and a response body is
//! never printed, whatever it holds. TLS is rustls on aws-lc-rs; the trusted roots are the
//! system's (so a private CA in `/etc/ssl/certs`, or one named by `SSL_CERT_FILE` or
//! `SSL_CERT_DIR`, works), with Mozilla's roots only when no system root can be read.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use tessera_jose::JwkSet;
use ureq::http::{StatusCode, Uri};
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use crate::error::CliError;

/// Longest wait for the TCP connection and the TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for the whole fetch: connection, redirects and the body.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest JWKS accepted. Real ones are a few KiB; this only bounds what a server can make
/// the CLI buffer.
const MAX_BODY_LEN: u64 = 1024 * 1024;

/// Most redirects followed.
const MAX_REDIRECTS: u32 = 3;

/// True when a `--jwks` argument names an http or https URL rather than a file.
pub fn is_url(location: &str) -> bool {
    has_scheme(location, "http://") || has_scheme(location, "https://")
}

fn has_scheme(url: &str, scheme: &str) -> bool {
    url.get(..scheme.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
}

/// Fetches the JWK Set at `url` (http or https) and parses it with the strict JOSE rules.
///
/// Refuses (exit 2, `invalid_request: cannot fetch JWKS from URL: why`) a URL that cannot be
/// reached in time, any status but 200, a body over 1 MiB or not a JWK Set, more than three
/// redirects, and a redirect from https to plain http.
pub fn jwks(url: &str) -> Result<JwkSet, CliError> {
    let shown = printable(url);
    let fail = |reason: Cow<'_, str>| {
        CliError::request(format!("cannot fetch JWKS from {shown}: {reason}"))
    };
    let https = has_scheme(url, "https://");
    let agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(TOTAL_TIMEOUT))
        .max_redirects(MAX_REDIRECTS)
        // A key set fetched over https must not be swapped for one sent in clear text.
        .https_only(https)
        .http_status_as_error(false)
        .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
        .accept("application/jwk-set+json, application/json")
        .tls_config(tls_config(https))
        .build()
        .new_agent();
    let mut response = agent.get(url).call().map_err(|e| fail(reason(&e)))?;
    let status = response.status();
    if status != StatusCode::OK {
        return Err(fail(
            format!(
                "the server answered HTTP {} (expected 200)",
                status.as_u16()
            )
            .into(),
        ));
    }
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_BODY_LEN + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            // ureq reports its own errors (a timeout) inside the io::Error of the reader.
            let why = match e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
                Some(inner) => reason(inner),
                None => e.to_string().into(),
            };
            fail(format!("reading the response failed: {why}").into())
        })?;
    if body.len() as u64 > MAX_BODY_LEN {
        return Err(fail(
            format!("the response is larger than {MAX_BODY_LEN} bytes").into(),
        ));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| fail("the response is not UTF-8 JSON".into()))?;
    JwkSet::from_json(text).map_err(|e| fail(format!("not a JWK Set: {}", e.detail()).into()))
}

/// TLS: rustls with the aws-lc-rs provider, trusting the system's roots (or, when none can
/// be read, the Mozilla roots compiled in, with a warning when `https` is asked for).
fn tls_config(https: bool) -> TlsConfig {
    let native = rustls_native_certs::load_native_certs();
    let roots: Vec<Certificate<'static>> = native
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    let roots = if roots.is_empty() {
        if https {
            let why = native
                .errors
                .first()
                .map_or_else(|| "none found".to_owned(), |e| e.to_string());
            eprintln!(
                "warning: no system CA certificates ({why}); trusting the bundled Mozilla roots"
            );
        }
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(roots))
    };
    // The crypto library the workspace already builds for JOSE: no second one (ring).
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider)
        .root_certs(roots)
        .build()
}

/// Why a fetch failed, in words for the error line.
fn reason(e: &ureq::Error) -> Cow<'static, str> {
    match e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()).into()
        }
        ureq::Error::Timeout(_) => {
            format!("no complete answer within {} s", TOTAL_TIMEOUT.as_secs()).into()
        }
        ureq::Error::TooManyRedirects => format!("more than {MAX_REDIRECTS} redirects").into(),
        ureq::Error::RequireHttpsOnly(_) => "an https URL redirected to plain http".into(),
        ureq::Error::Rustls(tls) => format!("TLS: {tls}").into(),
        // The handshake runs inside an io::Error-returning read: unwrap its rustls cause.
        ureq::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(tls) => format!("TLS: {tls}").into(),
            None => io.to_string().into(),
        },
        other => other.to_string().into(),
    }
}

/// The URL as printed in errors: any `user:password@` part is masked.
pub fn printable(url: &str) -> Cow<'_, str> {
    match url.parse::<Uri>() {
        Ok(uri) if uri.authority().is_some_and(|a| a.as_str().contains('@')) => {
            let host = uri.authority().map_or("", |a| {
                a.as_str().rsplit_once('@').map_or("", |(_, host)| host)
            });
            let scheme = uri.scheme_str().unwrap_or("http");
            let path = uri.path_and_query().map_or("", |p| p.as_str());
            format!("{scheme}://***@{host}{path}").into()
        }
        _ => url.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_files() {
        for url in [
            "http://a/jwks",
            "HTTPS://a.example/x",
            "https://127.0.0.1:1/",
        ] {
            assert!(is_url(url), "{url}");
        }
        for file in ["jwks.json", "-", "http", "./http://x", "", "ftp://a/b"] {
            assert!(!is_url(file), "{file}");
        }
    }

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            printable("https://u:secret@auth.example/.well-known/jwks.json"),
            "https://***@auth.example/.well-known/jwks.json"
        );
        assert_eq!(
            printable("http://a.example:8080/j"),
            "http://a.example:8080/j"
        );
        assert_eq!(printable("http://[bad"), "http://[bad");
    }
}
