//! The ledger's clock: a timestamp that costs one relaxed load to read.
//!
//! Every registration records its creation time, and on a VM the clocks are expensive
//! compared with the rest of a registration: `Instant::now()` (`CLOCK_MONOTONIC`), and even
//! `CLOCK_MONOTONIC_COARSE`, cost several times the pair of atomic increments the ledger
//! is benchmarked against (BENCHMARKS.md, section 2).
//!
//! So a background thread ("framekeep-ledger-clock", started with the first ledger)
//! publishes the time in an atomic every [`TICK`], and registrations just load it. The
//! cost is that creation times are up to one tick (plus scheduling delay) early, which is
//! irrelevant for leak ages, and one wake-up per tick while anyone reads the time: after
//! a tick without readers the thread withdraws the time and parks, readers read the clock
//! themselves and wake it. Should the thread fail to start, registrations read the clock
//! themselves.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::daemon::Daemon;
use crate::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use crate::sync::model_static;

/// How often the clock thread publishes the time.
///
/// 4 ms: the resolution `CLOCK_MONOTONIC_COARSE` has on most kernels, so
/// stamps lose nothing against the coarse clock, at 250 wake-ups a second
/// (1 ms cost a measurable share of a process's CPU at low frame rates).
pub(crate) const TICK: Duration = Duration::from_millis(4);

model_static! {
    /// Nanoseconds since [`base`] plus one, as of the last tick; 0 while no thread ticks.
    static NOW: AtomicU64 = AtomicU64::new(0);
}

/// The instant timestamps count from.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// A timestamp: nanoseconds since [`base`], plus one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// The earliest stamp (the base instant itself).
    pub(crate) const ZERO: Stamp = Stamp(1);

    /// The time from the clock itself (not the ticking copy).
    pub(crate) fn precise() -> Stamp {
        let nanos = u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        Stamp(nanos + 1)
    }

    /// The time as of the last tick, or [`Stamp::precise`] while nothing
    /// ticks (the clock thread is idle or could not start), waking the thread.
    #[inline]
    pub(crate) fn now() -> Stamp {
        match NOW.load(Ordering::Relaxed) {
            0 => {
                // Wake the ticker once per idle period, not on every read:
                // while it cannot run (every core busy), readers must not all
                // hammer the parker's shared line. Acquire pairs with the
                // ticker's Release store of 0, so a reader that sees the
                // withdrawal also sees `WOKEN` cleared for this period.
                fence(Ordering::Acquire);
                if !WOKEN.load(Ordering::Relaxed) {
                    wake();
                }
                let precise = Stamp::precise();
                FLOOR.fetch_max(precise.0, Ordering::Relaxed);
                precise
            }
            nanos => {
                // One load of a line the ticker writes once per tick; a store
                // only by the first reader after each tick.
                if !WANTED.load(Ordering::Relaxed) {
                    WANTED.store(true, Ordering::Relaxed);
                }
                Stamp(nanos.max(FLOOR.load(Ordering::Relaxed)))
            }
        }
    }

    /// Nanoseconds since the base instant (plus one): for differences.
    #[inline]
    pub(crate) fn nanos(self) -> u64 {
        self.0
    }

    /// The stamp of `nanos` (as from [`Stamp::nanos`]).
    pub(crate) fn from_nanos(nanos: u64) -> Stamp {
        Stamp(nanos)
    }

    /// The `std` instant this stamp stands for.
    pub(crate) fn to_instant(self) -> Instant {
        base() + Duration::from_nanos(self.0.saturating_sub(1))
    }
}

model_static! {
    /// The latest time a reader read from the clock itself (0: none yet).
    ///
    /// Keeps stamps from going backwards. The ticker reads the clock and then
    /// stores it; a reader that finds the time withdrawn between those two
    /// steps returns a later reading than the one the ticker is about to
    /// publish. Without this floor the next stamp (the published, older
    /// reading) would come before it: two registrations on one thread would
    /// list newest first (the ledger sorts by creation time).
    static FLOOR: AtomicU64 = AtomicU64::new(0);
}

model_static! {
    /// Whether anyone read the ticking clock since the ticker last looked.
    static WANTED: AtomicBool = AtomicBool::new(false);
}

model_static! {
    /// Whether a reader has woken the ticker since it last withdrew the time.
    ///
    /// Separate from `WANTED`: a reader that loaded a published time just before
    /// the withdrawal may still set `WANTED` (without waking anyone) after the
    /// ticker has parked, so `WANTED` cannot tell later readers that a wake-up is
    /// on its way.
    static WOKEN: AtomicBool = AtomicBool::new(false);
}

model_static! {
    /// The ticking thread.
    static TICKER: Daemon = Daemon::new("framekeep-ledger-clock");
}

