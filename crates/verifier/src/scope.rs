//! The scope check as a tower layer: 403 `insufficient_scope` (RFC 6750 §3.1).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};

use crate::claims::AccessClaims;
use crate::error::Rejection;
use crate::future::{ResponseBody, ResponseFuture};
use crate::metrics::Shared;
use crate::service::Anonymous;

/// Requires the verified token to grant scopes; made by [`Verifier::require_scope`](crate::Verifier::require_scope).
/// Install it inside the verifier's layer (axum: `.route_layer(...)` on the routes that
/// need it, under a `.layer(verifier.layer())`).
#[derive(Debug, Clone)]
pub struct RequireScopeLayer {
    scope: Arc<str>,
    shared: Arc<Shared>,
}

impl RequireScopeLayer {
    pub(crate) fn new(scope: &str, shared: Arc<Shared>) -> Self {
        RequireScopeLayer {
            scope: Arc::from(scope),
            shared,
        }
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopeService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RequireScopeLayer`].
#[derive(Debug, Clone)]
pub struct RequireScopeService<S> {
    inner: S,
    layer: RequireScopeLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopeService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let shared = &self.layer.shared;
        let refusal = match req.extensions().get::<AccessClaims>() {
            Some(claims) if claims.has_scope(&self.layer.scope) => {
                return ResponseFuture::inner(self.inner.call(req))
            }
            Some(_) => Rejection::insufficient_scope(Arc::clone(&self.layer.scope)),
            None if req.extensions().get::<Anonymous>().is_some() => Rejection::missing(),
            None => Rejection::not_configured(),
        };
        let refusal = refusal.with_realm(shared.realm.as_ref());
        shared.metrics.refused(&refusal);
        ResponseFuture::refused(refusal)
    }
}
