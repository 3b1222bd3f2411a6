//! What an edge does when its buffer is full.

use std::fmt;

/// The overflow policy of an [`edge`](super::edge): what a send does when
/// the edge already holds `capacity` items.
///
/// Every policy except [`Policy::Block`] keeps the producer running at its
/// own pace and *drops* frames instead; a dropped frame is dropped on the
/// spot, so a pooled buffer goes back to its pool at once, and the edge
/// counts it ([`EdgeStats::dropped`](super::EdgeStats::dropped)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Backpressure: the sender waits for room (or for its cancel token).
    /// Nothing is ever dropped. The default.
    #[default]
    Block,
    /// The new item is dropped when the edge is full; the queued ones stay.
    /// Keeps the oldest, e.g. for recording where gaps at the end are fine.
    DropNewest,
    /// The oldest queued item is dropped to make room for the new one.
    /// Keeps the consumer close to real time.
    DropOldest,
    /// Keep only the newest item: a one-slot edge whose send replaces what
    /// is there (the capacity given to [`edge`](super::edge) is ignored).
    /// For display, which only ever wants the latest frame.
    Latest,
}

impl Policy {
    /// Every policy, for tests and listings.
    pub const ALL: [Policy; 4] = [
        Policy::Block,
        Policy::DropNewest,
        Policy::DropOldest,
        Policy::Latest,
    ];

    /// Whether a send under this policy may drop an item instead of waiting.
    pub const fn drops(self) -> bool {
        !matches!(self, Policy::Block)
    }

    /// The capacity an edge with this policy really gets for a requested
    /// `capacity`: at least 1 (a rendezvous edge could not drop the oldest),
    /// exactly 1 for [`Policy::Latest`].
    pub const fn effective_capacity(self, capacity: usize) -> usize {
        match self {
            Policy::Latest => 1,
            _ if capacity == 0 => 1,
            _ => capacity,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Block => "block",
            Policy::DropNewest => "drop-newest",
            Policy::DropOldest => "drop-oldest",
            Policy::Latest => "latest",
        })
    }
}
