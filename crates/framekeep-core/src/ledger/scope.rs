//! Test scopes: which test (or job) a resource belongs to.
//!
//! Tests of a workspace run in parallel threads of one process and share the process-wide
//! ledger, so "everything alive at the end of the test" would mix up the resources of
//! unrelated tests. Instead every registration records the *scope* of the registering
//! thread: a number held in a thread-local, set by [`enter_scope`] (and by
//! [`LeakCheck::new`](super::LeakCheck::new), which opens a fresh one). A leak check then
//! looks only at entries carrying its own scope.
//!
//! A thread-local is the cheapest thing to read on the registration path (no shared cache
//! line), but it does not follow work to other threads by itself: whoever spawns threads
//! on behalf of a scope (the supervisor) captures [`current_scope`] before spawning and
//! calls [`enter_scope`] first thing in the new thread, so the workers' resources are
//! charged to the test that started them.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Source of fresh scope ids; 0 is reserved for "no scope".
static NEXT_SCOPE: AtomicU64 = AtomicU64::new(1);

/// Identifies a test scope. `ScopeId(0)` ([`ScopeId::NONE`]) means "no scope".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct ScopeId(pub u64);

impl ScopeId {
    /// No scope: what threads that never entered one report.
    pub const NONE: ScopeId = ScopeId(0);

    /// A scope id never returned before in this process.
    pub fn fresh() -> ScopeId {
        ScopeId(NEXT_SCOPE.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether this is [`ScopeId::NONE`].
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            f.write_str("no scope")
        } else {
            write!(f, "scope #{}", self.0)
        }
    }
}

/// The scope of the calling thread ([`ScopeId::NONE`] unless one was entered).
#[inline]
pub fn current_scope() -> ScopeId {
    // `try_with` fails only while the thread's locals are being destroyed; by then the
    // thread no longer belongs to any scope.
    ScopeId(CURRENT.try_with(Cell::get).unwrap_or(0))
}

/// Makes `scope` the calling thread's scope until the returned guard drops, which restores
/// the previous one. Guards must be dropped in reverse order of creation (as with any
/// stack discipline); the guard is not `Send`, so it cannot leave its thread.
pub fn enter_scope(scope: ScopeId) -> ScopeGuard {
    let previous = CURRENT.try_with(|c| c.replace(scope.0)).unwrap_or(0);
    ScopeGuard {
        previous: ScopeId(previous),
        _not_send: PhantomData,
    }
}

/// Restores the thread's previous scope when dropped; see [`enter_scope`].
#[must_use = "the scope is left as soon as the guard drops"]
pub struct ScopeGuard {
    previous: ScopeId,
    _not_send: PhantomData<*const ()>,
}

impl ScopeGuard {
    /// The scope that will be restored when this guard drops.
    pub fn previous(&self) -> ScopeId {
        self.previous
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.previous.0));
    }
}

impl fmt::Debug for ScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard")
            .field("previous", &self.previous)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_nest_and_restore() {
        let outer = ScopeId::fresh();
        let inner = ScopeId::fresh();
        assert_ne!(outer, inner);
        let before = current_scope();
        {
            let g1 = enter_scope(outer);
            assert_eq!(g1.previous(), before);
            assert_eq!(current_scope(), outer);
            {
                let _g2 = enter_scope(inner);
                assert_eq!(current_scope(), inner);
            }
            assert_eq!(current_scope(), outer);
        }
        assert_eq!(current_scope(), before);
    }

    #[test]
    fn scope_is_per_thread() {
        let s = ScopeId::fresh();
        let _g = enter_scope(s);
        let seen = std::thread::spawn(current_scope).join().unwrap();
        assert_eq!(seen, ScopeId::NONE);
        assert!(seen.is_none());
        assert_eq!(current_scope(), s);
    }
}
