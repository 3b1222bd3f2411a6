//! [`CancelToken`], the handle every thread holds, and its two guards:
//! [`OnCancel`] (a registered callback) and [`CancelOnDrop`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cause::Cause;
use super::deadline;
use super::tree::Node;

/// A cancellation signal shared by threads, arranged in a tree.
///
/// Cheap to clone (an `Arc`); every clone is the same token. `Send + Sync`. See the
/// [module docs](super) for the model.
///
/// ```
/// use std::time::Duration;
/// use framekeep_core::cancel::{CancelToken, Cause};
///
/// let root = CancelToken::new();
/// let worker = root.child();
/// let handle = std::thread::spawn({
///     let token = worker.clone();
///     move || {
///         let mut ticks = 0;
///         while !token.wait_timeout(Duration::from_millis(1)) {
///             ticks += 1; // one unit of work per tick, until cancelled
///         }
///         (ticks, token.cause())
///     }
/// });
/// root.cancel_with(Cause::Interrupted); // reaches every descendant
/// let (_ticks, cause) = handle.join().unwrap();
/// assert_eq!(cause, Some(Cause::Interrupted));
/// assert!(worker.is_cancelled());
/// ```
#[derive(Clone)]
pub struct CancelToken {
    node: Arc<Node>,
}

impl CancelToken {
    /// A new root token, not cancelled, without a deadline.
    pub fn new() -> Self {
        CancelToken { node: Node::root() }
    }

    /// A child token: cancelled when `self` (or any ancestor) is cancelled, with the same
    /// cause; cancelling the child does not affect `self`. Born cancelled if `self` already is.
    pub fn child(&self) -> Self {
        CancelToken {
            node: Node::child(&self.node, None),
        }
    }

    /// A child that also cancels itself with [`Cause::DeadlineExceeded`] after `timeout`.
    ///
    /// A timeout too large to represent as an `Instant` means "no deadline".
    pub fn child_with_timeout(&self, timeout: Duration) -> Self {
        match Instant::now().checked_add(timeout) {
            Some(at) => self.child_with_deadline(at),
            None => self.child(),
        }
    }

    /// A child that also cancels itself with [`Cause::DeadlineExceeded`] at `deadline`
    /// (immediately if it has passed). If an ancestor has an earlier deadline, that one applies.
    pub fn child_with_deadline(&self, deadline: Instant) -> Self {
        CancelToken {
            node: Node::child(&self.node, Some(deadline)),
        }
    }

    /// Cancels this token and all its descendants with [`Cause::Shutdown`].
    pub fn cancel(&self) {
        self.cancel_with(Cause::Shutdown);
    }

    /// Cancels this token and all its descendants with `cause`. If the token is already
    /// cancelled this does nothing (the first cause wins).
    ///
    /// Returns only once this token and every descendant are cancelled, even when another
    /// thread's cancel won the race. `on_cancel` callbacks of the whole subtree then run on
    /// the calling thread (the winner's).
    pub fn cancel_with(&self, cause: Cause) {
        self.node.cancel(cause);
    }

    /// True once cancelled. A single atomic load: cheap enough for per-pixel-row checks.
    ///
    /// When it returns true, every descendant of this token is cancelled as well.
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// Why the token was cancelled, or `None` if it is not.
    pub fn cause(&self) -> Option<Cause> {
        self.node.cause()
    }

