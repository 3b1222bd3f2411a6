//! Pool errors and the close report.

use std::time::Duration;

use super::LeaseInfo;
use crate::frame::FrameError;

/// Why a pool could not be built or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The size class cannot hold the layout.
    #[error("buffers of {bytes} bytes cannot hold a frame of {needed} bytes")]
    BufferTooSmall {
        /// Buffer bytes.
        bytes: usize,
        /// Bytes the layout needs.
        needed: usize,
    },
    /// Inconsistent buffer limits.
    #[error("bad buffer limits: {min} must not exceed {max}, and the maximum must be at least 1")]
    BadLimits {
        /// The lower limit.
        min: usize,
        /// The upper limit.
        max: usize,
    },
    /// The pool is closed.
    #[error("the pool is closed")]
    Closed,
}

/// Why an acquire returned no frame. No buffer is ever lost by a failed acquire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// The pool was closed (before or during the wait).
    #[error("the pool is closed")]
    Closed,
    /// Every buffer is out and the policy (or `try_acquire`) does not wait.
    #[error("pool exhausted: all {capacity} buffers are checked out (acquire by '{label}')")]
    Exhausted {
        /// Who asked.
        label: &'static str,
        /// Buffers the pool may hold.
        capacity: usize,
    },
    /// No buffer came back in time.
    #[error("no buffer came back within {waited:?} (acquire by '{label}')")]
    Timeout {
        /// Who asked.
        label: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// The cancellation token fired while waiting.
    #[error("acquire cancelled")]
    Cancelled,
    /// A frame could not be made (copy-on-write of an odd layout).
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// What [`super::FramePool::close`] found still checked out.
#[derive(Debug, Clone, Default)]
pub struct CloseReport {
    /// Leases still out at close, oldest first. Their buffers are freed when they come back.
    pub leases: Vec<LeaseInfo>,
}

impl CloseReport {
    /// Whether every buffer was back.
    pub fn is_clean(&self) -> bool {
        self.leases.is_empty()
    }
}

impl std::fmt::Display for CloseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.leases.is_empty() {
            return write!(f, "pool closed clean: no lease out");
        }
        writeln!(f, "pool closed with {} lease(s) out:", self.leases.len())?;
        for l in &self.leases {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}
