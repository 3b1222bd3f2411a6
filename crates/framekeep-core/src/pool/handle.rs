//! [`FramePool`]: the cheap handle users hold, over the shared state in
//! `shared`; and [`PoolOptions::build`], which makes one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::error::{AcquireError, PoolError};
use super::monitor;
use super::options::{Exhausted, PoolOptions};
use super::shared::PoolShared;
use super::stats::PoolStats;
use crate::cancel::CancelToken;
use crate::frame::{Buffer, Frame, FrameLayout, FrameMeta};
use crate::ledger::{Ledger, LedgerReport, LedgerSource, LiveEntry};

/// A cheap-to-clone handle to a frame pool. See the module docs.
///
/// ```
/// use std::time::Duration;
/// use framekeep_core::frame::{FrameLayout, PixelFormat};
/// use framekeep_core::pool::{AcquireError, Exhausted, PoolOptions};
///
/// let pool = PoolOptions::new(FrameLayout::packed(PixelFormat::Bgr24, 64, 48)?)
///     .name("capture")
///     .min_buffers(2)
///     .max_buffers(2)
///     .exhausted(Exhausted::FailFast)
///     .build()?;
/// let a = pool.acquire("stage-a")?;               // a lease labelled "stage-a"
/// let _b = pool.acquire("stage-b")?;
/// assert!(matches!(pool.acquire("stage-c"), Err(AcquireError::Exhausted { .. })));
/// assert_eq!(pool.leases()[0].name, "stage-a");  // who holds what, oldest first
/// drop(a);                                        // back in the pool
/// let report = pool.close();                      // "stage-b" is still out
/// assert_eq!(report.len(), 1);
/// println!("{report}"); // "pool 'capture' closed with 1 lease(s) out", then the lease
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FramePool {
    /// The state itself, one load away on every acquire.
    shared: Arc<PoolShared>,
    /// Counts the user handles (see `Owner`).
    _owner: Arc<Owner>,
}

/// Closes the pool when the last user handle goes (buffers hold the shared
/// state too, so that state alone cannot tell when users are gone).
struct Owner {
    shared: Arc<PoolShared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl FramePool {
    /// A pool with default options for `layout` (see [`PoolOptions::new`]).
    pub fn new(layout: FrameLayout) -> Result<FramePool, PoolError> {
        PoolOptions::new(layout).build()
    }

    /// Options to build a pool with.
    pub fn options(layout: FrameLayout) -> PoolOptions {
        PoolOptions::new(layout)
    }

    pub(crate) fn from_options(opts: PoolOptions) -> Result<FramePool, PoolError> {
        let ledger = opts.ledger.clone();
        let watch = opts.leak_threshold.is_some()
            || opts.write_off_after.is_some()
            || opts.warn_bytes.is_some()
            || opts.critical_bytes.is_some();
        let shared = PoolShared::new(opts).map_err(PoolError::from_frame)?;
        let source: Arc<dyn LedgerSource> = shared.clone();
        ledger
            .as_ref()
            .unwrap_or_else(|| Ledger::global())
            .add_source(Arc::downgrade(&source));
        if watch {
            monitor::watch(&shared);
        }
        Ok(FramePool {
            _owner: Arc::new(Owner {
                shared: Arc::clone(&shared),
            }),
            shared,
        })
    }

    #[inline(always)]
    fn shared(&self) -> &Arc<PoolShared> {
        &self.shared
    }

    /// The pool's name.
    pub fn name(&self) -> &'static str {
        self.shared().opts.name
    }

    /// The layout frames get now.
    pub fn layout(&self) -> FrameLayout {
        *self.shared().layout.lock()
    }

    /// Arms a checked-out buffer as a frame with the buffer's layout.
    #[inline(always)]
    fn arm(buf: Arc<Buffer>) -> Frame {
        let layout = buf.layout;
        Frame::arm(buf, layout, FrameMeta::default())
    }

    /// A frame if one is free (or may be allocated under `max_buffers`);
    /// otherwise [`AcquireError::Exhausted`] at once, whatever the policy.
    #[inline]
    pub fn try_acquire(&self, label: &'static str) -> Result<Frame, AcquireError> {
        let shared = self.shared();
        // One construction of the frame, after the paths meet: a frame built on
        // each path went through the `Result` in memory once more (see
        // BENCHMARKS.md, section 1).
        let buf = match shared.take_fast() {
            Ok(buf) => shared.check_out(buf, label),
            Err(candidate) => self.try_acquire_slow(label, candidate)?,
        };
        Ok(Self::arm(buf))
    }

    /// `try_acquire` when this thread's slot had no buffer fit to use: a
    /// checked-out buffer, or why there is none.
    #[inline(never)]
    fn try_acquire_slow(
        &self,
        label: &'static str,
        candidate: Option<Arc<Buffer>>,
    ) -> Result<Arc<Buffer>, AcquireError> {
        let shared = self.shared();
        shared.try_take_slow(label, candidate)?.ok_or_else(|| {
            shared.counters.exhausted.fetch_add(1, Ordering::Relaxed);
            AcquireError::Exhausted {
                label,
                capacity: shared.opts.max_buffers,
            }
        })
    }