    /// The effective deadline: the earliest deadline of this token and its ancestors.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline()
    }

    /// Blocks the calling thread until the token is cancelled.
    ///
    /// Prefer [`wait_timeout`](Self::wait_timeout) unless something guarantees a cancel.
    pub fn wait(&self) {
        self.node.wait();
    }

    /// Blocks until the token is cancelled or `timeout` elapses; true if cancelled.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.node.wait_until(deadline),
            None => {
                self.node.wait();
                true
            }
        }
    }

    /// Blocks until the token is cancelled or `deadline` passes; true if cancelled.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.node.wait_until(deadline)
    }

    /// A channel receiver that becomes ready (disconnected: `recv` returns `Err`) when this
    /// token is cancelled, for `crossbeam_channel::select!` together with a worker's input:
    ///
    /// ```
    /// use crossbeam_channel::{select, unbounded};
    /// use framekeep_core::cancel::CancelToken;
    ///
    /// let token = CancelToken::new();
    /// let (_tx, input) = unbounded::<u32>();
    /// let cancelled = token.receiver();
    /// token.cancel();
    /// select! {
    ///     recv(input) -> _msg => unreachable!(),
    ///     recv(cancelled) -> _ => { /* stop */ }
    /// }
    /// ```
    ///
    /// Nothing is ever sent on it. Keep a handle of the token (or a clone) alive while you
    /// select: if every handle of an uncancelled token is dropped, nobody can cancel it any
    /// more and the receiver becomes ready as well (failing safe: a spurious wakeup, never a
    /// hang). Check [`is_cancelled`](Self::is_cancelled) after waking if that matters.
    ///
    /// Every call returns a handle on the same channel (a reference-count increment), and
    /// a `select!` that blocks on it allocates nothing once warm, so a worker can call
    /// this in its loop.
    pub fn receiver(&self) -> crossbeam_channel::Receiver<()> {
        self.node.receiver()
    }

    /// Runs `callback` once, with the cause, when the token is cancelled (Go's `AfterFunc`);
    /// immediately on this thread if it already is.
    ///
    /// The returned guard deregisters the callback when dropped (if it has not run yet); the
    /// guard also keeps the token attached to its parent. A callback runs on the thread that
    /// cancels (possibly the deadline timer thread), so keep it short and non-blocking. A
    /// panicking callback is contained and logged.
    pub fn on_cancel(&self, callback: impl FnOnce(&Cause) + Send + 'static) -> OnCancel {
        let key = self.node.register_callback(Box::new(callback));
        OnCancel {
            registration: key.map(|key| (Arc::clone(&self.node), key)),
        }
    }

    /// A guard that cancels this token (with [`Cause::Shutdown`]) when dropped, unless
    /// [disarmed](CancelOnDrop::disarm). Handy to make a scope's exit (including a panic)
    /// stop everything the scope started.
    pub fn drop_guard(self) -> CancelOnDrop {
        CancelOnDrop { token: Some(self) }
    }

    /// True if both handles are the same token.
    pub fn same_as(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }

    /// Number of live children registered under this token (cancelled children and dropped
    /// children are detached). For diagnostics and tests.
    pub fn child_count(&self) -> usize {
        self.node.child_count()
    }

    /// Number of deadlines currently pending in the process-wide timer. For diagnostics.
    pub fn pending_deadlines() -> usize {
        deadline::pending()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .field("cause", &self.cause())
            .field("deadline", &self.deadline())
            .finish()
    }
}

/// Guard returned by [`CancelToken::on_cancel`]: dropping it deregisters the callback.
///
/// Dropping does not wait for a callback that is already running on another thread.
#[must_use = "dropping the guard deregisters the callback at once"]
pub struct OnCancel {
    registration: Option<(Arc<Node>, usize)>,
}

impl OnCancel {
    /// Deregisters the callback now; true if it had not run yet (it never will).
    pub fn stop(mut self) -> bool {
        self.deregister()
    }

    /// Keeps the callback registered for the token's whole life, without a guard.
    pub fn forget(mut self) {
        self.registration = None;
    }

    fn deregister(&mut self) -> bool {
        match self.registration.take() {
            Some((node, key)) => node.deregister_callback(key),
            None => false,
        }
    }
}

impl Drop for OnCancel {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for OnCancel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnCancel")
            .field("registered", &self.registration.is_some())
            .finish()
    }
}

/// Guard returned by [`CancelToken::drop_guard`]: cancels the token when dropped.
#[must_use = "dropping the guard cancels the token at once"]
#[derive(Debug)]
pub struct CancelOnDrop {
    token: Option<CancelToken>,
}

impl CancelOnDrop {
    /// The guarded token.
    pub fn token(&self) -> Option<&CancelToken> {
        self.token.as_ref()
    }

    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancelToken {
        self.token.take().unwrap_or_default()
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            token.cancel();
        }
    }
}
