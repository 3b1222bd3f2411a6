//! Test scopes: which test (or job) a resource belongs to.
//!
//! Tests of a workspace run in parallel threads of one process and share the process-wide
//! ledger, so "everything alive at the end of the test" would mix up the resources of
//! unrelated tests. Instead every registration records the *scope* of the registering
//! thread: a number held in a thread-local, set by [`ScopeId::run`] (and by
//! [`LeakCheck::new`](super::LeakCheck::new), which opens a fresh one). A leak check then
//! looks only at entries carrying its own scope.
//!
//! A thread-local is the cheapest thing to read on the registration path (no shared cache
//! line), but it does not follow work to other threads by itself: whoever starts threads
//! on behalf of a scope (the supervisor, the display's GUI thread) captures
//! [`ScopeId::current`] before spawning and runs the new thread's body in it, so the
//! workers' resources are charged to the test that started them:
//!
//! ```
//! use framekeep_core::ledger::{Kind, LeakCheck, Ledger, ScopeId};
//!
//! let check = LeakCheck::new();
//! let scope = ScopeId::current(); // the check's scope
//! let token = std::thread::spawn(move || {
//!     scope.run(|| Ledger::global().track(Kind::FRAME, "worker's frame"))
//! })
//! .join()
//! .unwrap();
//! assert_eq!(check.leaks().len(), 1); // charged to this test
//! drop(token);
//! check.finish().unwrap();
//! ```

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

    /// The scope of the calling thread ([`ScopeId::NONE`] unless one was entered).
    #[inline]
    pub fn current() -> ScopeId {
        // `try_with` fails only while the thread's locals are being destroyed; by then the
        // thread no longer belongs to any scope.
        ScopeId(CURRENT.try_with(Cell::get).unwrap_or(0))
    }

    /// Runs `f` with this scope as the calling thread's, then restores the previous one
    /// (also when `f` panics): what `f` registers is charged to this scope.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Makes this scope the calling thread's until the guard drops.
    pub(crate) fn enter(self) -> ScopeGuard {
        let previous = CURRENT.try_with(|c| c.replace(self.0)).unwrap_or(0);
        ScopeGuard {
            previous: ScopeId(previous),
            _not_send: PhantomData,
        }
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

/// Restores the thread's previous scope when dropped. Guards nest (a stack); the
/// guard is not `Send`, so it cannot leave its thread.
#[must_use = "the scope is left as soon as the guard drops"]
pub(crate) struct ScopeGuard {
    previous: ScopeId,
    _not_send: PhantomData<*const ()>,
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
    fn scopes_nest_and_restore_also_on_panic() {
        let outer = ScopeId::fresh();
        let inner = ScopeId::fresh();
        assert_ne!(outer, inner);
        let before = ScopeId::current();
        outer.run(|| {
            assert_eq!(ScopeId::current(), outer);
            inner.run(|| assert_eq!(ScopeId::current(), inner));
            assert_eq!(ScopeId::current(), outer);
            let panicked = std::panic::catch_unwind(|| inner.run(|| panic!("inside")));
            assert!(panicked.is_err());
            assert_eq!(ScopeId::current(), outer);
        });
        assert_eq!(ScopeId::current(), before);
    }

    #[test]
    fn scope_is_per_thread() {
        let s = ScopeId::fresh();
        s.run(|| {
            let seen = std::thread::spawn(ScopeId::current).join().unwrap();
            assert_eq!(seen, ScopeId::NONE);
            assert!(seen.is_none());
            assert_eq!(ScopeId::current(), s);
        });
    }
}
