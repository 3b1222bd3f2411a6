//! Time as frames and reports see it: the clock frames are stamped with, and
//! latency percentiles.
//!
//! * [`monotonic_now`]: `CLOCK_MONOTONIC` as a `Duration`, the clock V4L2
//!   drivers stamp their buffers with, so latency is computed the same way
//!   for captured and synthetic frames (one clock for every crate of
//!   framekeep).
//! * [`LatencyHistogram`]: fixed-size percentiles with 1 µs resolution below
//!   4 ms, for per-frame latencies and pool waits alike.
//!
//! ```
//! use std::time::Duration;
//! use framekeep_core::time::{monotonic_now, LatencyHistogram};
//!
//! let captured = monotonic_now();
//! let mut latency = LatencyHistogram::new();
//! latency.record(monotonic_now().saturating_sub(captured));
//! latency.record(Duration::from_micros(250));
//! assert_eq!(latency.count(), 2);
//! assert!(latency.quantile(0.99) <= Duration::from_millis(5));
//! ```

mod clock;
mod histogram;

pub use clock::monotonic_now;
pub use histogram::LatencyHistogram;

use std::fmt;
use std::time::{Duration, Instant};

/// `now + timeout`, saturating: a timeout too large for the clock (a user's
/// `Duration::MAX`) means a deadline a year away rather than a panic.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
}

/// A duration for people: `850µs`, `12.3ms`, `1.500s` (never `0.000ns`), as
/// every report of the core prints ages and times.
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d < Duration::from_millis(1) {
            write!(f, "{}µs", d.as_micros())
        } else if d < Duration::from_secs(1) {
            write!(f, "{:.1}ms", d.as_secs_f64() * 1e3)
        } else {
            write!(f, "{:.3}s", d.as_secs_f64())
        }
    }
}
