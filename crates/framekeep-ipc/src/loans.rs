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

use std::sync::atomic::Ordering;
use std::sync::Arc;

use framekeep_core::frame::{BufferHome, ExternalBuffer, Frame, FrameLayout, FrameMeta};
use framekeep_core::ledger::{LedgerSource, LiveEntry};
use parking_lot::Mutex;

use crate::error::IpcError;
use crate::parked::Parked;
use crate::send::{Loan, Sender};
use crate::wire::FrameHeader;

/// A loan out as a frame.
struct Lent {
    loan: Loan,
    /// The payload's address, to recognise a frame over it.
    addr: usize,
    /// Set by `publish`: send with this header when the last handle drops.
    publish: Option<FrameHeader>,
}

/// The home of a publisher's loaned frames.
pub(crate) struct LoanHome {
    /// Ledger name of a loan: the service's, marked as a loan.
    name: String,
    lent: Mutex<Parked<Lent>>,
    sender: Arc<Sender>,
}

impl LoanHome {
    pub(crate) fn new(sender: Arc<Sender>) -> LoanHome {
        LoanHome {
            name: format!("{} (loan)", sender.service),
            lent: Mutex::new(Parked::new()),
            sender,
        }
    }

    /// A unique, writable frame over `loan`'s payload, laid out as `bytes` opaque bytes
    /// (an MJPEG layout: reshape it to the real one before publishing).
    pub(crate) fn lend(self: &Arc<Self>, mut loan: Loan) -> Result<Frame, IpcError> {
        let payload = loan.payload_mut();
        let (ptr, len) = (payload.as_mut_ptr().cast::<u8>(), payload.len());
        let lent = Lent {
            loan,
            addr: ptr as usize,
            publish: None,
        };
        let (index, _) = self.lent.lock().park(lent, len);
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
        let mut lent = self.lent.lock();
        let (lent, id) = lent.find_mut(|l| l.addr == addr)?;
        if lent.publish.is_some() {
            return Some(Err(IpcError::AlreadyPublished {
                service: self.sender.service.clone(),
            }));
        }
        Some(header(id).map(|h| lent.publish = Some(h)))
    }
}

impl BufferHome for LoanHome {
    fn recycle(&self, buffer: ExternalBuffer) {
        let lent = self.lent.lock().take(buffer.index());
        // No frame points into the sample any more.
        drop(buffer);
        let Some(lent) = lent else {
            return;
        };
        match lent.publish {
            Some(header) if !self.sender.closed.load(Ordering::Acquire) => {
                // Counted in the publisher's stats; nobody is left to return it to.
                if let Err(e) = self.sender.send(lent.loan, header, true) {
                    tracing::warn!("sending a loaned frame of {}: {e}", self.sender.service);
                }
            }
            // Never published (or the publisher is gone): back to the segment unsent.
            _ => drop(lent.loan),
        }
    }
}

impl LedgerSource for LoanHome {
    fn visit_live(&self, visit: &mut dyn FnMut(LiveEntry)) {
        let entries = self.lent.lock().entries(&self.name);
        entries.into_iter().for_each(visit);
    }
}
