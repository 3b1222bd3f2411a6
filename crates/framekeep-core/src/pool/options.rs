//! Configuration of a [`FramePool`](super::FramePool), builder style (as sqlx's `PoolOptions`).
//!
//! [`PoolOptions::build`] is defined beside the handle it builds (`handle`),
//! so that the options know nothing of the pool.

use std::sync::Arc;
use std::time::Duration;

use super::error::PoolError;
use crate::frame::FrameLayout;
use crate::ledger::Ledger;

/// The default byte ceiling of a pool: what its buffers may add up to at most.
const DEFAULT_MAX_BYTES: usize = 4 << 30;

/// What an acquire does when every buffer up to `max_buffers` is checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Exhausted {
    /// Wait for a buffer to come back, up to the acquire timeout.
    Wait,
    /// Fail at once with [`AcquireError::Exhausted`](super::AcquireError::Exhausted).
    FailFast,
    /// Allocate more buffers, up to a hard cap; past the cap, fail fast.
    Grow {
        /// Most buffers the pool may ever hold at once.
        hard_cap: usize,
    },
}

/// Facts about a buffer given to hooks.
#[derive(Debug, Clone, Copy)]
pub struct BufferInfo {
    /// Slot number within the pool.
    pub index: usize,
    /// Capacity in bytes.
    pub bytes: usize,
    /// How many times it has been checked out.
    pub uses: u64,
}

/// A hook that sees a buffer.
pub(crate) type Hook = Arc<dyn Fn(&BufferInfo) + Send + Sync>;
/// A hook that may refuse a buffer (`false`: it is freed and replaced).
pub(crate) type Filter = Arc<dyn Fn(&BufferInfo) -> bool + Send + Sync>;

/// Options of a frame pool. Start with [`PoolOptions::new`].
#[derive(Clone)]
pub struct PoolOptions {
    pub(crate) layout: FrameLayout,
    pub(crate) buffer_bytes: usize,
    pub(crate) name: &'static str,
    pub(crate) min_buffers: usize,
    pub(crate) max_buffers: usize,
    pub(crate) max_bytes: usize,
    pub(crate) exhausted: Exhausted,
    pub(crate) acquire_timeout: Duration,
    pub(crate) leak_threshold: Option<Duration>,
    pub(crate) write_off_after: Option<Duration>,
    pub(crate) capture_backtraces: bool,
    pub(crate) prefault: bool,
    pub(crate) warn_bytes: Option<usize>,
    pub(crate) critical_bytes: Option<usize>,
    pub(crate) after_create: Option<Hook>,
    pub(crate) before_acquire: Option<Filter>,
    pub(crate) after_release: Option<Filter>,
    pub(crate) ledger: Option<Ledger>,
}

impl PoolOptions {
    /// A pool of frames with `layout` (the buffers are `layout.len` bytes;
    /// see [`PoolOptions::buffer_bytes`] for a larger size class).
    ///
    /// Defaults: 4 buffers preallocated, at most 8, a byte ceiling of 4 GiB,
    /// wait up to 1 s when exhausted, leases older than 10 s reported as
    /// leaks, backtraces when `FRAMEKEEP_BACKTRACE=1`, pages touched at
    /// creation.
    pub fn new(layout: FrameLayout) -> PoolOptions {
        PoolOptions {
            layout,
            buffer_bytes: layout.len(),
            name: "pool",
            min_buffers: 4,
            max_buffers: 8,
            max_bytes: DEFAULT_MAX_BYTES,
            exhausted: Exhausted::Wait,
            acquire_timeout: Duration::from_secs(1),
            leak_threshold: Some(Duration::from_secs(10)),
            write_off_after: None,
            capture_backtraces: std::env::var("FRAMEKEEP_BACKTRACE").is_ok_and(|v| v == "1"),
            prefault: true,
            warn_bytes: None,
            critical_bytes: None,
            after_create: None,
            before_acquire: None,
            after_release: None,
            ledger: None,
        }
    }

