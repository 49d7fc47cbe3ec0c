//! `server.request_timeout`: a request whose body has not fully arrived this long after its
//! head is answered 408 `invalid_request` and its connection closed, so a client trickling
//! its body a byte at a time cannot hold a connection and a handler for ever. The app's
//! edge (`crate::edge`) wraps each request's body with [`with_deadline`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use hyper::body::{Bytes, Frame, SizeHint};
use tokio::time::Sleep;

/// `body` as a body that fails once `within` has passed before its end, setting `expired`
/// (the caller then answers 408 whatever the handler made of the failed read).
pub(crate) fn with_deadline(body: Body, within: Duration, expired: Arc<AtomicBool>) -> Body {
    Body::new(Deadline {
        body,
        sleep: Box::pin(tokio::time::sleep(within)),
        expired,
    })
}

/// A request body that fails once its deadline passes before its end.
#[derive(Debug)]
struct Deadline {
    body: Body,
    sleep: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.sleep.as_mut().poll(cx).is_ready() {
            this.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body did not arrive within server.request_timeout",
            )))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
