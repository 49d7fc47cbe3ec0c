//! Footguns, behind the `dangerous` feature: reading a token without verifying it.

use serde_json::{Map, Value};

use crate::error::{malformed, Error};
use crate::json;
use crate::jws::{self, with_decoded};

/// A token's header and payload, decoded but NOT verified: anyone could have written them.
#[derive(Debug, Clone, PartialEq)]
pub struct Unverified {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload, when it is a JSON object (`None` for other payloads).
    pub payload: Option<Map<String, Value>>,
    /// The raw payload bytes.
    pub payload_bytes: Vec<u8>,
}

/// Decodes a compact token with the same strict parsing as verification (size cap, three
/// segments, canonical base64url, strict JSON) but without checking any signature or claim.
pub fn decode_unverified(token: &str) -> Result<Unverified, Error> {
    let parts = jws::split(token, jws::DEFAULT_MAX_TOKEN_LEN)?;
    let header = with_decoded(parts.header, |h| {
        json::scan_object(h, |_, _| Ok(()))?;
        serde_json::from_slice::<Map<String, Value>>(h)
            .map_err(|_| malformed("invalid header JSON"))
    })?;
    let payload_bytes = with_decoded(parts.payload, |p| Ok(p.to_vec()))?;
    let payload = if payload_bytes.first() == Some(&b'{') {
        json::scan_object(&payload_bytes, |_, _| Ok(()))?;
        Some(
            serde_json::from_slice::<Map<String, Value>>(&payload_bytes)
                .map_err(|_| malformed("invalid payload JSON"))?,
        )
    } else {
        None
    };
    crate::b64::decode(parts.signature)?;
    Ok(Unverified {
        header,
        payload,
        payload_bytes,
    })
}
