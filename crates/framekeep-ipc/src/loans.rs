//! Loaned frames: framekeep [`Frame`]s over samples loaned from the publisher's shared
//! memory, filled in place (a V4L2 USERPTR capture writes straight into them) and sent
//! without a copy.
//!
//! A loaned frame's buffer is an [`ExternalBuffer`] whose [`BufferHome`] is [`LoanHome`].
//! Publishing one only *marks* it (with its header); the sample is sent when the frame's
//! last handle drops, by whichever thread drops it. So however many handles exist when it
//! is published, no handle in the publishing process can still see the memory once
//! subscribers read it, and nothing is sent twice. A loan that is never published goes
//! back to the publisher's segment unsent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use framekeep_core::frame::{BufferHome, ExternalBuffer, Frame, FrameLayout, FrameMeta};
use framekeep_core::ledger::{Kind, LedgerSource, LiveEntry, ScopeId};
use parking_lot::Mutex;

use crate::error::IpcError;
use crate::send::{Loan, Sender};
use crate::wire::FrameHeader;

struct Slot {
    loan: Option<Loan>,
    /// The payload's address (to recognise a frame over it) and length.
    addr: usize,
    len: usize,
    /// The loan's id (also the frame id in its header).
    id: u64,
    since: Instant,
    scope: u64,
    /// Set by `publish`: send with this header when the last handle drops.
    publish: Option<FrameHeader>,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

/// The home of a publisher's loaned frames.
pub(crate) struct LoanHome {
    /// Ledger name of a loan: the service's, marked as a loan.
    name: String,
    slots: Mutex<Slots>,
    sender: Arc<Sender>,
    next_id: AtomicU64,
}

impl LoanHome {
    pub(crate) fn new(sender: Arc<Sender>) -> LoanHome {
        LoanHome {
            name: format!("{} (loan)", sender.service),
            slots: Mutex::new(Slots::default()),
            sender,
            next_id: AtomicU64::new(1),
        }
    }

    /// A unique, writable frame over `loan`'s payload, laid out as `bytes` opaque bytes
    /// (an MJPEG layout: reshape it to the real one before publishing).
    pub(crate) fn lend(self: &Arc<Self>, mut loan: Loan) -> Result<Frame, IpcError> {
        let payload = loan.payload_mut();
        let (ptr, len) = (payload.as_mut_ptr().cast::<u8>(), payload.len());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let index = {
            let mut s = self.slots.lock();
            let slot = Slot {
                loan: Some(loan),
                addr: ptr as usize,
                len,
                id,
                since: Instant::now(),
                scope: ScopeId::current().0,
                publish: None,
            };
            match s.free.pop() {
                Some(i) => {
                    s.slots[i] = slot;
                    i
                }
                None => {
                    s.slots.push(slot);
                    s.slots.len() - 1
                }
            }
        };
        // SAFETY: `ptr..ptr + len` is the payload of the loan now parked in slot `index`
        // of this home. The loan keeps it mapped and reserved for this publisher (no
        // subscriber sees it before it is sent) until the slot gives it up, which happens
        // only in `recycle`, after the last frame handle over it has dropped; the home
        // outlives every buffer over it (each holds an `Arc` of it). The bytes are shared
        // memory of the publisher's segment, initialized memory whatever they hold.
        // Nothing but framekeep writes to it while a frame is alive: the sample is sent
        // only after the last handle is gone.
        let buffer = unsafe { ExternalBuffer::new(ptr, len, index, self.clone()) };
        Ok(buffer.into_frame(FrameLayout::mjpeg(0, 0, len), FrameMeta::default())?)
    }

    /// If `frame` starts at the start of one of this home's loans: marks that loan to be
    /// sent with the header `header(loan id)` when its last handle drops. `None` if it is
    /// not a loan of this home.
    pub(crate) fn mark(
        &self,
        frame: &Frame,
        header: impl FnOnce(u64) -> Result<FrameHeader, IpcError>,
    ) -> Option<Result<(), IpcError>> {
        let addr = frame.as_ptr() as usize;
        let mut s = self.slots.lock();
        let slot = s
            .slots
            .iter_mut()
            .find(|slot| slot.loan.is_some() && slot.addr == addr)?;
        if slot.publish.is_some() {
            return Some(Err(IpcError::AlreadyPublished {
                service: self.sender.service.clone(),
            }));
        }
        Some(header(slot.id).map(|h| slot.publish = Some(h)))
    }
}

impl BufferHome for LoanHome {
    fn recycle(&self, buffer: ExternalBuffer) {
        let index = buffer.index();
        let (loan, publish) = {
            let mut s = self.slots.lock();
            let Some(slot) = s.slots.get_mut(index) else {
                return;
            };
            let taken = (slot.loan.take(), slot.publish.take());
            s.free.push(index);
            taken
        };
        // No frame points into the sample any more.
        drop(buffer);
        match (loan, publish) {
            (Some(loan), Some(header)) if !self.sender.closed.load(Ordering::Acquire) => {
                // Counted in the publisher's stats; nobody is left to return it to.
                if let Err(e) = self.sender.send(loan, header, true) {
                    tracing::warn!("sending a loaned frame of {}: {e}", self.sender.service);
                }
            }
            // Never published (or the publisher is gone): back to the segment unsent.
            (loan, _) => drop(loan),
        }
    }
}

impl LedgerSource for LoanHome {
    fn visit_live(&self, visit: &mut dyn FnMut(LiveEntry)) {
        let live: Vec<(u64, Instant, u64, usize)> = self
            .slots
            .lock()
            .slots
            .iter()
            .filter(|s| s.loan.is_some())
            .map(|s| (s.id, s.since, s.scope, s.len))
            .collect();
        for (id, since, scope, len) in live {
            visit(LiveEntry {
                kind: Kind::FRAME,
                name: self.name.clone().into(),
                id,
                created_at: since,
                thread: None,
                scope: ScopeId(scope),
                epoch: 0,
                backtrace: None,
                bytes: Some(len),
                written_off: false,
            });
        }
    }
}
