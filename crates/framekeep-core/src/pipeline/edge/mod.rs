//! Edges: the bounded channels between pipeline stages (see [`edge()`]).
//!
//! `link` describes an edge (capacity, what a full edge does); `shared`
//! holds the state both ends see (counters, the link, whether the receivers
//! are gone); `sender` applies the link's overflow rule; `receiver`
//! counts what is taken out and drains the edge when the last receiver goes.

mod error;
mod link;
#[cfg(all(test, loom))]
mod loom_models;
mod receiver;
mod sender;
mod shared;

use std::borrow::Cow;
use std::sync::Arc;

pub use error::{RecvError, SendError};
pub use link::Link;
pub(crate) use receiver::EdgeProbe;
pub use receiver::EdgeReceiver;
pub use sender::EdgeSender;
pub use shared::EdgeStats;
use shared::Shared;

use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

/// Creates an edge named `name` whose capacity and overflow rule are `link`
/// (see [`Link::capacity`]: 0 is raised to 1, `Latest` is always 1).
///
/// # Why not a bare `crossbeam_channel::bounded`
///
/// A camera delivers frames at its own pace whether or not the consumer keeps
/// up. With plain backpressure a slow display would stall capture and the
/// driver would drop frames where nobody can count them; with an unbounded
/// channel memory would grow until the pool runs dry. So each edge has a
/// [`Link`]: [`Block`](Link::Block) (backpressure),
/// [`DropNewest`](Link::DropNewest), [`DropOldest`](Link::DropOldest) or
/// [`Latest`](Link::Latest) (display). Drops are counted per edge
/// ([`EdgeStats`]) and the dropped item is dropped at once, so a pooled
/// [`Frame`](crate::frame::Frame) is back in its pool before `send` returns.
///
/// The edge is still a crossbeam channel underneath, so a consumer can wait on
/// its input and its [`CancelToken`](crate::cancel::CancelToken) in one
/// `crossbeam_channel::select!` via [`EdgeReceiver::as_crossbeam`], and a
/// blocked sender wakes on cancel ([`EdgeSender::send_cancellable`]).
///
/// # Closing
///
/// * Dropping the last [`EdgeSender`] closes the stream: receivers get the
///   queued items, then [`RecvError::Closed`]; blocked receivers wake at once.
/// * Dropping the last [`EdgeReceiver`] drops every queued item (counted as
///   dropped) and makes later sends fail with [`SendError::Closed`], handing
///   the item back; a sender blocked on a full edge wakes.
///
/// Sending and receiving allocate nothing (crossbeam's array flavour).
///
/// ```
/// use framekeep_core::pipeline::{edge, Link};
///
/// let (tx, rx) = edge::<u32>("demo", Link::drop_oldest(2));
/// for i in 0..5 {
///     tx.send(i).unwrap();
/// }
/// let stats = tx.stats();
/// assert_eq!((stats.sent, stats.dropped.policy), (5, 3)); // 0, 1, 2 made room
/// drop(tx);
/// assert_eq!(rx.recv(), Ok(3));
/// assert_eq!(rx.recv(), Ok(4));
/// assert!(rx.recv().is_err()); // closed
/// ```
pub fn edge<T: Send>(
    name: impl Into<Cow<'static, str>>,
    link: Link,
) -> (EdgeSender<T>, EdgeReceiver<T>) {
    let link = link.normalized();
    let (tx, rx) = crossbeam_channel::bounded(link.capacity());
    let shared = Arc::new(Shared {
        name: name.into(),
        link,
        sent: AtomicU64::new(0),
        dropped_policy: AtomicU64::new(0),
        dropped_shutdown: AtomicU64::new(0),
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
