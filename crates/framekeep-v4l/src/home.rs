//! The stream's shared state: the device, its mapped buffers, and where frames go home.
//!
//! Every frame made from a driver buffer holds an `ExternalBuffer` whose
//! [`BufferHome`] is this [`Shared`]; the last frame handle's drop calls
//! [`Shared::recycle`], which re-queues the buffer (`VIDIOC_QBUF`) while the stream runs.
//! Because buffers keep `Shared` alive, the mappings and the file descriptor outlive the
//! [`CaptureStream`](crate::CaptureStream) if frames are still out: dropping a stream early
//! is memory-safe, and the memory is unmapped when the last frame goes.
//!
//! While a buffer is queued its `ExternalBuffer` is parked here (no allocation per frame).
//! Parked buffers point back at `Shared`, a deliberate cycle that
//! [`Shared::deactivate`] breaks when the stream stops.
//!
//! With user buffers (`V4L2_MEMORY_USERPTR`) a slot holds instead the supplier's frame
//! whose memory the driver fills while the index is queued; frames handed out are the
//! supplier's and never come back here, so nothing is ever `Owner::User`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::ptr::NonNull;

use framekeep_core::frame::{BufferHome, ExternalBuffer, Frame};
use framekeep_core::ledger::{Kind, Ledger, LedgerSource, LiveEntry, ScopeId, Tracked};
use framekeep_core::time::monotonic_now;
use parking_lot::{Condvar, Mutex};

use crate::device::CaptureDevice;
use crate::error::CaptureError;
use crate::mem::{Mapping, UserBuffer};
use crate::options::StreamStats;

/// Ledger kind of a live capture stream (device open, buffers mapped).
pub const STREAM_KIND: Kind = Kind::new("V4L2_STREAM");

/// Who has a driver buffer right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Queued in the driver.
    Driver,
    /// With the stream (dequeued, being turned into a frame, or a failed re-queue).
    Stream,
    /// Inside one or more frames.
    User,
}

pub(crate) struct Slot {
    pub(crate) owner: Owner,
    pub(crate) parked: Option<ExternalBuffer>,
    /// User buffers: the supplier's frame lent to the driver for this index (queued while
    /// `owner == Driver`, waiting for a retried queue while `owner == Stream`), reshaped to
    /// its whole buffer. Nobody reads it while the driver owns it.
    pub(crate) user: Option<Frame>,
    /// While `owner == User`: who took it, for the ledger (see [`LedgerSource`]).
    pub(crate) lease: Lease,
}

/// What the ledger reports about a buffer held by frames. Recording it costs a few plain
/// stores per frame; the ledger reads it only when asked (pull model, like the pool's).
#[derive(Clone, Copy, Default)]
pub(crate) struct Lease {
    /// Unique per hand-out.
    pub(crate) id: u64,
    /// The frame's capture timestamp (CLOCK_MONOTONIC), to date the entry without a clock read.
    pub(crate) since: Duration,
    /// Ledger scope of the thread that dequeued it.
    pub(crate) scope: u64,
}

pub(crate) struct SlotTable {
    pub(crate) slots: Vec<Slot>,
    pub(crate) in_driver: usize,
    /// Re-queue on recycle (false once the stream stopped).
    pub(crate) active: bool,
    /// A re-queue failed on a consumer thread; reported by the next `next_frame`.
    pub(crate) pending_error: Option<CaptureError>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) frames: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) copied: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    pub(crate) repinned: AtomicU64,
}

impl Counters {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StreamStats {
        StreamStats {
            frames: self.frames.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            copied: self.copied.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
            held_at_close: 0,
            repinned: self.repinned.load(Ordering::Relaxed),
        }
    }
}

