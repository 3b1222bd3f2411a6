//! The one door to the synchronisation primitives of the lock-free core, so
//! that the same code runs under [loom](https://docs.rs/loom) (`--cfg loom`,
//! see `scripts/loom.sh`) and in a normal build.
//!
//! In a normal build every item here is a plain re-export (std's atomics and
//! threads, parking_lot's locks, crossbeam's queue) or a macro that expands
//! to exactly what the modules wrote before: the release build compiles to
//! the same code. Under loom they are loom's mocks, which loom schedules and
//! whose memory orderings it models.
//!
//! What goes through here and what does not:
//! * atomics, fences, the locks held across another atomic operation, the
//!   thread handles that park and unpark, and the thread-locals and statics
//!   that hold loom objects or decide which one a thread touches (the hazard
//!   slot, the thread tag, the ledger clock's flags);
//! * `Arc` stays std's: loom's has no `Weak`, which the pool and the cancel
//!   tree need. std's `Arc` is sound under loom's scheduler (all model
//!   threads run on one OS thread, switching only inside loom calls), and the
//!   models check frees with drop counters of their own;
//! * a parking_lot lock that is never held across a loom operation (the
//!   lease's backtrace, the label table, the thread names, the hazard slot
//!   list) stays parking_lot's: loom cannot switch threads inside it, so no
//!   model thread ever finds it taken.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex};

#[cfg(loom)]
pub(crate) use self::mock::{Condvar, Mutex};

/// Atomics and fences.
pub(crate) mod atomic {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
}

/// Threads: the handles that park and unpark, and yielding in spin loops.
pub(crate) mod thread {
    #[cfg(all(loom, test))]
    pub(crate) use loom::thread::current;
    #[cfg(loom)]
    pub(crate) use loom::thread::{park, yield_now, Thread};
    #[cfg(not(loom))]
    pub(crate) use std::thread::{park, yield_now, Thread};
}

/// The bounded lock-free queue (crossbeam's `ArrayQueue`; see
/// [`opaque_op`] for how loom sees it).
#[cfg(not(loom))]
pub(crate) use crossbeam_queue::ArrayQueue;

#[cfg(loom)]
pub(crate) use self::mock::ArrayQueue;

/// Marks an operation on a lock-free structure loom cannot see into
/// (crossbeam's queue and channels). Nothing in a normal build.
///
/// Under loom: a scheduling point (so another model thread may run between
/// framekeep's own check and the operation), then a `SeqCst` fence, which
/// loom models as synchronising with every earlier `SeqCst` fence. So loom
/// treats the structure as linearizable with each operation ordered after the
/// previous one, as a lock-based queue would be; crossbeam's own guarantees
/// (its operations are linearizable, with `SeqCst` read-modify-writes and
/// fences inside) are crossbeam's to prove.
#[inline(always)]
pub(crate) fn opaque_op() {
    #[cfg(loom)]
    mock::opaque_op();
}

/// What std's `Arc` does when a count is given back (a Release decrement),
/// for loom, which cannot see std's `Arc`: marks the one place where a
/// count, not a hazard pin, keeps a pool alive through a release (a release
/// from a thread-local destructor). Nothing in a normal build.
#[inline(always)]
pub(crate) fn count_given_back() {
    #[cfg(loom)]
    mock::count_given_back();
}

/// What std's `Arc` does before it frees (an Acquire fence after the last
/// decrement), for loom: the other half of [`count_given_back`], called by a
/// home's `Drop`. Nothing in a normal build.
#[inline(always)]
pub(crate) fn last_count_gone() {
    #[cfg(loom)]
    mock::last_count_gone();
}

/// A `static` that holds loom objects: a plain `static` in a normal build,
/// a `loom::lazy_static!` (one value per model execution) under loom.
macro_rules! model_static {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        static $name: $t = $init;
        #[cfg(loom)]
        ::loom::lazy_static! {
            $(#[$attr])*
            static ref $name: $t = $init;
        }
    };
}
pub(crate) use model_static;

