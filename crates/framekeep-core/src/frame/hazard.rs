//! Keeping a buffer's home (its pool) alive through a release without
//! touching a shared reference count.
//!
//! A buffer holds an `Arc` to its home, so while a releasing thread holds the
//! buffer the home is alive. But the release must still look at the home
//! *after* it has parked the buffer (to wake waiters, to notice a close that
//! raced with it), and by then another thread may have taken the buffer and
//! dropped the last reference. Cloning the home's `Arc` for every release
//! would make one cache line bounce between all cores on the hottest path.
//! Instead the releasing thread (`send_home` in `buffer`)
//! publishes the home's address in its own hazard slot (a plain store to a
//! line only it writes) for the duration of the release, and the home's
//! `Drop` calls [`wait_unpinned`], which waits until no slot names it.
//! Releases take nanoseconds, so that wait is a few spins at most, and it
//! happens only when a pool is finally freed.

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{model_static, model_thread_local};

model_static! {
    /// Every live thread's hazard slot.
    /// (Padded: two threads' slots must not share a cache line.) Never held
    /// across an atomic operation, so a plain parking_lot lock under loom too.
    static SLOTS: Mutex<Vec<Arc<CachePadded<AtomicUsize>>>> = Mutex::new(Vec::new());
}

/// This thread's slot; removed from `SLOTS` when the thread exits.
struct Slot(Arc<CachePadded<AtomicUsize>>);

/// Under loom a slot stays listed until the model execution ends (unpinned
/// by then): loom cannot see the list's lock, whose happens-before edge from
/// an exiting thread to a pool's free the removal would carry; reading the
/// slot's last (Release) store gives loom that edge instead. (And loom
/// destroys the main model thread's thread-locals after its statics.)
#[cfg(not(loom))]
impl Drop for Slot {
    fn drop(&mut self) {
        SLOTS.lock().retain(|s| !Arc::ptr_eq(s, &self.0));
    }
}

model_thread_local! {
    static SLOT: Slot = {
        let slot = Arc::new(CachePadded::new(AtomicUsize::new(0)));
        SLOTS.lock().push(Arc::clone(&slot));
        Slot(slot)
    };
}

/// A home reference that stays valid after the buffer it came from is gone.
pub(crate) struct Pinned<T: ?Sized> {
    home: NonNull<T>,
    /// The slot's value before this pin, to restore on drop; or [`OWNED`].
    previous: usize,
}

/// `previous` of a guard that holds a strong count (from `Arc::into_raw`)
/// instead of a hazard slot: the thread's slot is already gone (a frame
/// dropped by a thread-local destructor while the thread exits). Never a
/// real slot value: those are 0 or a home's (aligned) address.
const OWNED: usize = usize::MAX;

impl<T: ?Sized> Pinned<T> {
    /// Pins `home`, which the caller reaches through a buffer it owns (so the
    /// home is alive now). Must be dropped before that thread frees any buffer
    /// of the home (see `send_home`).
    #[inline(always)]
    pub(crate) fn new(home: &Arc<T>) -> Pinned<T> {
        let addr = address(Arc::as_ptr(home));
        // Only this thread writes its slot, so a load and a store do what a
        // swap would, without a locked instruction. Relaxed is enough: the
        // store happens before the buffer is parked or pushed (a Release
        // operation), and whoever drops the home got there through taking that
        // buffer (Acquire), so it sees this store.
        let pinned = SLOT.try_with(|s| {
            let previous = s.0.load(Ordering::Relaxed);
            s.0.store(addr, Ordering::Relaxed);
            previous
        });
        match pinned {
            Ok(previous) => Pinned {
                home: NonNull::from(&**home),
                previous,
            },
            Err(_) => Self::owned(home),
        }
    }

    /// The fallback when the slot is gone: a reference count, paid only by
    /// releases during thread teardown.
    #[cold]
    fn owned(home: &Arc<T>) -> Pinned<T> {
        let raw = Arc::into_raw(Arc::clone(home));
        Pinned {
            // `Arc::into_raw` never returns null.
            home: NonNull::new(raw.cast_mut()).expect("non-null"),
            previous: OWNED,
        }
    }
}

impl<T: ?Sized> Deref for Pinned<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the home was alive when pinned (the caller owned a buffer
        // holding an `Arc` to it). Then either this guard holds a strong count
        // of its own (`OWNED`), or this thread's slot names the home and the
        // home's `Drop` calls `wait_unpinned` (an obligation of every home
        // that is pinned, see `Recycle` in `buffer`), which
        // does not return while it does; either way the memory stays valid
        // until this guard drops, and every borrow handed out here ends first.
        unsafe { self.home.as_ref() }
    }
}

impl<T: ?Sized> Drop for Pinned<T> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.previous == OWNED {
            crate::sync::count_given_back();
            // SAFETY: `OWNED` guards are made only by `Pinned::owned`, from
            // `Arc::into_raw`, and this drop gives that one count back.
            drop(unsafe { Arc::from_raw(self.home.as_ptr().cast_const()) });
            return;
        }
        // Release: every access through this guard happens before a dropping
        // thread that reads the cleared slot.
        let _ = SLOT.try_with(|s| s.0.store(self.previous, Ordering::Release));
    }
}

/// The address a slot records for a home: its data pointer (the vtable part
/// of a `dyn` pointer plays no role in identity here).
#[inline(always)]
fn address<T: ?Sized>(home: *const T) -> usize {
    home.cast::<()>() as usize
}

/// Waits until no thread has `home` pinned. Every home that is pinned (a
/// `Recycle` implementation) calls it from its `Drop`, with its own address.
///
/// It looks at the slots registered when it is called: a pin on `home`
/// exists only while a thread releases one of its buffers, so no thread can
/// pin it once its `Drop` has begun, and every pin made before is in a slot
/// registered before. (A copy of the list, so that no lock is held while the
/// slots are read: a thread starting or ending meanwhile never waits.)
pub(crate) fn wait_unpinned<T: ?Sized>(home: *const T) {
    crate::sync::last_count_gone();
    let addr = address(home);
    let slots = SLOTS.lock().clone();
    while slots.iter().any(|s| s.load(Ordering::Acquire) == addr) {
        crate::sync::thread::yield_now();
    }
}
