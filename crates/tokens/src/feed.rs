//! The revocation feed for resource servers (`GET /v1/revocations`): the store's feed with
//! an opaque cursor. A client that always passes the last cursor it got never misses a
//! revocation, whichever replica answers and in whatever order concurrent revocations
//! commit; it may see an entry twice.

use tessera_jose::base64url;

use crate::error::Failure;
use crate::ids::SessionId;
use crate::store::FeedPosition;

/// Longest cursor accepted, in characters (ours are under 80).
const MAX_CURSOR_LEN: usize = 200;

/// One answer of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedAnswer {
    /// Pass it back as `since` next time.
    pub cursor: String,
    /// Sessions whose access tokens must be refused, each until its `until` (Unix seconds).
    pub revocations: Vec<(SessionId, i64)>,
    /// The answer is the whole live list: the client replaces its set (no `since`, or a
    /// cursor that could not be continued).
    pub reset: bool,
}

/// Why the feed could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// `since` is not a cursor this server made (`invalid_request`).
    #[error("malformed cursor")]
    MalformedCursor,
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// The cursor of a feed position: `base64url("1.<feed>.<position>")`.
pub fn encode_cursor(p: &FeedPosition) -> String {
    base64url::encode(format!("1.{}.{}", p.feed, p.position).as_bytes())
}

/// The position of a cursor made by [`encode_cursor`], on any replica.
pub fn decode_cursor(cursor: &str) -> Result<FeedPosition, FeedError> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return Err(FeedError::MalformedCursor);
    }
    let bytes = base64url::decode(cursor.as_bytes()).map_err(|_| FeedError::MalformedCursor)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| FeedError::MalformedCursor)?;
    let mut parts = text.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("1"), Some(feed), Some(position), None)
            if !feed.is_empty() && feed.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            let position = position.parse().map_err(|_| FeedError::MalformedCursor)?;
            Ok(FeedPosition {
                feed: feed.to_owned(),
                position,
            })
        }
        _ => Err(FeedError::MalformedCursor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_malformed() {
        let p = FeedPosition {
            feed: "0123abcd".into(),
            position: 18_446_744_073_709_551_615,
        };
        assert_eq!(decode_cursor(&encode_cursor(&p)), Ok(p));
        let enc = |s: &str| base64url::encode(s.as_bytes());
        for bad in [
            String::new(),
            "not base64!".into(),
            enc("2.abc.1"),
            enc("1..1"),
            enc("1.abc"),
            enc("1.abc.-1"),
            enc("1.abc.1.2"),
            enc("1.a-c.1"),
            enc("1.abc.99999999999999999999"),
            "A".repeat(201),
        ] {
            assert_eq!(
                decode_cursor(&bad),
                Err(FeedError::MalformedCursor),
                "{bad}"
            );
        }
    }
}