/// State shared by a stream and every frame it handed out.
///
/// Field order matters: `device` drops (closing the file descriptor, which makes the
/// driver stop and give back every buffer) before `table`, whose user-buffer frames the
/// driver may still be writing when a `VIDIOC_STREAMOFF` failed.
pub(crate) struct Shared {
    pub(crate) device: Box<dyn CaptureDevice>,
    mappings: Vec<Mapping>,
    /// Number of buffers (slots).
    count: usize,
    pub(crate) table: Mutex<SlotTable>,
    returned: Condvar,
    pub(crate) counters: Counters,
    /// A re-queue failed: `next_frame` must retry parked buffers (checked without a lock).
    pub(crate) needs_retry: AtomicBool,
    /// Source of [`Lease::id`]s.
    pub(crate) next_lease: AtomicU64,
    pub(crate) ledger: Ledger,
    /// The same moment as an `Instant` and as CLOCK_MONOTONIC, to turn capture timestamps
    /// into ledger creation times.
    origin: (Instant, Duration),
    name: String,
    _tracked: Tracked,
}

impl Shared {
    /// The state of a stream of `count` buffers: `mappings` holds one per buffer (mmap), or
    /// none (user buffers).
    pub(crate) fn new(
        device: Box<dyn CaptureDevice>,
        mappings: Vec<Mapping>,
        count: usize,
        ledger: Ledger,
    ) -> Shared {
        let path = device.info().path;
        let name = format!("v4l2 stream {path}");
        let slots = (0..count)
            .map(|_| Slot {
                owner: Owner::Stream,
                parked: None,
                user: None,
                lease: Lease::default(),
            })
            .collect();
        Shared {
            _tracked: ledger.track(STREAM_KIND, name),
            origin: (Instant::now(), monotonic_now()),
            name: format!("v4l2 buffer ({path})"),
            device,
            mappings,
            count,
            table: Mutex::new(SlotTable {
                slots,
                in_driver: 0,
                active: false,
                pending_error: None,
            }),
            returned: Condvar::new(),
            counters: Counters::default(),
            needs_retry: AtomicBool::new(false),
            next_lease: AtomicU64::new(1),
            ledger,
        }
    }

    pub(crate) fn mapping(&self, index: usize) -> &Mapping {
        &self.mappings[index]
    }

    /// Number of driver buffers (buffer indices).
    pub(crate) fn buffer_count(&self) -> usize {
        self.count
    }

    /// Queues a buffer the stream owns: an mmap buffer, or the user frame in its slot; on
    /// failure it stays with the stream.
    pub(crate) fn queue_locked(&self, t: &mut SlotTable, index: usize) -> Result<(), CaptureError> {
        match t.slots[index].user.as_mut() {
            Some(frame) => {
                // SAFETY: `frame` stays in this slot, where nothing reads or writes it,
                // until the driver gives the index back: `next_frame` takes it out only
                // after a DQBUF of this index, and `deactivate` only after a successful
                // STREAMOFF (after a failed one it stays until the device is closed, see
                // the field order of `Shared`).
                let buffer = unsafe { lend(frame)? };
                self.device.queue_user(index, buffer)?;
            }
            None => self.device.queue(index)?,
        }
        t.slots[index].owner = Owner::Driver;
        t.in_driver += 1;
        Ok(())
    }

    /// Queues a buffer the stream owns while the stream runs; a failure is counted and
    /// kept for the next `next_frame` to report, and the buffer stays with the stream for a
    /// retry.
    pub(crate) fn queue_or_keep(&self, t: &mut SlotTable, index: usize) {
        if let Err(e) = self.queue_locked(t, index) {
            Counters::add(&self.counters.errors, 1);
            t.pending_error.get_or_insert(e);
            self.needs_retry.store(true, Ordering::Release);
        }
    }

    /// Gives a dequeued buffer the stream owns back to the driver: an mmap buffer through
    /// [`BufferHome::recycle`] (as a frame drop does), a user buffer queued again with the
    /// same frame.
    pub(crate) fn requeue(&self, index: usize) {
        let buf = {
            let mut t = self.table.lock();
            let Some(slot) = t.slots.get_mut(index) else {
                return;
            };
            if slot.user.is_some() {
                if t.active {
                    self.queue_or_keep(&mut t, index);
                }
                return;
            }
            slot.parked.take()
        };
        if let Some(buf) = buf {
            self.recycle(buf);
        }
    }