/// `thread_local!`: std's in a normal build (with its `const` initialiser),
/// loom's under loom (one value per model thread, destroyed when it ends).
macro_rules! model_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
        #[cfg(not(loom))]
        std::thread_local! {
            $(#[$attr])*
            static $name: $t = const { $init };
        }
        #[cfg(loom)]
        ::loom::thread_local! {
            $(#[$attr])*
            static $name: $t = $init;
        }
    };
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        std::thread_local! {
            $(#[$attr])*
            static $name: $t = $init;
        }
        #[cfg(loom)]
        ::loom::thread_local! {
            $(#[$attr])*
            static $name: $t = $init;
        }
    };
}
pub(crate) use model_thread_local;

/// Loom's mocks behind parking_lot's and crossbeam's interfaces.
#[cfg(loom)]
mod mock {
    use std::ops::{Deref, DerefMut};
    use std::time::{Duration, Instant};

    use loom::sync::atomic::{fence, AtomicUsize, Ordering};

    /// A mutex with parking_lot's interface over loom's.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// Its guard; `None` only while a condvar wait holds the inner guard.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard held")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard held")
        }
    }

    /// A condvar with parking_lot's interface over loom's. Loom's waits never
    /// time out, so a timed wait is a plain wait: a model that relies on a
    /// timeout to make progress deadlocks, which loom reports.
    pub(crate) struct Condvar(loom::sync::Condvar);

    /// Whether a timed wait timed out (never, under loom).
    pub(crate) struct WaitTimeoutResult;

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            false
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard held");
            guard.0 = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
        }

        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: Duration,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult
        }

        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    loom::lazy_static! {
        /// Read (relaxed) only to give loom a scheduling point.
        static ref POINT: AtomicUsize = AtomicUsize::new(0);
    }

    loom::lazy_static! {
        /// Counts given back by hazard guards that hold one (see `count_given_back`).
        static ref COUNTS: AtomicUsize = AtomicUsize::new(0);
    }

    pub(crate) fn count_given_back() {
        COUNTS.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn last_count_gone() {
        // A read-modify-write reads the last value: it synchronises with
        // every count given back before it.
        COUNTS.fetch_add(0, Ordering::Acquire);
    }

    pub(crate) fn opaque_op() {
        POINT.load(Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// crossbeam's `ArrayQueue`, each operation marked with [`opaque_op`].
    pub(crate) struct ArrayQueue<T>(crossbeam_queue::ArrayQueue<T>);

    impl<T> ArrayQueue<T> {
        pub(crate) fn new(cap: usize) -> ArrayQueue<T> {
            ArrayQueue(crossbeam_queue::ArrayQueue::new(cap))
        }

        pub(crate) fn push(&self, value: T) -> Result<(), T> {
            opaque_op();
            self.0.push(value)
        }

        pub(crate) fn pop(&self) -> Option<T> {
            opaque_op();
            self.0.pop()
        }

        pub(crate) fn len(&self) -> usize {
            opaque_op();
            self.0.len()
        }
    }
}

/// Runs a loom model (every execution of `f` loom can tell apart, with at
/// most `preemption_bound` preemptions per execution unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise) and prints how many executions it
/// explored and how long that took (`scripts/loom.sh` shows it).
#[cfg(all(test, loom))]
pub(crate) fn check<F>(name: &str, preemption_bound: Option<usize>, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    use std::sync::atomic::{AtomicUsize as Counter, Ordering as Order};

    let runs = std::sync::Arc::new(Counter::new(0));
    let counted = std::sync::Arc::clone(&runs);
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemption_bound;
    }
    let bound = builder.preemption_bound;
    let started = std::time::Instant::now();
    builder.check(move || {
        counted.fetch_add(1, Order::Relaxed);
        f();
    });
    eprintln!(
        "loom model {name}: {} executions, preemption bound {}, {:.1?}",
        runs.load(Order::Relaxed),
        bound.map_or("none".to_owned(), |b| b.to_string()),
        started.elapsed()
    );
}
