//! The sending end of an edge, where the overflow policy is applied.

use std::fmt;
use std::sync::Arc;

use crossbeam_channel::{select, Receiver, Sender, TrySendError};

use super::error::SendError;
use super::link::Link;
use super::shared::{EdgeStats, Shared};
use crate::cancel::CancelToken;
use crate::sync::atomic::Ordering;
use crate::sync::opaque_op;

/// The sending end of an [`edge`](super::edge). Cheap to clone; the stream
/// closes when the last clone drops.
///
/// A producer hands its item over and never releases it itself: on success
/// the edge (or the policy's drop) owns it; on failure the item comes back in
/// the [`SendError`].
pub struct EdgeSender<T> {
    tx: Sender<T>,
    /// A receiver of our own: `DropOldest`/`Latest` pop the oldest item with
    /// it, and every policy uses it to discard what is queued after the last
    /// real receiver left. It does not keep the stream open for receivers
    /// (only senders do) and is not counted as a receiver.
    rx: Receiver<T>,
    shared: Arc<Shared>,
}

impl<T: Send> EdgeSender<T> {
    pub(super) fn new(tx: Sender<T>, rx: Receiver<T>, shared: Arc<Shared>) -> Self {
        EdgeSender { tx, rx, shared }
    }

    /// Sends under the edge's link; with [`Link::Block`] waits for room
    /// as long as it takes (prefer [`send_cancellable`](Self::send_cancellable)
    /// in workers).
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        self.send_inner(item, None)
    }

    /// Like [`send`](Self::send), but a [`Link::Block`] wait ends with
    /// [`SendError::Cancelled`] when `token` is cancelled. An item is still
    /// queued if there is room at once, even after a cancel: a stage that is
    /// told to stop hands on what it already finished.
    pub fn send_cancellable(&self, item: T, token: &CancelToken) -> Result<(), SendError<T>> {
        if self.shared.link.drops() {
            return self.send_inner(item, None);
        }
        // Fast path without touching the token's channel.
        let item = match self.try_queue(item)? {
            Ok(()) => return Ok(()),
            Err(item) => item,
        };
        self.send_inner(item, Some(&token.receiver()))
    }

    /// Like [`send_cancellable`](Self::send_cancellable) with the token's
    /// [`receiver`](CancelToken::receiver) already at hand (workers keep
    /// one, so the hot path never locks the token).
    pub fn send_until(&self, item: T, cancelled: &Receiver<()>) -> Result<(), SendError<T>> {
        self.send_inner(item, Some(cancelled))
    }

    /// One attempt under [`Link::Block`]: `Ok(Err(item))` when full.
    fn try_queue(&self, item: T) -> Result<Result<(), T>, SendError<T>> {
        if self.shared.rx_closed.load(Ordering::SeqCst) {
            return Err(SendError::Closed(item));
        }
        match self.try_send(item) {
            Ok(()) => {
                self.queued();
                Ok(Ok(()))
            }
            Err(TrySendError::Full(item)) => Ok(Err(item)),
            Err(TrySendError::Disconnected(item)) => Err(SendError::Closed(item)),
        }
    }

    fn send_inner(&self, item: T, cancelled: Option<&Receiver<()>>) -> Result<(), SendError<T>> {
        if self.shared.rx_closed.load(Ordering::SeqCst) {
            return Err(SendError::Closed(item));
        }
        match self.shared.link {
            Link::Block(_) => self.send_block(item, cancelled),
            Link::DropNewest(_) => match self.try_send(item) {
                Ok(()) => {
                    self.queued();
                    Ok(())
                }
                Err(TrySendError::Full(item)) => {
                    // Handed over, and refused: the edge counts both.
                    self.shared.sent.fetch_add(1, Ordering::Relaxed);
                    drop(item);
                    self.shared.count_policy_drop();
                    Ok(())
                }
                Err(TrySendError::Disconnected(item)) => Err(SendError::Closed(item)),
            },
            Link::DropOldest(_) | Link::Latest => self.send_replacing(item),
        }
    }

    fn send_block(&self, item: T, cancelled: Option<&Receiver<()>>) -> Result<(), SendError<T>> {
        let item = match self.try_send(item) {
            Ok(()) => {
                self.queued();
                return Ok(());
            }
            Err(TrySendError::Full(item)) => item,
            Err(TrySendError::Disconnected(item)) => return Err(SendError::Closed(item)),
        };
        let Some(cancelled) = cancelled else {
            // A blocked send cannot hang on a dead edge: the last receiver
            // drains the channel when it goes, which makes room here.
            return match self.tx.send(item) {
                Ok(()) => {
                    self.queued();
                    Ok(())
                }
                Err(e) => Err(SendError::Closed(e.into_inner())),
            };
        };
        // `select!` keeps its operation list on the stack: no allocation,
        // even when a full edge makes every send take this path.
        select! {
            send(self.tx, item) -> sent => match sent {
                Ok(()) => {
                    self.queued();
                    Ok(())
                }
                Err(e) => Err(SendError::Closed(e.into_inner())),
            },
            recv(cancelled) -> _ => Err(SendError::Cancelled(item)),
        }
    }

    fn send_replacing(&self, mut item: T) -> Result<(), SendError<T>> {
        loop {
            match self.try_send(item) {
                Ok(()) => {
                    self.queued();
                    return Ok(());
                }
                Err(TrySendError::Full(back)) => {
                    item = back;
                    // Another consumer may take it first; then just retry.
                    if let Some(oldest) = self.try_take_oldest() {
                        drop(oldest);
                        self.shared.count_policy_drop();
                    }
                }
                Err(TrySendError::Disconnected(item)) => return Err(SendError::Closed(item)),
            }
        }
    }

    /// The channel's `try_send` (a point loom sees, see `opaque_op`).
    #[inline(always)]
    fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        opaque_op();
        self.tx.try_send(item)
    }

    /// Takes the oldest queued item, if any (a point loom sees).
    #[inline(always)]
    fn try_take_oldest(&self) -> Option<T> {
        opaque_op();
        self.rx.try_recv().ok()
    }

    /// Bookkeeping after an item went into the channel. If the last receiver
    /// left meanwhile, nobody will read it: drop it now (a shutdown drop),
    /// not when the edge dies.
    fn queued(&self) {
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        if self.shared.rx_closed.load(Ordering::SeqCst) {
            self.shared.drain(&self.rx);
        }
    }

    /// True once every receiver is gone (sends will fail).
    pub fn is_closed(&self) -> bool {
        self.shared.rx_closed.load(Ordering::SeqCst)
    }

    /// Items queued now.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
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
        self.shared.stats(self.tx.len())
    }
}

impl<T> Clone for EdgeSender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::SeqCst);
        EdgeSender {
            tx: self.tx.clone(),
            rx: self.rx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for EdgeSender<T> {
    fn drop(&mut self) {
        self.shared.senders.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T> fmt::Debug for EdgeSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeSender")
            .field("name", &self.shared.name)
            .field("link", &self.shared.link)
            .field("len", &self.tx.len())
            .finish()
    }
}
