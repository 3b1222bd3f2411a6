//! Outcomes and errors of edge operations.

use std::fmt;

/// What a successful [`EdgeSender::send`](super::EdgeSender::send) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sent {
    /// The item was queued; nothing was dropped.
    Queued,
    /// The item was queued and the oldest queued item was dropped to make
    /// room ([`Link::DropOldest`](super::Link::DropOldest),
    /// [`Link::Latest`](super::Link::Latest)).
    Replaced,
    /// The item itself was dropped: the edge was full under
    /// [`Link::DropNewest`](super::Link::DropNewest), or the last
    /// receiver went away while it was being queued.
    Dropped,
}

/// Why a send failed. The item is handed back, never lost silently: the
/// caller decides whether to drop it (returning a frame to its pool).
#[derive(PartialEq, Eq)]
pub enum SendError<T> {
    /// Every receiver is gone.
    Closed(T),
    /// The sender's cancel token fired while it waited for room.
    Cancelled(T),
}

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(item) | SendError::Cancelled(item) => item,
        }
    }

    /// True for [`SendError::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        matches!(self, SendError::Cancelled(_))
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Cancelled(_) => f.write_str("Cancelled(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("sending on an edge whose receivers are gone"),
            SendError::Cancelled(_) => f.write_str("send cancelled"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why a receive returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RecvError {
    /// Every sender is gone and the edge is empty: the stream ended.
    #[error("edge closed: every sender is gone")]
    Closed,
    /// The receiver's cancel token fired while it waited.
    #[error("receive cancelled")]
    Cancelled,
    /// The timeout passed with the edge still empty.
    #[error("receive timed out")]
    Timeout,
}
