//! One supervised worker: its context, its error type, and the body of its thread.
//!
//! The thread body is where the guarantees live: it enters the spawner's ledger scope,
//! registers itself as a `thread` in the ledger for exactly as long as it runs, catches every
//! panic of the closure, applies the panic/error policy, and always reports its exit (even if
//! something outside the closure unwinds) so shutdown never waits for a report that cannot
//! come.

use std::error::Error as StdError;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::affinity::CpuList;
use super::options::{PanicPolicy, Resolved};
use super::report::Outcome;
use super::restart::RestartBudget;
use crate::cancel::{CancelToken, Cause};
use crate::ledger::{Kind, Ledger, ScopeId};
use crate::panic;

/// What a worker closure receives: its name and its token.
#[derive(Debug, Clone)]
pub struct WorkerCtx {
    name: Arc<str>,
    token: CancelToken,
    restarts: u32,
}

impl WorkerCtx {
    /// The worker's name (also its OS thread name, as far as the OS allows).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker's own token: a child of the supervisor's token (unless the worker is
    /// [unlinked](super::WorkerOptions::unlinked)), cancelled when shutdown reaches it.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    /// Shorthand for `self.token().is_cancelled()`.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// How many times this worker has been restarted after a panic (0 on the first run).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }
}

/// The error a worker closure returns. Any `std::error::Error + Send + Sync + 'static`
/// converts into it with `?`; [`WorkerError::msg`] makes one from text.
pub struct WorkerError {
    inner: Box<dyn StdError + Send + Sync + 'static>,
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

impl WorkerError {
    /// An error with just a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        WorkerError {
            inner: Box::new(Message(message.to_string())),
        }
    }

    /// Wraps an already boxed error.
    pub fn boxed(error: Box<dyn StdError + Send + Sync + 'static>) -> Self {
        WorkerError { inner: error }
    }

    /// An error saying a thread panicked, with the panic's message (for a
    /// thread that must own its OS thread and catches its own panics, as a
    /// GUI thread does).
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        WorkerError::msg(format!("panicked: {}", panic::message(payload)))
    }

    /// The underlying error.
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }

    /// The underlying error, boxed.
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.inner
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for WorkerError {
    fn from(error: E) -> Self {
        WorkerError {
            inner: Box::new(error),
        }
    }
}

/// Displays the error and its source chain: `outer: inner: root cause`.
impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        let mut source = self.inner.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WorkerError").field(&self.inner).finish()
    }
}

/// A worker's exit, as recorded by its thread.
#[derive(Debug, Clone)]
pub(crate) struct Exit {
    pub(crate) outcome: Outcome,
    pub(crate) at: Instant,
}

/// Per-worker state shared between the supervisor and the worker threads.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) exit: Option<Exit>,
    pub(crate) restarts: u32,
}

/// State shared by a supervisor and all its worker threads: one slot per worker, one condvar
/// signalled whenever a worker exits.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) slots: Mutex<Vec<Slot>>,
    pub(crate) exited: Condvar,
}

impl Shared {
    /// Waits until worker `index` has exited or `deadline` passes.
    pub(crate) fn wait_exit(&self, index: usize, deadline: Instant) -> Option<Exit> {
        let mut slots = self.slots.lock();
        loop {
            if let Some(exit) = slots.get(index).and_then(|s| s.exit.clone()) {
                return Some(exit);
            }
            if self.exited.wait_until(&mut slots, deadline).timed_out() {
                return slots.get(index).and_then(|s| s.exit.clone());
            }
        }
    }

    /// Waits until every worker has exited or `deadline` passes; true if all have.
    pub(crate) fn wait_all(&self, deadline: Instant) -> bool {
        let mut slots = self.slots.lock();
        loop {
            if slots.iter().all(|s| s.exit.is_some()) {
                return true;
            }
            if self.exited.wait_until(&mut slots, deadline).timed_out() {
                return slots.iter().all(|s| s.exit.is_some());
            }
        }
    }

    pub(crate) fn has_exited(&self, index: usize) -> bool {
        self.slots
            .lock()
            .get(index)
            .is_some_and(|s| s.exit.is_some())
    }

    fn record_restart(&self, index: usize) -> u32 {
        let mut slots = self.slots.lock();
        match slots.get_mut(index) {
            Some(slot) => {
                slot.restarts += 1;
                slot.restarts
            }
            None => 0,
        }
    }

    fn record_exit(&self, index: usize, outcome: Outcome) {
        let mut slots = self.slots.lock();
        if let Some(slot) = slots.get_mut(index) {
            if slot.exit.is_none() {
                slot.exit = Some(Exit {
                    outcome,
                    at: Instant::now(),
                });
            }
        }
        drop(slots);
        self.exited.notify_all();
    }
}

