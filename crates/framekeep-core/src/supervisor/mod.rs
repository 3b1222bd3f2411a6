//! Owned, joinable worker threads with ordered shutdown: [`Supervisor`].
//!
//! # Why
//!
//! A detached thread that still holds a frame, a V4L2 buffer or a window is a leak nobody can
//! see. So every worker thread of framekeep is started by a supervisor that:
//!
//! * gives it a name and its own [`CancelToken`] (a child of the supervisor's token),
//! * keeps its `JoinHandle` and joins it: a supervisor never leaks a thread, even when it is
//!   dropped without [`shutdown`](Supervisor::shutdown),
//! * registers it in the [`Ledger`] as a `thread` for as long as it
//!   runs, in the ledger scope of the code that spawned it (so a test's `LeakCheck` sees the
//!   threads the test started, and nothing else),
//! * catches its panics, logs them with its name and applies a [`PanicPolicy`] (escalate by
//!   default: cancel the root token so every sibling stops), and collects returned errors,
//! * stops workers in an explicit, deterministic [`ShutdownOrder`], with a timeout per
//!   worker; a worker that does not stop in time is *named* in the [`ShutdownReport`] (an OS
//!   thread cannot be killed: it is detached and the report says so) and shutdown goes on.
//!
//! This is the Erlang/OTP supervisor reduced to what a camera pipeline needs.
//!
//! ```
//! use std::time::Duration;
//! use framekeep_core::cancel::CancelToken;
//! use framekeep_core::supervisor::{Outcome, Supervisor};
//!
//! let root = CancelToken::new();
//! let sup = Supervisor::new(&root);
//! sup.spawn("ticker", |ctx| {
//!     while !ctx.token().wait_timeout(Duration::from_millis(5)) {
//!         // one tick of work
//!     }
//!     Ok(())
//! })?;
//! let report = sup.shutdown();
//! assert_eq!(report.worker("ticker").map(|w| &w.outcome), Some(&Outcome::Ok));
//! # Ok::<(), framekeep_core::supervisor::SpawnError>(())
//! ```
//!
//! A dedicated-thread stage (e.g. a GUI thread that must own its OS thread) is just a worker
//! with a name: nothing else calls into it; talk to it through channels.

mod affinity;
mod options;
mod report;
mod restart;
mod worker;

use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use self::affinity::current_thread_cpus;
pub use self::options::{PanicPolicy, ShutdownOrder, SupervisorOptions, WorkerOptions};
pub use self::report::{Outcome, ShutdownReport, WorkerReport};
pub use self::worker::{WorkerCtx, WorkerError};

use self::options::Resolved;
use self::worker::{Shared, Slot, Spec};
use crate::cancel::{CancelToken, Cause};
use crate::ledger::{Ledger, ScopeId};
use crate::time::deadline_after;

/// Why [`Supervisor::spawn`] refused to start a worker.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Another worker of this supervisor already has this name (reports are by name).
    #[error("a worker named '{0}' already exists in this supervisor")]
    DuplicateName(String),
    /// Worker names become OS thread names, which cannot contain NUL bytes.
    #[error("invalid worker name {0:?}: names cannot contain NUL bytes")]
    InvalidName(String),
    /// The supervisor was shut down ([`Supervisor::close`]).
    #[error("cannot spawn worker '{0}': the supervisor is shut down")]
    ShutDown(String),
    /// The supervisor's token is cancelled (its root was cancelled): it is stopping.
    #[error("cannot spawn worker '{name}': the supervisor is cancelled ({cause})")]
    Cancelled {
        /// The worker's name.
        name: String,
        /// Why the supervisor's token was cancelled.
        cause: Cause,
    },
    /// The worker's CPU list ([`SupervisorOptions::cpus`], [`WorkerOptions::cpus`]) names
    /// no CPU it can run on.
    #[error("cannot spawn worker '{name}' on CPUs {cpus:?}: {source}")]
    Cpus {
        /// The worker's name.
        name: String,
        /// The CPUs asked for, ascending.
        cpus: Vec<usize>,
        /// Why they cannot be used.
        #[source]
        source: std::io::Error,
    },
    /// The operating system could not create the thread.
    #[error("cannot spawn worker '{name}': {source}")]
    Os {
        /// The worker's name.
        name: String,
        /// The error from `std::thread::Builder::spawn`.
        #[source]
        source: std::io::Error,
    },
}

