//! Received samples as framekeep frames.
//!
//! A received iceoryx2 `Sample` is parked in a slot of [`SampleHome`]; the frame over
//! its payload is a read-only [`ExternalBuffer`] whose home is that `SampleHome`. Clones
//! and views share it like any frame; when the last handle drops (on any thread: samples
//! of `ipc_threadsafe` services may be dropped anywhere), [`SampleHome::recycle`] drops
//! the sample, which returns it to the publisher. Meanwhile the home reports the held
//! samples to the ledger (kind `frame`, named after the service) and to the publisher
//! (the hold report, see `holds`), and lends buffers of a small local pool for
//! copy-on-write copies.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use framekeep_core::frame::{
    BufferHome, ExternalBuffer, Frame, FrameLayout, FrameMeta, PixelFormat,
};
use framekeep_core::ledger::{Ledger, LedgerSource, LiveEntry};
use framekeep_core::pool::{Exhausted, FramePool, PoolOptions};
use iceoryx2::sample::Sample;
use parking_lot::Mutex;

use crate::domain::Svc;
use crate::error::IpcError;
use crate::holds::HoldWriter;
use crate::parked::Parked;
use crate::report::Counter;
use crate::waiter::Waker;
use crate::wire::{monotonic_ns, PageHeader};

/// A received frame sample.
pub(crate) type Received = Sample<Svc, [u8], PageHeader>;

/// Hold reports are sent at most this often while frames flow (ns).
const REPORT_EVERY_NS: u64 = 50_000_000;

/// What a hold report says; one is sent only when it changes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Summary {
    held: usize,
    oldest_ns: u64,
    received: u64,
    dropped: u64,
}

#[derive(Default)]
struct Reporting {
    writer: Option<HoldWriter>,
    last: Option<Summary>,
    last_ns: u64,
}

/// Counts a subscriber shares with its home (the hold report carries them).
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) received: Counter,
    pub(crate) dropped: Counter,
}

/// The home of a subscriber's received samples.
pub(crate) struct SampleHome {
    service: String,
    received: Mutex<Parked<Received>>,
    pub(crate) totals: Totals,
    /// Set while the subscriber waits for a held sample to be released.
    starved: AtomicBool,
    waker: Arc<Waker>,
    reporting: Mutex<Reporting>,
    copies: Mutex<Option<FramePool>>,
    copy_buffers: usize,
    /// Most samples the service lets this subscriber hold.
    max_held: AtomicUsize,
    ledger: Ledger,
}

impl SampleHome {
    pub(crate) fn new(
        service: &str,
        waker: Arc<Waker>,
        copy_buffers: usize,
        ledger: &Ledger,
    ) -> SampleHome {
        SampleHome {
            service: service.to_string(),
            received: Mutex::new(Parked::new()),
            totals: Totals::default(),
            starved: AtomicBool::new(false),
            waker,
            reporting: Mutex::new(Reporting::default()),
            copies: Mutex::new(None),
            copy_buffers,
            max_held: AtomicUsize::new(usize::MAX),
            ledger: ledger.clone(),
        }
    }

    /// Starts reporting holds through `writer`; `max_held` is the service's limit.
    pub(crate) fn attach(&self, writer: HoldWriter, max_held: usize) {
        self.max_held.store(max_held, Ordering::Relaxed);
        *self.reporting.lock() = Reporting {
            writer: Some(writer),
            ..Reporting::default()
        };
        self.report(true);
    }

    /// Samples held right now.
    pub(crate) fn held(&self) -> usize {
        self.received.lock().held()
    }

    /// The subscriber is at its hold limit: wake it when a sample is released. Returns
    /// true if one was released meanwhile (try again at once).
    pub(crate) fn starve(&self) -> bool {
        self.starved.store(true, Ordering::SeqCst);
        let room = self.held() < self.max_held.load(Ordering::Relaxed);
        if room {
            self.starved.store(false, Ordering::SeqCst);
        }
        room
    }

    /// A frame over `sample`'s payload, laid out as `layout` (checked against the
    /// payload by the caller).
    pub(crate) fn wrap(
        self: &Arc<Self>,
        sample: Received,
        layout: FrameLayout,
        meta: FrameMeta,
    ) -> Result<Frame, IpcError> {
        let payload = sample.payload();
        let (ptr, len) = (payload.as_ptr(), payload.len());
        let (index, _) = self.received.lock().park(sample, len);
        self.totals.received.add(1);
        // SAFETY: `ptr..ptr + len` is the payload of the sample now parked in slot `index`
        // of this home. The sample keeps the publisher's segment mapped in this process
        // and the publisher does not reuse the chunk until the sample is dropped, which
        // happens only in `recycle`, after the last frame handle over it has dropped; the
        // home outlives every buffer over it (each holds an `Arc` of it). Nobody writes to
        // a sent sample: the publisher only writes chunks it has loaned, and the buffer is
        // read-only here (framekeep never hands out `&mut` to it; `make_mut` copies).
        let buffer = unsafe { ExternalBuffer::new_read_only(ptr, len, index, self.clone()) };
        Ok(buffer.into_frame(layout, meta)?)
    }

    /// Sends the hold report (held samples, when the oldest was received, totals) if it
    /// changed since the last one, and, unless `flush`, if the last one is 50 ms old.
    /// Called by the subscriber's thread only (at each receive attempt; `flush` when it
    /// wakes up idle and from `try_recv`), never from a frame's drop on another thread.
    pub(crate) fn report(&self, flush: bool) {
        let (held, oldest_ns) = {
            let received = self.received.lock();
            (received.held(), received.oldest_ns())
        };
        let summary = Summary {
            held,
            oldest_ns,
            received: self.totals.received.get(),
            dropped: self.totals.dropped.get(),
        };
        let now = monotonic_ns();
        let mut reporting = self.reporting.lock();
        let due = flush || now.saturating_sub(reporting.last_ns) >= REPORT_EVERY_NS;
        if reporting.last == Some(summary) || !due {
            return;
        }
        if let Some(writer) = reporting.writer.as_ref() {
            writer.send(held, oldest_ns, summary.received, summary.dropped);
            reporting.last = Some(summary);
            reporting.last_ns = now;
        }
    }
}

impl BufferHome for SampleHome {
    fn recycle(&self, buffer: ExternalBuffer) {
        let sample = self.received.lock().take(buffer.index());
        // Nothing points into the sample any more: back to the publisher.
        drop(buffer);
        drop(sample);
        if self.starved.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }

    /// A buffer of the subscriber's copy pool (made on first use, remade larger when a
    /// larger frame needs a copy); `None` (a heap copy) when it has none free.
    fn copy_target(&self, bytes: usize) -> Option<Frame> {
        if self.copy_buffers == 0 {
            return None;
        }
        let mut copies = self.copies.lock();
        let fits = copies
            .as_ref()
            .is_some_and(|pool| pool.layout().len() >= bytes);
        if !fits {
            let layout = FrameLayout::packed(PixelFormat::Gray8, bytes.max(1), 1).ok()?;
            let pool = PoolOptions::new(layout)
                .name("ipc copies")
                .min_buffers(0)
                .max_buffers(self.copy_buffers)
                .exhausted(Exhausted::FailFast)
                .prefault(false)
                .with_ledger(&self.ledger)
                .build()
                .ok()?;
            *copies = Some(pool);
        }
        copies.as_ref()?.try_acquire("ipc copy").ok()
    }
}

impl LedgerSource for SampleHome {
    fn visit_live(&self, visit: &mut dyn FnMut(LiveEntry)) {
        let entries = self.received.lock().entries(&self.service);
        entries.into_iter().for_each(visit);
    }
}
