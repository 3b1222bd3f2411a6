//! The receiving end of an edge.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{select, Receiver, RecvTimeoutError, TryRecvError};

use super::error::RecvError;
use super::link::Link;
use super::shared::{EdgeStats, Shared};
use crate::cancel::CancelToken;
use crate::sync::atomic::Ordering;
use crate::sync::opaque_op;

/// The receiving end of an [`edge`](super::edge). Cheap to clone (clones
/// share the items, each item goes to one of them). When the last clone
/// drops, queued items are dropped and senders see
/// [`SendError::Closed`](super::SendError::Closed).
pub struct EdgeReceiver<T> {
    rx: Receiver<T>,
    shared: Arc<Shared>,
}

impl<T: Send> EdgeReceiver<T> {
    pub(super) fn new(rx: Receiver<T>, shared: Arc<Shared>) -> Self {
        EdgeReceiver { rx, shared }
    }

    /// The next item; waits as long as it takes. [`RecvError::Closed`] once
    /// every sender is gone and the edge is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        let item = self.rx.recv().map_err(|_| RecvError::Closed)?;
        Ok(self.got(item))
    }

    /// The next item, or [`RecvError::Cancelled`] when `token` fires first.
    /// Queued items win over a cancel that is already there, so a draining
    /// consumer empties its input before it stops.
    pub fn recv_cancellable(&self, token: &CancelToken) -> Result<T, RecvError> {
        match self.try_recv() {
            Ok(Some(item)) => Ok(item),
            Ok(None) => self.recv_until(&token.receiver()),
            Err(e) => Err(e),
        }
    }

    /// Like [`recv_cancellable`](Self::recv_cancellable) with the token's
    /// receiver already at hand.
    pub fn recv_until(&self, cancelled: &Receiver<()>) -> Result<T, RecvError> {
        if let Some(item) = self.try_recv()? {
            return Ok(item);
        }
        select! {
            recv(self.rx) -> msg => match msg {
                Ok(item) => Ok(self.got(item)),
                Err(_) => Err(RecvError::Closed),
            },
            recv(cancelled) -> _ => Err(RecvError::Cancelled),
        }
    }

    /// The next item, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvError> {
        match self.rx.recv_timeout(timeout) {
            Ok(item) => Ok(self.got(item)),
            Err(RecvTimeoutError::Timeout) => Err(RecvError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(RecvError::Closed),
        }
    }

    /// An item if one is queued: `Ok(None)` when empty, `Err(Closed)` when
    /// empty and every sender is gone.
    pub fn try_recv(&self) -> Result<Option<T>, RecvError> {
        opaque_op();
        match self.rx.try_recv() {
            Ok(item) => Ok(Some(self.got(item))),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(RecvError::Closed),
        }
    }

    /// The underlying crossbeam receiver, to wait on this edge together with
    /// other channels (typically [`CancelToken::receiver`]):
    ///
    /// ```
    /// use crossbeam_channel::select;
    /// use framekeep_core::cancel::CancelToken;
    /// use framekeep_core::pipeline::{edge, Link};
    ///
    /// let token = CancelToken::new();
    /// let (tx, rx) = edge::<u32>("display", Link::latest());
    /// tx.send(7).unwrap();
    /// let cancelled = token.receiver();
    /// select! {
    ///     recv(rx.as_crossbeam()) -> msg => assert_eq!(msg, Ok(7)),
    ///     recv(cancelled) -> _ => unreachable!(),
    /// }
    /// ```
    ///
    /// Do not keep a clone of it beyond the `EdgeReceiver`'s life: the edge
    /// considers itself unread once every `EdgeReceiver` is gone.
    pub fn as_crossbeam(&self) -> &Receiver<T> {
        &self.rx
    }

    fn got(&self, item: T) -> T {
        self.shared.received.fetch_add(1, Ordering::Relaxed);
        item
    }

    /// True once every sender is gone and nothing is queued: the stream ended.
    pub fn is_closed(&self) -> bool {
        self.shared.senders.load(Ordering::SeqCst) == 0 && self.rx.is_empty()
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The edge's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The edge's link (capacity and overflow rule).
    pub fn link(&self) -> Link {
        self.shared.link
    }

    /// A snapshot of the edge's counters.
    pub fn stats(&self) -> EdgeStats {
        self.shared.stats(self.rx.len())
    }
}

impl<T> Clone for EdgeReceiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        EdgeReceiver {
            rx: self.rx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for EdgeReceiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.shared.rx_closed.store(true, Ordering::SeqCst);
            // Return every queued frame to its pool now; this also makes
            // room for a sender blocked on a full edge, which then sees
            // `rx_closed` and discards its item too.
            self.shared.drain(&self.rx);
        }
    }
}

impl<T> fmt::Debug for EdgeReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeReceiver")
            .field("name", &self.shared.name)
            .field("link", &self.shared.link)
            .field("len", &self.rx.len())
            .finish()
    }
}

/// A read-only view of an edge's counters that keeps neither end open (for
/// monitoring a running pipeline; see
/// [`EdgeReceiver::probe`]).
pub(crate) struct EdgeProbe<T> {
    rx: Receiver<T>,
    shared: Arc<Shared>,
}

impl<T: Send> EdgeReceiver<T> {
    /// A probe of this edge's counters. It is not a receiver: when every
    /// `EdgeReceiver` is gone the edge is unread, whatever probes exist.
    pub(crate) fn probe(&self) -> EdgeProbe<T> {
        EdgeProbe {
            rx: self.rx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> EdgeProbe<T> {
    /// A snapshot of the edge's counters.
    pub(crate) fn stats(&self) -> EdgeStats {
        self.shared.stats(self.rx.len())
    }
}

impl<T> fmt::Debug for EdgeProbe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeProbe")
            .field("name", &self.shared.name)
            .finish()
    }
}
