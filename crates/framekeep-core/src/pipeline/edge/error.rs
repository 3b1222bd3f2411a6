//! Errors of edge operations.

use std::fmt;

/// Why a send failed. The item is handed back, never lost silently: the
/// caller decides whether to drop it (returning a frame to its pool). A send
/// that succeeds handed its item to the edge, which may still drop it under
/// its [`Link`](super::Link) (counted in [`EdgeStats`](super::EdgeStats)).
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
