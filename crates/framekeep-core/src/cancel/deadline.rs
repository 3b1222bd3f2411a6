//! One shared, lazily started timer thread for every deadline token.
//!
//! A thread per deadline would make `child_with_timeout` in a per-frame loop cost a thread
//! spawn; instead every deadline goes into one ordered map served by a single thread that
//! sleeps until the earliest deadline. The thread starts on the first deadline token and
//! then lives for the rest of the process (it is idle, blocked on a condvar, when there is
//! nothing to wait for). It is infrastructure, not a worker, so it is not registered in the
//! ledger.
//!
//! Entries hold only a `Weak` reference to their node: a deadline never keeps a token alive,
//! and a dropped token removes its entry (see `Node::drop`), so abandoned long timeouts do not
//! accumulate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::daemon::Daemon;

/// What the timer fires: a token's node, which cancels itself with
/// `Cause::DeadlineExceeded` (the timer knows nothing else of tokens).
pub(crate) trait Expire: Send + Sync {
    /// The deadline passed.
    fn expire(self: Arc<Self>);
}

/// A timer entry key: the deadline, then a unique sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    at: Instant,
    seq: u64,
}

impl TimerKey {
    pub(crate) fn new(at: Instant) -> TimerKey {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        TimerKey {
            at,
            seq: SEQ.fetch_add(1, Ordering::Relaxed),
        }
    }
}

struct Timer {
    state: Mutex<State>,
    cond: Condvar,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<TimerKey, Weak<dyn Expire>>,
}

/// The timer thread.
static TIMER_THREAD: Daemon = Daemon::new("framekeep-deadline");

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(|| Timer {
        state: Mutex::new(State::default()),
        cond: Condvar::new(),
    })
}

/// Schedules `node` to expire at `key.at`.
///
/// Fails only if the timer thread has to be started and the OS refuses to create it.
pub(crate) fn register(key: TimerKey, node: Weak<dyn Expire>) -> std::io::Result<()> {
    TIMER_THREAD.ensure(run)?;
    let timer = timer();
    let mut state = timer.state.lock();
    let new_earliest = state.entries.keys().next().is_none_or(|first| key < *first);
    state.entries.insert(key, node);
    drop(state);
    if new_earliest {
        timer.cond.notify_one();
    }
    Ok(())
}

/// Forgets an entry (its token was dropped). No-op if it already fired.
pub(crate) fn deregister(key: TimerKey) {
    let removed = timer().state.lock().entries.remove(&key);
    drop(removed);
}

/// Number of pending deadlines (for tests and diagnostics).
pub(crate) fn pending() -> usize {
    timer().state.lock().entries.len()
}

fn run() {
    let timer = timer();
    let mut state = timer.state.lock();
    loop {
        let Some(&first) = state.entries.keys().next() else {
            timer.cond.wait(&mut state);
            continue;
        };
        if first.at > Instant::now() {
            // Woken early by a new, earlier entry or by a timeout: re-examine either way.
            timer.cond.wait_until(&mut state, first.at);
            continue;
        }
        let weak = state.entries.remove(&first);
        fire(&mut state, weak);
    }
}

/// Cancels an expired node with the timer lock released (cancel runs callbacks, and a dropped
/// node deregisters itself, which takes the timer lock).
fn fire(state: &mut MutexGuard<'_, State>, weak: Option<Weak<dyn Expire>>) {
    MutexGuard::unlocked(state, || {
        if let Some(node) = weak.and_then(|w| w.upgrade()) {
            node.expire();
        }
    });
}