    /// A name for logs and reports.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }
    /// Buffer size class in bytes (at least the layout's length), so that
    /// frames of several layouts can share one pool.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }
    /// Buffers allocated up front and kept.
    pub fn min_buffers(mut self, n: usize) -> Self {
        self.min_buffers = n;
        self
    }
    /// Buffers the pool may hold before the exhaustion policy applies.
    pub fn max_buffers(mut self, n: usize) -> Self {
        self.max_buffers = n;
        self
    }
    /// The most bytes the pool's buffers may add up to (default 4 GiB): a
    /// pool whose buffer cap times its buffer size exceeds it is refused at
    /// [`build`](Self::build) (and a [`reconfigure`](super::FramePool::reconfigure)
    /// past it fails), with [`PoolError::TooLarge`], before anything is
    /// allocated. Sizes from outside (a camera, a file, a command line)
    /// cannot make a pool take the machine's memory.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }
    /// What to do when exhausted.
    pub fn exhausted(mut self, policy: Exhausted) -> Self {
        self.exhausted = policy;
        self
    }
    /// Default timeout of [`FramePool::acquire`](super::FramePool::acquire).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }
    /// Leases held longer than this are reported with `tracing::warn!` (None: never).
    pub fn leak_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.leak_threshold = threshold;
        self
    }
    /// Leases held longer than this are written off: the pool replaces their
    /// capacity and frees the buffer if it ever comes back (None: never).
    pub fn write_off_after(mut self, deadline: Option<Duration>) -> Self {
        self.write_off_after = deadline;
        self
    }
    /// Capture a backtrace at every checkout (slow; for hunting leaks).
    pub fn capture_backtraces(mut self, on: bool) -> Self {
        self.capture_backtraces = on;
        self
    }
    /// Touch every page of new buffers so the first frame takes no page faults.
    pub fn prefault(mut self, on: bool) -> Self {
        self.prefault = on;
        self
    }
    /// Warn (once per level change) when bytes checked out reach this.
    pub fn warn_bytes(mut self, bytes: Option<usize>) -> Self {
        self.warn_bytes = bytes;
        self
    }
    /// Report an error (once per level change) when bytes checked out reach this.
    pub fn critical_bytes(mut self, bytes: Option<usize>) -> Self {
        self.critical_bytes = bytes;
        self
    }
    /// Called for every buffer the pool allocates.
    pub fn after_create(mut self, hook: impl Fn(&BufferInfo) + Send + Sync + 'static) -> Self {
        self.after_create = Some(Arc::new(hook));
        self
    }
    /// Called before a buffer is handed out; `false` frees it and takes another.
    pub fn before_acquire(
        mut self,
        hook: impl Fn(&BufferInfo) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.before_acquire = Some(Arc::new(hook));
        self
    }
    /// Called when a buffer comes back; `false` frees it instead of reusing it.
    pub fn after_release(
        mut self,
        hook: impl Fn(&BufferInfo) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.after_release = Some(Arc::new(hook));
        self
    }
    /// Report leases to this ledger instead of [`Ledger::global`].
    pub fn with_ledger(mut self, ledger: &Ledger) -> Self {
        self.ledger = Some(ledger.clone());
        self
    }

    /// The most buffers the pool may ever hold at once.
    pub(crate) fn cap(&self) -> usize {
        match self.exhausted {
            Exhausted::Grow { hard_cap } => hard_cap,
            _ => self.max_buffers,
        }
    }

    /// Refuses buffers of `bytes` (or the size class, if larger) whose cap
    /// would exceed the byte ceiling.
    pub(crate) fn check_ceiling(&self, bytes: usize) -> Result<(), PoolError> {
        let buffer_bytes = self.buffer_bytes.max(bytes);
        let buffers = self.cap();
        let total = buffers.saturating_mul(buffer_bytes);
        if total > self.max_bytes {
            return Err(PoolError::TooLarge {
                buffers,
                buffer_bytes,
                bytes: total,
                ceiling: self.max_bytes,
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolOptions")
            .field("name", &self.name)
            .field("layout", &self.layout)
            .field("buffer_bytes", &self.buffer_bytes)
            .field("min_buffers", &self.min_buffers)
            .field("max_buffers", &self.max_buffers)
            .field("max_bytes", &self.max_bytes)
            .field("exhausted", &self.exhausted)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish_non_exhaustive()
    }
}
