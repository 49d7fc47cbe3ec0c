//! The outage latch of [`PostgresStore`](super::PostgresStore): while the server cannot be
//! reached, operations fail at once with [`StoreError::Unavailable`] instead of each
//! waiting out `acquire_timeout` in sqlx's reconnect loop, and the store notices by itself
//! when the server is back. The behaviour is described in the [module docs](super); this
//! is the mechanism.
//!
//! Three words of state, all timestamps in milliseconds after the latch was made, plus one
//! so that 0 means "none":
//!
//! - `down_since`: when the store was marked down; 0 while up. The only word the happy
//!   path reads (one relaxed load before an operation, one each time it waits).
//! - `probing`: when the running probe started; 0 when none runs. One probe at a time,
//!   claimed by compare-and-swap; a probe running longer than `abandon_after` no longer
//!   holds the slot (a connection attempt to a host that drops packets may take minutes).
//! - `hold_until`: no probe starts before then.
//!
//! A probe is one connection attempt outside the pool, with the pool's options, closed at
//! once: no retry, so a refused connection answers in one round trip. Only the probe that
//! holds the slot changes `down_since`: a probe that failed marks the store down, one that
//! connected marks it up. Atomics are relaxed: the latch publishes no data, and a thread
//! that sees a stale word fails fast once too often, or tries the pool once.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::Poll;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tessera_tokens::StoreError;

use super::suggests_outage;

/// How long after a probe that reached the server, or failed other than by a refused
/// connection, the next probe waits. A refused connection costs the server nothing (its
/// kernel answers), so the next request may try again at once; a server starting up or
/// shutting down forks a process for each attempt only to turn it away (57P03), and a
/// server that just answered needs no second look for a moment.
pub(super) const PROBE_HOLD_OFF: Duration = Duration::from_millis(250);

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The server accepted a connection, or answered with an error of its own that is not
    /// about availability (too many connections, a wrong password): not an outage.
    Reachable,
    /// Nothing listens on the port: the connection was refused.
    Refused,
    /// Any other way of not getting a connection: reset, unreachable host, TLS failure, the
    /// server starting up or shutting down (57P03).
    Unreachable,
}

/// The latch (see the [module docs](self)).
pub(super) struct Outage {
    /// The pool's own options, for the probe.
    connect: PgConnectOptions,
    epoch: Instant,
    down_since: AtomicU64,
    probing: AtomicU64,
    hold_until: AtomicU64,
    /// When a failure last suggested the server might be gone (whatever the probe found);
    /// connections idle since before then are pinged before use.
    suspected_at: AtomicU64,
    /// In milliseconds.
    abandon_after: u64,
}

impl fmt::Debug for Outage {
    // Not the connect options: they hold the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outage")
            .field("down_since", &self.down_since)
            .field("probing", &self.probing)
            .field("hold_until", &self.hold_until)
            .finish_non_exhaustive()
    }
}

/// The probe slot, held while a probe runs; dropping it (a request cancelled mid-probe)
/// frees the slot without a verdict.
struct Ticket<'a> {
    outage: &'a Outage,
    stamp: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        // Fails when the slot was abandoned and claimed again: then it is not ours.
        let _ = self
            .outage
            .probing
            .compare_exchange(self.stamp, 0, Relaxed, Relaxed);
    }
}

impl Outage {
    /// An open latch (the store is up). A probe running longer than `abandon_after` no
    /// longer keeps the next one from starting.
    pub(super) fn new(connect: PgConnectOptions, abandon_after: Duration) -> Outage {
        Outage {
            connect,
            epoch: Instant::now(),
            down_since: AtomicU64::new(0),
            probing: AtomicU64::new(0),
            hold_until: AtomicU64::new(0),
            suspected_at: AtomicU64::new(0),
            abandon_after: millis(abandon_after),
        }
    }

    /// Whether the store is marked down.
    #[inline]
    pub(super) fn is_down(&self) -> bool {
        self.down_since.load(Relaxed) != 0
    }

