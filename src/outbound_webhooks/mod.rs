//! Outbound webhooks, the server's half: Standard Webhooks signing, endpoints'
//! secrets sealed at rest, and the job that posts each delivery. What is delivered,
//! and when, is decided in the core (`switchboard_actors::webhooks`).

pub mod sender;
pub mod signature;

use crate::channels::credentials::{SealError, Sealer};
use switchboard_actors::EndpointId;

/// Seals an endpoint's `whsec_` secret, bound to the endpoint: copied onto another
/// endpoint's row it does not open.
pub fn seal_secret(
    sealer: &Sealer,
    endpoint: EndpointId,
    secret: &str,
) -> Result<Vec<u8>, SealError> {
    sealer.seal_bytes(&context(endpoint), secret.as_bytes())
}

pub fn open_secret(
    sealer: &Sealer,
    endpoint: EndpointId,
    sealed: &[u8],
) -> Result<String, SealError> {
    let plain = sealer.open_bytes(&context(endpoint), sealed)?;
    String::from_utf8(plain).map_err(|_| SealError::Unopenable)
}

fn context(endpoint: EndpointId) -> Vec<u8> {
    let mut context = b"webhook-endpoint:".to_vec();
    context.extend_from_slice(endpoint.0.as_bytes());
    context
}
