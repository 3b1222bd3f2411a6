//! The test guard: fail a test that leaves anything alive.
//!
//! A `LeakCheck` opens a fresh [`ScopeId`] on the current thread. Every token registered
//! while that scope is current (on this thread, or on threads that entered the same scope,
//! as supervised workers do) and every source entry recorded with it (pool leases) belongs
//! to the check. At its end, whatever of that is still alive is a leak. Because the check
//! looks only at its own scope, tests running in parallel in the same process, all using
//! the global ledger, do not see each other's resources.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use super::entry::LiveEntry;
use super::handle::Ledger;
use super::report::LedgerReport;
use super::scope::{ScopeGuard, ScopeId};
use crate::time::deadline_after;

/// Longest pause between two polls of [`LeakCheck::finish_within`].
const MAX_POLL: Duration = Duration::from_millis(10);

/// A guard that fails the test if anything created in its scope outlives it.
///
/// ```should_panic
/// use framekeep_core::ledger::{Kind, LeakCheck, Ledger};
///
/// let _check = LeakCheck::new();
/// let leaked = Ledger::global().track(Kind::MAT, "forgotten");
/// std::mem::forget(leaked);
/// // `_check` drops here and panics with a report naming the "mat" "forgotten".
/// ```
///
/// Dropping the guard panics with the report (unless the thread is already panicking);
/// [`LeakCheck::finish`] returns it instead. The guard is not `Send`: it must end on the
/// thread where it began, since it restores that thread's previous scope.
///
/// Checks nest: an inner `LeakCheck` opens its own scope, and what is created while it is
/// current belongs to it alone (the outer check does not see it).
#[must_use = "the check happens when the guard is finished or dropped"]
pub struct LeakCheck {
    ledger: Ledger,
    scope: ScopeId,
    started: Instant,
    done: bool,
    _guard: ScopeGuard,
}

impl Default for LeakCheck {
    fn default() -> Self {
        LeakCheck::new()
    }
}

impl LeakCheck {
    /// Opens a fresh scope on this thread, checked against [`Ledger::global`].
    pub fn new() -> LeakCheck {
        LeakCheck::on(Ledger::global())
    }

    /// Opens a fresh scope on this thread, checked against `ledger`.
    pub fn on(ledger: &Ledger) -> LeakCheck {
        let scope = ScopeId::fresh();
        LeakCheck {
            ledger: ledger.clone(),
            scope,
            started: Instant::now(),
            done: false,
            _guard: scope.enter(),
        }
    }

    /// The scope this check watches; threads working for the test should run
    /// in it ([`ScopeId::run`]; supervised workers do).
    pub fn scope(&self) -> ScopeId {
        self.scope
    }

    /// What was created in the scope and is alive right now, oldest first.
    pub fn leaks(&self) -> Vec<LiveEntry> {
        self.ledger.live_in_scope(self.scope)
    }

    /// Ends the check: `Err` with a readable report if anything created in the scope is
    /// still alive.
    pub fn finish(mut self) -> Result<(), LedgerReport> {
        self.done = true;
        self.check()
    }

    /// Ends the check, waiting up to `timeout` for the scope's resources to go away (worker
    /// threads may take a moment to exit and drop what they hold).
    pub fn finish_within(mut self, timeout: Duration) -> Result<(), LedgerReport> {
        self.done = true;
        let deadline = deadline_after(timeout);
        let mut pause = Duration::from_micros(100);
        loop {
            let leaks = self.leaks();
            let now = Instant::now();
            if leaks.is_empty() {
                return Ok(());
            }
            if now >= deadline {
                return Err(self.report(leaks));
            }
            thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    fn check(&self) -> Result<(), LedgerReport> {
        let leaks = self.leaks();
        if leaks.is_empty() {
            Ok(())
        } else {
            Err(self.report(leaks))
        }
    }

    fn report(&self, leaks: Vec<LiveEntry>) -> LedgerReport {
        let now = Instant::now();
        LedgerReport::leak_check(self.scope, now, now - self.started, leaks)
    }
}

impl Drop for LeakCheck {
    fn drop(&mut self) {
        if self.done || thread::panicking() {
            return;
        }
        if let Err(report) = self.check() {
            panic!("{report}");
        }
    }
}

impl fmt::Debug for LeakCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakCheck")
            .field("ledger", &self.ledger)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}