    /// Stops re-queueing and gives up every parked buffer (breaking the cycle through them),
    /// and every user frame when `streamed_off` (the driver gave them back); after a failed
    /// STREAMOFF user frames stay until the device is closed. Returns how many buffers
    /// frames still hold.
    pub(crate) fn deactivate(&self, streamed_off: bool) -> usize {
        let mut parked = Vec::new();
        let mut user = Vec::new();
        let held;
        {
            let mut t = self.table.lock();
            t.active = false;
            t.in_driver = 0;
            for s in t.slots.iter_mut() {
                if s.owner == Owner::Driver {
                    s.owner = Owner::Stream;
                }
                parked.extend(s.parked.take());
                if streamed_off {
                    user.extend(s.user.take());
                }
            }
            held = t.slots.iter().filter(|s| s.owner == Owner::User).count();
        }
        drop(parked);
        drop(user);
        held
    }

    /// Waits up to `timeout` for frames to give back their buffers; returns how many are
    /// still held.
    pub(crate) fn wait_returned(&self, timeout: std::time::Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        let mut t = self.table.lock();
        loop {
            let held = t.slots.iter().filter(|s| s.owner == Owner::User).count();
            if held == 0 || self.returned.wait_until(&mut t, deadline).timed_out() {
                return t.slots.iter().filter(|s| s.owner == Owner::User).count();
            }
        }
    }
}

/// The whole buffer of a user frame as the driver gets it (the frame was reshaped to its
/// whole buffer by `buffers::take_for_driver`). Fails if another handle shares the buffer
/// or it is read-only.
///
/// # Safety
/// `frame` must stay untouched (neither read, written nor dropped) from the `VIDIOC_QBUF`
/// that passes the result until the driver gives the buffer back (`VIDIOC_DQBUF`,
/// `VIDIOC_STREAMOFF`, or the device's close).
pub(crate) unsafe fn lend(frame: &mut Frame) -> Result<UserBuffer, CaptureError> {
    let bytes = frame.get_mut().ok_or(CaptureError::UserBufferNotWritable)?;
    let len = bytes.len();
    let ptr = NonNull::from(bytes).cast::<u8>();
    // SAFETY: get_mut proved this handle the only one on its buffer, so the bytes are the
    // frame's alone, and the caller keeps them untouched while the driver has them.
    Ok(unsafe { UserBuffer::new(ptr, len) })
}

impl BufferHome for Shared {
    fn recycle(&self, buffer: ExternalBuffer) {
        let index = buffer.index();
        let mut to_drop = None;
        {
            let mut t = self.table.lock();
            let Some(slot) = t.slots.get_mut(index) else {
                return;
            };
            slot.owner = Owner::Stream;
            if t.active {
                t.slots[index].parked = Some(buffer);
                self.queue_or_keep(&mut t, index);
            } else {
                to_drop = Some(buffer);
            }
        }
        self.returned.notify_all();
        // Dropped outside the lock: this may release the last reference to `self`, which
        // must not happen while its mutex is held.
        drop(to_drop);
    }
}

impl LedgerSource for Shared {
    fn visit_live(&self, visit: &mut dyn FnMut(LiveEntry)) {
        let leases: Vec<(usize, Lease)> = {
            let t = self.table.lock();
            t.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.owner == Owner::User)
                .map(|(i, s)| (i, s.lease))
                .collect()
        };
        let (at, mono) = self.origin;
        for (index, lease) in leases {
            let Some(mapping) = self.mappings.get(index) else {
                continue;
            };
            let bytes = (0..mapping.planes())
                .filter_map(|p| mapping.plane_len(p))
                .sum();
            visit(LiveEntry {
                kind: Kind::FRAME,
                name: self.name.clone().into(),
                id: lease.id,
                // A driver whose timestamps are not CLOCK_MONOTONIC dates it at stream start.
                created_at: at + lease.since.saturating_sub(mono),
                thread: None,
                scope: ScopeId(lease.scope),
                epoch: 0,
                backtrace: None,
                bytes: Some(bytes),
                written_off: false,
            });
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Order: unmap every buffer, then free them in the driver, then close the device
        // (the Box drops after this function).
        self.mappings.clear();
        if let Err(e) = self.device.release_buffers() {
            if !matches!(e, CaptureError::Disconnected { .. }) {
                tracing::debug!("releasing V4L2 buffers: {e}");
            }
        }
    }
}
