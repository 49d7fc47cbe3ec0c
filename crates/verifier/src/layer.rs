//! The tower `Layer` that verifies `Authorization: Bearer` in front of a service.

use tower::Layer;

use crate::service::VerifierService;
use crate::verifier::Verifier;

/// Verifies the request's Bearer token and puts [`AccessClaims`](crate::AccessClaims) in
/// its extensions; refuses with the answers of docs/http-api.md "Error codes". Made by
/// [`Verifier::layer`] (a token is required) or [`Verifier::optional_layer`] (requests
/// without a token pass as anonymous).
#[derive(Debug, Clone)]
pub struct VerifierLayer {
    verifier: Verifier,
    optional: bool,
}

impl VerifierLayer {
    pub(crate) fn new(verifier: Verifier, optional: bool) -> Self {
        VerifierLayer { verifier, optional }
    }
}

impl<S> Layer<S> for VerifierLayer {
    type Service = VerifierService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifierService::new(inner, self.verifier.clone(), self.optional)
    }
}
