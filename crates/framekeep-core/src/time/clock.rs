//! The clock of frame timestamps: `CLOCK_MONOTONIC` as a [`Duration`].
//!
//! [`FrameMeta::timestamp`](crate::frame::FrameMeta::timestamp) is on the
//! kernel's monotonic clock, as V4L2 drivers stamp their buffers, so a sink
//! can compute latency the same way for captured and synthetic frames.
//! `std::time::Instant` reads that clock too but cannot be turned into a
//! number, hence this one call, which every framekeep crate uses.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

/// Now, on `CLOCK_MONOTONIC` (time since boot, not counting suspend).
///
/// `clock_gettime(CLOCK_MONOTONIC)` cannot fail on Linux; should it ever,
/// the time comes from a monotonic clock that starts at the first such call,
/// so timestamps still never go backwards within the process.
pub fn monotonic_now() -> Duration {
    match clock_gettime(ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => Duration::new(
            u64::try_from(ts.tv_sec()).unwrap_or(0),
            u32::try_from(ts.tv_nsec()).unwrap_or(0).min(999_999_999),
        ),
        Err(_) => fallback(),
    }
}

fn fallback() -> Duration {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed()
}
