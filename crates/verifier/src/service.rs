//! The service the verifier layer wraps around an inner service.

use std::ops::Range;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Request, Response};
use tokio::sync::watch;
use tower::Service;

use crate::claims::AccessClaims;
use crate::error::Rejection;
use crate::future::{refusal, ResponseBody, ResponseFuture};
use crate::metrics::Shared;
use crate::verifier::{Step, Verifier};

/// Put in the extensions of a request that carried no token, when the layer lets such
/// requests through ([`Verifier::optional_layer`]).
#[derive(Debug, Clone)]
pub(crate) struct Anonymous(
    // Read by the axum extractors (realm and counters of their refusals).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))] pub Arc<Shared>,
);

/// The credentials of a request.
enum Credentials<'a> {
    /// No `Authorization` header, or one of another scheme (RFC 6750 §3.1: no error code).
    None,
    Malformed(&'static str),
    /// The header value, the token, and where the token starts in the value.
    Bearer(&'a HeaderValue, &'a str, usize),
}

/// `Authorization: Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1).
fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let Some(header) = all.next() else {
        return Credentials::None;
    };
    if all.next().is_some() {
        return Credentials::Malformed("the request has several Authorization headers");
    }
    let Ok(value) = header.to_str() else {
        return Credentials::Malformed("the Authorization header is not ASCII");
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::None;
    }
    let token = rest.trim();
    if token.is_empty() {
        return Credentials::Malformed("the Bearer token is empty");
    }
    let at = value.len() - rest.len() + (rest.len() - rest.trim_start().len());
    Credentials::Bearer(header, token, at)
}

/// Verifies the Bearer token of each request before the inner service sees it. Made by
/// [`VerifierLayer`](crate::VerifierLayer).
///
/// Valid tokens are checked synchronously in `call` (no allocation beyond the claims);
/// only a token naming an unknown `kid`, while a refetch is allowed, waits for that one
/// fetch.
#[derive(Debug, Clone)]
pub struct VerifierService<S> {
    inner: S,
    verifier: Verifier,
    optional: bool,
}

impl<S> VerifierService<S> {
    pub(crate) fn new(inner: S, verifier: Verifier, optional: bool) -> Self {
        VerifierService {
            inner,
            verifier,
            optional,
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for VerifierService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let v = &self.verifier;
        match self.outcome(req.headers()) {
            Outcome::Anonymous => {
                req.extensions_mut().insert(Anonymous(v.shared()));
                ResponseFuture::inner(self.inner.call(req))
            }
            Outcome::Missing => ResponseFuture::refused(v.missing()),
            Outcome::Done(r) => match v.count(r) {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    ResponseFuture::inner(self.inner.call(req))
                }
                Err(e) => ResponseFuture::refused(e),
            },
            Outcome::Wait(issuer, rx) => {
                // The ready service goes with the request; this one keeps a fresh clone
                // (tower's rule: only a service that answered poll_ready may be called).
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let verifier = self.verifier.clone();
                ResponseFuture::slow(Box::pin(async move {
                    // Owned: a borrow of the request may not live across the await (the
                    // body need not be Sync).
                    let token = match credentials(req.headers()) {
                        Credentials::Bearer(_, token, _) => token.to_owned(),
                        _ => String::new(),
                    };
                    let r = verifier
                        .check_after_fetch(issuer, &token, rx)
                        .await
                        .map(|p| AccessClaims::in_token(&token, p, verifier.shared()));
                    match verifier.count(r) {
                        Ok(claims) => {
                            req.extensions_mut().insert(claims);
                            inner
                                .call(req)
                                .await
                                .map(|res| res.map(http_body_util::Either::Left))
                        }
                        Err(e) => Ok(refusal(e)),
                    }
                }))
            }
        }
    }
}

impl Verifier {
    /// Verifies the `Authorization: Bearer` token of a request's headers with the layer's
    /// rules, for servers that are not tower services (a forward-auth gate, another
    /// framework): a request without a Bearer token gets the bare-challenge refusal, a
    /// malformed header `invalid_token`, a token [`Verifier::verify`]'s answer.
    pub async fn verify_headers(&self, headers: &HeaderMap) -> Result<AccessClaims, Rejection> {
        match credentials(headers) {
            Credentials::None => Err(self.missing()),
            Credentials::Malformed(why) => self.count(Err(Rejection::invalid(why))),
            Credentials::Bearer(header, token, at) => {
                let r = match self.check(token, true) {
                    Step::Done(r) => r,
                    Step::Wait(issuer, rx) => self.check_after_fetch(issuer, token, rx).await,
                };
                self.count(r.map(|payload| self.claims_in(header, at, payload)))
            }
        }
    }

    /// The claims of a verified token that starts at byte `at` of the `Authorization`
    /// value `header`, whose payload is `payload` of the token: they share the header's
    /// bytes (no copy of the token).
    fn claims_in(&self, header: &HeaderValue, at: usize, payload: Range<usize>) -> AccessClaims {
        let payload = payload.start + at..payload.end + at;
        AccessClaims::in_header(header.clone(), payload, self.shared())
    }
}

/// What the headers of a request lead to.
enum Outcome {
    Anonymous,
    Missing,
    Done(Result<AccessClaims, Rejection>),
    Wait(usize, watch::Receiver<()>),
}

impl<S> VerifierService<S> {
    fn outcome(&self, headers: &HeaderMap) -> Outcome {
        match credentials(headers) {
            Credentials::None if self.optional => Outcome::Anonymous,
            Credentials::None => Outcome::Missing,
            Credentials::Malformed(why) => Outcome::Done(Err(Rejection::invalid(why))),
            Credentials::Bearer(header, token, at) => match self.verifier.check(token, true) {
                Step::Done(Ok(payload)) => {
                    Outcome::Done(Ok(self.verifier.claims_in(header, at, payload)))
                }
                Step::Done(Err(e)) => Outcome::Done(Err(e)),
                Step::Wait(issuer, rx) => Outcome::Wait(issuer, rx),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_credentials_are_read_as_rfc6750_says() {
        assert!(matches!(credentials(&with(&[])), Credentials::None));
        assert!(matches!(
            credentials(&with(&["Basic dTpw"])),
            Credentials::None
        ));
        assert!(matches!(
            credentials(&with(&["bearer abc"])),
            Credentials::Bearer(_, "abc", 7)
        ));
        assert!(matches!(
            credentials(&with(&["Bearer  abc "])),
            Credentials::Bearer(_, "abc", 8)
        ));
        assert!(matches!(
            credentials(&with(&["Bearer"])),
            Credentials::Malformed(_)
        ));
        assert!(matches!(
            credentials(&with(&["Bearer a", "Bearer b"])),
            Credentials::Malformed(_)
        ));
    }
}