/// Records the worker's exit when dropped, whatever happens: if the thread unwinds outside
/// the caught closure, shutdown still hears that it is gone.
struct ExitGuard {
    shared: Arc<Shared>,
    index: usize,
    outcome: Option<Outcome>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or_else(|| {
            Outcome::Panicked("the worker thread unwound outside its closure".into())
        });
        self.shared.record_exit(self.index, outcome);
    }
}

/// Everything a worker thread needs besides its closure.
pub(crate) struct Spec {
    pub(crate) name: Arc<str>,
    pub(crate) index: usize,
    pub(crate) token: CancelToken,
    pub(crate) root: CancelToken,
    pub(crate) shared: Arc<Shared>,
    pub(crate) ledger: Ledger,
    pub(crate) scope: ScopeId,
    pub(crate) options: Resolved,
    /// CPUs to pin the thread to before the closure first runs.
    pub(crate) cpus: Option<CpuList>,
}

/// The body of a worker thread.
pub(crate) fn run<F>(spec: Spec, work: F)
where
    F: FnMut(WorkerCtx) -> Result<(), WorkerError>,
{
    // Drop order (reverse of declaration): the closure, ledger entry, then scope, then the
    // exit report, so when shutdown sees the exit the thread is already off the ledger and
    // what the closure owned is gone; also if something unwinds past the catch below.
    let mut exit = ExitGuard {
        shared: Arc::clone(&spec.shared),
        index: spec.index,
        outcome: None,
    };
    let _scope = spec.scope.enter();
    let tracked = spec.ledger.track(Kind::THREAD, spec.name.to_string());
    let mut work = work;
    let name = &*spec.name;
    // Everything the closure logs carries the worker's name.
    let _span = tracing::info_span!("worker", name).entered();
    tracing::debug!(worker = name, "worker started");
    if let Some(cpus) = &spec.cpus {
        // Checked at spawn; a failure here (the CPUs went offline meanwhile) leaves the
        // thread where the scheduler puts it, which is slower but correct.
        if let Err(e) = cpus.pin_current_thread() {
            tracing::warn!(worker = name, cpus = %cpus, error = %e, "could not pin the worker to its CPUs");
        }
    }

    let mut budget = match spec.options.on_panic {
        PanicPolicy::Restart {
            max_restarts,
            window,
        } => Some(RestartBudget::new(max_restarts, window)),
        _ => None,
    };
    let mut restarts = 0;
    let outcome = loop {
        let ctx = WorkerCtx {
            name: Arc::clone(&spec.name),
            token: spec.token.clone(),
            restarts,
        };
        match catch_unwind(AssertUnwindSafe(|| work(ctx))) {
            Ok(Ok(())) => break Outcome::Ok,
            Ok(Err(error)) => {
                let message = error.to_string();
                tracing::warn!(worker = name, error = %message, "worker returned an error");
                if spec.options.escalate_errors {
                    spec.root.cancel_with(Cause::error(name, message.clone()));
                }
                break Outcome::Error(message);
            }
            Err(payload) => {
                let message = panic::message(payload.as_ref());
                // A payload whose destructor panics must not take the thread down.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                tracing::error!(worker = name, panic = %message, "worker panicked");
                let may_restart = !spec.token.is_cancelled()
                    && budget
                        .as_mut()
                        .is_some_and(|b| b.try_restart(Instant::now()));
                if may_restart {
                    restarts = spec.shared.record_restart(spec.index);
                    tracing::warn!(worker = name, restarts, "restarting worker after a panic");
                    continue;
                }
                if spec.options.on_panic != PanicPolicy::Isolate {
                    tracing::error!(
                        worker = name,
                        "escalating the panic: cancelling the root token"
                    );
                    spec.root
                        .cancel_with(Cause::error(name, format!("panicked: {message}")));
                }
                break Outcome::Panicked(message);
            }
        }
    };
    // The closure and everything it owns (a pipeline element's edges and
    // close callback, frames it kept) go before the exit is reported: when
    // shutdown or `wait` sees the exit, they are gone. A destructor that
    // panics is contained, like the closure's own panics.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(work))) {
        let message = panic::message(payload.as_ref());
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        tracing::error!(worker = name, panic = %message, "dropping the worker's closure panicked");
    }
    tracing::debug!(worker = name, outcome = %outcome, "worker exited");
    drop(tracked);
    exit.outcome = Some(outcome);
}
