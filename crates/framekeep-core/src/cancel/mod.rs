//! Context-style cancellation for threads: [`CancelToken`].
//!
//! # Why
//!
//! A camera pipeline is a set of blocking threads (capture, processing, display). Stopping it
//! cleanly needs one signal that reaches every thread wherever it is blocked, says *why* it
//! fired, and can be scoped: a stage's token is a child of the pipeline's, which is a child of
//! the process root, so cancelling the root stops everything while cancelling one stage stops
//! only that stage. This is Go's `context` and tokio-util's `CancellationToken`, for OS
//! threads:
//!
//! * **Tree**: [`CancelToken::child`] tokens are cancelled with their parent, never the
//!   reverse. A dropped child detaches itself, so long-lived parents never accumulate dead
//!   children (see `tree.rs`).
//! * **Deadlines**: [`CancelToken::child_with_timeout`] / [`child_with_deadline`] cancel with
//!   [`Cause::DeadlineExceeded`], served by one shared timer thread (see `deadline.rs`).
//! * **Cause**: the first cancel wins; descendants see their ancestor's cause.
//! * **Consistency**: a token seen cancelled implies its whole subtree is; `cancel` returns
//!   only once the subtree is cancelled, even for the thread that lost a cancel race.
//! * **Waiting**: [`is_cancelled`](CancelToken::is_cancelled) is a single atomic load for hot
//!   loops; [`wait`](CancelToken::wait) / [`wait_timeout`](CancelToken::wait_timeout) block;
//!   [`receiver`](CancelToken::receiver) plugs into `crossbeam_channel::select!` next to a
//!   worker's input channel.
//! * **Callbacks**: [`on_cancel`](CancelToken::on_cancel) runs a closure once on cancel (Go's
//!   `AfterFunc`), deregistered when its guard drops, e.g. to close a device fd that a
//!   blocking call is waiting on.
//! * **Ctrl-C**: [`install_ctrlc`] cancels a root with [`Cause::Interrupted`]; a second
//!   Ctrl-C exits with status 130.
//!
//! ```
//! use std::time::Duration;
//! use framekeep_core::cancel::{CancelToken, Cause};
//!
//! let root = CancelToken::new();
//! let stage = root.child();
//! let op = stage.child_with_timeout(Duration::from_secs(10));
//! root.cancel();
//! assert!(op.wait_timeout(Duration::from_secs(1)));
//! assert_eq!(op.cause(), Some(Cause::Shutdown));
//! ```
//!
//! [`child_with_deadline`]: CancelToken::child_with_deadline

mod cause;
mod ctrlc;
mod deadline;
#[cfg(all(test, loom))]
mod loom_models;
mod slab;
mod token;
mod tree;

pub use cause::Cause;
pub use ctrlc::{install_ctrlc, CtrlcError};
pub use token::{CancelOnDrop, CancelToken, OnCancel};
