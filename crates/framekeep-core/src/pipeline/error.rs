//! Errors of stages, and why a stage stopped.

use std::fmt;

use crate::cancel::Cause;
use crate::frame::FrameError;
use crate::pool::AcquireError;

/// What a [`Source`](super::Source), [`Stage`](super::Stage) or
/// [`Sink`](super::Sink) can fail with.
///
/// Two variants are not failures but orderly stops
/// ([`StageError::is_stop`]): [`Cancelled`](StageError::Cancelled) and
/// [`OutputClosed`](StageError::OutputClosed); a runner that sees them ends
/// the stage without reporting an error.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The stage failed; the message says why.
    #[error("{0}")]
    Failed(String),
    /// Getting a frame from a pool failed.
    #[error(transparent)]
    Acquire(#[from] AcquireError),
    /// A frame operation (view, layout) failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stage's token was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Every consumer of the stage's output is gone.
    #[error("output closed")]
    OutputClosed,
}

impl StageError {
    /// A [`StageError::Failed`] with `message`.
    pub fn failed(message: impl Into<String>) -> StageError {
        StageError::Failed(message.into())
    }

    /// True for orderly stops: cancelled (also a cancelled or closed pool
    /// acquire) or output closed. A runner ends the stage cleanly on these.
    pub fn is_stop(&self) -> bool {
        matches!(
            self,
            StageError::Cancelled
                | StageError::OutputClosed
                | StageError::Acquire(AcquireError::Cancelled)
                | StageError::Acquire(AcquireError::Closed)
        )
    }
}

/// Why a source, stage or sink stopped; passed to the
/// [`with_on_close`](super::SourceOptions::with_on_close) callback and kept
/// in each [`RunSummary`](super::RunSummary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The source said its stream ended, or the input edge closed (every
    /// upstream producer finished) and everything queued was consumed.
    EndOfStream,
    /// The token was cancelled (with its cause, if known).
    Cancelled(Option<Cause>),
    /// Every consumer of the output went away.
    OutputClosed,
    /// The pool the stage acquires from was closed.
    PoolClosed,
    /// The stage returned an error.
    Failed(String),
    /// The stage panicked (the message of the panic is in the supervisor's
    /// report).
    Panicked,
}

impl CloseReason {
    /// True unless the stage failed or panicked.
    pub fn is_clean(&self) -> bool {
        !matches!(self, CloseReason::Failed(_) | CloseReason::Panicked)
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::EndOfStream => f.write_str("end of stream"),
            CloseReason::Cancelled(Some(cause)) => write!(f, "cancelled ({cause})"),
            CloseReason::Cancelled(None) => f.write_str("cancelled"),
            CloseReason::OutputClosed => f.write_str("output closed"),
            CloseReason::PoolClosed => f.write_str("pool closed"),
            CloseReason::Failed(msg) => write!(f, "failed: {msg}"),
            CloseReason::Panicked => f.write_str("panicked"),
        }
    }
}