/// A running (or finished) worker, as seen by the code that spawned it.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    name: Arc<str>,
    token: CancelToken,
    index: usize,
    shared: Arc<Shared>,
}

impl WorkerHandle {
    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker's token (cancel it to stop just this worker).
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    /// True once the worker's closure has returned (or panicked for good).
    pub fn is_finished(&self) -> bool {
        self.shared.has_exited(self.index)
    }

    /// Waits up to `timeout` for the worker to finish; true if it has.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = deadline_after(timeout);
        self.shared.wait_exit(self.index, deadline).is_some()
    }
}

struct Entry {
    name: Arc<str>,
    token: CancelToken,
    handle: Option<JoinHandle<()>>,
    options: Resolved,
}

#[derive(Default)]
struct Workers {
    list: Vec<Entry>,
    closed: bool,
}

/// Starts, owns and stops named worker threads. See the [module docs](self).
///
/// `Sync`: workers may be spawned from several threads through `&Supervisor`.
///
/// ```
/// use framekeep_core::cancel::CancelToken;
/// use framekeep_core::supervisor::{Outcome, Supervisor, WorkerError};
///
/// let root = CancelToken::new();
/// let sup = Supervisor::new(&root);
/// sup.spawn("reader", |ctx| {
///     ctx.token().wait(); // until shutdown reaches it
///     Ok(())
/// })?;
/// sup.spawn("parser", |_| Err(WorkerError::msg("bad header")))?;
/// let report = sup.shutdown(); // reverse start order; every thread joined
/// assert_eq!(report.worker("reader").map(|w| &w.outcome), Some(&Outcome::Ok));
/// assert!(!report.is_clean()); // the parser's error is in the report
/// # Ok::<(), framekeep_core::supervisor::SpawnError>(())
/// ```
pub struct Supervisor {
    root: CancelToken,
    token: CancelToken,
    options: SupervisorOptions,
    ledger: Ledger,
    shared: Arc<Shared>,
    workers: Mutex<Workers>,
    /// Held for the whole of `close`, so a concurrent second `close` returns only once the
    /// first has finished.
    closing: Mutex<()>,
}

impl Supervisor {
    /// A supervisor with default [`SupervisorOptions`], whose token is a child of `root`.
    pub fn new(root: &CancelToken) -> Supervisor {
        Supervisor::with_options(root, SupervisorOptions::new())
    }

    /// A supervisor with `options`, whose token is a child of `root`. Escalated panics and
    /// errors cancel `root` itself.
    pub fn with_options(root: &CancelToken, options: SupervisorOptions) -> Supervisor {
        let ledger = options
            .ledger
            .clone()
            .unwrap_or_else(|| Ledger::global().clone());
        Supervisor {
            root: root.clone(),
            token: root.child(),
            options,
            ledger,
            shared: Arc::new(Shared::default()),
            workers: Mutex::new(Workers::default()),
            closing: Mutex::new(()),
        }
    }

    /// The supervisor's token: a child of the root; every (linked) worker token is its child.
    /// Cancelling it stops every worker at once, without ordering.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    /// Starts a worker thread called `name` running `work` with the default worker options.
    ///
    /// `work` is called with a [`WorkerCtx`]; it is `FnMut` so that a
    /// [`PanicPolicy::Restart`] worker can be called again after a panic (rebuild any state
    /// at the start of each call: a panic may have left captured state half-updated).
    pub fn spawn<F>(&self, name: impl Into<String>, work: F) -> Result<WorkerHandle, SpawnError>
    where
        F: FnMut(WorkerCtx) -> Result<(), WorkerError> + Send + 'static,
    {
        self.spawn_with(name, WorkerOptions::new(), work)
    }

