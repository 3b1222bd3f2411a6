//! Pool errors.

use std::time::Duration;

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
    /// The most the pool could ever hold (its buffer cap times the buffer
    /// size) exceeds its byte ceiling ([`PoolOptions::max_bytes`](super::PoolOptions::max_bytes)).
    #[error("a pool of {buffers} buffers of {buffer_bytes} bytes could hold {bytes} bytes, over its ceiling of {ceiling} bytes")]
    TooLarge {
        /// Buffers the pool may hold at most.
        buffers: usize,
        /// Bytes per buffer.
        buffer_bytes: usize,
        /// `buffers * buffer_bytes` (saturating).
        bytes: usize,
        /// The ceiling.
        ceiling: usize,
    },
    /// The allocator refused a preallocated buffer.
    #[error("out of memory: cannot allocate a pool buffer of {bytes} bytes")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
}

impl PoolError {
    /// The build error for a refused preallocation.
    pub(crate) fn from_frame(e: FrameError) -> PoolError {
        match e {
            FrameError::OutOfMemory { bytes } => PoolError::OutOfMemory { bytes },
            // Preallocation only ever fails to allocate.
            _ => PoolError::OutOfMemory { bytes: 0 },
        }
    }
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
    /// A new buffer was due (the pool grows lazily) but the allocator refused it.
    #[error("out of memory: cannot allocate a pool buffer of {bytes} bytes")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
}