    /// Before an operation: `Ok` while up (one relaxed load). While down, `Unavailable` at
    /// once, unless this caller gets the probe slot: then it tries to connect, and goes
    /// ahead (the store marked up) when that succeeds.
    pub(super) async fn admit(&self) -> Result<(), StoreError> {
        if !self.is_down() {
            return Ok(());
        }
        let Some(ticket) = self.claim(self.now()) else {
            return Err(self.unavailable());
        };
        let verdict = self.probe().await;
        self.finish(ticket, verdict, self.now());
        match verdict {
            Verdict::Reachable => Ok(()),
            Verdict::Refused | Verdict::Unreachable => Err(self.unavailable()),
        }
    }

    /// After a failure that may mean the server is gone (a broken connection, a pool
    /// timeout): one probe, unless another is running or held off, and the store is marked
    /// down when it cannot connect. One killed connection, or a pool that is merely busy,
    /// leaves the store up.
    pub(super) async fn confirm(&self) {
        self.suspected_at.store(self.now(), Relaxed);
        if self.is_down() {
            return;
        }
        let Some(ticket) = self.claim(self.now()) else {
            return;
        };
        let verdict = self.probe().await;
        self.finish(ticket, verdict, self.now());
    }

    /// True when a connection idle for `idle_for` went idle before (or while) trouble was
    /// last suspected or the store marked down: it may be dead, so ping it before use.
    pub(super) fn suspect_idle_for(&self, idle_for: Duration) -> bool {
        let idle_since = self.now().saturating_sub(millis(idle_for));
        let trouble = self
            .suspected_at
            .load(Relaxed)
            .max(self.down_since.load(Relaxed));
        trouble != 0 && idle_since <= trouble
    }

    /// Runs `op`, but gives up (`None`) if, when it has to wait, the store is down: an
    /// operation queued for a connection, or inside sqlx's reconnect loop, stops at its next
    /// wake-up instead of waiting out `acquire_timeout`. An operation that completes is
    /// never discarded.
    pub(super) async fn watch<F: Future>(&self, op: F) -> Option<F::Output> {
        let mut op = pin!(op);
        poll_fn(|cx| match op.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(Some(out)),
            Poll::Pending if self.is_down() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await
    }

    /// The answer of an operation refused or abandoned because the store is down.
    pub(super) fn unavailable(&self) -> StoreError {
        let down_for = match self.down_since.load(Relaxed) {
            0 => 0, // marked up again meanwhile
            since => self.now().saturating_sub(since),
        };
        StoreError::Unavailable(format!(
            "postgres: unreachable (for {down_for} ms); failing fast until a connection succeeds"
        ))
    }

    /// One connection attempt outside the pool (no retry), closed at once.
    async fn probe(&self) -> Verdict {
        match self.connect.connect().await {
            Ok(conn) => {
                let _ = conn.close().await;
                Verdict::Reachable
            }
            Err(sqlx::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Verdict::Refused
            }
            Err(e) if suggests_outage(&e) => Verdict::Unreachable,
            Err(_) => Verdict::Reachable,
        }
    }

    /// The probe slot at `now`, when free: no probe running (or the running one abandoned)
    /// and not held off.
    fn claim(&self, now: u64) -> Option<Ticket<'_>> {
        if now < self.hold_until.load(Relaxed) {
            return None;
        }
        let running = self.probing.load(Relaxed);
        if running != 0 && now < running.saturating_add(self.abandon_after) {
            return None;
        }
        self.probing
            .compare_exchange(running, now, Relaxed, Relaxed)
            .ok()?;
        Some(Ticket {
            outage: self,
            stamp: now,
        })
    }

    /// Applies a probe's verdict, if its ticket still holds the slot, and frees the slot.
    fn finish(&self, ticket: Ticket<'_>, verdict: Verdict, now: u64) {
        if self.probing.load(Relaxed) != ticket.stamp {
            return; // abandoned: a newer probe decides
        }
        if verdict != Verdict::Refused {
            self.hold_until
                .store(now.saturating_add(millis(PROBE_HOLD_OFF)), Relaxed);
        }
        match verdict {
            Verdict::Reachable => {
                let since = self.down_since.swap(0, Relaxed);
                if since != 0 {
                    tracing::info!(
                        down_ms = now.saturating_sub(since),
                        "postgres reachable again"
                    );
                }
            }
            Verdict::Refused | Verdict::Unreachable => {
                if self
                    .down_since
                    .compare_exchange(0, now, Relaxed, Relaxed)
                    .is_ok()
                {
                    tracing::warn!(
                        ?verdict,
                        "postgres unreachable: failing fast until a connection succeeds"
                    );
                }
            }
        }
    }