    /// Starts a worker with per-worker `options` (timeouts, policies, unlinked token).
    pub fn spawn_with<F>(
        &self,
        name: impl Into<String>,
        options: WorkerOptions,
        work: F,
    ) -> Result<WorkerHandle, SpawnError>
    where
        F: FnMut(WorkerCtx) -> Result<(), WorkerError> + Send + 'static,
    {
        let name: String = name.into();
        if name.contains('\0') {
            return Err(SpawnError::InvalidName(name));
        }
        let mut workers = self.workers.lock();
        if workers.closed {
            return Err(SpawnError::ShutDown(name));
        }
        if let Some(cause) = self.token.cause() {
            return Err(SpawnError::Cancelled { name, cause });
        }
        if workers.list.iter().any(|w| *w.name == *name) {
            return Err(SpawnError::DuplicateName(name));
        }
        let cpus = options.cpus.clone().or_else(|| self.options.cpus.clone());
        if let Some(cpus) = &cpus {
            if let Err(source) = cpus.check() {
                return Err(SpawnError::Cpus {
                    name,
                    cpus: cpus.to_vec(),
                    source,
                });
            }
        }
        let name: Arc<str> = name.into();
        let token = if options.unlinked {
            CancelToken::new()
        } else {
            self.token.child()
        };
        let resolved = Resolved::new(&self.options, &options);
        let index = {
            let mut slots = self.shared.slots.lock();
            slots.push(Slot::default());
            slots.len() - 1
        };
        debug_assert_eq!(index, workers.list.len());
        let spec = Spec {
            name: Arc::clone(&name),
            index,
            token: token.clone(),
            root: self.root.clone(),
            shared: Arc::clone(&self.shared),
            ledger: self.ledger.clone(),
            scope: ScopeId::current(),
            options: resolved,
            cpus,
        };
        let mut builder = std::thread::Builder::new().name(name.to_string());
        if let Some(bytes) = options.stack_size {
            builder = builder.stack_size(bytes);
        }
        let spawned = builder.spawn(move || worker::run(spec, work));
        let handle = match spawned {
            Ok(handle) => handle,
            Err(source) => {
                self.shared.slots.lock().pop();
                return Err(SpawnError::Os {
                    name: name.to_string(),
                    source,
                });
            }
        };
        workers.list.push(Entry {
            name: Arc::clone(&name),
            token: token.clone(),
            handle: Some(handle),
            options: resolved,
        });
        Ok(WorkerHandle {
            name,
            token,
            index,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Number of workers spawned (running or finished, not yet shut down).
    pub fn len(&self) -> usize {
        self.workers.lock().list.len()
    }

    /// True if no worker was spawned (or all were shut down).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits up to `timeout` for every worker to finish by itself (without cancelling any),
    /// joining the threads that did. True if all have finished. Their outcomes stay available
    /// for the shutdown report.
    pub fn wait(&self, timeout: Duration) -> bool {
        let all = self.shared.wait_all(deadline_after(timeout));
        let mut workers = self.workers.lock();
        for (index, entry) in workers.list.iter_mut().enumerate() {
            if self.shared.has_exited(index) {
                if let Some(handle) = entry.handle.take() {
                    join_quietly(&entry.name, handle);
                }
            }
        }
        all
    }

    /// Stops every worker in the configured [`ShutdownOrder`] and reports how each ended.
    /// Then cancels the supervisor's token.
    pub fn shutdown(self) -> ShutdownReport {
        self.close()
    }

    /// Like [`shutdown`](Self::shutdown), through a shared reference (e.g. for a supervisor
    /// behind an `Arc`). Later [`spawn`](Self::spawn)s fail with [`SpawnError::ShutDown`]; a
    /// second `close` waits for the first to finish and returns an empty report.
    ///
    /// Do not call it from one of this supervisor's own workers: it would wait for itself
    /// until its shutdown timeout.
    pub fn close(&self) -> ShutdownReport {
        let _closing = self.closing.lock();
        let started = Instant::now();
        let list = {
            let mut workers = self.workers.lock();
            workers.closed = true;
            std::mem::take(&mut workers.list)
        };
        let mut reports = Vec::with_capacity(list.len());
        match self.options.order {
            ShutdownOrder::Reverse => {
                for (index, entry) in list.into_iter().enumerate().rev() {
                    reports.push(self.stop(index, entry, false));
                }
            }
            ShutdownOrder::Drain => {
                for (index, entry) in list.into_iter().enumerate() {
                    reports.push(self.stop(index, entry, index > 0));
                }
            }
        }
        self.token.cancel_with(Cause::Shutdown);
        let report = ShutdownReport {
            workers: reports,
            total: started.elapsed(),
        };
        if report.timed_out().next().is_some() {
            tracing::error!(%report, "shutdown finished with workers still running");
        } else {
            tracing::debug!(%report, "shutdown finished");
        }
        report
    }

    /// Stops one worker: optionally lets it drain, cancels it, waits, joins or detaches.
    fn stop(&self, index: usize, mut entry: Entry, drain_first: bool) -> WorkerReport {
        let began = Instant::now();
        let mut exit = if drain_first {
            self.shared
                .wait_exit(index, deadline_after(entry.options.drain_timeout))
        } else {
            self.shared.wait_exit(index, began)
        };
        let cancelled = exit.is_none();
        if exit.is_none() {
            entry.token.cancel_with(Cause::Shutdown);
            let deadline = deadline_after(entry.options.shutdown_timeout);
            exit = self.shared.wait_exit(index, deadline);
        }
        let restarts = self
            .shared
            .slots
            .lock()
            .get(index)
            .map_or(0, |slot| slot.restarts);
        let name = entry.name.to_string();
        match exit {
            Some(exit) => {
                if let Some(handle) = entry.handle.take() {
                    join_quietly(&entry.name, handle);
                }
                WorkerReport {
                    name,
                    outcome: exit.outcome,
                    restarts,
                    stop_time: exit.at.saturating_duration_since(began),
                    cancelled,
                }
            }
            None => {
                let waited = began.elapsed();
                tracing::error!(
                    worker = %entry.name,
                    waited = ?waited,
                    "worker did not stop in time; its thread cannot be killed and is detached"
                );
                drop(entry.handle.take()); // detach
                WorkerReport {
                    name,
                    outcome: Outcome::TimedOut,
                    restarts,
                    stop_time: waited,
                    cancelled,
                }
            }
        }
    }
}

impl Drop for Supervisor {
    /// Shuts down (in the configured order) if that was not done yet: never leaks a thread
    /// that stops when asked.
    fn drop(&mut self) {
        let pending = !self.workers.lock().closed;
        if pending {
            let report = self.close();
            if !report.is_clean() {
                tracing::warn!(%report, "supervisor dropped without shutdown: shut down");
            } else if !report.workers.is_empty() {
                tracing::debug!(%report, "supervisor dropped without shutdown: shut down");
            }
        }
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let workers = self.workers.lock();
        let names: Vec<&str> = workers.list.iter().map(|w| &*w.name).collect();
        f.debug_struct("Supervisor")
            .field("workers", &names)
            .field("closed", &workers.closed)
            .field("order", &self.options.order)
            .field("token", &self.token)
            .finish()
    }
}

/// Joins a thread that has already reported its exit. The closure's panics were caught, so a
/// join error can only come from a panic in the thread's epilogue; log it.
fn join_quietly(name: &str, handle: JoinHandle<()>) {
    if handle.join().is_err() {
        tracing::error!(
            worker = name,
            "worker thread panicked after reporting its exit"
        );
    }
}
