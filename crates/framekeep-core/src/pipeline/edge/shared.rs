//! What both ends of an edge share: counters, the link, and whether every
//! receiver is gone.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::link::Link;

/// State shared by both ends of an edge.
pub(crate) struct Shared {
    pub(super) name: Cow<'static, str>,
    pub(super) link: Link,
    pub(super) sent: AtomicU64,
    pub(super) dropped: AtomicU64,
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
            dropped: self.dropped.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            queued: len,
        }
    }

    pub(super) fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops everything queued (nobody will read it), counting the drops.
    pub(super) fn drain<T>(&self, rx: &crossbeam_channel::Receiver<T>) {
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
    /// Its capacity and overflow rule (the capacity as effective).
    pub link: Link,
    /// Items queued by senders (including ones dropped later by
    /// [`Link::DropOldest`]/[`Link::Latest`]).
    pub sent: u64,
    /// Items dropped: new ones refused by `DropNewest`, queued ones replaced
    /// by `DropOldest`/`Latest`, and queued ones discarded because every
    /// receiver went away.
    pub dropped: u64,
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
            "edge {} ({}): sent {}, dropped {}, received {}, queued {}",
            self.name, self.link, self.sent, self.dropped, self.received, self.queued
        )
    }
}
