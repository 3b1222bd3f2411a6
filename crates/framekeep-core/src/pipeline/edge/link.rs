//! What an edge does when it is full, and how much it holds: [`Link`].

use std::fmt;

/// How two neighbours are connected: an edge's capacity and what a send does
/// when the edge already holds that many items. The one description of an
/// edge, for [`edge()`](super::edge) and for every link of a
/// [`PipelineBuilder`](crate::pipeline::PipelineBuilder).
///
/// Every link except [`Link::Block`] keeps the producer running at its own
/// pace and *drops* frames instead; a dropped frame is dropped on the spot,
/// so a pooled buffer goes back to its pool at once, and the edge counts it
/// ([`EdgeStats::dropped`](super::EdgeStats::dropped)).
///
/// A capacity of 0 is raised to 1 (a rendezvous edge could not drop the
/// oldest item); [`Link::capacity`] is what an edge really holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// Backpressure: the sender waits for room (or for its cancel token).
    /// Nothing is ever dropped.
    Block(usize),
    /// The new item is dropped when the edge is full; the queued ones stay.
    /// Keeps the oldest, e.g. for recording where gaps at the end are fine.
    DropNewest(usize),
    /// The oldest queued item is dropped to make room for the new one.
    /// Keeps the consumer close to real time.
    DropOldest(usize),
    /// Keep only the newest item: a one-slot edge whose send replaces what
    /// is there. For display, which only ever wants the latest frame.
    Latest,
}

impl Link {
    /// Backpressure with room for `capacity` items.
    pub const fn block(capacity: usize) -> Link {
        Link::Block(capacity)
    }

    /// Drops new items when `capacity` are queued.
    pub const fn drop_newest(capacity: usize) -> Link {
        Link::DropNewest(capacity)
    }

    /// Drops the oldest queued item to make room, holding `capacity`.
    pub const fn drop_oldest(capacity: usize) -> Link {
        Link::DropOldest(capacity)
    }

    /// One slot, newest wins.
    pub const fn latest() -> Link {
        Link::Latest
    }

    /// Each kind of link with room for `capacity` items (`Latest` has one
    /// slot whatever `capacity` is): for tests and listings.
    pub const fn all(capacity: usize) -> [Link; 4] {
        [
            Link::Block(capacity),
            Link::DropNewest(capacity),
            Link::DropOldest(capacity),
            Link::Latest,
        ]
    }

    /// Items an edge with this link holds: at least 1, exactly 1 for
    /// [`Link::Latest`].
    pub const fn capacity(self) -> usize {
        match self {
            Link::Latest => 1,
            Link::Block(n) | Link::DropNewest(n) | Link::DropOldest(n) => {
                if n == 0 {
                    1
                } else {
                    n
                }
            }
        }
    }

    /// Whether a send may drop an item instead of waiting.
    pub const fn drops(self) -> bool {
        !matches!(self, Link::Block(_))
    }

    /// The same link with its capacity made effective (see [`Link::capacity`]).
    pub(crate) const fn normalized(self) -> Link {
        match self {
            Link::Block(_) => Link::Block(self.capacity()),
            Link::DropNewest(_) => Link::DropNewest(self.capacity()),
            Link::DropOldest(_) => Link::DropOldest(self.capacity()),
            Link::Latest => Link::Latest,
        }
    }
}

impl Default for Link {
    /// Backpressure, 2 frames: enough to overlap two stages without adding
    /// more than a frame of latency.
    fn default() -> Self {
        Link::Block(2)
    }
}

/// `block(2)`, `drop-newest(4)`, `drop-oldest(3)`, `latest`.
impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Block(n) => write!(f, "block({n})"),
            Link::DropNewest(n) => write!(f, "drop-newest({n})"),
            Link::DropOldest(n) => write!(f, "drop-oldest({n})"),
            Link::Latest => f.write_str("latest"),
        }
    }
}
