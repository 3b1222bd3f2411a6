//! Supervisor and per-worker options: shutdown order, timeouts, what panics and errors do.
//!
//! Defaults follow Erlang/OTP: stop in reverse start order (consumers started after their
//! producers stop first), escalate panics (a panic is a bug: stop everything rather than run
//! half a pipeline). Pipelines override the order with [`ShutdownOrder::Drain`].

use std::time::Duration;

use super::affinity::CpuList;
use crate::ledger::Ledger;

/// Default time a worker gets to exit after its token is cancelled.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a downstream worker gets to drain and exit by itself in [`ShutdownOrder::Drain`].
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The order in which [`Supervisor::shutdown`](super::Supervisor::shutdown) stops workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShutdownOrder {
    /// Last started, first stopped: cancel a worker, wait for it (up to its shutdown timeout),
    /// then the previous one. As in Erlang/OTP.
    #[default]
    Reverse,
    /// For pipelines started source first: cancel the first worker (the source) and wait for
    /// it; then, in start order, give each later worker up to its drain timeout to exit by
    /// itself (its input closed, its in-flight frames finished) before cancelling it.
    Drain,
}

/// What happens when a worker panics. The panic is always caught and logged with the worker's
/// name first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanicPolicy {
    /// Cancel the supervisor's root token (the one given to `Supervisor::new`) with
    /// [`Cause::Error`](crate::cancel::Cause::Error) naming the worker: every sibling stops.
    #[default]
    Escalate,
    /// Call the worker's closure again, with the same token, unless it panicked more than
    /// `max_restarts` times within `window` or its token is cancelled; then escalate.
    Restart {
        /// Restarts allowed within `window`.
        max_restarts: u32,
        /// The sliding window the restarts are counted in.
        window: Duration,
    },
    /// Record the panic and end this worker only; siblings keep running.
    Isolate,
}

/// Options of a [`Supervisor`](super::Supervisor); worker options override them per worker.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    pub(crate) order: ShutdownOrder,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) on_panic: PanicPolicy,
    pub(crate) escalate_errors: bool,
    pub(crate) ledger: Option<Ledger>,
    pub(crate) cpus: Option<CpuList>,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions::new()
    }
}

impl SupervisorOptions {
    /// Reverse order, 5 s shutdown timeout, 2 s drain timeout, escalate panics, collect
    /// errors, the global ledger.
    pub fn new() -> Self {
        SupervisorOptions {
            order: ShutdownOrder::Reverse,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            on_panic: PanicPolicy::Escalate,
            escalate_errors: false,
            ledger: None,
            cpus: None,
        }
    }

    /// The shutdown order.
    pub fn order(mut self, order: ShutdownOrder) -> Self {
        self.order = order;
        self
    }

    /// Default time a worker gets to exit once cancelled.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Default time a worker gets to exit by itself in [`ShutdownOrder::Drain`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Default panic policy.
    pub fn on_panic(mut self, policy: PanicPolicy) -> Self {
        self.on_panic = policy;
        self
    }

    /// What happens when a worker returns `Err` (the error is always logged
    /// and collected in the shutdown report): with `false` (the default)
    /// siblings keep running; with `true` the root token is also cancelled
    /// with [`Cause::Error`](crate::cancel::Cause::Error) naming the worker
    /// (errgroup style: the first failure stops everyone).
    pub fn escalate_errors(mut self, on: bool) -> Self {
        self.escalate_errors = on;
        self
    }

    /// Registers worker threads in `ledger` instead of [`Ledger::global`] (for tests).
    pub fn with_ledger(mut self, ledger: &Ledger) -> Self {
        self.ledger = Some(ledger.clone());
        self
    }

    /// Runs every worker on these CPUs only (default: wherever the scheduler puts it).
    /// Putting a light, latency-bound pipeline on one CPU makes each frame's hand-over a
    /// context switch instead of a cross-CPU wake-up; a list that names no CPU this
    /// process may use makes `spawn` fail with [`SpawnError::Cpus`]. See
    /// [`current_thread_cpus`](super::current_thread_cpus) for the CPUs a thread has.
    ///
    /// [`SpawnError::Cpus`]: super::SpawnError::Cpus
    pub fn cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.cpus = Some(CpuList::new(cpus));
        self
    }
}

/// Per-worker overrides of the [`SupervisorOptions`], for
/// [`Supervisor::spawn_with`](super::Supervisor::spawn_with).
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    pub(crate) shutdown_timeout: Option<Duration>,
    pub(crate) drain_timeout: Option<Duration>,
    pub(crate) on_panic: Option<PanicPolicy>,
    pub(crate) escalate_errors: Option<bool>,
    pub(crate) unlinked: bool,
    pub(crate) stack_size: Option<usize>,
    pub(crate) cpus: Option<CpuList>,
}

impl WorkerOptions {
    /// No overrides.
    pub fn new() -> Self {
        WorkerOptions::default()
    }

    /// Time this worker gets to exit once cancelled.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    /// Time this worker gets to exit by itself in [`ShutdownOrder::Drain`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = Some(timeout);
        self
    }

    /// This worker's panic policy.
    pub fn on_panic(mut self, policy: PanicPolicy) -> Self {
        self.on_panic = Some(policy);
        self
    }

    /// Shorthand for `on_panic(PanicPolicy::Restart { max_restarts, window })`.
    pub fn restart(self, max_restarts: u32, window: Duration) -> Self {
        self.on_panic(PanicPolicy::Restart {
            max_restarts,
            window,
        })
    }

    /// Whether this worker's errors cancel the root (see
    /// [`SupervisorOptions::escalate_errors`]).
    pub fn escalate_errors(mut self, on: bool) -> Self {
        self.escalate_errors = Some(on);
        self
    }

    /// Gives the worker a token that is *not* a child of the supervisor's token: it is
    /// cancelled only by shutdown (in its turn) or through its [`WorkerHandle`]. Use it for
    /// the downstream stages of a draining pipeline, so that a root cancel (Ctrl-C, an
    /// escalated panic) stops the source at once while downstream stages still finish their
    /// in-flight frames and exit when their input closes.
    ///
    /// [`WorkerHandle`]: super::WorkerHandle
    pub fn unlinked(mut self) -> Self {
        self.unlinked = true;
        self
    }

    /// Stack size of the worker's thread in bytes (default: Rust's default, 2 MiB unless
    /// `RUST_MIN_STACK` says otherwise).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs this worker on these CPUs only, instead of the supervisor's
    /// [`cpus`](SupervisorOptions::cpus).
    pub fn cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.cpus = Some(CpuList::new(cpus));
        self
    }
}

/// The options a worker runs with, once the overrides are applied.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolved {
    pub(crate) shutdown_timeout: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) on_panic: PanicPolicy,
    pub(crate) escalate_errors: bool,
}

impl Resolved {
    pub(crate) fn new(sup: &SupervisorOptions, worker: &WorkerOptions) -> Resolved {
        Resolved {
            shutdown_timeout: worker.shutdown_timeout.unwrap_or(sup.shutdown_timeout),
            drain_timeout: worker.drain_timeout.unwrap_or(sup.drain_timeout),
            on_panic: worker.on_panic.unwrap_or(sup.on_panic),
            escalate_errors: worker.escalate_errors.unwrap_or(sup.escalate_errors),
        }
    }
}
