//! Errors of stages, and why a stage stopped.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::cancel::Cause;
use crate::frame::FrameError;
use crate::pool::AcquireError;

/// An error of any type, boxed: what a stage failed with.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What a [`Source`](super::Source), [`Stage`](super::Stage) or
/// [`Sink`](super::Sink) can fail with.
///
/// Two variants are not failures but orderly stops
/// ([`StageError::is_stop`]): [`Cancelled`](StageError::Cancelled) and
/// [`OutputClosed`](StageError::OutputClosed); a runner that sees them ends
/// the stage without reporting an error.
///
/// A stage's own failure keeps its error, with its `source()` chain, so that
/// a `{:#}` or `anyhow` report of the pipeline shows the cause:
///
/// ```
/// use framekeep_core::pipeline::StageError;
///
/// let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such camera");
/// let err = StageError::from_error(io);
/// assert_eq!(err.to_string(), "no such camera");
/// assert!(matches!(err, StageError::Failed(_)));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The stage failed with this error (see [`StageError::from_error`],
    /// [`StageError::failed`]).
    #[error(transparent)]
    Failed(BoxError),
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
    /// A [`StageError::Failed`] with just a message.
    pub fn failed(message: impl Into<String>) -> StageError {
        StageError::Failed(message.into().into())
    }

    /// A [`StageError::Failed`] carrying `error` (and its `source()` chain).
    pub fn from_error(error: impl StdError + Send + Sync + 'static) -> StageError {
        StageError::Failed(Box::new(error))
    }

    /// A [`StageError::Failed`] from a failure already shared by a
    /// [`CloseReason::Failed`].
    pub(crate) fn shared(error: Arc<dyn StdError + Send + Sync + 'static>) -> StageError {
        StageError::Failed(Box::new(Shared(error)))
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

/// A shared failure seen as an error of its own, its chain intact.
#[derive(Debug)]
struct Shared(Arc<dyn StdError + Send + Sync + 'static>);

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for Shared {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// Why a source, stage or sink stopped; passed to the
/// [`with_on_close`](super::SourceOptions::with_on_close) callback and kept
/// in each [`RunSummary`](super::RunSummary).
///
/// Two reasons compare equal when they are the same variant and, for
/// [`Failed`](CloseReason::Failed), their errors display the same.
#[derive(Debug, Clone)]
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
    /// The stage returned an error (shared, so reasons stay cheap to clone;
    /// its `source()` chain is intact).
    Failed(Arc<dyn StdError + Send + Sync + 'static>),
    /// The stage panicked (the message of the panic is in the supervisor's
    /// report).
    Panicked,
}

impl CloseReason {
    /// The reason of an element that failed with `error`.
    pub(crate) fn failed(error: StageError) -> CloseReason {
        match error {
            StageError::Failed(inner) => CloseReason::Failed(Arc::from(inner)),
            other => CloseReason::Failed(Arc::new(other)),
        }
    }

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
            CloseReason::Failed(error) => {
                write!(f, "failed: {error}")?;
                let mut source = error.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            CloseReason::Panicked => f.write_str("panicked"),
        }
    }
}

impl PartialEq for CloseReason {
    fn eq(&self, other: &CloseReason) -> bool {
        match (self, other) {
            (CloseReason::Failed(a), CloseReason::Failed(b)) => a.to_string() == b.to_string(),
            (CloseReason::Cancelled(a), CloseReason::Cancelled(b)) => a == b,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for CloseReason {}
