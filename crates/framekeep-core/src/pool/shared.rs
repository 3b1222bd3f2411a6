//! The state every handle of one pool shares, and the acquire/recycle paths.
//!
//! The hot path: a release swaps the buffer into the releasing thread's own
//! slot and pushes the buffer that held the slot, if any, on a lock-free free
//! list (both in `ret`, a `frame::ReturnPath`: the release does this in
//! `frame::buffer` and calls back here, through `Recycle`, only when there is
//! more to do); an acquire takes from its
//! own slot first, then any other thread's slot, then the free list, and arms
//! the `Arc` it found. None of it touches a reference count shared by
//! all threads: buffers keep the pool alive, not the handles, and counters
//! live in the buffer slots and are summed only when someone asks for stats.
//! Everything slow (allocating, waiting, leak checks, thresholds) happens off
//! that path.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::error::AcquireError;
use super::options::{BufferInfo, Exhausted, PoolOptions};
use crate::cancel::CancelToken;
use crate::frame::hazard::wait_unpinned;
use crate::frame::lease::{intern_label, reader_now};
use crate::frame::{Buffer, FrameError, FrameLayout, Home, Leftovers, Recycle, ReturnPath, Wait};
use crate::ledger::{Ledger, LedgerReport, LedgerSource, LiveEntry};
use crate::sync::atomic::{fence, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use crate::sync::{Condvar, Mutex};
use crate::time::{deadline_after, LatencyHistogram};

/// Longest a waiter sleeps before looking at the free list again, whether or
/// not it was woken (see `finish_release`).
const WAIT_SLICE: Duration = Duration::from_millis(2);

/// A one-pass summary of a pool's buffers (see `PoolShared::usage`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    /// Buffers alive (idle and checked out).
    pub(crate) buffers: usize,
    /// Buffers checked out.
    pub(crate) checked_out: usize,
    /// Bytes of checked-out buffers.
    pub(crate) bytes_in_use: usize,
    /// Checkouts of the buffers alive.
    pub(crate) uses: u64,
    /// Age of the oldest lease, in nanoseconds.
    pub(crate) oldest_nanos: Option<u64>,
}

/// Counters touched only off the hot path.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) created: AtomicU64,
    pub(crate) freed: AtomicU64,
    pub(crate) grown: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) exhausted: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) written_off: AtomicU64,
    pub(crate) leaks_reported: AtomicU64,
    /// Checkouts of buffers that have since been freed (live ones count in their slots).
    pub(crate) retired_uses: AtomicU64,
    pub(crate) bytes_allocated: AtomicUsize,
    pub(crate) high_watermark: AtomicUsize,
}

pub(crate) struct PoolShared {
    /// This state itself, for paths that reach it by reference (a copy target
    /// asked for through a buffer's home) and need the `Arc` new buffers hold.
    me: Weak<PoolShared>,
    pub(crate) opts: PoolOptions,
    /// The idle buffers (slots and free list), the `closed` flag, the
    /// generation and the waiter count: what a release needs, kept where
    /// frames reach it without this type (see `frame::return_path`).
    pub(crate) ret: ReturnPath<Buffer>,
    /// Buffers of the current generation that exist and are not written off.
    pub(crate) live: AtomicUsize,
    /// Largest number of buffers `live` may reach.
    pub(crate) cap: usize,
    /// The ledger the leases are reported to (its checkpoint epoch goes into each lease).
    ledger: Ledger,
    next_index: AtomicUsize,
    /// Every buffer ever made, for lease listings; dead entries are pruned.
    pub(crate) registry: Mutex<Vec<Weak<Buffer>>>,
    /// The layout new buffers get (changes with `reconfigure`).
    pub(crate) layout: Mutex<FrameLayout>,
    wait_lock: Mutex<()>,
    wait_cv: Condvar,
    pub(crate) counters: Counters,
    pub(crate) latency: Mutex<LatencyHistogram>,
    /// Memory level last reported: 0 normal, 1 warn, 2 critical.
    pub(crate) level: AtomicU8,
}