    /// Milliseconds since the latch was made, plus one (never 0).
    fn now(&self) -> u64 {
        millis(self.epoch.elapsed()).saturating_add(1)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn latch() -> Outage {
        let connect = PgConnectOptions::from_str("postgres://u:hunter2@127.0.0.1:1/x").unwrap();
        Outage::new(connect, Duration::from_secs(5))
    }

    #[test]
    fn connections_idle_since_before_a_suspected_outage_are_suspect() {
        let o = latch();
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !o.suspect_idle_for(Duration::from_millis(10)),
            "no trouble yet"
        );
        o.suspected_at.store(o.now(), Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        // Idle since before the trouble: ping it. Used since: fine.
        assert!(o.suspect_idle_for(Duration::from_millis(40)));
        assert!(!o.suspect_idle_for(Duration::from_millis(5)));
    }

    #[test]
    fn one_probe_at_a_time() {
        let o = latch();
        let first = o.claim(10).unwrap();
        assert!(o.claim(11).is_none(), "a second probe while one runs");
        drop(first);
        assert!(
            o.claim(12).is_some(),
            "the slot is free once the probe is dropped"
        );
    }

    #[test]
    fn a_failed_probe_marks_down_and_a_successful_one_up() {
        let o = latch();
        let t = o.claim(10).unwrap();
        o.finish(t, Verdict::Refused, 11);
        assert!(o.is_down());
        // A refused connection holds nothing off: the next caller may probe at once.
        let t = o.claim(11).unwrap();
        o.finish(t, Verdict::Reachable, 12);
        assert!(!o.is_down());
    }

    #[test]
    fn other_failures_and_successes_hold_the_next_probe_off() {
        let o = latch();
        let t = o.claim(10).unwrap();
        o.finish(t, Verdict::Unreachable, 20);
        assert!(o.is_down());
        let hold = millis(PROBE_HOLD_OFF);
        assert!(o.claim(20 + hold - 1).is_none());
        let t = o.claim(20 + hold).unwrap();
        o.finish(t, Verdict::Reachable, 30 + hold);
        assert!(!o.is_down());
        assert!(o.claim(30 + 2 * hold - 1).is_none());
        assert!(o.claim(30 + 2 * hold).is_some());
    }

    #[test]
    fn a_hung_probe_is_abandoned_and_its_late_verdict_ignored() {
        let o = latch();
        let hung = o.claim(10).unwrap();
        assert!(o.claim(10 + 4_999).is_none());
        let next = o.claim(10 + 5_000).unwrap();
        o.finish(next, Verdict::Refused, 5_011);
        assert!(o.is_down());
        // The hung probe finally connects: not its call any more.
        o.finish(hung, Verdict::Reachable, 6_000);
        assert!(o.is_down());
        assert!(
            o.claim(6_001).is_some(),
            "the slot was freed by the newer probe"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        assert!(!format!("{:?}", latch()).contains("hunter2"));
    }

    #[test]
    fn watch_gives_up_on_a_waiting_operation_once_down() {
        let o = latch();
        let mut polls = 0;
        let op = poll_fn(|cx| {
            polls += 1;
            if polls == 2 {
                // Marked down while this operation waits.
                o.down_since.store(1, Relaxed);
            }
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        assert_eq!(block_on(o.watch(op)), None);

        o.down_since.store(0, Relaxed);
        assert_eq!(block_on(o.watch(std::future::ready(7))), Some(7));
        // A finished operation is kept even when the store is down.
        o.down_since.store(1, Relaxed);
        assert_eq!(block_on(o.watch(std::future::ready(8))), Some(8));
    }

    /// Polls `f` to completion on this thread (its waker does nothing; the futures here
    /// wake themselves or complete at once).
    fn block_on<F: Future>(f: F) -> F::Output {
        use std::task::{Context, Waker};
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }
}