    /// A frame, applying the pool's exhaustion policy with its default timeout.
    #[inline]
    pub fn acquire(&self, label: &'static str) -> Result<Frame, AcquireError> {
        self.acquire_timeout(label, self.shared().opts.acquire_timeout)
    }

    /// A frame, applying the exhaustion policy, waiting at most `timeout`.
    #[inline]
    pub fn acquire_timeout(
        &self,
        label: &'static str,
        timeout: Duration,
    ) -> Result<Frame, AcquireError> {
        let shared = self.shared();
        // As in `try_acquire`: the frame is built once, after the paths meet.
        let buf = match shared.take_fast() {
            Ok(buf) => shared.check_out(buf, label),
            Err(candidate) => self.acquire_timeout_slow(label, timeout, candidate)?,
        };
        Ok(Self::arm(buf))
    }

    /// `acquire_timeout` when this thread's slot had no buffer fit to use.
    #[inline(never)]
    fn acquire_timeout_slow(
        &self,
        label: &'static str,
        timeout: Duration,
        candidate: Option<Arc<Buffer>>,
    ) -> Result<Arc<Buffer>, AcquireError> {
        let shared = self.shared();
        match shared.try_take_slow(label, candidate)? {
            Some(buf) => Ok(buf),
            None => shared.acquire_buffer_slow(label, timeout, None),
        }
    }

    /// A frame, waiting (under the wait policy) until one is free, the default
    /// timeout passes, or `token` is cancelled ([`AcquireError::Cancelled`]).
    /// A cancelled or timed-out acquire never loses a buffer.
    pub fn acquire_cancellable(
        &self,
        label: &'static str,
        token: &CancelToken,
    ) -> Result<Frame, AcquireError> {
        if token.is_cancelled() {
            return Err(AcquireError::Cancelled);
        }
        let shared = self.shared();
        let buf = match shared.try_take(label)? {
            Some(buf) => buf,
            None => shared.acquire_buffer_slow(label, shared.opts.acquire_timeout, Some(token))?,
        };
        Ok(Self::arm(buf))
    }

    /// Closes the pool: blocked and later acquires fail with
    /// [`AcquireError::Closed`], idle buffers are freed now and checked-out
    /// ones when they come back. Returns the leases still out.
    pub fn close(&self) -> LedgerReport {
        self.shared().close()
    }

    /// Whether [`FramePool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared().ret.closed.load(Ordering::Acquire)
    }

    /// Waits until every lease is back, at most `timeout`; `true` if they are.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared().wait_idle(timeout)
    }

    /// Every checked-out buffer, oldest first: ledger entries of kind
    /// `frame`, named by the label given to the acquire, with their bytes.
    pub fn leases(&self) -> Vec<LiveEntry> {
        self.shared().leases()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats::collect(self.shared())
    }

    /// Runs the leak check now (the monitor also runs it periodically, and
    /// every acquire that finds the pool dry runs it).
    pub fn check_leaks(&self) {
        self.shared().check_leaks("explicit check");
    }

    /// Switches to a new frame layout (e.g. after a format change). Idle
    /// buffers of the old layout are freed now, checked-out ones when their
    /// frames drop; new buffers are allocated for the new layout.
    pub fn reconfigure(&self, layout: FrameLayout) -> Result<(), PoolError> {
        let shared = self.shared();
        if layout.len() > shared.opts.buffer_bytes
            && shared.opts.buffer_bytes != shared.opts.layout.len()
        {
            return Err(PoolError::BufferTooSmall {
                bytes: shared.opts.buffer_bytes,
                needed: layout.len(),
            });
        }
        shared.opts.check_ceiling(layout.len())?;
        if self.is_closed() {
            return Err(PoolError::Closed);
        }
        shared.reconfigure(layout);
        Ok(())
    }
}

impl std::fmt::Debug for FramePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePool")
            .field("name", &self.name())
            .field("layout", &self.layout())
            .finish()
    }
}

impl PoolOptions {
    /// Checks the options and builds the pool, allocating `min_buffers`.
    pub fn build(self) -> Result<FramePool, PoolError> {
        if self.buffer_bytes < self.layout.len() {
            return Err(PoolError::BufferTooSmall {
                bytes: self.buffer_bytes,
                needed: self.layout.len(),
            });
        }
        if self.max_buffers == 0 || self.min_buffers > self.max_buffers {
            return Err(PoolError::BadLimits {
                min: self.min_buffers,
                max: self.max_buffers,
            });
        }
        if let Exhausted::Grow { hard_cap } = self.exhausted {
            if hard_cap < self.max_buffers {
                return Err(PoolError::BadLimits {
                    min: self.max_buffers,
                    max: hard_cap,
                });
            }
        }
        self.check_ceiling(self.buffer_bytes)?;
        FramePool::from_options(self)
    }
}
