//! [`CaptureStream`]: zero-copy V4L2 capture that yields ordinary framekeep [`Frame`]s.
//!
//! # Life of a buffer
//! All buffers are queued before STREAMON. [`CaptureStream::next_frame`] polls (bounded by
//! the timeout, interruptible by the cancel token through an eventfd), dequeues, and wraps
//! the driver's memory in a [`Frame`] sliced to `bytesused` — no copy. When the last handle
//! of that frame drops, anywhere, the buffer is re-queued (see [`home`](crate::home)).
//!
//! # Why a copy threshold
//! A driver with no queued buffer drops frames. If handing a buffer out would leave fewer
//! than `min_queued` buffers in the driver, the stream copies the frame into a
//! [`FramePool`] buffer instead and re-queues the driver's buffer at once; the caller gets
//! a `Frame` either way, and [`StreamStats::copied`] counts the copies.
//!
//! # User buffers (`V4L2_MEMORY_USERPTR`)
//! With [`StreamOptions::user_buffers`] the driver fills frames of a [`CaptureBuffers`]
//! supplier instead of its own buffers: the stream queues each supplier frame's whole
//! buffer, and a dequeued one is delivered as it is (zero copy) while a fresh supplier
//! frame takes its place in the driver (see [`UserSlots`]). A driver that refuses user
//! memory gets mmap buffers, and every frame is copied into a supplier frame.
//!
//! # Multi-planar formats
//! A format whose planes are separate driver buffers (NV12M) is copied into a pooled
//! contiguous frame (NV12) every time, and the driver's buffer re-queued at once (see
//! [`planes`](crate::planes)); one-plane formats of the multi-planar API are zero-copy.
//!
//! # Stop order
//! [`CaptureStream::close`] (or drop): stop delivering, STREAMOFF, wait a bounded time
//! for held frames, give up parked buffers; the mappings are unmapped and the driver's
//! buffers freed when the last frame is gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framekeep_core::cancel::{CancelToken, OnCancel};
use framekeep_core::frame::{
    BufferHome, ExternalBuffer, Frame, FrameError, FrameLayout, FrameMeta, PixelFormat,
};
use framekeep_core::ledger::{Ledger, LedgerSource, ScopeId};
use framekeep_core::pipeline::OnCorrupt;
use framekeep_core::pool::{FramePool, PoolOptions};

use crate::buffers::{take_for_copy, take_for_driver, CaptureBuffers};
use crate::device::{BufferMode, CaptureDevice, Dequeued, DeviceInfo, Interval, Negotiated, Wait};
use crate::error::{CaptureError, Result};
use crate::home::{lend, Counters, Lease, Owner, Shared, Slot};
use crate::list::open_device;
use crate::options::{OnClose, StreamOptions, StreamStats};
use crate::planes::PlanarCopy;
use crate::seq::SequenceTracker;
use crate::v4l2_device::V4l2Device;
use crate::waker::Waker;

/// Buffer indices asked of a driver for user buffers: V4L2's classic maximum
/// (`VIDEO_MAX_FRAME`). They cost the driver no memory, and the more there are, the more
/// distinct supplier buffers keep an index (and the driver's mapping of them) of their own.
const USER_INDICES: u32 = 32;

/// The user-buffer state of a stream (capture thread only): which supplier memory goes
/// to which V4L2 buffer index.
///
/// A driver maps a user buffer's memory when its index is queued with a new address, and
/// keeps the mapping while the index comes back with the same one. The frame the supplier
/// hands out next is usually not the one just dequeued (that one is with the
/// application), so re-using the dequeued index would re-map memory on every frame. The
/// index is therefore chosen by address: each distinct buffer keeps the index it got
/// first, and only when there are more distinct buffers than indices does the least
/// recently used free index change address (counted in [`StreamStats::repinned`]).
#[derive(Debug)]
struct UserSlots {
    /// Frames the stream keeps queued when the supplier has them.
    target: usize,
    /// Bytes each supplier frame must hold (`sizeimage`, at least the layout's length).
    bytes: usize,
    /// Slots holding a supplier frame (queued, or waiting for a retried queue).
    held: usize,
    /// The index of each address seen.
    by_addr: HashMap<usize, usize>,
    /// Per index: the address last queued with it (0: none yet) and when (`clock`).
    last: Vec<(usize, u64)>,
    clock: u64,
}

impl UserSlots {
    fn new(indices: usize, target: usize, bytes: usize) -> UserSlots {
        UserSlots {
            target,
            bytes,
            held: 0,
            by_addr: HashMap::with_capacity(indices),
            last: vec![(0, 0); indices],
            clock: 0,
        }
    }

