//! Why a token was cancelled.
//!
//! A bare "cancelled" flag is not enough to shut a pipeline down well: a stage that sees its
//! token fire must know whether to drain (orderly shutdown), give up on a slow operation
//! (deadline), or report that a sibling failed (error). The cause is set by the first cancel
//! and never changes afterwards; descendants inherit their ancestor's cause.

use std::fmt;

/// The reason a [`CancelToken`](super::CancelToken) was cancelled.
///
/// The first cancel wins: later `cancel_with` calls on an already cancelled token do not change
/// its cause. A token cancelled because an ancestor was cancelled carries that ancestor's cause.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cause {
    /// An orderly shutdown was requested ([`CancelToken::cancel`](super::CancelToken::cancel)).
    Shutdown,
    /// The deadline of a token created by `child_with_timeout` or `child_with_deadline` passed.
    DeadlineExceeded,
    /// The user interrupted the process (Ctrl-C / SIGINT / SIGTERM, see
    /// [`install_ctrlc`](super::install_ctrlc)).
    Interrupted,
    /// A component failed; `source` names it (e.g. the worker or stage), `message` says why.
    Error {
        /// The name of the failing component (a worker name, a stage name, ...).
        source: String,
        /// A human-readable description of the failure.
        message: String,
    },
    /// A source or channel was closed, so there is nothing left to do.
    Closed,
}

impl Cause {
    /// Builds a [`Cause::Error`] naming the failing component.
    pub fn error(source: impl Into<String>, message: impl Into<String>) -> Cause {
        Cause::Error {
            source: source.into(),
            message: message.into(),
        }
    }

    /// True for [`Cause::Error`].
    pub fn is_error(&self) -> bool {
        matches!(self, Cause::Error { .. })
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Shutdown => f.write_str("shutdown requested"),
            Cause::DeadlineExceeded => f.write_str("deadline exceeded"),
            Cause::Interrupted => f.write_str("interrupted"),
            Cause::Error { source, message } => write!(f, "error in {source}: {message}"),
            Cause::Closed => f.write_str("closed"),
        }
    }
}

/// A cause is also usable as an error value, e.g. `Err(token.cause().unwrap())` from an
/// operation that gave up because its token was cancelled.
impl std::error::Error for Cause {}
