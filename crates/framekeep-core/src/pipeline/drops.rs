//! [`Drops`]: the frames an element or an edge let go of, by reason.

use std::fmt;
use std::ops::AddAssign;

/// Frames let go of without being handed on or delivered, by reason: the
/// right-hand terms of framekeep's conservation law.
///
/// Every frame a source produces is, at the end of a run, either delivered
/// (consumed by the sink) or counted once here, at the element or the edge
/// that let it go: for each element `frames_in + created = frames_out +
/// dropped.total()` ([`RunSummary`](super::RunSummary)), for each edge `sent
/// = received + dropped.total() + queued` ([`EdgeStats`](super::EdgeStats)),
/// and an element's `frames_out` is its output edge's `sent`, an edge's
/// `received` its consumer's `frames_in`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Drops {
    /// An edge's overflow rule dropped it ([`Link`](super::Link): refused
    /// when full under `DropNewest`, replaced under `DropOldest`/`Latest`).
    pub policy: u64,
    /// Its element was cancelled while it waited to hand it on.
    pub cancelled: u64,
    /// Nobody would read it any more: handed to an edge whose consumers had
    /// all ended, or still queued on an edge when they did.
    pub shutdown: u64,
    /// Its element panicked while holding it.
    pub panic: u64,
    /// Its element failed (returned an error) while holding it.
    pub failed: u64,
    /// A stage consumed it and emitted nothing for it (a filter).
    pub filtered: u64,
}

impl Drops {
    /// All of them.
    pub const fn total(&self) -> u64 {
        self.policy + self.cancelled + self.shutdown + self.panic + self.failed + self.filtered
    }
}

impl AddAssign for Drops {
    fn add_assign(&mut self, other: Drops) {
        self.policy += other.policy;
        self.cancelled += other.cancelled;
        self.shutdown += other.shutdown;
        self.panic += other.panic;
        self.failed += other.failed;
        self.filtered += other.filtered;
    }
}

/// `0`, or the non-zero reasons: `3 (policy 2, shutdown 1)`.
impl fmt::Display for Drops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.total())?;
        let parts = [
            ("policy", self.policy),
            ("cancelled", self.cancelled),
            ("shutdown", self.shutdown),
            ("panic", self.panic),
            ("failed", self.failed),
            ("filtered", self.filtered),
        ];
        let mut first = true;
        for (name, n) in parts.into_iter().filter(|(_, n)| *n > 0) {
            f.write_str(if first { " (" } else { ", " })?;
            write!(f, "{name} {n}")?;
            first = false;
        }
        if !first {
            f.write_str(")")?;
        }
        Ok(())
    }
}
