//! The rules of a rotation that did not spend its token, shared by every backend so that
//! they decide alike. Each backend first tries the atomic spend; only when that finds no
//! live token does it read the token and its session and ask these.

use tessera_tokens::{RotateOutcome, Rotation, SessionRecord, UnixTime};

/// Why a session that is not live cannot rotate. Revocation wins over expiry.
pub(crate) fn dead_outcome(session: &SessionRecord) -> RotateOutcome {
    if session.revoked_at.is_some() {
        RotateOutcome::Revoked
    } else {
        RotateOutcome::Expired
    }
}

/// True when a token spent at `spent_at` is presented inside the grace window
/// `[spent_at, spent_at + grace)`; a grace of 0 turns the window off.
pub(crate) fn within_grace(spent_at: UnixTime, r: &Rotation) -> bool {
    r.grace > 0 && r.now < spent_at.saturating_add(r.grace)
}
