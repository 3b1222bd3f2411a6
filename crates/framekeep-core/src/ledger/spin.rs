//! The slot lock: a spin lock whose unlock is a plain store.
//!
//! Each ledger slot has its own lock, taken by the owning thread while it writes a new
//! entry into the slot and by reports while they copy one out. In the common case nobody
//! else wants it, so the lock's cost is a large part of a registration's cost: it should
//! be one atomic read-modify-write to lock and nothing more than a release store to
//! unlock (a plain `mov` on x86). `parking_lot::Mutex` needs a second read-modify-write
//! on unlock to look for parked waiters, and a slot has nowhere useful to park anyway.
//!
//! When it is contended (a report copying the slot), a waiter spins briefly and then
//! yields its time slice ([`crossbeam_utils::Backoff`]); critical sections are a few
//! dozen instructions.
//!
//! This module holds the ledger's only `unsafe`: implementing [`lock_api::RawMutex`], on
//! which `lock_api::Mutex` builds a safe mutex.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_utils::Backoff;
use parking_lot::lock_api;

/// A raw spin lock; use it through [`SpinMutex`].
pub(crate) struct RawSpinLock {
    locked: AtomicBool,
}

// SAFETY: the lock is exclusive: `try_lock` succeeds only by swapping `locked` from false
// to true, so at most one holder exists at a time, and only the holder calls `unlock`
// (lock_api's guard guarantees it), which stores false. The Acquire swap on lock and the
// Release store on unlock order the protected data's accesses between holders. The lock
// may be released on another thread than the one that took it (nothing thread-specific
// is recorded), so `GuardSend` is sound.
unsafe impl lock_api::RawMutex for RawSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawSpinLock = RawSpinLock {
        locked: AtomicBool::new(false),
    };

    type GuardMarker = lock_api::GuardSend;

    #[inline]
    fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        !self.locked.swap(true, Ordering::Acquire)
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

impl RawSpinLock {
    #[cold]
    fn lock_contended(&self) {
        let backoff = Backoff::new();
        loop {
            // Wait on a plain load, not on repeated swaps, so the line is shared meanwhile.
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
            if lock_api::RawMutex::try_lock(self) {
                return;
            }
        }
    }
}

/// A mutex built on [`RawSpinLock`].
pub(crate) type SpinMutex<T> = lock_api::Mutex<RawSpinLock, T>;

#[cfg(test)]
mod tests {
    use super::SpinMutex;
    use std::sync::Arc;

    #[test]
    fn excludes_concurrent_holders() {
        let counter = Arc::new(SpinMutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        // A non-atomic read-modify-write: lost updates if exclusion failed.
                        let mut guard = counter.lock();
                        let value = *guard;
                        std::hint::black_box(&value);
                        *guard = value + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*counter.lock(), 40_000);
        assert!(counter.try_lock().is_some());
        let _held = counter.lock();
        assert!(counter.try_lock().is_none());
    }
}