impl PoolShared {
    /// The shared state with `min_buffers` allocated; an allocation the
    /// allocator refuses fails the build (nothing is left behind).
    pub(crate) fn new(opts: PoolOptions) -> Result<Arc<PoolShared>, FrameError> {
        let cap = opts.cap();
        let layout = opts.layout;
        // Checkout stamps come from the ledger's ticking clock.
        crate::ledger::clock::start();
        let shared = Arc::new_cyclic(|me| PoolShared {
            me: me.clone(),
            ret: ReturnPath::new(
                cap,
                opts.after_release.is_none() && !opts.capture_backtraces,
            ),
            live: AtomicUsize::new(0),
            cap,
            ledger: opts
                .ledger
                .clone()
                .unwrap_or_else(|| Ledger::global().clone()),
            next_index: AtomicUsize::new(0),
            registry: Mutex::new(Vec::with_capacity(cap)),
            layout: Mutex::new(layout),
            wait_lock: Mutex::new(()),
            wait_cv: Condvar::new(),
            counters: Counters::default(),
            latency: Mutex::new(LatencyHistogram::new()),
            level: AtomicU8::new(0),
            opts,
        });
        for _ in 0..shared.opts.min_buffers {
            match shared.allocate(false) {
                Ok(Some(buf)) => {
                    let _ = shared.ret.idle.push(buf);
                }
                Ok(None) => break,
                Err(e) => {
                    // The buffers made so far hold the state: free them now.
                    shared.close();
                    return Err(e);
                }
            }
        }
        Ok(shared)
    }

