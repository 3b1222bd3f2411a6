//! The cancellation tree: nodes, child registration, propagation and detaching.
//!
//! Design (after tokio-util's `CancellationToken` tree and Go's `context`):
//!
//! * Every token handle is an `Arc<Node>`. A child holds a strong reference to its parent, a
//!   parent holds only `Weak` references to its children (in a [`Slab`]). So a node lives as
//!   long as a handle, an `on_cancel` guard or a descendant needs it, and when the last of
//!   those goes away the node removes itself from its parent: long-lived parents do not
//!   accumulate dead children.
//! * A node that is cancelled directly also detaches from its parent at once (it no longer
//!   needs to hear about the parent's cancel).
//! * No code path ever holds two node locks at once: creating a child locks only the parent,
//!   cancelling locks one node at a time (iteratively, so deep trees cannot overflow the
//!   stack), detaching locks only the parent. Hence no lock-order deadlocks.
//! * The cancelled state (`done`) is set while the node's lock is held, and waiters check it
//!   under the same lock before sleeping on the node's condvar, so a wakeup cannot be lost.
//! * Cancelling is two-phase (mark top-down, then finish bottom-up), so a token observed
//!   cancelled implies its whole subtree is, and every `cancel` call returns only once the
//!   subtree is cancelled (see [`Node::cancel`]).
//! * Callbacks and values that may own other tokens are dropped or run only after the lock is
//!   released: a callback may freely use tokens (even this one).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::cause::Cause;
use super::deadline::{self, Expire, TimerKey};
use super::slab::Slab;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Condvar, Mutex};

/// A callback registered with `on_cancel`.
pub(crate) type Callback = Box<dyn FnOnce(&Cause) + Send + 'static>;

/// One token in the tree (shared by every clone of a `CancelToken`).
pub(crate) struct Node {
    /// Mirrors `inner.done`, for the lock-free `is_cancelled`.
    cancelled: AtomicBool,
    inner: Mutex<Inner>,
    /// Signalled (notify_all) when the node is cancelled.
    cond: Condvar,
    /// Strong link to the parent: keeps the chain alive while this node lives.
    parent: Option<Arc<Node>>,
    /// Our key in the parent's `children` slab (meaningless without a parent or when the node
    /// was born cancelled; removal checks identity anyway).
    slot: usize,
    /// The effective deadline: the earliest deadline of this node and its ancestors.
    deadline: Option<Instant>,
    /// Our own registration with the deadline timer, removed when the node is dropped.
    timer_key: Option<TimerKey>,
}

#[derive(Default)]
struct Inner {
    /// Set in the mark phase of the first cancel.
    cause: Option<Cause>,
    /// Set in the finish phase: the node and its whole subtree are cancelled.
    done: bool,
    children: Slab<Weak<Node>>,
    callbacks: Slab<Callback>,
    /// Created lazily by `receiver()`; the sender is dropped on finish, which disconnects
    /// (= makes ready) every receiver.
    channel: Option<(Sender<()>, Receiver<()>)>,
}

impl Node {
    /// A new root node.
    pub(crate) fn root() -> Arc<Node> {
        Arc::new(Node {
            cancelled: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
            cond: Condvar::new(),
            parent: None,
            slot: 0,
            deadline: None,
            timer_key: None,
        })
    }

