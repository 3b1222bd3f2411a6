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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use framekeep_core::frame::{BufferHome, ExternalBuffer};
use framekeep_core::ledger::{Kind, Ledger, LedgerSource, LiveEntry, ScopeId, Tracked};
use framekeep_core::time::monotonic_now;
use parking_lot::{Condvar, Mutex};

use crate::device::CaptureDevice;
use crate::error::CaptureError;
use crate::mem::Mapping;
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
        }
    }
}

/// State shared by a stream and every frame it handed out.
pub(crate) struct Shared {
    pub(crate) device: Box<dyn CaptureDevice>,
    mappings: Vec<Mapping>,
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
    pub(crate) fn new(
        device: Box<dyn CaptureDevice>,
        mappings: Vec<Mapping>,
        ledger: Ledger,
    ) -> Shared {
        let path = device.info().path;
        let name = format!("v4l2 stream {path}");
        let slots = (0..mappings.len())
            .map(|_| Slot {
                owner: Owner::Stream,
                parked: None,
                lease: Lease::default(),
            })
            .collect();
        Shared {
            _tracked: ledger.track(STREAM_KIND, name),
            origin: (Instant::now(), monotonic_now()),
            name: format!("v4l2 buffer ({path})"),
            device,
            mappings,
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

    pub(crate) fn buffer_count(&self) -> usize {
        self.mappings.len()
    }

    /// Queues a buffer the stream owns; on failure it stays parked with the stream.
    /// Returns what to drop outside the lock (nothing on success).
    pub(crate) fn queue_locked(&self, t: &mut SlotTable, index: usize) -> Result<(), CaptureError> {
        self.device.queue(index)?;
        t.slots[index].owner = Owner::Driver;
        t.in_driver += 1;
        Ok(())
    }

    /// Stops re-queueing and gives up every parked buffer (breaking the cycle through them).
    /// Returns how many buffers frames still hold.
    pub(crate) fn deactivate(&self) -> usize {
        let mut parked = Vec::new();
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
            }
            held = t.slots.iter().filter(|s| s.owner == Owner::User).count();
        }
        drop(parked);
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
                match self.queue_locked(&mut t, index) {
                    Ok(()) => t.slots[index].parked = Some(buffer),
                    Err(e) => {
                        Counters::add(&self.counters.errors, 1);
                        t.slots[index].parked = Some(buffer);
                        t.pending_error.get_or_insert(e);
                        self.needs_retry.store(true, Ordering::Release);
                    }
                }
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
            let mapping = &self.mappings[index];
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
