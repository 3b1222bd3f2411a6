//! Loom model of the ledger clock's park and wake (`--cfg loom`, see
//! `scripts/loom.sh` and SPEC.md, "How the concurrency is checked").
//!
//! The ticker runs its real `step` (withdraw the time and park when nobody
//! read it, then publish) on a model thread registered as the daemon's
//! thread; the reader calls the real `Stamp::now`. Loom's `park` blocks until
//! an `unpark`, so a lost wake-up leaves the ticker parked for good.

use std::sync::atomic::{AtomicBool as Flag, Ordering as Order};
use std::sync::Arc;

use loom::thread;

use super::{publish, step, Stamp, TICKER};
use crate::sync::check;

/// Ticker steps per execution: one that may find the reader's mark, one
/// that may withdraw the time and park.
const STEPS: usize = 2;

/// The ticker on a model thread registered as the daemon's: it publishes, takes
/// [`STEPS`] steps and then sets `done`.
fn spawn_ticker(done: &Arc<Flag>) -> thread::JoinHandle<()> {
    let done = Arc::clone(done);
    thread::spawn(move || {
        TICKER.adopt();
        publish();
        for _ in 0..STEPS {
            step();
        }
        done.store(true, Order::SeqCst);
    })
}

/// A reader that reads the clock until the ticker is done (forever if the
/// ticker stays parked: loom then fails the model).
fn read_until(done: &Flag) {
    while !done.load(Order::SeqCst) {
        let _ = Stamp::now();
        thread::yield_now();
    }
}

/// Model 6: a reader that keeps reading until the ticker has taken all its
/// steps. It plays both parts of the lost wake-up fixed earlier: a read that
/// loaded a published time just before the withdrawal and marks `WANTED`
/// after the ticker parked, then reads that find the time withdrawn. Every
/// park must be ended by one of those reads, so the ticker finishes; with a
/// lost wake-up it stays parked and the reader reads the clock itself
/// forever (loom stops the execution and fails the model).
#[test]
fn clock_park_and_wake_loses_no_wake_up() {
    check("ledger clock: park and wake", None, || {
        let done = Arc::new(Flag::new(false));
        let ticker = spawn_ticker(&done);
        read_until(&done);
        ticker.join().unwrap();
    });
}

/// Model 9: two readers race the ticker's withdrawal. The wake-once flag
/// (`WOKEN`) is shared: a reader that finds the time withdrawn but sees the
/// other reader's wake skips its own, so that other wake must be enough.
/// Each reader reads [`RACING_READS`] times alongside the ticker; then one
/// reader keeps reading until the ticker has taken all its steps (as in model
/// 6). A wake-up lost in the race leaves the ticker parked with nothing that
/// will wake it, and that last reader reading forever.
///
/// Not two readers that both spin to the end: with two threads yielding to
/// each other, loom can schedule them forever while the ticker is runnable,
/// and stops with "exceeded maximum number of branches" whatever the code
/// does (what an earlier version of this model reported).
#[test]
fn clock_park_and_wake_two_readers_lose_no_wake_up() {
    check("ledger clock: park and wake, two readers", Some(2), || {
        let done = Arc::new(Flag::new(false));
        let ticker = spawn_ticker(&done);
        let other = thread::spawn(|| {
            for _ in 0..RACING_READS {
                let _ = Stamp::now();
            }
        });
        for _ in 0..RACING_READS {
            let _ = Stamp::now();
        }
        other.join().unwrap();
        read_until(&done);
        ticker.join().unwrap();
    });
}

/// Reads each reader of model 9 makes while racing the ticker.
const RACING_READS: usize = 2;