    /// A new child of `parent`, with an optional own deadline.
    ///
    /// If the parent is already cancelled the child is born cancelled with the parent's cause.
    /// If the own deadline has already passed the child is cancelled with `DeadlineExceeded`.
    pub(crate) fn child(parent: &Arc<Node>, own_deadline: Option<Instant>) -> Arc<Node> {
        let effective = match (parent.deadline, own_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Only register a timer when our deadline is strictly earlier than every ancestor's:
        // otherwise an ancestor's timer fires first and propagates DeadlineExceeded to us.
        let needs_timer = match (own_deadline, parent.deadline) {
            (Some(own), Some(inherited)) => own < inherited,
            (Some(_), None) => true,
            _ => false,
        };
        let now = Instant::now();
        let already_expired = own_deadline.is_some_and(|d| d <= now);
        let timer_key = (needs_timer && !already_expired)
            .then(|| own_deadline.map(TimerKey::new))
            .flatten();

        let mut guard = parent.inner.lock();
        let born_cancelled = guard.cause.clone();
        let slot = guard.children.next_key();
        let node = Arc::new(Node {
            cancelled: AtomicBool::new(born_cancelled.is_some()),
            inner: Mutex::new(Inner {
                done: born_cancelled.is_some(),
                cause: born_cancelled.clone(),
                ..Inner::default()
            }),
            cond: Condvar::new(),
            parent: Some(Arc::clone(parent)),
            slot,
            deadline: effective,
            timer_key: if born_cancelled.is_some() {
                None
            } else {
                timer_key
            },
        });
        if born_cancelled.is_none() {
            let key = guard.children.insert(Arc::downgrade(&node));
            debug_assert_eq!(key, slot);
        }
        drop(guard);

        if born_cancelled.is_none() {
            if already_expired && needs_timer {
                node.cancel(Cause::DeadlineExceeded);
            } else if let Some(key) = node.timer_key {
                if let Err(err) = deadline::register(key, Arc::downgrade(&node) as Weak<dyn Expire>)
                {
                    // Fail safe: a premature timeout is better than a deadline that never fires.
                    tracing::error!(
                        error = %err,
                        "cannot start the deadline timer thread; cancelling the token now"
                    );
                    node.cancel(Cause::DeadlineExceeded);
                }
            }
        }
        node
    }

    /// Lock-free check.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    pub(crate) fn cause(&self) -> Option<Cause> {
        if !self.is_cancelled() {
            return None;
        }
        self.inner.lock().cause.clone()
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Number of live, registered children (for tests and diagnostics).
    pub(crate) fn child_count(&self) -> usize {
        self.inner.lock().children.len()
    }

    /// Cancels this node and its whole subtree with `cause`. First cancel wins.
    ///
    /// Two phases. *Mark* (top-down): each node gets its cause and gives up its children and
    /// callbacks, one lock at a time. *Finish* (bottom-up, reverse marking order): each node
    /// becomes visibly cancelled (`is_cancelled`, waiters, receivers). So when any token is
    /// seen cancelled, its whole subtree already is; and every `cancel` call, even one that
    /// lost the race, returns only once the subtree is cancelled.
    pub(crate) fn cancel(self: &Arc<Node>, cause: Cause) {
        let mut callbacks: Vec<Callback> = Vec::new();
        let mut marked: Vec<Arc<Node>> = Vec::new();
        let mut others: Vec<Arc<Node>> = Vec::new();
        let mut stack: Vec<Arc<Node>> = vec![Arc::clone(self)];
        while let Some(node) = stack.pop() {
            if node.mark(&cause, &mut stack, &mut callbacks) {
                marked.push(node);
            } else {
                others.push(node);
            }
        }
        drop(stack);
        if marked.is_empty() {
            // Someone else is cancelling (or has cancelled) this node: wait until they finish.
            self.wait_done();
            return;
        }
        self.detach_from_parent(Arc::as_ptr(self));
        // Subtrees already being cancelled by other threads must finish before our ancestors
        // of them do. Those subtrees are disjoint from ours, so this cannot deadlock.
        for node in &others {
            node.wait_done();
        }
        drop(others);
        for node in marked.iter().rev() {
            node.finish();
        }
        drop(marked);
        // Every node of the subtree is now cancelled: run the callbacks outside any lock.
        for callback in callbacks {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| callback(&cause))) {
                tracing::error!(
                    panic = %crate::panic::message(panic.as_ref()),
                    "an on_cancel callback panicked; the panic was contained"
                );
            }
        }
    }

    /// Mark phase for one node: sets the cause, pushes its live children, collects its
    /// callbacks. Returns false if it was already marked (by this or another cancel).
    fn mark(
        &self,
        cause: &Cause,
        stack: &mut Vec<Arc<Node>>,
        callbacks: &mut Vec<Callback>,
    ) -> bool {
        let mut guard = self.inner.lock();
        if guard.cause.is_some() {
            return false;
        }
        guard.cause = Some(cause.clone());
        let mut children = std::mem::take(&mut guard.children);
        let mut own_callbacks = std::mem::take(&mut guard.callbacks);
        drop(guard);
        stack.extend(children.drain().filter_map(|weak| weak.upgrade()));
        callbacks.extend(own_callbacks.drain());
        true
    }

    /// Finish phase for one node: visible cancellation, wakeups, receivers disconnected.
    fn finish(&self) {
        let mut guard = self.inner.lock();
        guard.done = true;
        self.cancelled.store(true, Ordering::Release);
        let channel = guard.channel.take();
        drop(guard);
        // Waiters check `done` under the lock before sleeping, so they are in the wait queue
        // by now: notifying after unlocking cannot lose them.
        self.cond.notify_all();
        drop(channel); // disconnects every receiver
    }

    /// Blocks until a cancel of this node has finished (the node is known to be marked).
    fn wait_done(&self) {
        self.wait();
    }

    /// Removes this node from its parent's children, if it is still registered there.
    ///
    /// `me` is this node's address inside its `Arc` (the node may have been moved out of it
    /// by `Arc::try_unwrap` while releasing a chain).
    fn detach_from_parent(&self, me: *const Node) {
        let Some(parent) = &self.parent else { return };
        let mut guard = parent.inner.lock();
        let ours = guard
            .children
            .get(self.slot)
            .is_some_and(|weak| std::ptr::eq(weak.as_ptr(), me));
        if ours {
            let removed = guard.children.remove(self.slot);
            drop(guard);
            drop(removed);
        }
    }

    /// Blocks until cancelled.
    pub(crate) fn wait(&self) {
        if self.is_cancelled() {
            return;
        }
        let mut guard = self.inner.lock();
        while !guard.done {
            self.cond.wait(&mut guard);
        }
    }

    /// Blocks until cancelled or `deadline`; true if cancelled.
    pub(crate) fn wait_until(&self, deadline: Instant) -> bool {
        if self.is_cancelled() {
            return true;
        }
        let mut guard = self.inner.lock();
        while !guard.done {
            if self.cond.wait_until(&mut guard, deadline).timed_out() {
                return guard.done;
            }
        }
        true
    }

    /// A receiver that is disconnected once this node is cancelled.
    pub(crate) fn receiver(&self) -> Receiver<()> {
        let mut guard = self.inner.lock();
        if guard.done {
            return disconnected_receiver();
        }
        let (_, receiver) = guard.channel.get_or_insert_with(never_sent);
        receiver.clone()
    }

    /// Registers a callback; runs it at once (returning `None`) if already cancelled.
    pub(crate) fn register_callback(&self, callback: Callback) -> Option<usize> {
        let mut guard = self.inner.lock();
        match guard.cause.clone() {
            Some(cause) => {
                drop(guard);
                self.wait_done();
                callback(&cause);
                None
            }
            None => Some(guard.callbacks.insert(callback)),
        }
    }

    /// Deregisters a callback; true if it had not run yet.
    pub(crate) fn deregister_callback(&self, key: usize) -> bool {
        let removed = self.inner.lock().callbacks.remove(key);
        let found = removed.is_some();
        drop(removed); // outside the lock: the closure may own tokens
        found
    }
}