    /// The index for memory at `addr`: its own if it has one, else a free index never used,
    /// else the least recently used free one. The flag says whether the index had another
    /// address before (the driver re-maps it).
    fn index_for(&mut self, addr: usize, slots: &[Slot]) -> Result<(usize, bool)> {
        let free = |i: usize| slots[i].user.is_none() && slots[i].owner == Owner::Stream;
        if let Some(&i) = self.by_addr.get(&addr) {
            if !free(i) {
                return Err(CaptureError::BadBuffer(format!(
                    "the user-buffer supplier gave memory at {addr:#x} that is already queued \
                     as buffer {i}"
                )));
            }
            self.clock += 1;
            self.last[i].1 = self.clock;
            return Ok((i, false));
        }
        let i = (0..slots.len())
            .filter(|&i| free(i))
            .min_by_key(|&i| (self.last[i].0 != 0, self.last[i].1))
            .ok_or_else(|| CaptureError::BadBuffer("no free buffer index".into()))?;
        Ok((i, self.assign(i, addr)))
    }

    /// Gives index `i` to memory at `addr`; true if it had another address before.
    fn assign(&mut self, i: usize, addr: usize) -> bool {
        self.clock += 1;
        let old = self.last[i].0;
        if old != 0 && old != addr {
            self.by_addr.remove(&old);
        }
        self.by_addr.insert(addr, i);
        self.last[i] = (addr, self.clock);
        old != 0 && old != addr
    }
}

/// A running capture: yields [`Frame`]s from a [`CaptureDevice`].
pub struct CaptureStream {
    shared: Arc<Shared>,
    /// Signalled by the cancel token; polled only when there is one.
    waker: Arc<Waker>,
    cancel: Option<CancelToken>,
    _on_cancel: Option<OnCancel>,
    on_close: Option<OnClose>,
    seq: SequenceTracker,
    negotiated: Negotiated,
    interval: Option<Interval>,
    format: PixelFormat,
    layout: Option<FrameLayout>,
    /// Set for formats with several memory planes: every frame is a copy.
    planar: Option<PlanarCopy>,
    pool: Option<FramePool>,
    /// The user-buffer supplier ([`StreamOptions::user_buffers`]).
    supplier: Option<Box<dyn CaptureBuffers>>,
    /// Set in [`BufferMode::UserPtr`].
    user: Option<UserSlots>,
    timeout: Duration,
    close_grace: Duration,
    min_queued: usize,
    latest_only: bool,
    deliver_errors: bool,
    on_corrupt: OnCorrupt,
    terminal: Option<CaptureError>,
    closed: bool,
}

impl std::fmt::Debug for CaptureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureStream")
            .field("device", &self.shared.device.info())
            .field("format", &self.negotiated)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn mismatch(req: impl std::fmt::Display, granted: impl std::fmt::Display) -> CaptureError {
    CaptureError::FormatMismatch {
        requested: req.to_string(),
        granted: granted.to_string(),
    }
}

