//! Edges: the bounded channels between pipeline stages.
//!
//! # Why not a bare `crossbeam_channel::bounded`
//!
//! A camera delivers frames at its own pace whether or not the consumer keeps
//! up. With plain backpressure a slow display would stall capture and the
//! driver would drop frames where nobody can count them; with an unbounded
//! channel memory would grow until the pool runs dry. So each edge has a
//! [`Policy`]: [`Block`](Policy::Block) (backpressure),
//! [`DropNewest`](Policy::DropNewest), [`DropOldest`](Policy::DropOldest) or
//! [`Latest`](Policy::Latest) (display). Drops are counted per edge
//! ([`EdgeStats`]) and the dropped item is dropped at once, so a pooled
//! [`Frame`](crate::frame::Frame) is back in its pool before `send` returns.
//!
//! The edge is still a crossbeam channel underneath, so a consumer can wait on
//! its input and its [`CancelToken`](crate::cancel::CancelToken) in one
//! `crossbeam_channel::select!` via [`EdgeReceiver::as_crossbeam`], and a
//! blocked sender wakes on cancel ([`EdgeSender::send_cancellable`]).
//!
//! # Closing
//!
//! * Dropping the last [`EdgeSender`] closes the stream: receivers get the
//!   queued items, then [`RecvError::Closed`]; blocked receivers wake at once.
//! * Dropping the last [`EdgeReceiver`] drops every queued item (counted as
//!   dropped) and makes later sends fail with [`SendError::Closed`], handing
//!   the item back; a sender blocked on a full edge wakes.
//!
//! Sending and receiving allocate nothing (crossbeam's array flavour).
//!
//! ```
//! use framekeep_core::pipeline::{edge, Policy, Sent};
//!
//! let (tx, rx) = edge::<u32>("demo", 2, Policy::DropOldest);
//! for i in 0..5 {
//!     tx.send(i).unwrap();
//! }
//! assert_eq!(tx.stats().dropped, 3);
//! drop(tx);
//! assert_eq!(rx.recv(), Ok(3));
//! assert_eq!(rx.recv(), Ok(4));
//! assert!(rx.recv().is_err()); // closed
//! # let _ = Sent::Queued;
//! ```

mod error;
mod policy;
mod receiver;
mod sender;

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

pub use error::{RecvError, SendError, Sent};
pub use policy::Policy;
pub use receiver::{EdgeProbe, EdgeReceiver};
pub use sender::EdgeSender;

/// Creates an edge named `name` holding at most `capacity` items (see
/// [`Policy::effective_capacity`]: 0 is raised to 1, `Latest` is always 1).
pub fn edge<T: Send>(
    name: impl Into<Cow<'static, str>>,
    capacity: usize,
    policy: Policy,
) -> (EdgeSender<T>, EdgeReceiver<T>) {
    let capacity = policy.effective_capacity(capacity);
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    let shared = Arc::new(Shared {
        name: name.into(),
        policy,
        capacity,
        sent: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        received: AtomicU64::new(0),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        rx_closed: AtomicBool::new(false),
    });
    (
        EdgeSender::new(tx, rx.clone(), Arc::clone(&shared)),
        EdgeReceiver::new(rx, shared),
    )
}

/// State shared by both ends of an edge.
pub(crate) struct Shared {
    name: Cow<'static, str>,
    policy: Policy,
    capacity: usize,
    sent: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Set when the last receiver dropped: nobody will read any more.
    rx_closed: AtomicBool,
}

impl Shared {
    fn stats(&self, len: usize) -> EdgeStats {
        EdgeStats {
            name: self.name.clone(),
            policy: self.policy,
            capacity: self.capacity,
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            queued: len,
        }
    }

    fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops everything queued (nobody will read it), counting the drops.
    fn drain<T>(&self, rx: &crossbeam_channel::Receiver<T>) {
        while let Ok(item) = rx.try_recv() {
            drop(item);
            self.count_drop();
        }
    }
}

/// A snapshot of an edge's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeStats {
    /// The edge's name.
    pub name: Cow<'static, str>,
    /// Its overflow policy.
    pub policy: Policy,
    /// Items it can hold.
    pub capacity: usize,
    /// Items queued by senders (including ones dropped later by
    /// [`Policy::DropOldest`]/[`Policy::Latest`]).
    pub sent: u64,
    /// Items dropped: new ones refused by `DropNewest`, queued ones replaced
    /// by `DropOldest`/`Latest`, and queued ones discarded because every
    /// receiver went away.
    pub dropped: u64,
    /// Items taken out through [`EdgeReceiver`]'s own methods (not counted
    /// when receiving straight from [`EdgeReceiver::as_crossbeam`]).
    pub received: u64,
    /// Items queued when the snapshot was taken.
    pub queued: usize,
}

impl fmt::Display for EdgeStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "edge {} ({}, cap {}): sent {}, dropped {}, received {}, queued {}",
            self.name,
            self.policy,
            self.capacity,
            self.sent,
            self.dropped,
            self.received,
            self.queued
        )
    }
}