impl Expire for Node {
    fn expire(self: Arc<Self>) {
        self.cancel(Cause::DeadlineExceeded);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(key) = self.timer_key {
            deadline::deregister(key);
        }
        self.detach_from_parent(self);
        // Release the ancestor chain iteratively: dropping the last handle of a leaf of a
        // very deep chain must not recurse once per ancestor and overflow the stack.
        let mut next = self.parent.take();
        while let Some(parent) = next {
            let me = Arc::as_ptr(&parent);
            match Arc::try_unwrap(parent) {
                Ok(mut node) => {
                    if let Some(key) = node.timer_key.take() {
                        deadline::deregister(key);
                    }
                    node.detach_from_parent(me);
                    next = node.parent.take();
                    // `node` drops here with no parent and no timer key: no recursion.
                }
                Err(_still_shared) => break,
            }
        }
    }
}

/// A receiver whose channel is already disconnected (shared, so it costs nothing).
fn disconnected_receiver() -> Receiver<()> {
    static DISCONNECTED: OnceLock<Receiver<()>> = OnceLock::new();
    DISCONNECTED.get_or_init(|| never_sent().1).clone()
}

/// The channel behind a token's receiver: nothing is ever sent on it, only its sender
/// dropped. Capacity 1, not 0: a blocking `select!` registers with a zero-capacity
/// channel by boxing a packet, one heap allocation per wait; an array channel
/// registers into a waker list that keeps its capacity, so a worker selecting on its
/// input and its token allocates nothing in steady state.
fn never_sent() -> (Sender<()>, Receiver<()>) {
    crossbeam_channel::bounded(1)
}
