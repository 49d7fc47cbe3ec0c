//! The part of the revocation feed both backends share: when a reader's position can be
//! continued, and what to answer when it cannot.

use std::future::Future;

use tessera_tokens::{FeedPosition, Revocation, RevocationPage, StoreError};

/// Reads the feed from `since` with `read` (a backend's one-statement read from a position,
/// 0 for everything live). A position of another database, or one ahead of this feed (a
/// restored backup), cannot be continued: the answer is then everything live, with `reset`,
/// and the reader replaces its set.
pub(crate) async fn page<F, Fut>(
    since: Option<&FeedPosition>,
    read: F,
) -> Result<RevocationPage, StoreError>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(FeedPosition, Vec<Revocation>), StoreError>>,
{
    let (next, revocations) = read(since.map_or(0, |p| p.position)).await?;
    let continuable = since.is_none_or(|p| p.feed == next.feed && p.position <= next.position);
    if continuable {
        return Ok(RevocationPage {
            revocations,
            next,
            reset: false,
        });
    }
    let (next, revocations) = read(0).await?;
    Ok(RevocationPage {
        revocations,
        next,
        reset: true,
    })
}