    /// Allocates a buffer of the current generation if `live` allows it
    /// (`beyond_max`: up to the hard cap instead of `max_buffers`); `Ok(None)`
    /// at the limit, `Err` when the allocator refuses.
    fn allocate(self: &Arc<Self>, beyond_max: bool) -> Result<Option<Arc<Buffer>>, FrameError> {
        let limit = if beyond_max {
            self.cap
        } else {
            self.opts.max_buffers.min(self.cap)
        };
        // Under the layout lock, so that a reconfigure cannot reset `live`
        // between counting this buffer and choosing its generation.
        let (layout, generation) = {
            let layout = self.layout.lock();
            let counted = self
                .live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < limit).then_some(n + 1)
                });
            if counted.is_err() {
                return Ok(None);
            }
            (*layout, self.ret.generation.load(Ordering::Acquire))
        };
        let bytes = self.opts.buffer_bytes.max(layout.len());
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let home: Arc<dyn Recycle> = Arc::clone(self) as Arc<dyn Recycle>;
        let buf = match Buffer::heap(
            bytes,
            layout,
            Home::recycler(home),
            index,
            generation,
            self.opts.prefault,
        ) {
            Ok(buf) => Arc::new(buf),
            Err(e) => {
                self.live.fetch_sub(1, Ordering::AcqRel);
                tracing::error!(
                    pool = self.opts.name,
                    bytes,
                    "cannot allocate a pool buffer"
                );
                return Err(e);
            }
        };
        self.counters.created.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_allocated
            .fetch_add(bytes, Ordering::Relaxed);
        {
            let mut reg = self.registry.lock();
            if reg.len() == reg.capacity() {
                reg.retain(|w| w.strong_count() > 0);
            }
            reg.push(Arc::downgrade(&buf));
        }
        if let Some(hook) = &self.opts.after_create {
            hook(&info(&buf));
        }
        Ok(Some(buf))
    }

    /// Frees a buffer; `counted`: it still counts in `live`.
    /// Only for callers that hold the pool through a handle (not through this buffer).
    fn free(&self, buf: Arc<Buffer>, counted: bool) {
        self.retire(&buf, counted);
        drop(buf);
    }

    /// Accounts for a buffer about to be freed; `counted`: it still counts in `live`.
    fn retire(&self, buf: &Buffer, counted: bool) {
        if counted {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
        self.counters.freed.fetch_add(1, Ordering::Relaxed);
        self.counters
            .retired_uses
            .fetch_add(buf.lease.uses(), Ordering::Relaxed);
        self.counters
            .bytes_allocated
            .fetch_sub(buf.capacity(), Ordering::Relaxed);
    }

    /// Whether a buffer of this state counts in `live`.
    #[inline(always)]
    fn counts(&self, buf: &Buffer) -> bool {
        self.ret.counts(buf)
    }

    /// The fast path: an idle buffer, or a new one while under `max_buffers`,
    /// checked out to `label`; `Ok(None)` when the pool is dry.
    #[inline]
    pub(crate) fn try_take(
        self: &Arc<Self>,
        label: &'static str,
    ) -> Result<Option<Arc<Buffer>>, AcquireError> {
        match self.take_fast() {
            Ok(buf) => Ok(Some(self.check_out(buf, label))),
            Err(candidate) => self.try_take_slow(label, candidate),
        }
    }

    /// [`try_take`](Self::try_take) past [`take_fast`](Self::take_fast), for
    /// the acquires' slow paths; `candidate` as for `take_buffer_slow`.
    pub(crate) fn try_take_slow(
        self: &Arc<Self>,
        label: &'static str,
        candidate: Option<Arc<Buffer>>,
    ) -> Result<Option<Arc<Buffer>>, AcquireError> {
        match self.take_buffer_slow(candidate) {
            Taken::Buffer(buf) => Ok(Some(self.check_out(buf, label))),
            Taken::Dry => Ok(None),
            Taken::Closed => Err(AcquireError::Closed),
            Taken::Failed(e) => Err(self.allocation_failed(e)),
        }
    }

    /// The acquire error for a refused allocation.
    #[cold]
    pub(crate) fn allocation_failed(&self, e: FrameError) -> AcquireError {
        match e {
            FrameError::OutOfMemory { bytes } => AcquireError::OutOfMemory { bytes },
            _ => AcquireError::OutOfMemory {
                bytes: self.opts.buffer_bytes,
            },
        }
    }

    /// The common case, inlined into every acquire: this thread's own buffer
    /// back, fit to use. `Err` holds what the slow path must look at first (a
    /// buffer taken that failed the checks), or `None` (the slot was empty,
    /// or the pool is closed).
    ///
    /// Two words, returned in registers: a `Taken` (with its error) went
    /// through the stack on every acquire.
    #[inline(always)]
    pub(crate) fn take_fast(&self) -> Result<Arc<Buffer>, Option<Arc<Buffer>>> {
        if self.ret.closed.load(Ordering::Acquire) {
            return Err(None);
        }
        match self.ret.local.take_mine() {
            Some(buf)
                if buf.generation == self.ret.generation.load(Ordering::Relaxed)
                    && self.opts.before_acquire.is_none() =>
            {
                Ok(buf)
            }
            mine => Err(mine),
        }
    }

    /// An idle buffer of the current generation that the `before_acquire`
    /// filter accepts, past [`PoolShared::take_fast`]: this thread's slot, then
    /// other threads' slots, then the free list, then a new buffer while under
    /// `max_buffers`. `candidate` is a buffer already taken that still has to
    /// pass the checks (the pool was open then).
    #[inline(never)]
    fn take_buffer_slow(self: &Arc<Self>, mut candidate: Option<Arc<Buffer>>) -> Taken {
        if candidate.is_none() && self.ret.closed.load(Ordering::Acquire) {
            return Taken::Closed;
        }
        loop {
            // Other threads' slots before the free list: they hold the
            // buffers released last, still in cache (see `frame::local_slots`).
            let found = candidate
                .take()
                .or_else(|| self.ret.local.take_mine())
                .or_else(|| self.ret.local.steal())
                .or_else(|| self.ret.idle.pop());
            let buf = match found {
                Some(buf) => buf,
                None => match self.allocate(false) {
                    Ok(Some(buf)) => buf,
                    Ok(None) => return Taken::Dry,
                    Err(e) => return Taken::Failed(e),
                },
            };
            if buf.generation != self.ret.generation.load(Ordering::Relaxed) {
                self.free(buf, false);
                continue;
            }
            if let Some(filter) = &self.opts.before_acquire {
                if !filter(&info(&buf)) {
                    self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                    self.free(buf, true);
                    continue;
                }
            }
            return Taken::Buffer(buf);
        }
    }

    /// Records the lease of a buffer just taken.
    #[inline(always)]
    pub(crate) fn check_out(&self, buf: Arc<Buffer>, label: &'static str) -> Arc<Buffer> {
        intern_label(label);
        buf.lease.check_out(
            buf.index,
            label,
            self.ledger.epoch(),
            self.opts.capture_backtraces,
        );
        buf
    }

    /// Records a sample of the number of buffers checked out. The watermark is
    /// sampled off the hot path (when the pool runs dry, at every monitor
    /// tick, at every `stats()`): counting on every acquire would read the
    /// free list's contended head and tail each time.
    pub(crate) fn note_checked_out(&self, out: usize) {
        if out > self.counters.high_watermark.load(Ordering::Relaxed) {
            self.counters
                .high_watermark
                .fetch_max(out, Ordering::Relaxed);
        }
    }

    /// The slow path, after `try_take` found nothing: applies the exhaustion
    /// policy, waiting (as it allows) at most `timeout` or until `token` is
    /// cancelled; a checked-out buffer.
    pub(crate) fn acquire_buffer_slow(
        self: &Arc<Self>,
        label: &'static str,
        timeout: Duration,
        token: Option<&CancelToken>,
    ) -> Result<Arc<Buffer>, AcquireError> {
        // Dry: every live buffer is out.
        self.note_checked_out(self.live.load(Ordering::Relaxed));
        self.check_leaks("pool ran dry");
        match self.opts.exhausted {
            Exhausted::FailFast => {
                self.counters.exhausted.fetch_add(1, Ordering::Relaxed);
                return Err(AcquireError::Exhausted {
                    label,
                    capacity: self.opts.max_buffers,
                });
            }
            Exhausted::Grow { hard_cap } => {
                return match self.allocate(true) {
                    Ok(Some(buf)) => {
                        self.counters.grown.fetch_add(1, Ordering::Relaxed);
                        self.note_checked_out(self.live.load(Ordering::Relaxed));
                        tracing::debug!(pool = self.opts.name, label, "pool grew past max_buffers");
                        Ok(self.check_out(buf, label))
                    }
                    Err(e) => Err(self.allocation_failed(e)),
                    Ok(None) => {
                        self.counters.exhausted.fetch_add(1, Ordering::Relaxed);
                        Err(AcquireError::Exhausted {
                            label,
                            capacity: hard_cap,
                        })
                    }
                };
            }
            Exhausted::Wait => {}
        }
        self.counters.waits.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = started.checked_add(timeout);
        // Wake this waiter when the token fires (the guard deregisters on return).
        let _wake = token.map(|t| {
            let weak = Arc::downgrade(self);
            t.on_cancel(move |_| {
                if let Some(pool) = weak.upgrade() {
                    pool.wake_all();
                }
            })
        });
        let mut guard = self.wait_lock.lock();
        self.ret.waiters.fetch_add(1, Ordering::SeqCst);
        // Pairs with the SeqCst park of a release (`LocalSlots::put_mine`) and
        // the SeqCst loads of `waiters` after it: either the release sees this
        // waiter and wakes it, or this waiter's next look finds the buffer.
        fence(Ordering::SeqCst);
        let result = loop {
            if let Some(t) = token {
                if t.is_cancelled() {
                    self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                    break Err(AcquireError::Cancelled);
                }
            }
            match self.try_take(label) {
                Ok(Some(buf)) => break Ok(buf),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            let now = Instant::now();
            let remaining = match deadline {
                Some(d) if now >= d => {
                    self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    break Err(AcquireError::Timeout {
                        label,
                        waited: now - started,
                    });
                }
                Some(d) => d - now,
                None => Duration::from_secs(1),
            };
            self.wait_cv.wait_for(&mut guard, remaining.min(WAIT_SLICE));
        };
        self.ret.waiters.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        if result.is_ok() {
            self.latency.lock().record(started.elapsed());
        }
        result
    }

    /// Wakes every thread blocked in an acquire or `wait_idle`.
    pub(crate) fn wake_all(&self) {
        let _g = self.wait_lock.lock();
        self.wait_cv.notify_all();
    }

    /// Keeps an idle buffer: in this thread's slot, and the buffer that
    /// displaces on the free list. Returns a buffer that found no room there
    /// (already retired), for the caller to drop once it has unpinned the pool.
    #[inline(always)]
    fn park(&self, buffer: Arc<Buffer>) -> Option<Arc<Buffer>> {
        let older = self.ret.park(buffer)?;
        self.retire(&older, self.counts(&older));
        Some(older)
    }

    /// The end of a release that did more than park: wakes waiters and takes
    /// off what a close that raced with the park missed. Everything to free
    /// (`dead`, and the drained buffers) goes back to `send_home`, which drops
    /// it after unpinning the pool: one of them may hold the last reference.
    ///
    /// No fence before the loads: the park before it is a SeqCst
    /// read-modify-write (a full barrier on x86), so they cannot pass it; and
    /// waiters re-check every `WAIT_SLICE` anyway, which bounds the cost of a
    /// missed wake-up on any architecture.
    #[cold]
    fn finish_release(&self, dead: Option<Arc<Buffer>>) -> Leftovers {
        if self.ret.waiters.load(Ordering::SeqCst) > 0 {
            self.wake_all();
        }
        let drained = if self.ret.closed.load(Ordering::SeqCst) {
            self.take_idle()
        } else {
            Vec::new()
        };
        Leftovers::new(dead, drained)
    }

    /// Everything the short way home (`take_back` in `frame::buffer`) does
    /// not handle: hooks, backtraces, buffers to free.
    fn take_back_slow(&self, buffer: Arc<Buffer>) -> Leftovers {
        if self.opts.capture_backtraces {
            buffer.lease.clear_backtrace();
        }
        let counted = self.counts(&buffer);
        let reuse = counted
            && !self.ret.closed.load(Ordering::Acquire)
            && self
                .opts
                .after_release
                .as_ref()
                .is_none_or(|f| f(&info(&buffer)));
        let dead = if reuse {
            self.park(buffer)
        } else {
            self.retire(&buffer, counted);
            Some(buffer)
        };
        self.finish_release(dead)
    }

    /// Frees every idle buffer.
    pub(crate) fn drain_idle(&self) {
        drop(self.take_idle());
    }

    /// Takes every idle buffer off the free list, accounted as freed; the
    /// caller drops them (when it no longer touches the pool).
    fn take_idle(&self) -> Vec<Arc<Buffer>> {
        let mut out = Vec::new();
        while let Some(buf) = self.ret.idle.pop().or_else(|| self.ret.local.steal()) {
            let counted = self.counts(&buf);
            self.retire(&buf, counted);
            out.push(buf);
        }
        out
    }

    /// Calls `f` for every buffer alive now, without allocating (the monitor
    /// runs this every tick). `f` must not allocate buffers of this pool.
    fn for_each_buffer(&self, mut f: impl FnMut(&Arc<Buffer>)) {
        for weak in self.registry.lock().iter() {
            if let Some(buf) = weak.upgrade() {
                f(&buf);
            }
        }
    }

    /// One pass over the buffers: how many exist, are out, hold how many bytes.
    pub(crate) fn usage(&self) -> Usage {
        let now = reader_now();
        let mut u = Usage::default();
        self.for_each_buffer(|b| {
            u.buffers += 1;
            u.uses += b.lease.uses();
            if let Some(age) = b.lease.age_nanos(now) {
                u.checked_out += 1;
                u.bytes_in_use += b.capacity();
                u.oldest_nanos = u.oldest_nanos.max(Some(age));
            }
        });
        u
    }

    /// Snapshots of every checked-out buffer, oldest first.
    pub(crate) fn leases(&self) -> Vec<LiveEntry> {
        let mut out = Vec::new();
        self.for_each_buffer(|b| out.extend(b.lease.snapshot(b.capacity())));
        out.sort_by_key(|l| (l.created_at, l.id));
        out
    }

    /// Reports leases past the leak threshold (once each) and writes off those
    /// past the write-off deadline. Called by the monitor and when the pool runs dry.
    pub(crate) fn check_leaks(self: &Arc<Self>, why: &'static str) {
        let now = reader_now();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let threshold = self.opts.leak_threshold.map(nanos);
        let write_off = self.opts.write_off_after.map(nanos);
        self.check_memory();
        if threshold.is_none() && write_off.is_none() {
            return;
        }
        let mut freed_capacity = false;
        let mut out = 0;
        self.for_each_buffer(|buf| {
            let Some(age) = buf.lease.age_nanos(now) else {
                return;
            };
            out += 1;
            let id = buf.lease.id();
            if threshold.is_some_and(|t| age >= t) && buf.lease.mark_warned(id) {
                self.counters.leaks_reported.fetch_add(1, Ordering::Relaxed);
                if let Some(info) = buf.lease.snapshot(buf.capacity()) {
                    tracing::warn!(pool = self.opts.name, why, label = %info.name, age_ms = age / 1_000_000,
                        thread = info.thread.as_deref().unwrap_or("?"), lease = info.id,
                        backtrace = info.backtrace.as_deref().unwrap_or(""),
                        "frame lease held longer than the leak threshold");
                }
            }
            if write_off.is_some_and(|w| age >= w)
                && self.counts(buf)
                && !buf.lease.written_off.swap(true, Ordering::AcqRel)
            {
                self.live.fetch_sub(1, Ordering::AcqRel);
                self.counters.written_off.fetch_add(1, Ordering::Relaxed);
                freed_capacity = true;
                tracing::warn!(pool = self.opts.name, lease = id, age_ms = age / 1_000_000,
                    "frame lease written off: its capacity is replaced and the buffer is freed if it returns");
            }
        });
        self.note_checked_out(out);
        if freed_capacity && self.ret.waiters.load(Ordering::SeqCst) > 0 {
            self.wake_all();
        }
    }

    /// Bytes held by checked-out buffers.
    pub(crate) fn bytes_in_use(&self) -> usize {
        self.usage().bytes_in_use
    }

    /// Reports a change of memory level (warn / critical), once per change.
    pub(crate) fn check_memory(&self) {
        if self.opts.warn_bytes.is_none() && self.opts.critical_bytes.is_none() {
            return;
        }
        let used = self.bytes_in_use();
        let level = if self.opts.critical_bytes.is_some_and(|c| used >= c) {
            2
        } else if self.opts.warn_bytes.is_some_and(|w| used >= w) {
            1
        } else {
            0
        };
        let old = self.level.swap(level, Ordering::AcqRel);
        if old != level {
            match level {
                2 => tracing::error!(
                    pool = self.opts.name,
                    bytes_in_use = used,
                    "pool memory reached the critical level"
                ),
                1 => tracing::warn!(
                    pool = self.opts.name,
                    bytes_in_use = used,
                    "pool memory reached the warning level"
                ),
                _ => tracing::info!(
                    pool = self.opts.name,
                    bytes_in_use = used,
                    "pool memory back to normal"
                ),
            }
        }
    }

    /// Closes the pool: fail waiters and later acquires, free idle buffers.
    pub(crate) fn close(&self) -> LedgerReport {
        // SeqCst: pairs with the put and the load of `closed` in a release
        // (`take_back` in `frame::buffer`).
        let already = self.ret.closed.swap(true, Ordering::SeqCst);
        self.wake_all();
        self.drain_idle();
        let leases = self.leases();
        if !already && !leases.is_empty() {
            tracing::warn!(
                pool = self.opts.name,
                outstanding = leases.len(),
                "pool closed with leases still out"
            );
        }
        LedgerReport::pool_close(self.opts.name, std::time::Instant::now(), leases)
    }

    /// Waits until no buffer is checked out, up to `timeout`.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = deadline_after(timeout);
        let mut guard = self.wait_lock.lock();
        self.ret.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let done = loop {
            if self.usage().checked_out == 0 {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            // Bounded slices as a backstop: returning external memory (frames
            // freed outside a release, e.g. written-off ones) wakes no one.
            self.wait_cv
                .wait_for(&mut guard, (deadline - now).min(Duration::from_millis(20)));
        };
        self.ret.waiters.fetch_sub(1, Ordering::SeqCst);
        done
    }

    /// Starts a new generation with `layout`: idle buffers are freed now,
    /// checked-out ones when they come back.
    pub(crate) fn reconfigure(self: &Arc<Self>, layout: FrameLayout) {
        {
            let mut current = self.layout.lock();
            *current = layout;
            self.ret.generation.fetch_add(1, Ordering::AcqRel);
            self.live.store(0, Ordering::Release);
        }
        self.drain_idle();
        for _ in 0..self.opts.min_buffers {
            match self.allocate(false) {
                Ok(Some(buf)) => {
                    if let Err(buf) = self.ret.idle.push(buf) {
                        self.free(buf, true);
                    }
                }
                // Preallocation is best effort here: acquires allocate the
                // rest lazily (and report a refused allocation themselves).
                Ok(None) | Err(_) => break,
            }
        }
        self.wake_all();
    }
}

impl Recycle for PoolShared {
    fn return_path(&self) -> &ReturnPath<Buffer> {
        &self.ret
    }

    fn recycle(&self, buffer: Arc<Buffer>) -> Leftovers {
        self.take_back_slow(buffer)
    }

    fn settle(&self, overflow: Option<Arc<Buffer>>) -> Leftovers {
        if let Some(older) = &overflow {
            self.retire(older, self.counts(older));
        }
        self.finish_release(overflow)
    }

    /// A buffer of this pool when the copy fits its size class (under the
    /// pool's exhaustion policy only as far as `wait` allows), else one from
    /// the heap: a copy of a larger view cannot come from this pool at all.
    fn copy_target(&self, layout: FrameLayout, wait: Wait<'_>) -> Result<Arc<Buffer>, FrameError> {
        const LABEL: &str = "make_mut";
        let pool = self.opts.name;
        let buffer_bytes = self.opts.buffer_bytes.max(self.layout.lock().len());
        if layout.len() > buffer_bytes {
            return Ok(Arc::new(Buffer::heap(
                layout.len(),
                layout,
                Home::Orphan,
                0,
                0,
                false,
            )?));
        }
        // `self` is borrowed from a live buffer of this pool, so an `Arc` to
        // it exists; the pool's own paths want one (they allocate buffers
        // that point home).
        let this = self.me.upgrade().ok_or(FrameError::PoolClosed { pool })?;
        let taken = match this.try_take(LABEL) {
            Ok(Some(buf)) => Ok(buf),
            Ok(None) => match wait {
                Wait::No => {
                    this.counters.exhausted.fetch_add(1, Ordering::Relaxed);
                    return Err(FrameError::PoolDry { pool });
                }
                Wait::Until(token) => {
                    this.acquire_buffer_slow(LABEL, this.opts.acquire_timeout, Some(token))
                }
            },
            Err(e) => Err(e),
        };
        taken.map_err(|e| match e {
            AcquireError::Closed => FrameError::PoolClosed { pool },
            AcquireError::Cancelled => FrameError::Cancelled,
            AcquireError::Timeout { waited, .. } => FrameError::TimedOut { pool, waited },
            AcquireError::Exhausted { .. } => FrameError::PoolDry { pool },
            AcquireError::OutOfMemory { bytes } => FrameError::OutOfMemory { bytes },
        })
    }
}

impl Drop for PoolShared {
    fn drop(&mut self) {
        // A release on another thread may still be using this state (its
        // `ret`, or a `Recycle` call) after it
        // parked the buffer that held the last reference (see `frame::hazard`).
        wait_unpinned(self as *const PoolShared);
        // Under loom: the free as loom sees it, a non-atomic access to a
        // field every release reads after its park. Loom reports any access
        // to it that does not happen before this one: a release the pin did
        // not wait for.
        #[cfg(loom)]
        self.ret.waiters.with_mut(|_| ());
    }
}

/// What [`PoolShared::take_buffer_slow`] found.
enum Taken {
    Buffer(Arc<Buffer>),
    /// Every buffer is out and `max_buffers` are alive.
    Dry,
    Closed,
    /// A new buffer was due but the allocator refused it.
    Failed(FrameError),
}

fn info(buf: &Buffer) -> BufferInfo {
    BufferInfo {
        index: buf.index,
        bytes: buf.capacity(),
        uses: buf.lease.uses(),
    }
}

impl LedgerSource for PoolShared {
    fn visit_live(&self, visit: &mut dyn FnMut(LiveEntry)) {
        for mut lease in self.leases() {
            // The latest the checkout can have happened: its stamp is up to a
            // clock tick early, and a lease taken after a checkpoint must never
            // sort before it. (Exact where a checkpoint preceded the checkout,
            // by its epoch; before the first one (0) the ledger places the
            // lease by `created_at`.)
            lease.created_at += crate::ledger::clock::TICK;
            visit(lease);
        }
    }
}