/// A fresh frame of `layout` from the stream's copy pool, which is made (or remade) for
/// that layout. None when the pool has no idle buffer (or cannot be built): the frame is
/// then skipped, not an error of the stream.
fn copy_pool_frame(
    pool: &mut Option<FramePool>,
    shared: &Shared,
    layout: FrameLayout,
) -> Option<Frame> {
    if pool.as_ref().map(|p| p.layout()) != Some(layout) {
        let built = PoolOptions::new(layout)
            .name("v4l2 copies")
            .min_buffers(1)
            .max_buffers(shared.buffer_count() * 2)
            .with_ledger(&shared.ledger)
            .build();
        match built {
            Ok(p) => *pool = Some(p),
            Err(e) => {
                let e: &(dyn std::error::Error + 'static) = &e;
                tracing::debug!(error = e, "no copy pool, frame skipped");
                return None;
            }
        }
    }
    match pool.as_ref()?.try_acquire("v4l2 copy") {
        Ok(frame) => Some(frame),
        Err(e) => {
            let e: &(dyn std::error::Error + 'static) = &e;
            tracing::debug!(error = e, "copy pool exhausted, frame skipped");
            None
        }
    }
}

impl CaptureStream {
    /// Opens a V4L2 node by path (`/dev/video0`) or, for anything not starting with `/`,
    /// by card name or bus info (see [`crate::open_device`]), and starts streaming.
    pub fn open(device: &str, options: StreamOptions) -> Result<CaptureStream> {
        let dev: V4l2Device = open_device(device)?;
        CaptureStream::start(Box::new(dev), options)
    }

    /// Negotiates, maps buffers, queues them all and starts streaming on `device`.
    pub fn start(device: Box<dyn CaptureDevice>, options: StreamOptions) -> Result<CaptureStream> {
        let StreamOptions {
            format,
            strict,
            buffers,
            timeout,
            min_queued,
            latest_only,
            deliver_errors,
            on_corrupt,
            cancel,
            on_close,
            ledger,
            controls,
            close_grace,
            user_buffers,
        } = options;
        let mut negotiated = device.format()?;
        let mut interval = None;
        if let Some(req) = format {
            negotiated = device.set_format(req.fourcc, req.width, req.height)?;
            let same = negotiated.fourcc == req.fourcc
                && negotiated.width == req.width
                && negotiated.height == req.height;
            if strict && !same {
                return Err(mismatch(req, negotiated));
            }
            if let Some(fps) = req.fps {
                interval = device.set_interval(Interval::from_fps(fps))?;
                let granted = interval.map(|i| i.fps()).unwrap_or(0.0);
                if strict && (granted - f64::from(fps)).abs() > 0.01 * f64::from(fps) {
                    return Err(mismatch(req, format_args!("{negotiated} @{granted:.3}")));
                }
            }
        }
        let planar = if negotiated.num_planes > 1 {
            Some(PlanarCopy::plan(&negotiated)?)
        } else {
            None
        };
        let format = match &planar {
            Some(p) => p.layout().format(),
            None => PixelFormat::from_fourcc(negotiated.fourcc.0)
                .filter(|f| *f != PixelFormat::Uv88)
                .ok_or(CaptureError::UnsupportedFormat(negotiated.fourcc))?,
        };
        let layout = if let Some(p) = &planar {
            Some(p.layout())
        } else if format == PixelFormat::Mjpeg {
            None
        } else {
            Some(FrameLayout::strided(
                format,
                negotiated.width as usize,
                negotiated.height as usize,
                negotiated.stride as usize,
            )?)
        };
        if let Some(l) = layout {
            // The copy pool (copy threshold, multi-planar formats) must fit under the pool
            // byte ceiling: a size the driver granted that memory cannot hold is an error
            // now, before any buffer is mapped. No buffer is allocated for the check.
            let mut check = PoolOptions::new(l)
                .name("v4l2 copies")
                .min_buffers(0)
                .max_buffers((buffers as usize).max(2) * 2);
            if let Some(ledger) = &ledger {
                check = check.with_ledger(ledger);
            }
            check.build()?.close();
        }
        for (name, value) in &controls {
            device.set_control(name, *value)?;
        }
        let mut supplier = user_buffers;
        // User memory when the driver takes it (never for multi-buffer formats, which are
        // copied plane by plane); else mmap buffers, copied into supplier frames.
        let mut user = None;
        if let Some(s) = supplier.as_deref_mut().filter(|_| planar.is_none()) {
            let bytes = (negotiated.planes[0].size as usize).max(layout.map_or(0, |l| l.len()));
            user = start_user(&*device, s, buffers, bytes)?;
        }
        negotiated.memory = match (&supplier, &user) {
            (None, _) => BufferMode::Mmap,
            (Some(_), Some(_)) => BufferMode::UserPtr,
            (Some(_), None) => BufferMode::MmapCopy,
        };
        let (shared, user) = match user {
            Some((slots, first)) => {
                let count = slots.last.len();
                let ledger = ledger.unwrap_or_else(|| Ledger::global().clone());
                let shared = Shared::new(device, Vec::new(), count, ledger);
                let mut slots = slots;
                if let Some(frame) = first {
                    // Queued by `start_user` as buffer 0.
                    let mut t = shared.table.lock();
                    t.slots[0].user = Some(frame);
                    t.slots[0].owner = Owner::Driver;
                    t.in_driver = 1;
                    slots.held = 1;
                }
                (shared, Some(slots))
            }
            None => (mmap_shared(device, buffers, &planar, layout, ledger)?, None),
        };
        let count = shared.buffer_count();
        let shared = Arc::new(shared);
        let source: Arc<dyn LedgerSource> = shared.clone();
        shared.ledger.add_source(Arc::downgrade(&source));
        let waker = Arc::new(Waker::new()?);
        let on_cancel = cancel.as_ref().map(|token| {
            let w = Arc::clone(&waker);
            token.on_cancel(move |_| w.wake())
        });
        let mut stream = CaptureStream {
            shared,
            waker,
            cancel,
            _on_cancel: on_cancel,
            on_close,
            seq: SequenceTracker::new(),
            negotiated,
            interval,
            format,
            layout,
            planar,
            pool: None,
            supplier,
            user,
            timeout,
            close_grace,
            min_queued: min_queued.clamp(1, count - 1),
            latest_only,
            deliver_errors,
            on_corrupt,
            terminal: None,
            closed: false,
        };
        stream.stream_on()?;
        Ok(stream)
    }
}

/// Asks the driver for user-buffer indices and queues the first supplier frame as buffer 0,
/// a probe: some drivers take `V4L2_MEMORY_USERPTR` at `VIDIOC_REQBUFS` but refuse the
/// memory at `VIDIOC_QBUF` (a dma-contig one given pages that are not contiguous). `None`:
/// the driver refuses user memory (its indices are released). The frame is returned
/// queued (`None` when the supplier had none).
fn start_user(
    device: &dyn CaptureDevice,
    supplier: &mut dyn CaptureBuffers,
    buffers: u32,
    bytes: usize,
) -> Result<Option<(UserSlots, Option<Frame>)>> {
    let Some(granted) = device.request_user_buffers(buffers.max(USER_INDICES))? else {
        return Ok(None);
    };
    let release = |e: CaptureError| {
        let _ = device.release_buffers();
        e
    };
    if granted < 2 {
        return Err(release(CaptureError::TooFewBuffers(granted)));
    }
    let indices = granted as usize;
    let mut slots = UserSlots::new(indices, (buffers as usize).min(indices), bytes);
    let mut frame = match take_for_driver(supplier, bytes) {
        Ok(Some(frame)) => frame,
        Ok(None) => return Ok(Some((slots, None))),
        Err(e) => return Err(release(e)),
    };
    // SAFETY: if the driver takes it, `frame` goes untouched into slot 0 of the stream's
    // shared state, built right after this returns (nothing in between reads it); if the
    // driver refuses it, it holds nothing of it and the frame is dropped here.
    let buffer = match unsafe { lend(&mut frame) } {
        Ok(buffer) => buffer,
        Err(e) => return Err(release(e)),
    };
    match device.queue_user(0, buffer) {
        Ok(()) => {
            slots.assign(0, buffer.addr());
            Ok(Some((slots, Some(frame))))
        }
        Err(CaptureError::Io { source, .. }) => {
            tracing::debug!(error = %source, "the driver refused user memory at VIDIOC_QBUF");
            drop(frame);
            device.release_buffers()?;
            Ok(None)
        }
        Err(e) => Err(release(e)),
    }
}

/// Requests `buffers` mmap buffers, checks them against the format, and makes the
/// stream's shared state of them.
fn mmap_shared(
    device: Box<dyn CaptureDevice>,
    buffers: u32,
    planar: &Option<PlanarCopy>,
    layout: Option<FrameLayout>,
    ledger: Option<Ledger>,
) -> Result<Shared> {
    let mappings = device.request_buffers(buffers)?;
    if mappings.len() < 2 {
        let n = mappings.len() as u32;
        drop(mappings);
        let _ = device.release_buffers();
        return Err(CaptureError::TooFewBuffers(n));
    }
    if let Some(p) = planar {
        if let Some(err) = mappings.iter().find_map(|m| p.check_mapping(m).err()) {
            drop(mappings);
            let _ = device.release_buffers();
            return Err(err);
        }
    } else if let Some(l) = layout {
        if let Some(small) = mappings.iter().find(|m| m.len() < l.len()) {
            let err = CaptureError::BadBuffer(format!(
                "buffer of {} bytes for a {}-byte image",
                small.len(),
                l.len()
            ));
            drop(mappings);
            let _ = device.release_buffers();
            return Err(err);
        }
    }
    let count = mappings.len();
    let ledger = ledger.unwrap_or_else(|| Ledger::global().clone());
    Ok(Shared::new(device, mappings, count, ledger))
}

impl CaptureStream {
    /// Mmap: parks an ExternalBuffer per slot and queues them all; user buffers: queues
    /// supplier frames up to the target. Then STREAMON.
    fn stream_on(&mut self) -> Result<()> {
        if self.user.is_some() {
            self.shared.table.lock().active = true;
            self.refill()?;
            if let Some(e) = self.shared.table.lock().pending_error.take() {
                return Err(e);
            }
            return self.shared.device.stream_on();
        }
        let home = Arc::clone(&self.shared);
        let sh = &self.shared;
        {
            let mut t = sh.table.lock();
            t.active = true;
            for i in 0..sh.buffer_count() {
                let buf = sh.mapping(i).external(i, 0, Arc::clone(&home));
                t.slots[i].parked = Some(buf.ok_or_else(|| {
                    CaptureError::BadBuffer(format!("buffer {i} cannot be wrapped"))
                })?);
                sh.queue_locked(&mut t, i)?;
            }
        }
        sh.device.stream_on()
    }

    /// The format the driver granted.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// The framekeep pixel format of delivered frames.
    pub fn pixel_format(&self) -> PixelFormat {
        self.format
    }

    /// The frame interval the driver granted (None: not asked, or no rate control).
    pub fn interval(&self) -> Option<Interval> {
        self.interval
    }

    /// The layout of delivered frames (None for MJPEG, whose length varies).
    pub fn layout(&self) -> Option<FrameLayout> {
        self.layout
    }

    /// Number of driver buffers; with user memory ([`BufferMode::UserPtr`]), the supplier
    /// frames the stream keeps queued when the supplier has them (the driver's buffer
    /// indices, one per distinct supplier buffer, may be more).
    pub fn buffer_count(&self) -> usize {
        match &self.user {
            Some(u) => u.target,
            None => self.shared.buffer_count(),
        }
    }

    /// Buffers currently queued in the driver.
    pub fn queued(&self) -> usize {
        self.shared.table.lock().in_driver
    }

    /// The device's identity.
    pub fn info(&self) -> DeviceInfo {
        self.shared.device.info()
    }

    /// The device, e.g. to set controls while streaming.
    pub fn device(&self) -> &dyn CaptureDevice {
        &*self.shared.device
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> StreamStats {
        self.shared.counters.snapshot()
    }

    /// The token that interrupts a waiting [`CaptureStream::next_frame`]: the one given
    /// with [`StreamOptions::with_cancel`], or else a new one, tied to the stream now.
    pub(crate) fn cancel_token(&mut self) -> CancelToken {
        if let Some(token) = &self.cancel {
            return token.clone();
        }
        let token = CancelToken::new();
        let waker = Arc::clone(&self.waker);
        self._on_cancel = Some(token.on_cancel(move |_| waker.wake()));
        self.cancel = Some(token.clone());
        token
    }

    fn ended(&self) -> Option<CaptureError> {
        match &self.terminal {
            Some(CaptureError::Disconnected { op }) => Some(CaptureError::Disconnected { op }),
            Some(CaptureError::StreamFailed) => Some(CaptureError::StreamFailed),
            Some(_) => Some(CaptureError::Stopped),
            None if self.closed => Some(CaptureError::Stopped),
            None => None,
        }
    }

    fn fail(&mut self, e: CaptureError) -> CaptureError {
        if e.is_terminal() {
            self.terminal = Some(match &e {
                CaptureError::Disconnected { op } => CaptureError::Disconnected { op },
                CaptureError::StreamFailed => CaptureError::StreamFailed,
                _ => CaptureError::Stopped,
            });
        }
        e
    }

    /// Re-queues buffers whose earlier re-queue failed, and reports that failure once.
    fn retry_idle(&mut self) -> Result<()> {
        if !self
            .shared
            .needs_retry
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Ok(());
        }
        let sh = Arc::clone(&self.shared);
        let mut t = sh.table.lock();
        sh.needs_retry
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let pending = t.pending_error.take();
        for i in 0..t.slots.len() {
            let s = &t.slots[i];
            if s.owner == Owner::Stream && (s.parked.is_some() || s.user.is_some()) {
                if let Err(e) = sh.queue_locked(&mut t, i) {
                    sh.needs_retry
                        .store(true, std::sync::atomic::Ordering::Release);
                    Counters::add(&sh.counters.errors, 1);
                    drop(t);
                    return Err(self.fail(e));
                }
            }
        }
        match pending {
            Some(e) => Err(self.fail(e)),
            None => Ok(()),
        }
    }

    /// Waits for the next frame: at most the stream's timeout, or twice that when buffers
    /// keep arriving that are skipped (error-flagged, or lost to an exhausted copy pool).
    ///
    /// Errors: [`CaptureError::Timeout`], [`CaptureError::Cancelled`],
    /// [`CaptureError::Disconnected`] (then every later call says so too),
    /// [`CaptureError::StreamFailed`], or a failed driver call (a re-queue error is
    /// reported once; the stream goes on).
    pub fn next_frame(&mut self) -> Result<Frame> {
        if let Some(e) = self.ended() {
            return Err(e);
        }
        self.retry_idle()?;
        if self.user.as_ref().is_some_and(|u| u.held < u.target) {
            // The supplier was dry: frames the application dropped since may be back.
            self.refill()?;
        }
        // The clock is read only when a wait did not end in a frame (a skipped or spurious
        // wake-up): the first wait gets the whole timeout without a clock read, and from the
        // second on a fixed deadline one timeout later bounds the call (to at most twice
        // the timeout in all).
        let mut first = true;
        let mut deadline: Option<Instant> = None;
        loop {
            if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                return Err(CaptureError::Cancelled);
            }
            let left = if std::mem::take(&mut first) {
                self.timeout
            } else {
                let now = Instant::now();
                deadline
                    .get_or_insert(now + self.timeout)
                    .saturating_duration_since(now)
            };
            // Nothing queued can only follow failed re-queues (the copy threshold keeps at
            // least one buffer queued otherwise), so the lock is taken only then, or a dry
            // user-buffer supplier.
            let starved = self.user.as_ref().is_some_and(|u| u.held == 0);
            if starved
                || self
                    .shared
                    .needs_retry
                    .load(std::sync::atomic::Ordering::Acquire)
                    && self.shared.table.lock().in_driver == 0
            {
                // Nothing queued: polling would spin or fail. Wait for frames to come back
                // (to the supplier, or a retried queue), waking early on cancel.
                if left.is_zero() {
                    return Err(CaptureError::Timeout(self.timeout));
                }
                self.waker.wait_timeout(left.min(Duration::from_millis(10)));
                self.retry_idle()?;
                self.refill()?;
                continue;
            }
            // Poll first, then dequeue: one DQBUF per frame, as a bare loop does.
            match self
                .shared
                .device
                .wait(left, self.cancel.as_ref().map(|_| &*self.waker))
            {
                Ok(Wait::Ready) => {}
                Ok(Wait::TimedOut) => return Err(CaptureError::Timeout(self.timeout)),
                Ok(Wait::Woken) => {
                    return Err(if self.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                        CaptureError::Cancelled
                    } else {
                        CaptureError::Stopped
                    })
                }
                Err(e) => return Err(self.fail(e)),
            }
            let d = match self.shared.device.dequeue() {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => return Err(self.fail(e)),
            };
            let d = if self.latest_only { self.newest(d)? } else { d };
            if let Some(frame) = self.deliver(d)? {
                return Ok(frame);
            }
        }
    }

    /// Latest-only: takes every further ready buffer, keeps the newest.
    fn newest(&mut self, mut d: Dequeued) -> Result<Dequeued> {
        loop {
            match self.shared.device.dequeue() {
                Ok(Some(next)) => {
                    self.claim(&d)?;
                    let (_, gap) = self.seq.observe(d.sequence);
                    Counters::add(&self.shared.counters.dropped, gap);
                    Counters::add(&self.shared.counters.skipped, 1);
                    self.shared.requeue(d.index);
                    d = next;
                }
                Ok(None) => return Ok(d),
                Err(e) => {
                    self.claim(&d)?;
                    self.shared.requeue(d.index);
                    return Err(self.fail(e));
                }
            }
        }
    }

    /// Books a dequeued buffer as the stream's.
    fn claim(&self, d: &Dequeued) -> Result<()> {
        let mut t = self.shared.table.lock();
        match t.slots.get_mut(d.index) {
            Some(s) if s.owner == Owner::Driver => {
                s.owner = Owner::Stream;
                t.in_driver -= 1;
                Ok(())
            }
            _ => Err(CaptureError::BadBuffer(format!(
                "driver returned buffer {} it did not own",
                d.index
            ))),
        }
    }

    /// Turns a dequeued buffer into a frame (or skips it); None means "wait for another".
    /// One lock of the slot table on the way out (the hot path of every frame).
    fn deliver(&mut self, d: Dequeued) -> Result<Option<Frame>> {
        if self.planar.is_some() {
            return self.deliver_planes(d);
        }
        if self.user.is_some() {
            return self.deliver_user(d);
        }
        let (sequence, gap) = self.seq.observe(d.sequence);
        let sh = &*self.shared;
        Counters::add(&sh.counters.dropped, gap);
        let skip = d.error && !self.deliver_errors;
        let layout = match self.layout {
            // An error-flagged buffer may be short: it keeps the full layout (the bytes
            // past its payload are stale), as a layout always describes a whole image.
            Some(l) if d.bytesused >= l.len() || d.error => Ok(l),
            Some(l) => Err(CaptureError::BadBuffer(format!(
                "bytesused {} < image size {}",
                d.bytesused,
                l.len()
            ))),
            None => Ok(FrameLayout::mjpeg(
                self.negotiated.width as usize,
                self.negotiated.height as usize,
                d.bytesused,
            )),
        };
        let (buf, in_driver) = {
            let mut t = sh.table.lock();
            match t.slots.get(d.index) {
                Some(s) if s.owner == Owner::Driver => {}
                _ => {
                    return Err(CaptureError::BadBuffer(format!(
                        "driver returned buffer {} it did not own",
                        d.index
                    )))
                }
            }
            t.in_driver -= 1;
            let in_driver = t.in_driver;
            let s = &mut t.slots[d.index];
            s.owner = Owner::Stream;
            let buf = s.parked.take();
            if !skip && layout.is_ok() && buf.is_some() {
                s.owner = Owner::User;
                s.lease = Lease {
                    id: sh
                        .next_lease
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    since: d.timestamp,
                    scope: ScopeId::current().0,
                };
            }
            (buf, in_driver)
        };
        let buf =
            buf.ok_or_else(|| CaptureError::BadBuffer(format!("buffer {} has no slot", d.index)))?;
        let buf = self.at_offset(buf, &d);
        if d.error {
            Counters::add(&sh.counters.errors, 1);
        }
        let layout = match layout {
            Ok(l) if !skip => l,
            other => {
                // Skipped (error-flagged) or unusable: straight back to the driver.
                sh.recycle(buf);
                return match other {
                    Err(e) => {
                        Counters::add(&sh.counters.errors, 1);
                        Err(e)
                    }
                    Ok(_) => Ok(None),
                };
            }
        };
        let meta = FrameMeta {
            sequence,
            timestamp: d.timestamp,
        };
        let frame = buf.into_frame(layout, meta)?;
        if layout.format() == PixelFormat::Mjpeg {
            if let Err(defect) = framekeep_jpeg::inspect(frame.data()) {
                // Never handed out: its buffer goes back to the driver now.
                drop(frame);
                Counters::add(&sh.counters.corrupt, 1);
                let error = CaptureError::Corrupt { sequence, defect };
                return match self.on_corrupt {
                    OnCorrupt::Skip => Ok(None),
                    OnCorrupt::Error => Err(error),
                    OnCorrupt::Fail => {
                        self.terminal = Some(CaptureError::Stopped);
                        Err(error)
                    }
                };
            }
        }
        let copy_all = self.negotiated.memory == BufferMode::MmapCopy;
        if !copy_all && (in_driver >= self.min_queued || layout.format() == PixelFormat::Mjpeg) {
            Counters::add(&sh.counters.frames, 1);
            return Ok(Some(frame));
        }
        // The application holds too many buffers, or the frames go to a supplier's: copy,
        // and re-queue the driver's at once (when `frame` drops at the end of this function).
        let mut copy = match self.copy_target(*frame.layout()) {
            Ok(Some(copy)) => copy,
            Ok(None) => {
                Counters::add(&self.shared.counters.skipped, 1);
                return Ok(None);
            }
            Err(e) => {
                Counters::add(&self.shared.counters.errors, 1);
                return Err(e);
            }
        };
        let sh = &*self.shared;
        let dst = copy.get_mut().ok_or(FrameError::Shared)?;
        let src = frame.data();
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        copy.set_meta(frame.meta());
        Counters::add(&sh.counters.copied, 1);
        Counters::add(&sh.counters.frames, 1);
        Ok(Some(copy))
    }

    /// The buffer re-wrapped so that it starts at the payload (`data_offset` of the
    /// multi-planar API), when it does not already. Almost always a no-op.
    fn at_offset(&self, buf: ExternalBuffer, d: &Dequeued) -> ExternalBuffer {
        let mapping = self.shared.mapping(d.index);
        if buf.capacity() == mapping.len().saturating_sub(d.offset) {
            return buf;
        }
        let home = Arc::clone(&self.shared);
        // An offset past the end keeps the old buffer; the layout check then refuses it.
        mapping.external(d.index, d.offset, home).unwrap_or(buf)
    }

    /// Multi-planar formats: copies every memory plane into a pooled frame of the
    /// contiguous equivalent format and re-queues the driver's buffer at once.
    fn deliver_planes(&mut self, d: Dequeued) -> Result<Option<Frame>> {
        let (sequence, gap) = self.seq.observe(d.sequence);
        let counters = &self.shared.counters;
        Counters::add(&counters.dropped, gap);
        self.claim(&d)?;
        if d.error {
            Counters::add(&self.shared.counters.errors, 1);
            if !self.deliver_errors {
                self.shared.requeue(d.index);
                return Ok(None);
            }
        }
        let meta = FrameMeta {
            sequence,
            timestamp: d.timestamp,
        };
        let copied = self.copy_planes(&d, meta);
        self.shared.requeue(d.index);
        let counters = &self.shared.counters;
        match copied {
            Ok(Some(frame)) => {
                Counters::add(&counters.copied, 1);
                Counters::add(&counters.frames, 1);
                Ok(Some(frame))
            }
            Ok(None) => {
                Counters::add(&counters.skipped, 1);
                Ok(None)
            }
            Err(e) => {
                Counters::add(&counters.errors, 1);
                Err(e)
            }
        }
    }

    /// The copy of a dequeued multi-planar buffer (None: no buffer in the copy pool).
    fn copy_planes(&mut self, d: &Dequeued, meta: FrameMeta) -> Result<Option<Frame>> {
        let Some(layout) = self.planar.as_ref().map(|p| p.layout()) else {
            return Ok(None);
        };
        let Some(mut frame) = self.copy_target(layout)? else {
            return Ok(None);
        };
        let Some(plan) = &self.planar else {
            return Ok(None);
        };
        let dst = frame.get_mut().ok_or(FrameError::Shared)?;
        // The stream owns the buffer (claimed, not re-queued yet): the driver does not write it.
        plan.copy(self.shared.mapping(d.index), d, d.error, dst)?;
        frame.set_meta(meta);
        Ok(Some(frame))
    }

    /// A unique, writable frame of `layout` to copy a frame into: a supplier frame with user
    /// buffers, else one of the stream's copy pool. `Ok(None)`: none free now.
    fn copy_target(&mut self, layout: FrameLayout) -> Result<Option<Frame>> {
        match self.supplier.as_deref_mut() {
            Some(supplier) => take_for_copy(supplier, layout),
            None => Ok(copy_pool_frame(&mut self.pool, &self.shared, layout)),
        }
    }

    /// User buffers: the dequeued supplier frame becomes the delivered frame (zero copy),
    /// and a fresh one takes its place in the driver.
    fn deliver_user(&mut self, d: Dequeued) -> Result<Option<Frame>> {
        let (sequence, gap) = self.seq.observe(d.sequence);
        let sh = Arc::clone(&self.shared);
        Counters::add(&sh.counters.dropped, gap);
        self.claim(&d)?;
        if d.error {
            Counters::add(&sh.counters.errors, 1);
            if !self.deliver_errors {
                // Skipped: the same frame goes back to the driver at the same index.
                sh.requeue(d.index);
                return Ok(None);
            }
        }
        let layout = match self.layout {
            // As for mmap buffers: an error-flagged buffer keeps the full layout.
            Some(l) if d.bytesused >= l.len() || d.error => l,
            Some(l) => {
                sh.requeue(d.index);
                Counters::add(&sh.counters.errors, 1);
                return Err(CaptureError::BadBuffer(format!(
                    "bytesused {} < image size {}",
                    d.bytesused,
                    l.len()
                )));
            }
            None => FrameLayout::mjpeg(
                self.negotiated.width as usize,
                self.negotiated.height as usize,
                d.bytesused,
            ),
        };
        let frame = sh.table.lock().slots[d.index].user.take();
        let Some(mut frame) = frame else {
            return Err(CaptureError::BadBuffer(format!(
                "buffer {} has no user frame",
                d.index
            )));
        };
        if let Some(u) = self.user.as_mut() {
            u.held -= 1;
        }
        let shaped = self.shape_user(&mut frame, &d, layout);
        // Whatever became of this frame, its slot takes a fresh one. A failure to get or
        // queue it is reported by the next call (the frame in hand is not lost to it).
        if let Err(e) = self.refill() {
            let mut t = sh.table.lock();
            t.pending_error.get_or_insert(e);
            sh.needs_retry
                .store(true, std::sync::atomic::Ordering::Release);
        }
        if let Err(e) = shaped {
            Counters::add(&sh.counters.errors, 1);
            return Err(e);
        }
        if layout.format() == PixelFormat::Mjpeg {
            if let Err(defect) = framekeep_jpeg::inspect(frame.data()) {
                // Never handed out: the frame goes back to its supplier now.
                drop(frame);
                Counters::add(&sh.counters.corrupt, 1);
                let error = CaptureError::Corrupt { sequence, defect };
                return match self.on_corrupt {
                    OnCorrupt::Skip => Ok(None),
                    OnCorrupt::Error => Err(error),
                    OnCorrupt::Fail => {
                        self.terminal = Some(CaptureError::Stopped);
                        Err(error)
                    }
                };
            }
        }
        frame.set_meta(FrameMeta {
            sequence,
            timestamp: d.timestamp,
        });
        Counters::add(&sh.counters.frames, 1);
        Ok(Some(frame))
    }

    /// Gives a dequeued user frame the delivered layout: its image moved to the first byte
    /// when the driver put it at a data offset (a copy, counted), then reshaped.
    fn shape_user(&self, frame: &mut Frame, d: &Dequeued, layout: FrameLayout) -> Result<()> {
        if d.offset > 0 {
            let bytes = frame.get_mut().ok_or(CaptureError::UserBufferNotWritable)?;
            let end = d
                .offset
                .checked_add(layout.len())
                .filter(|&end| end <= bytes.len())
                .ok_or_else(|| {
                    CaptureError::BadBuffer(format!(
                        "data offset {} + image {} past a user buffer of {} bytes",
                        d.offset,
                        layout.len(),
                        bytes.len()
                    ))
                })?;
            bytes.copy_within(d.offset..end, 0);
            Counters::add(&self.shared.counters.copied, 1);
        }
        frame.reshape(layout)?;
        Ok(())
    }

    /// User buffers: queues supplier frames until `target` are held or the supplier is dry,
    /// each at the index of its address. A failed queue keeps the frame for a retry and is
    /// reported by the next call; a supplier's error is returned (and counted).
    fn refill(&mut self) -> Result<()> {
        let (Some(u), Some(supplier)) = (self.user.as_mut(), self.supplier.as_deref_mut()) else {
            return Ok(());
        };
        let sh = &*self.shared;
        while u.held < u.target {
            let frame = match take_for_driver(supplier, u.bytes) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    Counters::add(&sh.counters.errors, 1);
                    return Err(e);
                }
            };
            let addr = frame.as_ptr() as usize;
            let mut t = sh.table.lock();
            if !t.active {
                break;
            }
            let (index, moved) = match u.index_for(addr, &t.slots) {
                Ok(found) => found,
                Err(e) => {
                    Counters::add(&sh.counters.errors, 1);
                    return Err(e);
                }
            };
            if moved {
                Counters::add(&sh.counters.repinned, 1);
            }
            t.slots[index].user = Some(frame);
            u.held += 1;
            sh.queue_or_keep(&mut t, index);
        }
        Ok(())
    }

    /// Stops the stream in order and returns its final statistics. Frames still held stay
    /// valid; their buffers are unmapped when they drop.
    pub fn close(mut self) -> Result<StreamStats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<StreamStats> {
        if self.closed {
            return Ok(self.stats());
        }
        self.closed = true;
        self.waker.wake();
        // Stop re-queueing before STREAMOFF, so that a frame dropped on another thread in
        // between cannot hand a buffer back to the driver.
        self.shared.table.lock().active = false;
        let off = self.shared.device.stream_off();
        let mut held = self.shared.deactivate(off.is_ok());
        if held > 0 {
            held = self.shared.wait_returned(self.close_grace);
        }
        if let Some(pool) = self.pool.take() {
            pool.close();
        }
        let mut stats = self.stats();
        stats.held_at_close = held as u64;
        if let Some(f) = self.on_close.take() {
            f(&stats);
        }
        match off {
            Ok(()) | Err(CaptureError::Disconnected { .. }) => Ok(stats),
            Err(_) if self.terminal.is_some() => Ok(stats),
            Err(e) => Err(e),
        }
    }
}

/// Frames until the stream ends: `None` after a cancel, a stop, or once a terminal error
/// (disconnect, fatal driver error) has been yielded; other errors (a timeout, a failed
/// re-queue) are yielded and the iteration goes on.
impl Iterator for CaptureStream {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Result<Frame>> {
        if self.terminal.is_some() || self.closed {
            return None;
        }
        match self.next_frame() {
            Err(CaptureError::Cancelled | CaptureError::Stopped) => None,
            r => Some(r),
        }
    }
}

impl Drop for CaptureStream {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!("closing capture stream: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn a_stream_can_move_to_a_capture_thread() {
        assert_send::<CaptureStream>();
        assert_send::<Frame>();
    }
}