/// Wakes an idle ticker (a reader found no published time); only the first
/// reader of an idle period gets past the swap.
#[cold]
fn wake() {
    if WOKEN.swap(true, Ordering::AcqRel) {
        return;
    }
    WANTED.store(true, Ordering::Relaxed);
    if let Some(ticker) = TICKER.thread() {
        ticker.unpark();
    }
}

/// The ticker: publishes the time every tick while someone reads it; after a
/// tick in which nobody did, it withdraws the time (readers then read the
/// clock themselves and wake it) and parks. A program whose hot path takes no
/// stamps (a zero-copy capture loop) thus pays no wake-ups at all.
fn tick() {
    publish();
    loop {
        std::thread::sleep(TICK);
        step();
    }
}

/// The ticker's work after each sleep: withdraw the time and park if nobody
/// read it during the last tick, then publish it.
fn step() {
    if !WANTED.swap(false, Ordering::Relaxed) {
        // A swap, not a store: a read-modify-write comes after every wake's
        // swap before it in `WOKEN`'s order (a plain store could be ordered
        // before a wake that came earlier, which would then leave `WOKEN`
        // set for this idle period: every reader skips the wake; found by the
        // loom model, cannot happen on x86). Release: a reader whose `wake`
        // swap reads this `false` stores its `WANTED` after the swap above, so
        // the step after a wake sees it and keeps publishing for a tick (the
        // wake itself no longer depends on it: the park waits for `WOKEN`).
        WOKEN.swap(false, Ordering::Release);
        // Release: a reader that sees 0 sees `WOKEN` cleared (see `Stamp::now`).
        NOW.store(0, Ordering::Release);
        // Park until a reader's `wake` (its swap of `WOKEN`, made before it
        // unparks; unpark-before-park is not lost; `park` may return
        // spuriously). Not until `WANTED`: a reader that loaded the time
        // before the withdrawal may set it late without waking anyone, and
        // the wake's own plain store of `WANTED` is no part of the
        // hand-over: with it, loom model 9 (two readers) found the ticker,
        // unparked, reading an older `false` and parking for good.
        while !WOKEN.load(Ordering::Acquire) {
            crate::sync::thread::park();
        }
    }
    publish();
}

/// Publishes the time for readers.
fn publish() {
    NOW.store(Stamp::precise().0, Ordering::Relaxed);
}

/// Starts the ticking thread, once per process. Should the OS refuse it,
/// nothing ticks and `Stamp::now` reads the clock itself (`NOW` stays 0).
pub(crate) fn start() {
    if let Err(e) = TICKER.ensure(tick) {
        tracing::warn!(error = %e, "could not start the ledger clock; stamps read the system clock");
    }
}

/// The loom model of the park and wake, beside the clock (it drives `step`).
#[cfg(all(test, loom))]
#[path = "clock_loom_models.rs"]
mod loom_models;

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn ticking_stamps_follow_the_clock() {
        start();
        let before = Instant::now();
        let first = Stamp::now();
        thread::sleep(TICK * 20);
        let second = Stamp::now();
        assert!(second > first, "the clock thread ticks");
        // A stamp is at most a few ticks (plus scheduling delays) behind.
        let lag = Instant::now().saturating_duration_since(second.to_instant());
        assert!(lag < Duration::from_secs(1), "lag {lag:?}");
        assert!(first.to_instant() + Duration::from_millis(50) >= before);
        assert!(Stamp::precise() >= second);
    }

    /// The ticker reads the clock, a reader finds the time withdrawn and reads
    /// a later time, then the ticker's store lands: the next stamp must not
    /// come before the reader's. (Failed before `FLOOR`: CI saw two
    /// registrations of one thread listed in the wrong order.)
    #[test]
    fn stamps_never_go_backwards_when_the_ticker_publishes_late() {
        start();
        for _ in 0..1000 {
            let stale = Stamp::precise();
            // The ticker has withdrawn the time...
            NOW.store(0, Ordering::Release);
            let read_itself = Stamp::now();
            // ...unless it published again meanwhile: then `read_itself` came
            // from the ticking copy, not the clock, and there is nothing to test.
            if NOW.load(Ordering::Acquire) != 0 {
                continue;
            }
            // The ticker's store of its earlier reading lands now.
            NOW.store(stale.0, Ordering::Relaxed);
            let next = Stamp::now();
            // Never leave the stale time published with the ticker parked (the
            // other tests of this binary read the clock): withdraw it and wake.
            NOW.store(0, Ordering::Release);
            WANTED.store(true, Ordering::Relaxed);
            if let Some(ticker) = TICKER.thread() {
                ticker.unpark();
            }
            assert!(
                next >= read_itself,
                "stamp went backwards: {next:?} after {read_itself:?}"
            );
            return;
        }
        panic!("the ticker republished during every attempt");
    }
}
