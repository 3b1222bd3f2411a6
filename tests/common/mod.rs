//! Shared harness of the leak regression suite: bounded test bodies under a
//! `LeakCheck`, test pools, and fault-injecting stages and sinks.
#![allow(dead_code)] // each test binary uses a different part

pub mod child;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use framekeep::core::cancel::CancelToken;
use framekeep::core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep::core::ledger::LeakCheck;
use framekeep::core::pipeline::{Output, Sink, Stage, StageError};
use framekeep::core::pool::{Exhausted, FramePool, PoolOptions};

/// How long the ledger may take to settle after a test body (threads
/// deregister as they exit, frames return as the last handle drops).
pub const SETTLE: Duration = Duration::from_secs(5);

/// Runs `body` on its own thread under a fresh `LeakCheck` and fails if it
/// does not finish within `limit` (a hang is a failure, not a stuck CI),
/// if it panics, or if anything it created is still alive at its end.
pub fn bounded<F>(name: &str, limit: Duration, body: F)
where
    F: FnOnce() + Send + 'static,
{
    let (done_tx, done_rx) = crossbeam_channel::bounded::<thread::Result<Result<(), String>>>(1);
    let worker = thread::Builder::new()
        .name(format!("test:{name}"))
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let check = LeakCheck::new();
                body();
                check
                    .finish_within(SETTLE)
                    .map_err(|report| report.to_string())
            }));
            let _ = done_tx.send(outcome);
        })
        .expect("spawn test thread");
    match done_rx.recv_timeout(limit) {
        Ok(Ok(Ok(()))) => {
            worker.join().expect("test thread");
        }
        Ok(Ok(Err(report))) => panic!("{name}: leaks after the test:\n{report}"),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{name}: did not finish within {limit:?} (hang)"),
    }
}

/// The frame layout of most tests: small, so tests are fast.
pub fn small_layout() -> FrameLayout {
    FrameLayout::packed(PixelFormat::Bgr24, 64, 48).expect("layout")
}

/// A pool of `n` fixed buffers with `policy`, and a short acquire timeout.
pub fn pool(n: usize, policy: Exhausted) -> FramePool {
    PoolOptions::new(small_layout())
        .name("leak-test")
        .min_buffers(n)
        .max_buffers(n)
        .exhausted(policy)
        .acquire_timeout(Duration::from_millis(50))
        .build()
        .expect("pool")
}

/// Asserts that every buffer of `pool` is back (within `SETTLE`).
pub fn assert_pool_idle(pool: &FramePool) {
    assert!(
        pool.wait_idle(SETTLE),
        "frames still out of pool '{}': {:?}",
        pool.name(),
        pool.leases()
    );
    assert_eq!(pool.stats().checked_out, 0);
}

/// What a [`Faulty`] stage does at its `at`-th frame (counting from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: pass every frame on.
    None,
    /// Panic while holding the frame.
    Panic(u64),
    /// Return an error.
    Error(u64),
    /// Cancel this token while processing (a frame in flight).
    Cancel(u64),
}

/// A pass-through stage that sleeps `delay` per frame and injects `fault`.
pub struct Faulty {
    pub fault: Fault,
    pub delay: Duration,
    pub token: Option<CancelToken>,
    pub seen: u64,
}

impl Faulty {
    pub fn new(fault: Fault) -> Self {
        Faulty {
            fault,
            delay: Duration::ZERO,
            token: None,
            seen: 0,
        }
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn cancelling(mut self, token: &CancelToken) -> Self {
        self.token = Some(token.clone());
        self
    }
}

impl Stage for Faulty {
    fn process(&mut self, frame: Frame, out: &mut Output<'_>) -> Result<(), StageError> {
        self.seen += 1;
        if !self.delay.is_zero() {
            thread::sleep(self.delay);
        }
        match self.fault {
            Fault::Panic(at) if self.seen == at => panic!("injected panic at frame {at}"),
            Fault::Error(at) if self.seen == at => {
                return Err(StageError::failed(format!("injected error at frame {at}")))
            }
            Fault::Cancel(at) if self.seen == at => {
                if let Some(token) = &self.token {
                    token.cancel();
                }
                // The frame is still finished and handed on.
            }
            _ => {}
        }
        out.emit(frame)
    }
}

/// A sink that sleeps per frame and keeps up to `hold` frames alive (so the
/// pool can run dry), counting what it consumed.
pub struct SlowSink {
    pub delay: Duration,
    pub hold: usize,
    pub held: Vec<Frame>,
    pub consumed: Arc<AtomicU64>,
}

impl SlowSink {
    pub fn new(delay: Duration) -> Self {
        SlowSink {
            delay,
            hold: 0,
            held: Vec::new(),
            consumed: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn hold(mut self, n: usize) -> Self {
        self.hold = n;
        self
    }
}

impl Sink for SlowSink {
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        if !self.delay.is_zero() {
            thread::sleep(self.delay);
        }
        if self.held.len() < self.hold {
            self.held.push(frame.clone());
        }
        self.consumed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
