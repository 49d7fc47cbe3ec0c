//! The response future shared by the verifier and scope services.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;

use crate::error::Rejection;

/// The body of answers from the layers: the inner service's body, or a refusal's JSON.
pub type ResponseBody<B> = Either<B, Full<Bytes>>;

/// A boxed future for the rare path that waits for a key fetch.
pub(crate) type SlowFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send>>;

pin_project! {
    /// The future of [`VerifierService`](crate::VerifierService) and
    /// [`RequireScopeService`](crate::RequireScopeService).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Inner { #[pin] fut: F },
        Refused { rejection: Option<Rejection> },
        Slow { fut: SlowFuture<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn inner(fut: F) -> Self {
        ResponseFuture {
            kind: Kind::Inner { fut },
        }
    }

    pub(crate) fn refused(rejection: Rejection) -> Self {
        ResponseFuture {
            kind: Kind::Refused {
                rejection: Some(rejection),
            },
        }
    }

    pub(crate) fn slow(fut: SlowFuture<B, E>) -> Self {
        ResponseFuture {
            kind: Kind::Slow { fut },
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Refused { .. } => "refused",
            Kind::Slow { .. } => "waiting for keys",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

/// A refusal as an answer of the layers' body type.
pub(crate) fn refusal<B>(r: Rejection) -> Response<ResponseBody<B>> {
    r.into_http_response().map(Either::Right)
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { fut } => fut.poll(cx).map(|r| r.map(|res| res.map(Either::Left))),
            KindProj::Refused { rejection } => {
                // Polled again after completion (a contract breach): answer a 500.
                let r = rejection.take().unwrap_or_else(Rejection::not_configured);
                Poll::Ready(Ok(refusal(r)))
            }
            KindProj::Slow { fut } => fut.as_mut().poll(cx),
        }
    }
}
