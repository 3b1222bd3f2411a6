//! What both ends of an edge share: counters, the link, and whether every
//! receiver is gone.

use std::borrow::Cow;
use std::fmt;

use super::link::Link;
use crate::pipeline::drops::Drops;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::opaque_op;

/// State shared by both ends of an edge.
pub(crate) struct Shared {
    pub(super) name: Cow<'static, str>,
    pub(super) link: Link,
    pub(super) sent: AtomicU64,
    /// Dropped by the link's overflow rule.
    pub(super) dropped_policy: AtomicU64,
    /// Dropped because every receiver had gone.
    pub(super) dropped_shutdown: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) senders: AtomicUsize,
    pub(super) receivers: AtomicUsize,
    /// Set when the last receiver dropped: nobody will read any more.
    pub(super) rx_closed: AtomicBool,
}

impl Shared {
    pub(super) fn stats(&self, len: usize) -> EdgeStats {
        EdgeStats {
            name: self.name.clone(),
            link: self.link,
            sent: self.sent.load(Ordering::Relaxed),
            dropped: Drops {
                policy: self.dropped_policy.load(Ordering::Relaxed),
                shutdown: self.dropped_shutdown.load(Ordering::Relaxed),
                ..Drops::default()
            },
            received: self.received.load(Ordering::Relaxed),
            queued: len,
        }
    }

    /// Counts an item the link's overflow rule dropped.
    pub(super) fn count_policy_drop(&self) {
        self.dropped_policy.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops everything queued (nobody will read it), counting the drops.
    pub(super) fn drain<T>(&self, rx: &crossbeam_channel::Receiver<T>) {
        while let Ok(item) = {
            opaque_op();
            rx.try_recv()
        } {
            drop(item);
            self.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A snapshot of an edge's counters.
///
/// `sent = received + dropped.total() + queued` (at rest; a snapshot taken
/// while items move may be a step behind on one side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeStats {
    /// The edge's name.
    pub name: Cow<'static, str>,
    /// Its capacity and overflow rule (the capacity as effective).
    pub link: Link,
    /// Items handed to the edge by successful sends: queued, or refused at
    /// once by `DropNewest` (then counted as a policy drop too). A send that
    /// fails (the receivers are gone, the sender was cancelled) hands nothing
    /// over: the item comes back in the error.
    pub sent: u64,
    /// Items the edge dropped: by its link's overflow rule (`policy`: new
    /// ones refused by `DropNewest`, queued ones replaced by
    /// `DropOldest`/`Latest`), or because every receiver went away
    /// (`shutdown`: what was queued then, or queued later).
    pub dropped: Drops,
    /// Items taken out through [`EdgeReceiver`](super::EdgeReceiver)'s own
    /// methods (not counted when receiving straight from
    /// [`EdgeReceiver::as_crossbeam`](super::EdgeReceiver::as_crossbeam)).
    pub received: u64,
    /// Items queued when the snapshot was taken.
    pub queued: usize,
}

impl fmt::Display for EdgeStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "edge {} ({}): sent {}, received {}, dropped {}, queued {}",
            self.name, self.link, self.sent, self.received, self.dropped, self.queued
        )
    }
}
